"""The per-operator step model, engines, the memory cap, error bands and the fast calibration path."""

import json
import math

import numpy as np
import pytest

import problems
from kernels import formulas
from kernels.predict import PredictError, predict
from kernels.layout import EVAL_ARGS, default_arguments
from kernels.tables import default_calibration, hardware_row, model_row

from conftest import ROOT


def point(hw="h200-sxm", model="llama-3.1-8b", prec=1, tp=1, dep=0, batch=64.0, isl=1024, osl=1024,
          engine=None, **over):
    cal = default_calibration()
    vals = dict(default_arguments(), batch=batch, tp=float(tp), dep=float(dep), prec=float(prec), draft=0.0,
                **model_row(problems.get_model(model), isl, osl), **hardware_row(problems.get_hardware(hw), cal, engine=engine))
    vals.update(over)
    out = formulas.evaluate_config(*[np.float64(vals[a]) for a in EVAL_ARGS])
    return dict(zip(formulas.OUTPUTS, (float(v) for v in out)))


def test_a_compute_bound_prefill_does_not_hide_the_kv_read():
    """Operators run one after another: more KV bytes lengthen the step even when the GEMMs of a
    long prompt dominate (one max over the totals would hide the KV read)."""
    base = point(isl=32768, osl=256, batch=8.0)
    slower_kv = point(isl=32768, osl=256, batch=8.0, eff_kv=0.2)
    assert slower_kv["tpot_s"] > base["tpot_s"] * 1.01


def test_gemm_efficiency_saturates_in_rows_per_gemm():
    a, b = formulas.saturating(16.0, 16.0), formulas.saturating(4096.0, 16.0)
    assert a == pytest.approx(0.5) and 0.99 < b < 1.0


def test_moe_rows_per_gemm_count_touched_experts_not_all_experts():
    """At batch 1 every touched expert runs one row: the expert GEMMs must not be priced as if
    each row were spread over all experts (top_k / n_experts rows per GEMM)."""
    one = point(hw="b200", model="gpt-oss-120b", prec=2, batch=1.0)
    # step at batch 1 is memory bound: a few milliseconds, not tens
    assert one["tpot_s"] < 0.01


def test_host_overhead_is_per_engine():
    t = point(batch=512.0, engine="trtllm")["tpot_s"]
    s = point(batch=512.0, engine="sglang")["tpot_s"]
    cal = default_calibration()
    assert cal.engines["sglang"]["overhead_s_per_seq"] != cal.engines["trtllm"]["overhead_s_per_seq"]
    assert t != s


def test_predict_selects_the_engine_and_refuses_unknown_ones():
    t = predict("h100-sxm", "llama-3.1-70b", "fp8", tp=4, concurrency=64, engine="trtllm")
    v = predict("h100-sxm", "llama-3.1-70b", "fp8", tp=4, concurrency=64, engine="vllm")
    d = predict("h100-sxm", "llama-3.1-70b", "fp8", tp=4, concurrency=64)
    assert d.engine == default_calibration().default_engine == "trtllm"
    assert d.tpot_s == t.tpot_s and v.tpot_s != t.tpot_s and v.engine == "vllm"
    # engines as sources write them
    assert predict("h100-sxm", "llama-3.1-70b", "fp8", tp=4, concurrency=64, engine="vLLM 0.10.2").engine == "vllm"
    assert predict("h100-sxm", "llama-3.1-70b", "fp8", tp=4, concurrency=64, engine="Dynamo + TensorRT-LLM").engine == "trtllm"
    # an engine without calibration is an input error naming the calibrated ones
    with pytest.raises(PredictError, match="engine must be one of 'trtllm', 'vllm', 'sglang'"):
        predict("h100-sxm", "llama-3.1-70b", "fp8", tp=4, concurrency=64, engine="tgi")


def test_max_throughput_evaluates_the_exact_memory_cap():
    """The best batch is the largest that fits (here); one more sequence does not fit."""
    m = predict("h200-sxm", "llama-3.1-8b", "fp8", tp=1, isl=1024, osl=1024)
    grid = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096}
    assert m.concurrency not in grid
    at = predict("h200-sxm", "llama-3.1-8b", "fp8", tp=1, concurrency=m.concurrency)
    more = predict("h200-sxm", "llama-3.1-8b", "fp8", tp=1, concurrency=m.concurrency + 1)
    assert at.concurrency == m.concurrency and not at.note
    assert more.concurrency < m.concurrency + 1 and "queue" in more.note


def test_vllm_batch_limit_bounds_max_throughput():
    cal = default_calibration()
    m = predict("h200-sxm", "llama-3.1-8b", "fp8", tp=1, osl=128, isl=128, engine="vllm")
    assert m.concurrency <= cal.engines["vllm"]["max_batch"]


def test_trtllm_sizes_the_kv_pool_from_free_memory():
    """kv_cache_free_gpu_mem_fraction: 90% of what weights leave, more than 90% of all memory minus
    the weights when the weights are large."""
    # 70 GB of FP8 weights on a 141 GB H200: ~194 sequences of 2k tokens fit under a 90%-of-all
    # limit, ~216 under 90% of the free memory
    total = point(hw="h200-sxm", model="llama-3.3-70b", batch=205.0, mem_of_free=0.0)
    free = point(hw="h200-sxm", model="llama-3.3-70b", batch=205.0, mem_of_free=1.0)
    assert total["status"] == 0 and free["status"] >= 1


def test_predictions_carry_ordered_error_bands():
    m = predict("b200", "llama-3.3-70b", "fp4", tp=1)
    assert m.band_regime
    assert m.output_tok_s_per_gpu_p10 < m.output_tok_s_per_gpu_p90
    assert m.tpot_s_p10 < m.tpot_s_p90 and m.ttft_s_p10 < m.ttft_s_p90
    # a band is a statement about measurements: the point prediction sits between its quantiles
    # unless the model is biased in that regime by more than the spread
    lo, hi = m.output_tok_s_per_gpu_p10, m.output_tok_s_per_gpu_p90
    assert lo / 3 < m.output_tok_s_per_gpu < hi * 3


def test_bands_fall_back_to_broader_regimes():
    from kernels.predict import bands_for

    cal = default_calibration()
    b = bands_for(cal, "cdna4", "sglang", "max_throughput")
    assert "throughput" in b and "tpot" in b and b["regime"]


def test_band_quantiles_from_residuals():
    from kernels.calibration import bands

    recs = [dict(group="hopper", engine="trtllm", kind="max_throughput", throughput=x, tpot=float("nan"),
                 ttft=float("nan")) for x in np.linspace(-1.0, 1.0, 21)]
    b = bands(recs)
    assert b["hopper/trtllm/max_throughput"]["throughput"] == [pytest.approx(-0.8), pytest.approx(0.8)]
    assert "tpot" not in b["hopper/trtllm/max_throughput"]       # no TPOT residuals: no TPOT band
    assert "*/*/max_throughput" in b


def test_plan_carries_p10_p90_of_gpus_and_cost():
    import optimizer

    plan = optimizer.solve(problems.load(ROOT / "problems" / "examples" / "chat-mixed-fleet.yaml"))
    t = plan.totals
    assert t["total_gpus_p10"] < t["total_gpus_p90"]
    assert t["cost_usd_per_mtok_output_p10"] < t["cost_usd_per_mtok_output_p90"]


def test_measured_tables_derivation(tmp_path):
    """kv_half = t0 * e_b * bandwidth; all-reduce bus fraction = beta * 2(n-1)/n / link."""
    from kernels.calibration_fit import measured_tables

    roof = lambda t0, ec, eb: {"roofline": [t0, ec, eb, 0.0, 0.0]}  # noqa: E731
    d = {"peaks": {"x": {"hbm_tb_s": 2.0, "scaleup_gb_s_per_gpu": 400.0}},
         "gemm": {"x": {"trtllm": {"bfloat16": {"l": roof(5.0, 0.8, 0.9)}, "fp8": {"l": roof(9.0, 0.6, 0.7)}}}},
         "generation_attention": {"x": {"trtllm": {"fp8": {"roofline": [10.0, None, 0.5, 0, 0]}}}},
         "context_attention": {"x": {"trtllm": {"bfloat16": {"roofline": [50.0, 0.45, None, 0, 0]}}}},
         "all_reduce": {"x": {"trtllm": {"8": {"alpha_beta": [4.0, 200.0, 0, 0]}}}}}
    p = tmp_path / "m.json"
    p.write_text(json.dumps(d))
    t = measured_tables(p)["tables"]["x"]["trtllm"]
    assert t["eff_c16"] == 0.8 and t["eff_c8"] == 0.6 and t["eff_c4"] == 0.6
    assert t["eff_b"] == pytest.approx(0.8)
    assert t["kv_half_bytes"] == pytest.approx(10e-6 * 0.5 * 2e12)
    assert t["comm_efficiency"] == pytest.approx(200.0 * 2 * 7 / 8 / 400.0)
    assert t["collective_latency_s"] == pytest.approx(4e-6) and t["eff_attn"] == 0.45


def test_fast_calibration_path_equals_predict():
    """The vectorized fit path picks the same point as kernels.predict for every row kind."""
    from kernels.calibration import evaluate_rows, load_rows
    from kernels.calibration_fit import FastRows, silicon_rows

    cal = default_calibration()
    rows, _ = load_rows(ROOT / "benchmarks" / "data" / "calibration.csv")
    srows, _ = silicon_rows(max_rows=40)
    sel = rows[::3] + srows
    thr, tpot, _ = FastRows(sel, cal).evaluate(cal)
    ref = evaluate_rows(sel, cal)
    for r, t, p in zip(ref, thr, tpot):
        if r["metrics"] is None:
            assert math.isnan(t)
            continue
        assert t == pytest.approx(r["pred"], rel=1e-9)
        assert p == pytest.approx(r["metrics"].tpot_s, rel=1e-9)


def test_silicon_rows_keep_id_and_source():
    from kernels.calibration_fit import silicon_rows

    a, excl = silicon_rows(max_rows=25)
    b, _ = silicon_rows(max_rows=25)
    assert [r.row_id for r in a] == [r.row_id for r in b]          # deterministic subsample
    assert all(r.row_id.startswith("silicon:") and r.source and r.engine for r in a)
    assert sum(excl.values()) > 0


def _with_bands(cal, table):
    from dataclasses import replace

    return replace(cal, meta={**cal.meta, "bands": table})


def test_ttft_band_is_around_the_ttft_predict_reports():
    """optimizer.predict replaces the zero-load TTFT by the TTFT under load; its P10/P90 are the
    band applied to that reported TTFT, not to the zero-load one (which was a fraction of it)."""
    import optimizer

    band = {"*/*/interactivity": {"throughput": [-0.2, 0.3], "tpot": [-0.3, 0.2], "ttft": [-0.5, 0.7],
                                  "n": {"throughput": 9, "tpot": 9, "ttft": 9}}}
    cal = _with_bands(default_calibration(), band)
    for arrivals in ("synchronized", "spread"):
        m = optimizer.predict("h200-sxm", "llama-3.1-70b", "fp8", tp=4, concurrency=64, engine="vllm",
                              speculative="off", calibration=cal, arrivals=arrivals)
        assert m.queue_wait_s > 0                      # the reported TTFT is not the zero-load one
        assert m.ttft_s_p10 == pytest.approx(m.ttft_s * math.exp(-0.7))
        assert m.ttft_s_p90 == pytest.approx(m.ttft_s * math.exp(0.5))
        assert m.tpot_s_p10 == pytest.approx(m.tpot_s * math.exp(-0.2))


def test_ttft_band_is_the_interactivity_regimes_even_at_max_throughput():
    """TTFT is measured only at a stated concurrency: a max-throughput prediction takes its TTFT
    band from the interactivity regimes, not from all rows of the other kind."""
    from kernels.predict import bands_for

    table = {"hopper/trtllm/max_throughput": {"throughput": [-0.1, 0.1], "n": {"throughput": 9}},
             "hopper/trtllm/interactivity": {"ttft": [-0.4, 0.6], "n": {"ttft": 9}},
             "*/*/interactivity": {"ttft": [-2.0, 2.0], "throughput": [-1.0, 1.0],
                                   "n": {"ttft": 9, "throughput": 9}}}
    b = bands_for(_with_bands(default_calibration(), table), "hopper", "trtllm", "max_throughput")
    assert b["ttft"] == [-0.4, 0.6] and b["throughput"] == [-0.1, 0.1]
    assert b["regime"] == "hopper/trtllm/max_throughput"


def test_disaggregated_points_carry_bands():
    import optimizer

    m = optimizer.predict("gb200-nvl72", "deepseek-r1", "fp4", concurrency=1024, serving="disaggregated",
                          speculative="off")
    assert m.serving == "disaggregated" and m.band_regime.endswith("/interactivity")
    for lo, v, hi in ((m.output_tok_s_per_gpu_p10, m.output_tok_s_per_gpu, m.output_tok_s_per_gpu_p90),
                      (m.tpot_s_p10, m.tpot_s, m.tpot_s_p90), (m.ttft_s_p10, m.ttft_s, m.ttft_s_p90)):
        assert math.isfinite(lo) and math.isfinite(hi) and lo < hi
        assert lo / 3 < v < hi * 3


def test_merge_bands_replaces_only_the_named_quantities():
    from kernels.calibration import merge_bands

    base = {"a": {"throughput": [-1, 1], "ttft": [-3, 3], "n": {"throughput": 10, "ttft": 10}},
            "b": {"ttft": [-3, 3], "n": {"ttft": 10}}}
    update = {"a": {"ttft": [-0.5, 0.5], "n": {"ttft": 20}}, "c": {"ttft": [-1, 2], "n": {"ttft": 8}}}
    out = merge_bands(base, update, ("ttft",))
    assert out["a"] == {"throughput": [-1, 1], "ttft": [-0.5, 0.5], "n": {"throughput": 10, "ttft": 20}}
    assert "b" not in out                      # its only quantity was TTFT, and the update has none
    assert out["c"] == {"ttft": [-1, 2], "n": {"ttft": 8}}
