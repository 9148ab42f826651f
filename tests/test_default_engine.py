"""The engine a prediction uses when none is given: the calibration's default where it runs,
else one that runs on the hardware (TensorRT-LLM does not run on AMD GPUs)."""

from dataclasses import replace

import numpy as np
import pytest

import optimizer
from kernels.layout import Status
from kernels.reference import evaluate_indices
from kernels.space import build_space
from kernels.tables import default_calibration
from optimizer.report import predict_table
from problems import engine_families, get_hardware
from problems.loader import problem_from_dict


def test_trtllm_does_not_run_on_amd_and_vllm_does():
    fams = engine_families()
    assert "cdna3" not in fams["trtllm"] and "cdna3" in fams["vllm"]
    assert "hopper" in fams["trtllm"]


@pytest.mark.parametrize("hw, expected", [("h100-sxm", "trtllm"), ("b200", "trtllm"),
                                          ("mi300x", "vllm"), ("mi355x", "vllm")])
def test_engine_for_follows_what_runs_on_the_hardware(hw, expected):
    calib = default_calibration()
    assert calib.engine_for(None, get_hardware(hw).family) == expected
    # an engine that is asked for is used as asked, on any hardware
    assert calib.engine_for("SGLang", get_hardware(hw).family) == "sglang"


def test_predict_on_amd_without_engine_is_the_vllm_prediction():
    kw = dict(hardware="mi300x", model="llama-3.1-8b", precision="fp8", isl=1000, osl=1000, tp=1)
    default = optimizer.predict(**kw)
    vllm = optimizer.predict(**kw, engine="vllm")
    trtllm = optimizer.predict(**kw, engine="trtllm")
    assert default.engine == "vllm"
    assert default.output_tok_s_per_gpu == pytest.approx(vllm.output_tok_s_per_gpu)
    # the engines' calibrations differ, so the test can tell which one ran
    assert trtllm.output_tok_s_per_gpu != pytest.approx(vllm.output_tok_s_per_gpu, rel=1e-6)


def test_predict_on_nvidia_without_engine_is_trtllm():
    m = optimizer.predict(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8", tp=1)
    assert m.engine == "trtllm"


def test_predict_table_shows_bands_as_ranges_with_units():
    from rich.console import Console

    m = optimizer.predict(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8", tp=1)
    console = Console(width=200, record=True)
    console.print(predict_table(m, "llama-3.1-8b", "h100-sxm", "fp8"))
    text = console.export_text()
    assert "output tokens/s per GPU, P10-P90 band" in text
    assert "time per output token, ms, P10-P90 band" in text
    assert "tok s per gpu p10" not in text            # no raw field names
    lo, hi = m.to_dict()["output_tok_s_per_gpu_p10"], m.to_dict()["output_tok_s_per_gpu_p90"]
    assert lo < m.output_tok_s_per_gpu < hi


def _fits(space, key) -> dict:
    """Whether any configuration of ``space`` fits, per ``key(described configuration)``."""
    res = evaluate_indices(space, np.arange(space.size))
    out = {}
    for i, st in enumerate(res["status"]):
        k = key(space.describe(i))
        if k is not None:
            out[k] = out.get(k, False) or bool(st >= Status.MISSES_SLA)
    return out


def test_mixed_fleet_caps_each_gpu_at_its_own_engines_batch_limit():
    """A plan that names no engine runs TensorRT-LLM on NVIDIA GPUs and vLLM on AMD ones; vLLM's
    max_num_seqs (1024) bounds the AMD rows' batch, not the NVIDIA rows' (a small model and short
    sequences, so memory would hold 2,048 sequences on both)."""
    data = {
        "schema_version": "tokenfleet/1", "name": "caps",
        "hardware": [{"id": "h100-sxm", "available": 8}, {"id": "mi300x", "available": 8}],
        "workloads": [{"name": "w", "model": "llama-3.1-8b", "input_tokens": 128, "output_tokens": 128,
                       "demand": {"requests_per_s": 10}, "sla": {"ttft_ms": 60000}}],
        "search": {"precisions": ["fp8"], "tensor_parallel": [1]},
    }
    problem = problem_from_dict(data)
    assert problem.engine is None
    space = build_space(problem, batches=np.array([512.0, 1024.0, 2048.0]))
    fits = _fits(space, lambda d: (d["hardware"], d["concurrency"]))
    assert fits[("h100-sxm", 2048)] and fits[("h100-sxm", 1024)]
    assert fits[("mi300x", 1024)] and not fits[("mi300x", 2048)]
    # the same batch on AMD with no limit would fit: the cap is the engine's, not the memory's
    cal = default_calibration()
    engines = {k: dict(v) for k, v in cal.engines.items()}
    engines["vllm"].pop("max_batch")
    space2 = build_space(problem, replace(cal, engines=engines), batches=np.array([2048.0]))
    assert _fits(space2, lambda d: d["hardware"])["mi300x"]


def test_vllm_batch_limit_is_per_scheduler():
    """vLLM runs one scheduler per attention-DP rank: DEP2 holds 2,048 sequences (1,024 a rank),
    TP2 does not (one scheduler). Qwen3-30B-A3B in FP8 with 256-token sequences fits either way."""
    data = {
        "schema_version": "tokenfleet/1", "name": "caps",
        "hardware": [{"id": "mi300x", "available": 8}],
        "workloads": [{"name": "w", "model": "qwen3-30b-a3b", "input_tokens": 128, "output_tokens": 128,
                       "demand": {"requests_per_s": 10}, "sla": {"ttft_ms": 60000}}],
        "search": {"precisions": ["fp8"], "tensor_parallel": [2], "engine": "vllm"},
    }
    space = build_space(problem_from_dict(data), batches=np.array([1024.0, 2048.0]))
    fits = _fits(space, lambda d: (d["mode"], d["concurrency"]) if d["speculative"] == "off" else None)
    assert fits[("tp", 1024)] and not fits[("tp", 2048)]
    assert fits[("dep", 1024)] and fits[("dep", 2048)]
