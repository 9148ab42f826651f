import re

import pytest

import problems
from problems.catalog import get_model

DESIGN_HARDWARE = ["a100-sxm-80gb", "h100-sxm", "h200-sxm", "b200", "b300", "gb200-nvl72", "gb300-nvl72",
                   "l40s", "rtx-pro-6000", "mi300x", "mi325x", "mi355x", "gaudi3", "tpu-v5e", "tpu-v6e"]
DESIGN_MODELS = ["llama-3.1-8b", "llama-3.1-70b", "llama-3.3-70b", "llama-3.1-405b", "llama-4-scout",
                 "llama-4-maverick", "deepseek-v3", "deepseek-r1", "gpt-oss-20b", "gpt-oss-120b", "qwen3-8b",
                 "qwen3-32b", "qwen3-30b-a3b", "qwen3-235b-a22b", "mixtral-8x7b", "mixtral-8x22b", "kimi-k2"]


def test_catalog_lists_every_design_id():
    assert set(DESIGN_HARDWARE) <= set(problems.hardware_catalog())
    assert set(DESIGN_MODELS) <= set(problems.model_catalog())


@pytest.mark.parametrize("hw", DESIGN_HARDWARE)
def test_every_hardware_entry_has_a_source_and_a_sourced_price_or_none(hw):
    h = problems.get_hardware(hw)
    assert len(h.source) > 40
    if h.price_usd_per_hour is not None:
        assert h.price_source and h.price_date
    if h.capex_usd is not None:
        assert h.capex_source


@pytest.mark.parametrize("m", DESIGN_MODELS)
def test_every_model_entry_has_a_source(m):
    assert len(get_model(m).source) > 40


def test_unpublished_figures_stay_null():
    # Google does not publish TPU TDPs; no FP8/FP4 units on A100
    assert problems.get_hardware("tpu-v5e").tdp_w is None
    assert problems.get_hardware("tpu-v6e").tdp_w is None
    assert problems.get_hardware("a100-sxm-80gb").fp8_dense_tflops is None
    assert problems.get_hardware("h100-sxm").fp4_dense_tflops is None


def test_rtx_pro_6000_dense_figures_are_half_the_sparse_ones():
    h = problems.get_hardware("rtx-pro-6000")
    assert h.fp4_dense_tflops == pytest.approx(2 * h.fp8_dense_tflops)
    assert h.fp4_dense_tflops * 2 == pytest.approx(4030, rel=0.01)   # NVIDIA: 4,000 AI TOPS FP4 sparse


@pytest.mark.parametrize("m", DESIGN_MODELS)
def test_derived_parameter_split_adds_up_to_the_published_total(m):
    spec = get_model(m)
    total = (spec.nonexpert_params() + spec.expert_params()) / 1e9
    # Kimi-K2's "1T" is a rounded figure for ~1.03T
    assert total == pytest.approx(spec.total_params_b, rel=0.05)


def test_quality_scores_carry_sources():
    for m in problems.model_catalog().values():
        for q in m.quality_scores:
            assert q.source and re.search(r"\d{4}", q.date)


def test_rental_prices_have_one_stated_basis_and_the_catalog_shows_it(capsys):
    from optimizer.cli import main

    basis = problems.price_basis()
    assert "TCO" in basis and "SemiAnalysis" in basis
    cat = problems.hardware_catalog()
    # priced entries cite the TCO model; the others carry no price and say why
    for h in cat.values():
        if h.price_usd_per_hour is not None:
            assert "TCO" in h.price_source, h.id
        else:
            assert h.price_source is None or "problem file" in h.price_source, h.id
    assert cat["l40s"].price_usd_per_hour is None and cat["a100-sxm-80gb"].price_usd_per_hour is None
    # an L40S is no longer listed dearer than an H100 on a different basis
    assert main(["catalog", "hardware"]) == 0
    printed = capsys.readouterr().out
    assert "owner TCO per GPU-hour" in printed and "SemiAnalysis AI Cloud" in printed


def test_a_problem_gives_the_price_of_hardware_the_catalog_does_not_price(tiny_problem_dict):
    d = dict(tiny_problem_dict, hardware=[{"id": "l40s", "available": 8}])
    with pytest.raises(problems.ProblemError, match="price"):
        problems.problem_from_dict(d)
    d["hardware"] = [{"id": "l40s", "available": 8, "price_usd_per_hour": 1.9512}]
    assert problems.problem_from_dict(d).hardware[0].spec().price_usd_per_hour == 1.9512
