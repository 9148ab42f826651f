"""Windowed (sliding / chunked) attention layers under each engine's KV admission: TensorRT-LLM
reserves them at the sequence's full length, vLLM the window only; decode reads the window."""

from dataclasses import replace

import numpy as np
import pytest

import optimizer
import problems
from kernels import default_calibration, formulas
from kernels.layout import EVAL_ARGS, default_arguments
from kernels.tables import hardware_row, model_row


def _metrics(model, engine, batch, isl=1024, osl=8192, **override):
    hr = hardware_row(problems.get_hardware("h200-sxm"), default_calibration(), engine=engine)
    hr.update(override)
    vals = dict(default_arguments(), batch=float(batch), tp=1.0, pp=1.0, dep=0.0, prec=2.0, draft=0.0,
                **model_row(problems.get_model(model), isl, osl), **hr)
    out = formulas.evaluate_config(*[np.float64(vals[a]) for a in EVAL_ARGS])
    return {k: float(v) for k, v in zip(formulas.OUTPUTS, out)}


def test_reservation_by_hand():
    """gpt-oss-120b: 18 full-attention and 18 sliding (128-token) layers, 8 KV heads x 64, FP8 KV.
    At 1024 + 8192 tokens a full-length reservation holds 36 x 9216 tokens per KV element, the
    window-only one 18 x 9216 + 18 x 128: per sequence 1024 x (36 x 9216) = 339.7 MB vs
    1024 x (18 x 9216 + 18 x 128) = 172.2 MB."""
    m = problems.get_model("gpt-oss-120b")
    assert (m.attention.sliding_window, m.attention.num_sliding_layers, m.num_layers) == (128, 18, 36)
    per_tok_layer = 2 * 8 * 64 * 1.0
    mem = {}
    for full in (0.0, 1.0):
        m1 = _metrics("gpt-oss-120b", "trtllm", 1, swa_full=full)["memory_bytes_per_gpu"]
        m2 = _metrics("gpt-oss-120b", "trtllm", 2, swa_full=full)["memory_bytes_per_gpu"]
        mem[full] = m2 - m1
    assert mem[1.0] == pytest.approx(per_tok_layer * 36 * 9216, rel=1e-9)
    assert mem[0.0] == pytest.approx(per_tok_layer * (18 * 9216 + 18 * 128), rel=1e-9)


def test_engines_policies_and_decode_reads_the_window():
    """The shipped engines: TensorRT-LLM full length, vLLM and SGLang the window. Below the memory
    cap the policy changes the memory a batch needs, never the step (decode reads the window)."""
    cal = default_calibration()
    assert cal.engines["trtllm"].get("windowed_kv_full_length") == 1.0
    assert cal.engines["vllm"].get("windowed_kv_full_length", 0.0) == 0.0
    assert cal.engines["sglang"].get("windowed_kv_full_length", 0.0) == 0.0
    a = _metrics("gpt-oss-120b", "trtllm", 64, swa_full=1.0)
    b = _metrics("gpt-oss-120b", "trtllm", 64, swa_full=0.0)
    assert a["tpot_s"] == pytest.approx(b["tpot_s"], rel=1e-12)
    assert a["memory_bytes_per_gpu"] > b["memory_bytes_per_gpu"] * 1.05


def test_models_without_windows_are_unaffected():
    a = _metrics("llama-3.3-70b", "trtllm", 32, swa_full=1.0)
    b = _metrics("llama-3.3-70b", "trtllm", 32, swa_full=0.0)
    assert a == b


def test_capacity_at_max_throughput_halves_under_full_length_reservation():
    """Max throughput is at the memory cap: TensorRT-LLM admits about half as many gpt-oss-120b
    sequences at 1024/8192 as a window-only reservation would (the weights' share of memory is the
    same), and its throughput is lower for it."""
    cal = default_calibration()
    engines = {k: dict(v) for k, v in cal.engines.items()}
    engines["trtllm"]["windowed_kv_full_length"] = 0.0
    window_only = replace(cal, engines=engines)
    kw = dict(hardware="h200-sxm", model="gpt-oss-120b", precision="fp4", tp=1, ep=1, isl=1024, osl=8192,
              engine="trtllm")
    full = optimizer.predict(**kw)
    win = optimizer.predict(**kw, calibration=window_only)
    assert 0.45 < full.concurrency / win.concurrency < 0.56
    assert full.output_tok_s_per_gpu < win.output_tok_s_per_gpu
