"""A plan is evaluated with its engine's calibration (search.engine or the workloads' engine)."""

import copy

import pytest

import optimizer
import problems
from kernels import build_space
from problems.errors import InputError


def _problem(d, **engines):
    d = copy.deepcopy(d)
    if "search" in engines:
        d["search"]["engine"] = engines["search"]
    if "workload" in engines:
        d["workloads"][0]["engine"] = engines["workload"]
    return problems.problem_from_dict(d)


def test_the_workloads_engine_selects_its_calibration(tiny_problem_dict):
    trt = _problem(tiny_problem_dict)
    vllm = _problem(tiny_problem_dict, workload="vllm")
    assert trt.engine is None and vllm.engine == "vllm"
    s_trt, s_vllm = build_space(trt), build_space(vllm)
    # vLLM sizes its KV cache from a fixed memory fraction and has its own host time per sequence:
    # the hardware rows differ, and its default batch limit caps the batch axis
    assert (s_trt.hw_table != s_vllm.hw_table).any()
    assert s_vllm.batches.max() <= 1024 < s_trt.batches.max()
    p = optimizer.solve(vllm, backend="numpy")
    assert p.backend["calibration"]["engine"] == "vllm"
    assert optimizer.solve(trt, backend="numpy").backend["calibration"]["engine"] == "trtllm"


def test_vllm_batch_axis_reaches_what_dep_ranks_can_run(tiny_problem_dict):
    """vLLM's limit is per scheduler, one per attention-DP rank: with an MoE model the batch axis
    reaches the limit times the widest dep degree searched (2 here), a dense model's stops at it."""
    d = copy.deepcopy(tiny_problem_dict)
    d["workloads"][0]["model"] = "qwen3-30b-a3b"
    moe = build_space(_problem(d, workload="vllm"))
    dense = build_space(_problem(tiny_problem_dict, workload="vllm"))
    assert dense.batches.max() <= 1024 < moe.batches.max() <= 2048

def test_search_engine_applies_to_every_workload(tiny_problem_dict):
    a = build_space(_problem(tiny_problem_dict, search="sglang"))
    b = build_space(_problem(tiny_problem_dict, workload="sglang"))
    assert (a.hw_table == b.hw_table).all()


def test_workloads_naming_different_engines_are_refused(tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    second = copy.deepcopy(d["workloads"][0])
    second["name"] = "batch"
    d["workloads"][0]["engine"], second["engine"] = "vllm", "sglang"
    d["workloads"].append(second)
    with pytest.raises(InputError, match=r"different engines.*'sglang': \['batch'\].*'vllm': \['chat'\]"):
        problems.problem_from_dict(d)
    d["search"]["engine"] = "vllm"
    with pytest.raises(InputError, match=r"workloads \['batch'\] name another engine than search.engine"):
        problems.problem_from_dict(d)
