"""The engine's host time per step: paid once per step whatever the batch, fitted per engine."""

import inspect

import pytest

import problems
from kernels import default_calibration, formulas
from kernels.tables import hardware_row, model_row

import optimizer


def _tpot(engine, batch, **override):
    hr = hardware_row(problems.get_hardware("b200"), default_calibration(), engine=engine)
    hr.update(override)
    args = {**model_row(problems.get_model("deepseek-r1"), 1024, 1024), **hr}
    kw = {k: args[k] for k in inspect.signature(formulas.evaluate_config).parameters if k in args}
    kw.update(batch=float(batch), tp=8.0, pp=1.0, dep=0.0, prec=1.0, draft=0.0)
    return float(formulas.evaluate_config(**kw)[formulas.OUTPUTS.index("tpot_s")])


@pytest.mark.parametrize("batch", [1, 64])
def test_step_overhead_adds_once_per_step(batch):
    t0 = _tpot("trtllm", batch, ovh_step=0.0)
    t1 = _tpot("trtllm", batch, ovh_step=2e-3)
    assert t1 - t0 == pytest.approx(2e-3, rel=1e-9)


def test_engines_differ_by_their_fitted_step_time():
    """With everything else equal, two engines' TPOTs differ by their per-step and per-sequence host
    times: at one sequence the per-step time is the difference."""
    cal = default_calibration()
    steps = {e: cal.engines[e].get("overhead_s_per_step", 0.0) for e in ("trtllm", "vllm", "sglang")}
    assert all(v >= 0 for v in steps.values())
    # SGLang's scheduler runs between steps (the silicon sample's small-batch SGLang TPOTs are the
    # slowest of the three engines on the same GPUs): its fitted per-step time is the largest
    assert steps["sglang"] > steps["vllm"] >= steps["trtllm"]
    hw = hardware_row(problems.get_hardware("b200"), cal, engine="trtllm")
    same = {k: hw[k] for k in ("eff_c16", "eff_c8", "eff_c4", "eff_b", "eff_kv", "eff_kv16", "kv_half", "eff_attn",
                               "eff_mla", "eff_mla16", "eff_mla_c", "mla_half", "lat", "comm_eff", "ovh_seq")}
    gap = _tpot("sglang", 1, **same) - _tpot("trtllm", 1, **same)
    assert gap == pytest.approx(steps["sglang"] - steps["trtllm"], rel=1e-6)


def test_predict_carries_the_engine_step_time():
    """optimizer.predict at one concurrent request: SGLang's TPOT is at least its extra step time
    above TensorRT-LLM's on the same layout (its kernel tables can only add to that)."""
    cal = default_calibration()
    d = cal.engines["sglang"]["overhead_s_per_step"] - cal.engines["trtllm"].get("overhead_s_per_step", 0.0)
    kw = dict(hardware="h200-sxm", model="llama-3.1-8b", precision="fp8", tp=1, ep=1, concurrency=1,
              isl=1024, osl=256, speculative="off", serving="aggregated")
    a = optimizer.predict(**kw, engine="trtllm")
    b = optimizer.predict(**kw, engine="sglang")
    assert b.tpot_s - a.tpot_s > 0.5 * d
