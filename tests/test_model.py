"""The performance model: hand-checkable numbers, physical invariants, one text for all backends."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import problems
from kernels import formulas
from kernels.predict import PredictError, predict
from kernels.scalar import python_namespace
from kernels.layout import EVAL_ARGS, default_arguments
from kernels.tables import default_calibration, hardware_row, model_row

from conftest import ROOT

KIB = 1024.0


def kv_per_token_bytes(model_id, kv_bytes):
    r = model_row(problems.get_model(model_id), 1024, 1024)
    return r["kv_elems_per_layer"] * kv_bytes * (r["n_full"] + r["n_win"])


def test_deepseek_mla_kv_cache_is_68_6_kib_per_token_in_bf16():
    assert kv_per_token_bytes("deepseek-r1", 2) / KIB == pytest.approx(68.6, abs=0.05)


def test_llama_31_70b_gqa_kv_cache_is_320_kib_per_token_in_bf16():
    assert kv_per_token_bytes("llama-3.1-70b", 2) / KIB == pytest.approx(320.0)


def test_sliding_window_layers_cap_the_kv_cache():
    r = model_row(problems.get_model("gpt-oss-120b"), 1024, 1024)
    full_only = formulas.kv_bytes_per_seq(32768.0, r["kv_elems_per_layer"], r["n_full"], 0.0, 1.0, 1.0)
    with_window = formulas.kv_bytes_per_seq(32768.0, r["kv_elems_per_layer"], r["n_full"], r["n_win"],
                                            r["window"], 1.0)
    assert with_window - full_only == pytest.approx(r["kv_elems_per_layer"] * r["n_win"] * 128)


def test_llama_70b_bf16_needs_two_80gb_gpus():
    with pytest.raises(PredictError, match="does not fit"):
        predict("h100-sxm", "llama-3.3-70b", "bf16", tp=1, pp=1, concurrency=1)
    assert predict("h100-sxm", "llama-3.3-70b", "bf16", tp=2, pp=1, concurrency=1).fits
    # tp=1 with pipeline stages searched: two stages of one GPU each
    m = predict("h100-sxm", "llama-3.3-70b", "bf16", tp=1, concurrency=1)
    assert (m.pp, m.gpus, m.fits) == (2, 2, True)


def one(hw="h200-sxm", model="llama-3.3-70b", prec=1, tp=2, dep=0, batch=32.0, isl=1024, osl=1024,
        draft=0.0, **hw_over):
    cal = default_calibration()
    h = problems.get_hardware(hw)
    mr = model_row(problems.get_model(model), isl, osl)
    hr = hardware_row(h, cal)
    hr.update(hw_over)
    vals = dict(default_arguments(), batch=batch, tp=float(tp), dep=float(dep), prec=float(prec), draft=draft, **mr, **hr)
    out = formulas.evaluate_config(*[np.float64(vals[a]) for a in EVAL_ARGS])
    return {k: float(v) for k, v in zip(formulas.OUTPUTS, out)}


@settings(max_examples=60, deadline=None)
@given(bw=st.floats(1e12, 8e12), factor=st.floats(1.0, 4.0), batch=st.sampled_from([1.0, 8.0, 64.0, 256.0]),
       model=st.sampled_from(["llama-3.1-8b", "llama-3.3-70b", "qwen3-235b-a22b", "gpt-oss-120b"]))
def test_more_bandwidth_never_slows_decode(bw, factor, batch, model):
    slow = one(model=model, batch=batch, tp=8, hbm_bw=bw)
    fast = one(model=model, batch=batch, tp=8, hbm_bw=bw * factor)
    assert fast["tpot_s"] <= slow["tpot_s"] * (1 + 1e-12)


@pytest.mark.parametrize("hw,model,prec,tp", [("h200-sxm", "llama-3.3-70b", 1, 2), ("b200", "deepseek-r1", 2, 8),
                                              ("mi300x", "qwen3-32b", 0, 1), ("h100-sxm", "gpt-oss-120b", 2, 1)])
def test_larger_batch_raises_throughput_and_lowers_interactivity_until_memory_runs_out(hw, model, prec, tp):
    prev = None
    for b in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]:
        m = one(hw=hw, model=model, prec=prec, tp=tp, batch=float(b))
        if m["status"] < 1:
            break
        if prev is not None:
            assert m["output_tok_s_per_gpu"] > prev["output_tok_s_per_gpu"]
            assert m["output_tok_s_per_user"] < prev["output_tok_s_per_user"]
        prev = m
    assert prev is not None


@settings(max_examples=40, deadline=None)
@given(price=st.floats(0.5, 10.0), cut=st.floats(0.1, 0.99), batch=st.sampled_from([4.0, 64.0, 512.0]))
def test_a_lower_price_never_raises_cost_per_token(price, cut, batch):
    hi = one(batch=batch, cost_usd_per_gpu_hour=price)
    lo = one(batch=batch, cost_usd_per_gpu_hour=price * cut)
    assert lo["cost_usd_per_mtok_output"] <= hi["cost_usd_per_mtok_output"]


def test_fp4_on_hardware_without_fp4_is_weight_only_at_the_bf16_rate():
    assert formulas.peak_flops(2.0, 1.0, 2.0, 0.0, 0.0) == 1.0      # no FP4 units: BF16 rate
    assert formulas.peak_flops(2.0, 1.0, 2.0, 4.0, 0.0) == 4.0      # FP4 units
    assert formulas.peak_flops(2.0, 1.0, 2.0, 4.0, 1.0) == 2.0      # MXFP4 W4A8 -> FP8 rate
    assert formulas.peak_flops(1.0, 1.0, 0.0, 0.0, 0.0) == 1.0      # fp8 on A100: W8A16
    assert formulas.is_weight_only(2.0, 2.0, 0.0, 0.0) == 1.0
    assert formulas.is_weight_only(1.0, 2.0, 4.0, 0.0) == 0.0
    # MXFP4 x MXFP8 (gpt-oss): native on FP4 hardware (Blackwell), weight-only without (Hopper)
    assert formulas.is_weight_only(2.0, 2.0, 4.0, 1.0) == 0.0
    assert formulas.is_weight_only(2.0, 2.0, 0.0, 1.0) == 1.0


def test_prefix_caching_skips_prefill_compute_but_keeps_kv_memory():
    cal = default_calibration()
    h = problems.get_hardware("h200-sxm")
    base = model_row(problems.get_model("llama-3.3-70b"), 32768, 512, 0.0)
    cached = model_row(problems.get_model("llama-3.3-70b"), 32768, 512, 0.9)
    hr = hardware_row(h, cal)

    def run(mr):
        vals = dict(default_arguments(), batch=8.0, tp=4.0, dep=0.0, prec=1.0, draft=0.0, **mr, **hr)
        return dict(zip(formulas.OUTPUTS, formulas.evaluate_config(*[np.float64(vals[a]) for a in EVAL_ARGS])))

    a, b = run(base), run(cached)
    assert b["ttft_s"] < 0.3 * a["ttft_s"]
    assert b["memory_bytes_per_gpu"] == a["memory_bytes_per_gpu"]
    assert b["output_tok_s_per_gpu"] > a["output_tok_s_per_gpu"]


def test_mtp_raises_interactivity_at_the_same_batch():
    off = one(hw="b200", model="deepseek-r1", prec=2, tp=8, dep=1, batch=64.0, draft=0.0)
    on = one(hw="b200", model="deepseek-r1", prec=2, tp=8, dep=1, batch=64.0, draft=1.0)
    assert on["output_tok_s_per_user"] > off["output_tok_s_per_user"] * 1.3


def test_expected_distinct_experts_limits():
    assert formulas.expected_distinct_experts(1.0, 256.0, 8.0) == pytest.approx(8.0)
    assert formulas.expected_distinct_experts(1e6, 256.0, 8.0) == pytest.approx(256.0)
    assert formulas.expected_distinct_experts(7.0, 1.0, 1.0) == pytest.approx(1.0, abs=1e-5)


def test_the_scalar_binding_is_the_same_text_as_the_numpy_reference():
    """The scalar namespace (what Numba compiles) equals the vectorized reference on random points."""
    ns = python_namespace()
    rng = np.random.default_rng(0)
    cal = default_calibration()
    for _ in range(200):
        hw = problems.get_hardware(rng.choice(["h100-sxm", "b200", "mi355x", "a100-sxm-80gb", "gb200-nvl72"]))
        m = problems.get_model(rng.choice(["llama-3.1-8b", "deepseek-r1", "gpt-oss-120b", "llama-4-scout"]))
        mr = model_row(m, int(rng.integers(100, 20000)), int(rng.integers(50, 8000)), float(rng.uniform(0, 0.9)), 2.0, 20.0)
        hr = hardware_row(hw, cal)
        vals = dict(default_arguments(), batch=float(rng.integers(1, 2048)), tp=float(2 ** rng.integers(0, 4)),
                    pp=float(rng.choice([1, 2, 4])), dep=float(rng.integers(0, 2)),
                    prec=float(rng.integers(0, 3)), draft=float(rng.integers(0, 2)), **mr, **hr)
        args = [vals[a] for a in EVAL_ARGS]
        ref = formulas.evaluate_config(*[np.float64(a) for a in args])
        sca = ns["evaluate_config"](*args)
        for r, s in zip(ref, sca):
            assert float(s) == pytest.approx(float(r), rel=1e-12, abs=1e-300, nan_ok=True)


def test_shipped_calibration_meets_the_error_targets():
    from kernels.calibration import error_table, evaluate_rows, load_rows

    rows, excluded = load_rows(ROOT / "benchmarks" / "data" / "calibration.csv")
    assert len(rows) >= 80 and sum(excluded.values()) > 0
    table = {(t["hardware"], t["kind"]): t for t in error_table(evaluate_rows(rows, default_calibration()))}
    assert table[("all", "max_throughput")]["median"] <= 0.20
    assert table[("all", "at_interactivity")]["median"] <= 0.50


def test_fitted_efficiencies_are_physical():
    """Every resolved efficiency of every catalog hardware and engine is a fraction strictly
    inside (0, 1): none sits at its bound; overheads are non-negative."""
    from problems.catalog import hardware_catalog

    cal = default_calibration()
    for hw_id in hardware_catalog():
        h = problems.get_hardware(hw_id)
        for engine in ("trtllm", "vllm", "sglang"):
            c = cal.for_hardware(hw_id, h.family, engine)
            for k in ("eff_c16", "eff_c8", "eff_c4", "eff_b", "eff_kv", "eff_attn", "comm_efficiency",
                      "moe_efficiency", "eff_weight_only", "a2a_efficiency"):
                assert 0 < c[k] < 1, (hw_id, engine, k, c[k])
            assert c["overhead_s_per_layer"] >= 0 and c["overhead_s_per_seq"] >= 0
            assert c.get("overhead_s_per_step", 0.0) >= 0
