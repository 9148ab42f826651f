"""The measured efficiency tables (kernels/data/measured_efficiency.json) and the fits behind them."""

import json
import math
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from derive_efficiency import (binned, fit_alpha_beta, fit_roofline, fit_roofline_per_item,  # noqa: E402
                               fit_saturating)

from problems import hardware_catalog  # noqa: E402


@pytest.fixture(scope="module")
def doc():
    return json.loads(resources.files("kernels").joinpath("data/measured_efficiency.json").read_text("utf-8"))


def test_tables_state_source_version_and_licence(doc):
    assert doc["version"] == "0.12.0"
    assert "aiconfigurator-core" in doc["source"]
    assert "Apache License 2.0" in doc["licence"]
    size = len(resources.files("kernels").joinpath("data/measured_efficiency.json").read_bytes())
    assert size < 100_000


def test_every_curve_is_for_catalog_hardware_and_a_known_engine(doc):
    hw = set(hardware_catalog())
    for section in ("gemm", "context_attention", "generation_attention", "moe", "all_reduce"):
        assert doc[section], section
        for h, engines in doc[section].items():
            assert h in hw
            assert set(engines) <= {"trtllm", "vllm", "sglang"}


def test_efficiencies_are_physical(doc):
    # medians of achieved fractions: positive and at most a little above the catalog's dense
    # peak (the fp8 prefill attention is compared against the BF16 peak, hence up to 2)
    for section in ("gemm", "context_attention", "generation_attention", "moe"):
        for hw, engines in doc[section].items():
            for fw, curves in engines.items():
                for dtype, c in curves.items():
                    for sub in ([c] if "eff" in c else [v for k, v in c.items() if k != "v"]):
                        vals = [e for e in sub["eff"] if e is not None]
                        assert vals and all(0 < e < 2.0 for e in vals), (section, hw, fw, dtype)
                        t0, ec, eb = sub["roofline"][:3]
                        assert t0 >= 0 and all(e is None or 0 < e <= 1.2 for e in (ec, eb))


def test_fp8_gemm_on_h100_is_more_efficient_at_large_m(doc):
    c = doc["gemm"]["h100-sxm"]["trtllm"]["fp8"]["l"]
    m = doc["grids"]["gemm_m"]
    e = dict(zip(m, c["eff"]))
    assert 0.3 < e[256] < e[4096] < 0.9
    assert e[1] < 0.05      # a single row of M reads the whole weight: memory-bound


def test_decode_attention_efficiency_rises_with_work(doc):
    c = doc["generation_attention"]["h100-sxm"]["trtllm"]["bfloat16"]["eff"]
    vals = [e for e in c if e is not None]
    assert vals[-1] > 0.6 and vals[0] < 0.1


def test_roofline_fit_recovers_known_physics():
    rng = np.random.default_rng(0)
    flops = 10 ** rng.uniform(6, 13, 400)
    nbytes = 10 ** rng.uniform(4, 10, 400)
    peak, bw = 1e15, 3e12
    t = 8e-6 + np.maximum(flops / (0.6 * peak), nbytes / (0.8 * bw))
    t0, ec, eb, err_med, _ = fit_roofline(t, flops, nbytes, peak, bw)
    assert t0 == pytest.approx(8.0, rel=0.02)
    assert ec == pytest.approx(0.6, rel=0.02) and eb == pytest.approx(0.8, rel=0.02)
    assert err_med < 0.01


def test_per_item_fit_recovers_a_per_block_cost():
    rng = np.random.default_rng(1)
    nbytes = 10 ** rng.uniform(6, 10, 300)
    items = 2.0 ** rng.integers(4, 16, 300)
    t = 10e-6 + items * 3e-9 + nbytes / (0.85 * 3e12)
    t0, t_item, eb, err, _ = fit_roofline_per_item(t, nbytes, items, 3e12)
    assert (t0, t_item, eb) == (pytest.approx(10, rel=0.02), pytest.approx(3, rel=0.02), pytest.approx(0.85, rel=0.02))
    assert err < 0.01


def test_alpha_beta_fit_recovers_known_link():
    nb = 2.0 ** np.arange(8, 30)
    t = 5e-6 + nb / 200e9
    alpha_us, beta_gb_s, err, _ = fit_alpha_beta(nb, t)
    assert alpha_us == pytest.approx(5.0, rel=0.02) and beta_gb_s == pytest.approx(200, rel=0.02)
    assert err < 0.01


def test_saturating_fit_and_binning():
    x = np.array([1, 10, 100, 1e3, 1e4])
    e = 0.8 * x / (x + 50)
    e_max, x_half, err, _ = fit_saturating(x, e)
    assert e_max == pytest.approx(0.8, rel=0.02) and x_half == pytest.approx(50, rel=0.05)
    assert binned([1, 1.2, 0.9, 100, 90, 110], [1, 2, 3, 4, 5, 6], [1, 100, 1e4]) == [2, 5, None]
    assert not math.isnan(err)
