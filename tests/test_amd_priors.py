"""Hardware priors for GPUs without kernel tables (AMD), and the held-out validation set."""

import csv
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest

import optimizer
import problems
from kernels import default_calibration, load_calibration
from kernels.calibration import HW_MAP, MODEL_MAP, load_rows
from kernels.calibration_fit import BORROWED_PRIOR_SIGMA, NEAREST_MEASURED, UNMEASURED_GROUPS
from kernels.priors import RATIO_KEYS, hardware_ratios, load_microbenchmarks

ROOT = Path(__file__).resolve().parents[1]


def test_microbenchmark_rows_are_sourced():
    rows = load_microbenchmarks()
    assert len(rows) >= 10
    units = {"hbm_bandwidth": "TB/s", "gemm_bf16": "TFLOP/s", "gemm_fp8": "TFLOP/s", "allreduce_busbw": "GB/s"}
    for r in rows:
        assert r["source"].strip() and r["date"].strip(), r
        assert "http" in r["source"] or "github.com" in r["source"], r
        assert r["value"] > 0
        problems.get_hardware(r["hardware"])          # a catalog id
        if r["quantity"] in units:
            assert r["unit"] == units[r["quantity"]], r


def test_ratios_are_the_published_fractions():
    """MI300X vs H200, same suite: (4.09/5.3) / (4.15/4.8) for HBM; the GEMM ratio is the geometric
    mean of FP8 (hipBLASLt vs cuBLASLt) and BF16 (MAMF) fractions of each GPU's own peak."""
    r = hardware_ratios(dict(NEAREST_MEASURED))["mi300x"]
    mi, h = problems.get_hardware("mi300x"), problems.get_hardware("h200-sxm")
    assert r["reference"] == "h200-sxm"
    assert r["bandwidth"] == pytest.approx((4.09 / mi.hbm_tb_s) / (4.15 / h.hbm_tb_s), rel=1e-3)
    fp8 = (1159.54 / mi.fp8_dense_tflops) / (1366.3 / h.fp8_dense_tflops)
    bf16 = (668.4 / mi.bf16_dense_tflops) / (794.5 / h.bf16_dense_tflops)
    assert r["compute"] == pytest.approx(math.sqrt(fp8 * bf16), rel=1e-3)
    assert not r["assumed"]


def test_ratios_are_physical_and_fallbacks_named():
    ratios = hardware_ratios(dict(NEAREST_MEASURED))
    assert {"mi300x", "mi325x", "mi355x"} <= set(ratios)
    for hw, r in ratios.items():
        for k in RATIO_KEYS:
            assert 0.3 < r[k] < 1.2, (hw, k, r[k])    # a fraction of the reference's, not a fudge
    # MI355X has no published HBM or all-reduce pair: the others' mean, and said so
    assert set(ratios["mi355x"]["assumed"]) == {"bandwidth", "comm"}
    assert ratios["mi355x"]["bandwidth"] == ratios["mi300x"]["bandwidth"]


def test_borrowed_hardware_is_scaled_by_its_ratios_only():
    cal = default_calibration()
    ratios = hardware_ratios(dict(NEAREST_MEASURED))
    plain = replace(cal, hw_priors={})
    scaled = replace(cal, hw_priors=ratios)
    mi = problems.get_hardware("mi300x")
    a, b = plain.for_hardware("mi300x", mi.family, "vllm"), scaled.for_hardware("mi300x", mi.family, "vllm")
    assert b["eff_b"] == pytest.approx(a["eff_b"] * ratios["mi300x"]["bandwidth"])
    assert b["eff_c8"] == pytest.approx(a["eff_c8"] * ratios["mi300x"]["compute"])
    assert b["comm_efficiency"] == pytest.approx(a["comm_efficiency"] * ratios["mi300x"]["comm"])
    assert b["borrowed"]["tables"] == "h200-sxm"
    h = problems.get_hardware("h200-sxm")
    assert plain.for_hardware("h200-sxm", h.family) == scaled.for_hardware("h200-sxm", h.family)
    assert scaled.for_hardware("h200-sxm", h.family)["borrowed"] is None


def test_predict_says_when_curves_are_borrowed():
    m = optimizer.predict(hardware="mi300x", model="llama-3.3-70b", precision="fp8", tp=8, ep=1,
                          concurrency=64, isl=1024, osl=1024)
    assert "borrowed from h200-sxm" in m.note and "microbenchmark" in m.note
    n = optimizer.predict(hardware="h200-sxm", model="llama-3.3-70b", precision="fp8", tp=8, ep=1,
                          concurrency=64, isl=1024, osl=1024)
    assert "borrowed" not in n.note


def test_shipped_calibration_keeps_borrowed_factors_near_one():
    """The shipped fit carries the hardware priors it was fitted with, and the AMD group's
    (software) factors sit within 3 sigma of their prior, not at 0.43 as a fit without priors gave."""
    cal = default_calibration()
    assert set(cal.hw_priors) >= {"mi300x", "mi325x", "mi355x"}
    for g in UNMEASURED_GROUPS:
        for k in ("compute_factor", "bandwidth_factor"):
            f = cal.groups[g][k]
            assert abs(math.log(f)) < 3 * BORROWED_PRIOR_SIGMA, (g, k, f)


def test_saved_calibration_keeps_hardware_priors(tmp_path):
    from optimizer.calibrate import save_calibration

    cal = replace(default_calibration(), hw_priors=hardware_ratios(dict(NEAREST_MEASURED)))
    p = tmp_path / "c.json"
    save_calibration(cal, p)
    assert load_calibration(p).hw_priors == cal.hw_priors


def test_validation_rows_are_sourced_and_held_out():
    path = ROOT / "benchmarks" / "data" / "validation.csv"
    with open(path, newline="", encoding="utf-8") as f:
        raw = list(csv.DictReader(f))
    with open(ROOT / "benchmarks" / "data" / "calibration.csv", newline="", encoding="utf-8") as f:
        cal = list(csv.DictReader(f))
    key = ("hardware", "model", "precision", "isl", "osl", "throughput_tok_s_per_gpu")
    seen = {tuple(r[k] for k in key) for r in cal}
    seen_tput = {(r["hardware"], r["throughput_tok_s_per_gpu"]) for r in cal}
    # 23 AMD / NVIDIA points from the research notes, 97 perf-overview rows calibration.csv lacks
    assert 100 <= len(raw) <= 160
    po = [r for r in raw if "perf-overview" in r["source"]]
    assert len(po) == 97 and {r["hardware"] for r in po} >= {"RTX PRO 6000 Blackwell Server Edition", "H100 SXM"}
    # a perf-overview configuration (hardware, model, ISL/OSL) is either fitted or held out, never both
    def config(r):
        model = next(m for pat, m in MODEL_MAP if re.search(pat, r["model"]))
        return HW_MAP[r["hardware"]], model, r["isl"], r["osl"]
    po_cal = {config(r) for r in cal if "perf-overview" in r["source"]}
    assert len(po_cal) >= 40
    for r in po:
        assert config(r) not in po_cal, r
    for r in raw:
        assert r["source"].strip() and r["date"].strip() and r["notes"].startswith("[metric:"), r
        assert tuple(r[k] for k in key) not in seen, r
        assert (r["hardware"], r["throughput_tok_s_per_gpu"]) not in seen_tput, r
    rows, excluded = load_rows(path)
    assert len(rows) == len(raw) and not excluded


def test_shipped_fit_sits_inside_its_bounds():
    """No fitted parameter of the shipped calibration sits at (within 2% of the range of) a bound:
    a parameter at its bound says the model misses something, or the bound is wrong."""
    from kernels.calibration_fit import PARAM_NAMES, PARAMS, to_vector

    for name, p, v in zip(PARAM_NAMES, PARAMS, to_vector(default_calibration())):
        lo, hi = p[3], p[4]
        # an overhead (lower bound 0) fitted to ~0 means none (vLLM's host time per sequence:
        # docs/model.md, known limits); every other bound is a range the physics allows
        assert (lo == 0.0 or lo + 0.02 * (hi - lo) < v) and v < hi - 0.02 * (hi - lo), (name, v, lo, hi)
