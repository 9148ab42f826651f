"""The engine a prediction uses when none is given: the calibration's default where it runs,
else one that runs on the hardware (TensorRT-LLM does not run on AMD GPUs)."""

import pytest

import optimizer
from kernels.tables import default_calibration
from optimizer.report import predict_table
from problems import engine_families, get_hardware


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
