"""MTP acceptance by kind of prompt, the draft head's cost, and wide expert parallelism's
all-to-all (latency per peer, busiest rank): hand-checkable numbers and directions."""

import math

import numpy as np
import pytest

import optimizer
import problems
from kernels import formulas
from kernels.layout import EVAL_ARGS, default_arguments
from kernels.predict import PredictError
from kernels.tables import default_calibration, hardware_row, model_row


def _one(hw="b200", model="deepseek-r1", prec=2, tp=8, dep=1, batch=64.0, draft=0.0, data="chat", **over):
    cal = default_calibration()
    mr = model_row(problems.get_model(model), 1024, 1024, speculative_data=data)
    mr.update(over)
    hr = hardware_row(problems.get_hardware(hw), cal)
    vals = dict(default_arguments(), batch=batch, tp=float(tp), dep=float(dep), prec=float(prec),
                draft=draft, **mr, **hr)
    out = formulas.evaluate_config(*[np.float64(vals[a]) for a in EVAL_ARGS])
    return {k: float(v) for k, v in zip(formulas.OUTPUTS, out)}


def test_deepseek_accepts_fewer_drafts_on_benchmark_prompts_than_on_chat():
    m = problems.get_model("deepseek-r1")
    assert m.mtp.acceptance_for("chat") == pytest.approx(0.85)
    assert m.mtp.acceptance_for("benchmark") == pytest.approx(0.70)
    assert m.mtp.benchmark_source
    assert model_row(m, 1024, 1024, speculative_data="benchmark")["mtp_accept"] == pytest.approx(0.70)
    assert model_row(m, 1024, 1024)["mtp_accept"] == pytest.approx(0.85)   # plans: chat
    with pytest.raises(ValueError, match="speculative_data"):
        model_row(m, 1024, 1024, speculative_data="random")


def test_a_workload_is_chat_unless_it_says_benchmark():
    from problems.schema import Workload

    w = Workload(name="w", model="deepseek-r1", input_tokens=1024, output_tokens=1024,
                 demand={"output_tok_s": 1000.0})
    assert w.speculative_data == "chat"
    assert Workload(name="w", model="deepseek-r1", input_tokens=1024, output_tokens=1024,
                    demand={"output_tok_s": 1000.0}, speculative_data="benchmark").speculative_data == "benchmark"


def test_predict_reproduces_benchmarks_by_default_and_chat_on_request():
    kw = dict(hardware="b200", model="deepseek-r1", precision="fp4", tp=8, ep=8, concurrency=16,
              speculative="mtp")
    bench = optimizer.predict(**kw)
    chat = optimizer.predict(**kw, speculative_data="chat")
    assert chat.output_tok_s_per_user > bench.output_tok_s_per_user
    # tokens per step: (1 - a^2) / (1 - a) = 1 + a with one draft token; the step is the same but
    # for the prefill it carries (more tokens per step finish, and start, more requests)
    ratio = chat.output_tok_s_per_user / bench.output_tok_s_per_user
    assert 1.85 / 1.70 * 0.99 < ratio <= 1.85 / 1.70
    with pytest.raises(PredictError, match="speculative_data"):
        optimizer.predict(**kw, speculative_data="random")


def test_the_draft_head_costs_a_layer_and_the_lm_head_per_draft_token():
    """With acceptance ~0 MTP emits one token per step, so its step over the plain step is the
    price of drafting and verifying: more than one layer's share of the step (a transformer
    layer with its MoE plus the LM head over the batch, and the verify pass's extra tokens)."""
    off = _one(batch=8.0, draft=0.0)
    on = _one(batch=8.0, draft=1.0, mtp_accept=1e-9)
    layers = problems.get_model("deepseek-r1").num_layers
    assert on["tpot_s"] > off["tpot_s"] * (1.0 + 1.0 / layers)
    assert on["output_tok_s_per_user"] < off["output_tok_s_per_user"]
    # the draft pass reads the LM head again (memory bound at 8 sequences): drafting costs more by
    # one more read of the head's weights when the vocabulary is larger (the verify pass reads
    # the head once, with or without drafts)
    mr = model_row(problems.get_model("deepseek-r1"), 1024, 1024)
    hr = hardware_row(problems.get_hardware("b200"), default_calibration())
    big = dict(p_vocab=2.0 * mr["p_vocab"], p_nonexpert=mr["p_nonexpert"] + 2.0 * mr["p_vocab"])
    d_small = on["tpot_s"] - off["tpot_s"]
    d_big = _one(batch=8.0, draft=1.0, mtp_accept=1e-9, **big)["tpot_s"] - _one(batch=8.0, draft=0.0, **big)["tpot_s"]
    head_read = 2.0 * mr["p_vocab"] / (hr["eff_b"] * hr["hbm_bw"])      # BF16 head, whole per GPU (dep)
    assert d_big - d_small == pytest.approx(head_read, rel=0.05)


def test_busiest_expert_rank_by_hand():
    # 1,152 decode tokens, top-8, EP72: mu = 128, 1 + sqrt(2 ln 72 * (71/72) / 128) = 1.2569
    f = formulas.ep_imbalance(1152.0, 72.0, 1.0, 8.0)
    assert float(f) == pytest.approx(1.0 + math.sqrt(2.0 * math.log(72.0) * (71.0 / 72.0) / 128.0), rel=1e-9)
    assert float(f) == pytest.approx(1.257, abs=1e-3)
    assert float(formulas.ep_imbalance(1152.0, 72.0, 0.0, 8.0)) == 1.0     # tensor parallel: balanced
    assert float(formulas.ep_imbalance(1152.0, 1.0, 1.0, 8.0)) == 1.0      # one rank
    # a prefill chunk's 8k tokens spread evenly
    assert float(formulas.ep_imbalance(8192.0, 8.0, 1.0, 8.0)) < 1.03


def test_all_to_all_latency_grows_with_peers():
    """At one token the exchange is latency bound: on an NVL72 fabric EP72's all-to-all latency
    exceeds EP16's by 56 peers' posting cost, twice (dispatch and combine) per MoE layer."""
    kw = dict(tokens=1.0, dep=1.0, hidden=7168.0, n_layers=61.0, n_moe_layers=58.0, top_k=8.0,
              link_bw=1.0e15, lat=5e-6, a2a_eff=1.0, imb=1.0, b_disp=1.0, su_domain=72.0)
    t16 = float(formulas.comm_time(tp=16.0, **kw))
    t72 = float(formulas.comm_time(tp=72.0, **kw))
    assert t72 - t16 == pytest.approx(58 * 2 * 56 * formulas.A2A_PEER_LATENCY_S, rel=1e-3)


def test_moe_exchange_method():
    """All-to-all only over an NVL72 fabric with EP above top-k; all-gather + reduce-scatter on an
    8-GPU board, over PCIe, or when a token's top-k experts reach most ranks anyway."""
    a2a = formulas.moe_comm_all_to_all
    assert float(a2a(16.0, 8.0, 72.0)) == 1.0     # DeepSeek EP16 on GB200 NVL72
    assert float(a2a(8.0, 8.0, 72.0)) == 0.0      # EP8 <= top-8: every rank is reached anyway
    assert float(a2a(8.0, 1.0, 8.0)) == 0.0       # Llama-4 Maverick DEP8 on an HGX H200 board
    assert float(a2a(4.0, 1.0, 72.0)) == 1.0      # ... DEP4 on GB200 NVL72


def test_all_gather_reduce_scatter_by_hand():
    """DEP2 of Qwen3-30B-A3B (hidden 2048, top-8, 48 MoE layers) over PCIe (64 GB/s, 10 us):
    per MoE layer each rank receives the other rank's 500 tokens in NVFP4 (0.5625 B) and
    reduce-scatters 500 tokens' BF16 partial outputs: 500 * 2048 * 2.5625 B = 2.624 MB, top-k
    plays no part."""
    kw = dict(tokens=1000.0, tp=2.0, dep=1.0, hidden=2048.0, n_layers=48.0, n_moe_layers=48.0,
              link_bw=64e9, lat=10e-6, a2a_eff=0.5, imb=1.3, b_disp=0.5625, su_domain=8.0)
    per_layer = 500 * 2048 * 2.5625 / 64e9 + 2 * 10e-6      # two collectives, each 10 us
    t = float(formulas.comm_time(top_k=8.0, **kw))
    assert t == pytest.approx(48 * per_layer, rel=1e-9)
    assert float(formulas.comm_time(top_k=1.0, **kw)) == pytest.approx(t, rel=1e-12)
    # FP8 experts move 1 byte per value, weight-only (BF16 inputs) 2
    t8 = float(formulas.comm_time(top_k=8.0, **{**kw, "b_disp": 1.0}))
    assert t8 - t == pytest.approx(48 * 500 * 2048 * (1.0 - 0.5625) / 64e9, rel=1e-9)


def test_one_sided_all_to_all_by_hand():
    """EP32 of DeepSeek-R1 (hidden 7168, top-8) on GB200 NVL72, 3,200 tokens per replica (100 a
    rank): a token goes once to each distinct remote rank of its experts, 31 * (1 - (31/32)^8) =
    6.95 copies (not 8), dispatched in FP8 and combined in BF16 (1.5 B a value on average, twice),
    at the all-to-all's fraction of the link, times the busiest rank's factor."""
    copies = 31.0 * (1.0 - (31.0 / 32.0) ** 8)
    assert copies == pytest.approx(6.953, abs=1e-3)
    kw = dict(tokens=3200.0, tp=32.0, dep=1.0, hidden=7168.0, n_layers=61.0, n_moe_layers=58.0,
              top_k=8.0, link_bw=900e9, lat=10e-6, a2a_eff=0.8, imb=1.2, b_disp=0.5625, su_domain=72.0)
    lat = 10e-6 + 30 * formulas.A2A_PEER_LATENCY_S
    per_layer = 2.0 * (1.2 * 100 * copies * 7168 * 1.5 / (0.8 * 900e9) + lat)
    assert float(formulas.comm_time(**kw)) == pytest.approx(58 * per_layer, rel=1e-9)
