"""Pipeline parallelism as an axis: a two-stage pipeline's step time and memory per GPU worked out
by hand, the axis through every backend, predict's search, plans and launch settings."""

import json

import numpy as np
import pytest

import optimizer
import problems
from kernels import Status, build_space, formulas
from kernels.evaluate import evaluate_numpy
from kernels.layout import EVAL_ARGS, default_arguments
from kernels.predict import PredictError
from kernels.reference import evaluate_indices
from kernels.tables import default_calibration, hardware_row, model_row
from optimizer.deploy import deployment
from optimizer.limits import configuration_count, space_axes

from test_deploy import check_documented


def point(hw="h200-sxm", model="llama-3.3-70b", prec=1.0, tp=4, pp=1, batch=64.0, isl=1024, osl=1024,
          cached=0.0):
    """Every output of one configuration, straight from the formulas (float64)."""
    mr = model_row(problems.get_model(model), isl, osl, cached)
    hr = hardware_row(problems.get_hardware(hw), default_calibration())
    vals = dict(default_arguments(), batch=batch, tp=float(tp), pp=float(pp), dep=0.0, prec=prec, draft=0.0,
                **mr, **hr)
    out = formulas.evaluate_config(*[np.float64(vals[a]) for a in EVAL_ARGS])
    return {k: float(v) for k, v in zip(formulas.OUTPUTS, out)}, mr, hr


def test_two_stage_decode_step_is_a_micro_batch_through_every_layer_plus_one_send():
    # every prompt token cached: decode-only steps, so the step is the formulas' step time alone
    two, mr, hr = point(pp=2, batch=64.0, cached=1.0)
    half, _, _ = point(pp=1, batch=32.0, cached=1.0)
    # 32 sequences' BF16 hidden states (8,192 wide) cross one stage boundary over NVLink
    link = hr["su_bw"] * hr["comm_eff"]
    send = 32 * 8192 * 2 / link + hr["lat"]
    assert mr["hidden"] == 8192
    assert two["tpot_s"] == pytest.approx(half["tpot_s"] + send, rel=1e-12)
    # 64 sequences, one token each per step, over 4 x 2 GPUs
    assert two["output_tok_s_per_gpu"] == pytest.approx(64 / two["tpot_s"] / 8, rel=1e-12)
    assert two["requests_per_s_per_replica"] == pytest.approx(64 / two["tpot_s"] / 1024, rel=1e-12)


def test_two_stage_pipeline_halves_weights_and_kv_per_gpu():
    one, mr, _ = point(pp=1, batch=64.0)
    two, _, _ = point(pp=2, batch=64.0)
    reserve = formulas.ACTIVATION_RESERVE_BYTES
    # Llama-3.3-70B in FP8 (1 byte per weight) over TP4; KV in FP8, 8 KV heads split over 4 ranks,
    # reserved for isl + osl = 2,048 tokens: 2 x 8 heads x 128 dims x 80 layers x 2,048 tokens
    weights = (mr["p_nonexpert"] + mr["n_moe_layers"] * mr["n_experts"] * mr["p_expert_one"]) / 4
    kv = 64 * 2 * 8 * 128 * 80 * 2048 / 4
    assert one["memory_bytes_per_gpu"] == pytest.approx(weights + kv + reserve, rel=1e-12)
    assert two["memory_bytes_per_gpu"] == pytest.approx((weights + kv) / 2 + reserve, rel=1e-12)


def test_a_pipeline_that_only_splits_what_fits_is_dominated():
    # one H200 holds Llama-3.3-70B in FP8: two single-GPU replicas of 32 beat one TP1 x PP2 of 64
    # (the same micro-batches, plus the send), and the pipeline draws no less per GPU
    one, _, _ = point(tp=1, pp=1, batch=32.0)
    two, _, _ = point(tp=1, pp=2, batch=64.0)
    assert two["output_tok_s_per_gpu"] < one["output_tok_s_per_gpu"]
    assert two["power_w_per_gpu"] >= one["power_w_per_gpu"]
    assert two["cost_usd_per_mtok_output"] > one["cost_usd_per_mtok_output"]


def test_stages_beyond_the_scale_up_domain_send_over_scale_out_or_do_not_fit():
    # H100: 8 GPUs per NVLink domain; TP8 x PP2 spans two nodes and sends over the NIC
    inside, _, hr = point(hw="h100-sxm", tp=4, pp=2, batch=64.0, cached=1.0)
    across, _, _ = point(hw="h100-sxm", tp=8, pp=2, batch=64.0, cached=1.0)
    half, _, _ = point(hw="h100-sxm", tp=8, pp=1, batch=32.0, cached=1.0)
    send = 32 * 8192 * 2 / (hr["so_bw"] * hr["comm_eff"]) + hr["lat"]
    assert across["tpot_s"] == pytest.approx(half["tpot_s"] + send, rel=1e-12)
    assert inside["status"] >= Status.MISSES_SLA and across["status"] >= Status.MISSES_SLA
    # RTX PRO 6000: PCIe inside one 8-GPU server and no scale-out NIC in the catalog
    assert point(hw="rtx-pro-6000", tp=4, pp=2)[0]["status"] >= Status.MISSES_SLA
    assert point(hw="rtx-pro-6000", tp=8, pp=2)[0]["status"] == Status.NO_FIT


def _pp_space():
    p = problems.problem_from_dict({
        "schema_version": "tokenfleet/1", "name": "pp-parity",
        "hardware": [{"id": "h100-sxm"}, {"id": "rtx-pro-6000", "price_usd_per_hour": 0.66}],
        "workloads": [{"name": "chat", "model": "llama-3.3-70b", "input_tokens": 2048, "output_tokens": 512,
                       "demand": {"requests_per_s": 5}, "sla": {"min_output_tok_s_per_user": 20}}],
        "search": {"precisions": ["fp8", "bf16"], "tensor_parallel": [1, 2, 4, 8],
                   "pipeline_parallel": [1, 2, 4], "speculative": ["off"]},
    })
    return build_space(p, batches=[1, 8, 48, 256])


def test_pipeline_axis_numba_cpu_matches_the_numpy_reference():
    pytest.importorskip("numba")
    from kernels.numba_cpu import evaluate_numba_cpu

    space = _pp_space()
    assert list(space.pps) == [1, 2, 4]
    ref = evaluate_numpy(space)
    got = evaluate_numba_cpu(space)
    assert ref.n_fit > 0 and ref.n_meet > 0
    assert (got.n_fit, got.n_meet) == (ref.n_fit, ref.n_meet)
    np.testing.assert_array_equal(got.best_cost_idx, ref.best_cost_idx)
    np.testing.assert_array_equal(got.frontier_idx, ref.frontier_idx)
    np.testing.assert_allclose(got.best_cost, ref.best_cost, rtol=1e-12)
    # pipelined layouts hold points of the throughput-interactivity frontiers (and 4-stage ones
    # with TP2 on the RTX PRO 6000's PCIe): the axis is not a passenger
    front = [space.describe(int(i)) for i in ref.frontier_idx[ref.frontier_idx >= 0]]
    assert {1, 2, 4} <= {d["pp"] for d in front}
    assert any(d["hardware"] == "rtx-pro-6000" and d["pp"] == 4 for d in front)


def test_pipeline_axis_numba_cuda_matches_every_metric_under_the_simulator():
    pytest.importorskip("numba")
    from kernels.numba_backend import evaluate_points_numba

    space = _pp_space()
    ix = np.arange(space.size).reshape(space.shape)
    # every pp value, both link cases, a few batches: 2 hardware x 4 tp x 3 pp x 2 precisions x 4
    idx = ix[0, :, :, :, :, 0, 0, :].reshape(-1)
    ref = evaluate_indices(space, idx)
    valid = ref["status"] >= 0
    got = evaluate_points_numba(space, idx[valid])
    f32 = 64 * float(np.finfo(np.float32).eps)
    for name, a in ref.items():
        if name == "status":
            continue
        a, b = a[valid], got[name]
        fin = np.isfinite(a)
        np.testing.assert_allclose(b[fin], a[fin], rtol=f32, err_msg=name)
    assert (got["status"] == ref["status"][valid]).mean() > 0.99


def test_predict_searches_four_stages_only_when_fewer_do_not_fit():
    # Llama-3.1-405B in BF16 (810 GB) over TP4 on 80 GB H100s: 101 GB per GPU with two stages
    with pytest.raises(PredictError, match=r"pp in \[2\]"):
        optimizer.predict("h100-sxm", "llama-3.1-405b", "bf16", tp=4, concurrency=8, pp=2)
    m = optimizer.predict("h100-sxm", "llama-3.1-405b", "bf16", tp=4, concurrency=8)
    assert (m.tp, m.pp, m.gpus) == (4, 4, 16)
    assert m.memory_bytes_per_gpu < 80 * 2**30
    # a model that fits in one stage stays in one, as published deployments run it, even where
    # its concurrency does not all fit (the rest queue)
    one = optimizer.predict("h200-sxm", "llama-3.3-70b", "fp8", tp=1, concurrency=256)
    assert (one.pp, one.gpus) == (1, 1) and one.concurrency < 256 and one.queue_wait_s > 0
    # the best call (layout searched) as well
    assert optimizer.predict("h100-sxm", "deepseek-r1", "fp8", tp=None, ep=None).pp == 1


def test_predict_pp_keyword_is_checked_and_describes_the_aggregated_replica():
    m = optimizer.predict("h200-sxm", "llama-3.3-70b", "fp8", tp=4, concurrency=64, pp=2)
    assert (m.pp, m.gpus) == (2, 8)
    with pytest.raises(PredictError, match="pp"):
        optimizer.predict("h200-sxm", "llama-3.3-70b", "fp8", tp=4, pp=3)
    with pytest.raises(PredictError, match="aggregated"):
        optimizer.predict("h200-sxm", "llama-3.3-70b", "fp8", pp=2, serving="disaggregated")


def _rtx_problem(pps):
    return problems.problem_from_dict({
        "schema_version": "tokenfleet/1", "name": "rtx-405b",
        "hardware": [{"id": "rtx-pro-6000", "price_usd_per_hour": 0.66}],
        "workloads": [{"name": "big", "model": "llama-3.1-405b", "input_tokens": 1024, "output_tokens": 512,
                       "demand": {"requests_per_s": 1}, "sla": {"min_output_tok_s_per_user": 5}}],
        # TP over PCIe stops at 4 here: Llama-3.1-405B in FP8 (405 GB) needs 8 cards of 96 GB
        "search": {"precisions": ["fp8"], "tensor_parallel": [1, 2, 4], "pipeline_parallel": list(pps),
                   "speculative": ["off"]},
    })


def test_plan_pipelines_a_model_that_fits_no_single_stage_layout():
    plan = optimizer.solve(_rtx_problem([1, 2]), backend="numpy")
    assert plan.allocations
    for a in plan.allocations:
        assert (a["tp"], a["pp"], a["gpus"] // a["replicas"]) == (4, 2, 8)
        assert "x PP 2" in a["configuration"]
    assert all(c["pp"] == 2 and c["gpus_per_replica"] == 8 for c in plan.candidates)
    single = optimizer.solve(_rtx_problem([1]), backend="numpy")
    assert single.status == "infeasible" and not single.allocations


def test_launch_settings_carry_the_pipeline_size_for_every_engine():
    a = dict(workload="big", model="llama-3.1-405b", hardware="h100-sxm", precision="fp8", mode="tp", tp=4,
             pp=2, ep=1, speculative="off", concurrency=64, replicas=2, gpus=16)
    d = deployment(a, dict(input_tokens=1024, output_tokens=512))
    assert d["gpus_per_replica"] == 8
    v, s, t = (d["engines"][e]["args"] for e in ("vllm", "sglang", "trtllm"))
    assert v[v.index("--pipeline-parallel-size") + 1] == "2" and v[v.index("--tensor-parallel-size") + 1] == "4"
    assert s[s.index("--pp-size") + 1] == "2"
    assert t[t.index("--pp_size") + 1] == "2"
    check_documented(d)
    single = deployment(dict(a, pp=1, gpus=8), dict(input_tokens=1024, output_tokens=512))
    assert "--pipeline-parallel-size" not in single["engines"]["vllm"]["args"]


def test_configuration_space_counts_pipeline_degrees(tiny_problem_dict):
    p1 = problems.problem_from_dict({**tiny_problem_dict, "search": {**tiny_problem_dict["search"], "pipeline_parallel": [1]}})
    p3 = problems.problem_from_dict({**tiny_problem_dict, "search": {**tiny_problem_dict["search"],
                                                         "pipeline_parallel": [1, 2, 4]}})
    assert space_axes(p3)["pipeline-parallel degrees"] == 3
    assert configuration_count(p3) == 3 * configuration_count(p1) == build_space(p3).size
    with pytest.raises(problems.InputError, match="pipeline_parallel"):
        problems.problem_from_dict({**tiny_problem_dict, "search": {"pipeline_parallel": [3]}})


def test_cli_predict_takes_the_pipeline_size(capsys):
    from optimizer.cli import main

    args = ["predict", "--hardware", "h200-sxm", "--model", "llama-3.3-70b", "--tp", "4", "--concurrency", "64",
            "--speculative", "off", "--json"]
    assert main(args + ["--pp", "2"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["tp"], d["pp"], d["gpus"]) == (4, 2, 8)
    assert main(args + ["--pp", "3"]) == 2
    assert "pp" in capsys.readouterr().err
