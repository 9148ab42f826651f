"""Decode attention curves: GQA-only bandwidth curves, the MLA kernel's own roofline, and how the
step model uses them (MLA models read their latent KV at the MLA kernel's efficiencies)."""

import json
from importlib import resources

import numpy as np
import pytest

import problems
from kernels import formulas
from kernels.calibration_fit import measured_tables
from kernels.layout import EVAL_ARGS, HW_FIELDS, default_arguments
from kernels.tables import default_calibration, hardware_row, model_row


@pytest.fixture(scope="module")
def doc():
    return json.loads(resources.files("kernels").joinpath("data/measured_efficiency.json").read_text("utf-8"))


def point(model, hw="h200-sxm", prec=1, tp=8, batch=64.0, isl=4096, osl=1024, engine="trtllm", **over):
    vals = dict(default_arguments(), batch=batch, tp=float(tp), dep=0.0, prec=float(prec), draft=0.0,
                **model_row(problems.get_model(model), isl, osl),
                **hardware_row(problems.get_hardware(hw), default_calibration(), engine=engine))
    vals.update(over)
    out = formulas.evaluate_config(*[np.float64(vals[a]) for a in EVAL_ARGS])
    return dict(zip(formulas.OUTPUTS, (float(v) for v in out)))


def test_gqa_curve_describes_the_served_shape(doc):
    """The GQA decode roofline predicts the 8-query-head / 1-KV-head kernels (a 64/8-head model at
    TP8) to a median error well inside the spread of the whole table, on every Hopper/Blackwell
    table."""
    assert "GQA layouts only" in doc["definitions"]["generation_attention"]
    n = 0
    for hw in ("h100-sxm", "h200-sxm", "b200", "gb200-nvl72"):
        for fw, curves in doc["generation_attention"][hw].items():
            for dt, c in curves.items():
                assert c["check"] is not None and c["check"][0] < 0.25, (hw, fw, dt, c["check"])
                assert 0.4 < c["roofline"][2] <= 1.0, (hw, fw, dt)
                n += 1
    assert n >= 20


def test_mla_curve_is_a_compute_and_bandwidth_roofline(doc):
    """The MLA decode kernel with 128 heads on one Hopper GPU is compute-bound (~240 FLOP per BF16
    KV byte, above the ridge), with 16 heads (TP8) bandwidth-bound: the fitted roofline has both
    terms and they cross between those head counts."""
    pk = doc["peaks"]["h200-sxm"]
    peak, bw = pk["bf16"] * 1e12, pk["hbm_tb_s"] * 1e12
    for fw in ("trtllm", "sglang"):
        t0, ec, eb, err, _ = doc["generation_mla"]["h200-sxm"][fw]["bfloat16"]["roofline"]
        assert 0.3 < ec <= 1.0 and 0.5 < eb <= 1.0 and err < 0.15
        flops_per_byte = lambda h: h * 2 * (2 * 512 + 64) / (576 * 2)  # noqa: E731
        assert flops_per_byte(128) / (ec * peak) > 1.0 / (eb * bw)      # compute-bound
        assert flops_per_byte(16) / (ec * peak) < 1.0 / (eb * bw)       # bandwidth-bound


def _doc(ga=None, mla=None):
    roof = lambda t0, ec, eb: {"roofline": [t0, ec, eb, 0.0, 0.0]}  # noqa: E731
    return {"peaks": {"x": {"hbm_tb_s": 2.0, "scaleup_gb_s_per_gpu": 400.0}},
            "gemm": {"x": {"trtllm": {"bfloat16": {"l": roof(5.0, 0.8, 0.9)}}}},
            "generation_attention": {"x": {"trtllm": ga or {"fp8": roof(10.0, None, 0.7),
                                                            "bfloat16": roof(10.0, None, 0.8)}}},
            "context_attention": {"x": {"trtllm": {"bfloat16": roof(50.0, 0.45, None)}}},
            "generation_mla": {"x": {"trtllm": mla}} if mla else {},
            "all_reduce": {"x": {"trtllm": {"8": {"alpha_beta": [4.0, 200.0, 0, 0]}}}}}


def _tables(tmp_path, d):
    p = tmp_path / "m.json"
    p.write_text(json.dumps(d))
    return measured_tables(p)["tables"]["x"]["trtllm"]


def test_measured_tables_take_the_mla_curve(tmp_path):
    roof = lambda t0, ec, eb: {"roofline": [t0, ec, eb, 0.05, 0.2]}  # noqa: E731
    t = _tables(tmp_path, _doc(mla={"fp8": roof(17.0, 0.66, 0.6), "bfloat16": roof(17.0, 0.6, 0.9)}))
    assert t["eff_mla"] == 0.6 and t["eff_mla16"] == 0.9
    assert t["eff_mla_c"] == 0.6     # the BF16-KV kernel's compute fraction
    assert t["mla_half"] == pytest.approx(17e-6 * 0.6 * 2e12)
    # the GQA values stay the GQA curve's
    assert t["eff_kv"] == 0.7 and t["eff_kv16"] == 0.8


def test_an_fp8_kv_kernel_slower_than_bf16_is_not_run(tmp_path):
    """FP8 KV at 0.06 of HBM bandwidth takes longer per token than BF16 KV at 0.85: the engine runs
    BF16 KV, i.e. the FP8 bytes move at half the BF16 fraction."""
    roof = lambda t0, ec, eb: {"roofline": [t0, ec, eb, 0.05, 0.2]}  # noqa: E731
    t = _tables(tmp_path, _doc(mla={"fp8": roof(21.0, 0.36, 0.06), "bfloat16": roof(18.0, 0.55, 0.85)}))
    assert t["eff_mla"] == pytest.approx(0.425) and t["eff_mla16"] == 0.85


def test_without_an_mla_curve_mla_falls_back_to_gqa_and_prefill_values(tmp_path):
    roof = lambda t0, ec, eb: {"roofline": [t0, ec, eb, 0.6, 8.0]}  # noqa: E731
    for mla in (None, {"bfloat16": roof(52.0, 0.5, 0.2)}):       # none, or a fit too poor to use
        t = _tables(tmp_path, _doc(mla=mla))
        assert (t["eff_mla"], t["eff_mla16"], t["eff_mla_c"]) == (t["eff_kv"], t["eff_kv16"], t["eff_attn"])
        assert t["mla_half"] == t["kv_half_bytes"]


def test_a_gqa_fit_above_hbm_bandwidth_is_not_used(tmp_path):
    roof = lambda t0, ec, eb: {"roofline": [t0, ec, eb, 0.0, 0.0]}  # noqa: E731
    t = _tables(tmp_path, _doc(ga={"fp8": roof(10.0, None, 0.7), "bfloat16": roof(20.0, None, 1.09)}))
    assert t["eff_kv16"] == 0.7


def test_mla_models_use_the_mla_curve_and_gqa_models_the_gqa_curve():
    assert {"eff_mla", "eff_mla16", "eff_mla_c", "mla_half"} <= set(HW_FIELDS)
    for model, mine, other in (("deepseek-r1", "eff_mla", "eff_kv"), ("llama-3.3-70b", "eff_kv", "eff_mla")):
        base = point(model)["tpot_s"]
        assert point(model, **{mine: 0.2})["tpot_s"] > base * 1.02, model
        assert point(model, **{other: 0.2})["tpot_s"] == pytest.approx(base, rel=1e-12), model
    # BF16 KV reads at the BF16 MLA fraction; the MLA kernel's compute at eff_mla_c, not eff_attn
    base = point("deepseek-r1", prec=0, tp=8, batch=16.0)["tpot_s"]
    assert point("deepseek-r1", prec=0, tp=8, batch=16.0, eff_mla16=0.2)["tpot_s"] > base * 1.02
    dep = dict(prec=1, tp=8, batch=256.0, dep=1.0)
    b = point("deepseek-r1", **dep)["tpot_s"]
    assert point("deepseek-r1", **dep, eff_mla_c=0.05)["tpot_s"] > b * 1.02
    assert point("llama-3.3-70b", eff_mla_c=0.05)["tpot_s"] == pytest.approx(point("llama-3.3-70b")["tpot_s"])
