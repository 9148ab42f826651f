"""Serving modes: disaggregated prefill/decode pools, KV transfer, pool ratio, TTFT under load,
and the public ``optimizer.predict`` arguments that select them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import optimizer
from kernels.predict import PredictError
from kernels.predict import predict as predict_zero_load
from kernels.serving import (DECODE_EPS, _layouts, kv_bytes_per_request, kv_transfer_s, pool_ratio,
                             predict_disaggregated, prefill_batch)
from kernels import default_calibration

DSR1 = dict(hardware="gb200-nvl72", model="deepseek-r1", precision="fp4", isl=1024, osl=1024)


def test_kv_bytes_per_request_by_hand():
    # DeepSeek-R1: MLA latent 512 + rope 64 = 576 values per layer, 61 layers, FP8 KV (1 byte)
    assert kv_bytes_per_request("deepseek-r1", "fp8", 8192) == 61 * 576 * 8192
    # Llama-3.1-70B in BF16: 2 (K, V) x 8 KV heads x 128 dims x 2 bytes x 80 layers = 320 KiB/token
    assert kv_bytes_per_request("llama-3.1-70b", "bf16", 1024) == 80 * 2 * 8 * 128 * 2 * 1024


def test_kv_transfer_time_by_hand():
    # 288 MB over 4 links of 900 GB/s = 80 us, plus 8 us latency
    t = kv_transfer_s(61 * 576 * 8192, 4, 900e9, 8e-6)
    assert t == pytest.approx(61 * 576 * 8192 / 3.6e12 + 8e-6)
    assert t == pytest.approx(87.96e-6, rel=1e-3)


def test_transfer_over_scale_up_inside_the_rack_and_scale_out_beyond():
    from kernels import hardware_row
    from problems import get_hardware

    hw = hardware_row(get_hardware("gb200-nvl72"), default_calibration())
    lat, eff = hw["lat"], hw["comm_eff"]              # fitted collective latency and link fraction
    kv = 61 * 576 * 1024                                     # FP4 weights keep FP8 KV
    # 1 x TP4 prefill + 2 x DEP8 decode = 20 GPUs, inside the 72-GPU NVLink domain (900 GB/s)
    small = optimizer.predict(**DSR1, concurrency=64, serving="disaggregated", speculative="off",
                              prefill_tp=4, prefill_replicas=1, decode_ep=8, decode_replicas=2)
    assert small.gpus == 4 + 2 * 8
    assert small.kv_transfer_s == pytest.approx(kv / (4 * 900e9 * eff) + lat)
    # 1 x TP4 + 10 x DEP8 = 84 GPUs: beyond one rack, over the 50 GB/s scale-out NIC
    big = optimizer.predict(**DSR1, concurrency=640, serving="disaggregated", speculative="off",
                            prefill_tp=4, prefill_replicas=1, decode_ep=8, decode_replicas=10)
    assert big.gpus == 84
    assert big.kv_transfer_s == pytest.approx(kv / (4 * 50e9 * eff) + lat)


def test_pool_ratio_by_hand():
    assert pool_ratio(10.0, 3.0) == 4          # 3 replicas serve 9 req/s < 10
    assert pool_ratio(9.0, 3.0) == 3
    assert pool_ratio(0.5, 3.0) == 1           # never fewer than one prefill replica
    assert prefill_batch(1024) == 8            # eight 1k prompts per 8,192-token step
    assert prefill_batch(20000) == 1


def test_automatic_ratio_is_the_fewest_prefill_replicas_that_keep_up():
    kw = dict(**{**DSR1, "isl": 8192}, min_output_tok_s_per_user=50, speculative="off", prefill_tp=4,
              decode_ep=8, decode_replicas=4)
    auto = predict_disaggregated(**kw)
    one = predict_disaggregated(**kw, prefill_replicas=1)      # prefill-bound: one replica's rate
    n = auto.prefill_replicas
    assert n > 1
    assert n == math.ceil(auto.requests_per_s_per_replica / one.requests_per_s_per_replica)
    fewer = predict_disaggregated(**kw, prefill_replicas=n - 1)
    more = predict_disaggregated(**kw, prefill_replicas=n + 1)
    assert fewer.requests_per_s_per_replica < auto.requests_per_s_per_replica
    assert more.requests_per_s_per_replica == pytest.approx(auto.requests_per_s_per_replica)
    assert more.output_tok_s_per_gpu < auto.output_tok_s_per_gpu      # idle prefill GPUs


def test_throughput_and_cost_counted_over_both_pools():
    m = optimizer.predict(**DSR1, concurrency=256, serving="disaggregated", speculative="off",
                          prefill_tp=4, prefill_replicas=2, decode_ep=16, decode_replicas=2)
    assert m.gpus == 2 * 4 + 2 * 16
    assert m.concurrency == 256
    assert m.output_tok_s_per_gpu == pytest.approx(m.requests_per_s_per_replica * 1024 / m.gpus)
    assert m.total_tok_s_per_gpu == pytest.approx(2 * m.output_tok_s_per_gpu)
    # decode batch 128 per replica: one user's rate is the decode pool's
    assert m.output_tok_s_per_user == pytest.approx(1.0 / m.tpot_s)
    # the price per GPU-hour (electricity included) over the deployment's output
    assert m.cost_usd_per_mtok_output == pytest.approx(2.21 * 1e6 / (3600 * m.output_tok_s_per_gpu), rel=1e-6)
    assert m.ttft_p90_s >= m.ttft_s - m.queue_wait_s
    assert m.ttft_p99_s >= m.ttft_p90_s


def test_wide_ep_reaches_the_whole_nvl72_domain():
    assert (72, 1) in _layouts(None, None, True, 72, DECODE_EPS, "decode")
    assert (72, 1) not in _layouts(None, None, True, 8, DECODE_EPS, "decode")
    m = optimizer.predict(**DSR1, concurrency=4608, serving="disaggregated", speculative="off",
                          prefill_tp=4, decode_ep=72, decode_replicas=1)
    assert (m.decode_ep, m.decode_tp, m.tp) == (72, 1, 72)


def test_existing_aggregated_call_is_unchanged_except_ttft_under_load():
    kw = dict(hardware="h200-sxm", model="llama-3.3-70b", precision="fp8", tp=8, concurrency=64)
    old = predict_zero_load(**kw)
    new = optimizer.predict(**kw)           # llama ships no MTP: nothing else to search
    assert new.serving == "aggregated"
    assert new.output_tok_s_per_gpu == old.output_tok_s_per_gpu
    assert new.tpot_s == old.tpot_s
    assert new.ttft_s >= old.ttft_s and math.isfinite(new.ttft_p90_s)


def test_ttft_grows_with_load():
    kw = dict(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8", tp=1, isl=8192, osl=256)
    light = optimizer.predict(**kw, concurrency=4)
    heavy = optimizer.predict(**kw, concurrency=48)
    assert heavy.queue_wait_s > light.queue_wait_s
    assert heavy.ttft_p99_s > heavy.ttft_p90_s


def test_speculative_none_searches_mtp():
    kw = dict(hardware="b200", model="deepseek-r1", precision="fp4", tp=8, ep=8, concurrency=64)
    off = optimizer.predict(**kw, speculative="off")
    mtp = optimizer.predict(**kw, speculative="mtp")
    best = optimizer.predict(**kw)
    assert best.output_tok_s_per_gpu == max(off.output_tok_s_per_gpu, mtp.output_tok_s_per_gpu)


def test_serving_none_picks_the_better_mode():
    kw = dict(**DSR1, min_output_tok_s_per_user=100, tp=None, ep=None, speculative="off")
    agg = optimizer.predict(**kw, serving="aggregated")
    dis = optimizer.predict(**kw, serving="disaggregated")
    best = optimizer.predict(**kw, serving=None)
    assert best.output_tok_s_per_gpu == max(agg.output_tok_s_per_gpu, dis.output_tok_s_per_gpu)
    assert best.output_tok_s_per_user >= 100


def test_pool_arguments_need_the_disaggregated_mode():
    with pytest.raises(PredictError, match="serving='disaggregated'"):
        optimizer.predict(**DSR1, decode_ep=8)
    with pytest.raises(PredictError, match="serving must be"):
        optimizer.predict(**DSR1, serving="split")
    with pytest.raises(PredictError, match="expert parallel needs an MoE model"):
        optimizer.predict(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8",
                          serving="disaggregated", decode_ep=8)


def test_cli_predict_disaggregated_json(capsys):
    from optimizer.cli import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["predict", "--hardware", "gb200-nvl72", "--model", "deepseek-r1",
                                 "--precision", "fp4", "--concurrency", "64", "--serving", "disaggregated",
                                 "--prefill-tp", "4", "--decode-ep", "8", "--decode-replicas", "2",
                                 "--speculative", "off", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["serving"] == "disaggregated" and d["gpus"] == d["prefill_replicas"] * 4 + 16


def test_planner_ttft_under_load_matches_predict():
    import numpy as np

    from kernels.predict import _space
    from kernels.reference import evaluate_indices
    from kernels.serving import ttft_under_load

    m = optimizer.predict(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8", tp=1,
                          concurrency=48, isl=8192, osl=256, speculative="off", arrivals="spread")
    sp = _space("h100-sxm", "llama-3.1-8b", "fp8", [1], [0], [0], [48.0], 8192, 256, default_calibration())
    idx = np.arange(sp.size)
    res = evaluate_indices(sp, idx)
    for name, ref in (("mean", m.ttft_s), ("p90", m.ttft_p90_s), ("p99", m.ttft_p99_s)):
        assert ttft_under_load(sp, idx, res, 1.0, name)[0] == pytest.approx(ref)
    # a fleet planned at 60% load queues less
    assert ttft_under_load(sp, idx, res, 0.6, "p99")[0] < m.ttft_p99_s


def test_ttft_percentile_sla_drops_candidates_over_the_limit(tiny_problem_dict):
    from kernels.space import build_space
    from problems.loader import problem_from_dict
    from optimizer.candidates import candidate_rows

    d = tiny_problem_dict
    d["workloads"][0].update(input_tokens=8192, output_tokens=256)
    d["workloads"][0]["sla"] = {"ttft_ms": 400, "min_output_tok_s_per_user": 30}
    rows = {}
    for pct in ("mean", "p99"):
        d["workloads"][0]["sla"]["ttft_percentile"] = pct
        p = problem_from_dict(d)
        space = build_space(p)
        rows[pct] = candidate_rows(p, space, np.arange(space.size)[::7])
        assert all(r["ttft_s"] <= 0.4 for r in rows[pct])
    mean = {r["config_index"]: r["capacity_per_replica"] for r in rows["mean"]}
    p99 = {r["config_index"]: r["capacity_per_replica"] for r in rows["p99"]}
    # a tail SLA is stricter than a mean SLA: fewer candidates, and a smaller planned load (the
    # headroom comes from the queue) on some of those kept
    assert set(p99) <= set(mean)
    assert all(p99[i] <= mean[i] * (1 + 1e-9) for i in p99)
    assert any(p99[i] < 0.99 * mean[i] for i in p99)


def test_ttft_percentile_is_validated(tiny_problem_dict):
    from problems.errors import InputError
    from problems.loader import problem_from_dict

    tiny_problem_dict["workloads"][0]["sla"]["ttft_percentile"] = "p50"
    with pytest.raises((InputError, ValueError), match="ttft_percentile"):
        problem_from_dict(tiny_problem_dict)


def _with_engine_ttft(calib, overhead, fraction):
    import copy
    from dataclasses import replace as dc_replace

    engines = copy.deepcopy(calib.engines)
    engines.setdefault(calib.default_engine, {}).update(ttft_overhead_s=overhead, ttft_wave_fraction=fraction)
    return dc_replace(calib, engines=engines)


def test_benchmark_ttft_is_the_synchronized_wave():
    from kernels.queueing import synchronized_wave_ttft
    from kernels.serving import PREFILL_CHUNK_TOKENS, wave_step_costs

    base = default_calibration()
    kw = dict(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8", tp=1, concurrency=32,
              isl=4096, osl=256, speculative="off")
    whole = optimizer.predict(**kw, calibration=_with_engine_ttft(base, 0.0, 1.0))
    c = wave_step_costs(whole, calibration=base)
    w = synchronized_wave_ttft(32, 4096, PREFILL_CHUNK_TOKENS, c["step_s"], c["seq_s"], c["tok_s"])
    assert whole.ttft_s == pytest.approx(w["mean"]) and whole.ttft_p90_s == pytest.approx(w["p90"])
    # 32 prompts of 4k in 8k chunks: the wave's mean waits for about 7.75 prompts' chunks more
    # than its first prompt
    assert whole.ttft_s > 5 * w["ttfts"][0]
    # wave fraction 0: every prompt sees the first prompt's TTFT; the overhead adds to all three
    first = optimizer.predict(**kw, calibration=_with_engine_ttft(base, 0.25, 0.0))
    for v in (first.ttft_s, first.ttft_p90_s, first.ttft_p99_s):
        assert v == pytest.approx(w["ttfts"][0] + 0.25)
    # spread lengths: the steady-state queue, far below the wave at this load
    spread = optimizer.predict(**kw, calibration=_with_engine_ttft(base, 0.0, 1.0), arrivals="spread")
    assert spread.ttft_s < 0.5 * whole.ttft_s
    with pytest.raises(PredictError, match="arrivals"):
        optimizer.predict(**kw, arrivals="poisson")


def test_ttft_parameters_are_recovered_by_the_fit():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from calibrate_ttft import fit_overhead

    rng = np.random.default_rng(3)
    p0 = rng.uniform(0.02, 0.5, 200)
    p1 = p0 * rng.uniform(1.0, 20.0, 200)
    recs = [dict(p0=a, p1=b, measured=(a + 0.4 * (b - a) + 0.12) * np.exp(rng.normal(0, 0.05)))
            for a, b in zip(p0, p1)]
    o, f = fit_overhead(recs)
    assert o == pytest.approx(0.12, abs=0.02) and f == pytest.approx(0.4, abs=0.04)


def test_planner_headroom_comes_from_the_ttft_sla():
    from kernels.predict import _space
    from kernels.reference import evaluate_indices
    from kernels.serving import ttft_headroom, ttft_under_load

    sp = _space("h100-sxm", "llama-3.1-8b", "fp8", [1], [0], [0], [48.0], 8192, 256, default_calibration())
    idx = np.arange(sp.size)
    res = evaluate_indices(sp, idx)
    idle, full = ttft_under_load(sp, idx, res, 0.0, "p90")[0], ttft_under_load(sp, idx, res, 0.8, "p90")[0]
    assert full > idle
    # no SLA, or one the full load meets: the economics' max_utilization
    assert ttft_headroom(sp, idx, res, 0.8, "p90", None)[0] == 0.8
    assert ttft_headroom(sp, idx, res, 0.8, "p90", full * 1.01)[0] == 0.8
    # an SLA between idle and full load: the utilization where P90 TTFT meets it
    limit = 0.5 * (idle + full)
    u = ttft_headroom(sp, idx, res, 0.8, "p90", limit)[0]
    assert 0 < u < 0.8
    assert ttft_under_load(sp, idx, res, u, "p90")[0] <= limit
    assert ttft_under_load(sp, idx, res, u + 1e-3, "p90")[0] > limit
    # missed even idle: no capacity
    assert ttft_headroom(sp, idx, res, 0.8, "p90", 0.5 * idle)[0] == 0.0


# ------------------------------------------------------------------ published disaggregated pools

def _score_serving():
    import importlib
    import sys
    from pathlib import Path

    bench = str(Path(__file__).resolve().parents[1] / "benchmarks")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    return importlib.import_module("score_serving")


def test_pool_notation_ep_leaves_the_attention_layout_to_predict_and_dep_fixes_it():
    ss = _score_serving()
    # "EP8": the expert-parallel degree only; attention TP (TEP) or data-parallel (DEP) searched
    assert ss._pool(40, "EP", 8, "decode", 8) == dict(decode_tp=8, decode_ep=None, decode_replicas=5)
    assert ss._pool(32, "DEP", 8, "decode", 72) == dict(decode_tp=1, decode_ep=8, decode_replicas=4)
    # a GPU count written as a degree wider than the node: the widest power of two that divides it
    assert ss._pool(12, "TP", 12, "prefill", 8) == dict(prefill_tp=4, prefill_ep=1, prefill_replicas=3)


def test_ep_pool_searches_attention_tp_and_dp_over_its_gpus():
    pools = dict(prefill_tp=4, prefill_ep=1, prefill_replicas=1, decode_replicas=5, speculative="mtp",
                 engine="trtllm", serving="disaggregated", hardware="b200", model="deepseek-r1",
                 precision="fp4", isl=1024, osl=1024)
    tep = optimizer.predict(concurrency=6, decode_tp=8, decode_ep=1, **pools)
    dep = optimizer.predict(concurrency=6, decode_tp=1, decode_ep=8, **pools)
    both = optimizer.predict(concurrency=6, decode_tp=8, decode_ep=None, **pools)
    # at ~1 sequence per replica the attention-TP layout reads 1/8 of the attention weights per
    # GPU and wins; the search takes it
    assert tep.tpot_s < 0.8 * dep.tpot_s
    assert both.tpot_s == pytest.approx(tep.tpot_s) and both.decode_tp == 8 and both.decode_ep == 1


def test_prefill_bound_ties_go_to_the_fastest_decode_layout():
    # one TP4 prefill replica caps 2000 requests in flight over two decode replicas of 8 B200s:
    # both attention layouts give the same throughput; the one with the lower TPOT is reported
    kw = dict(hardware="b200", model="deepseek-r1", precision="fp4", isl=1024, osl=1024, concurrency=2000,
              serving="disaggregated", prefill_tp=4, prefill_ep=1, prefill_replicas=1, decode_replicas=2,
              speculative="mtp", engine="trtllm", metric="total_tok_s_per_gpu")
    tep = optimizer.predict(decode_tp=8, decode_ep=1, **kw)
    dep = optimizer.predict(decode_tp=1, decode_ep=8, **kw)
    both = optimizer.predict(decode_tp=8, decode_ep=None, **kw)
    assert "prefill pool saturated" in tep.note and "prefill pool saturated" in dep.note
    assert both.tpot_s == pytest.approx(min(tep.tpot_s, dep.tpot_s))
    assert both.total_tok_s_per_gpu == pytest.approx(max(tep.total_tok_s_per_gpu, dep.total_tok_s_per_gpu))


def test_published_disaggregated_pools_at_their_interactivity():
    # the rows' own pools at the rows' interactivity: median error <= 35% (208% with "EP8" read
    # as attention data-parallel; benchmarks/RESULTS.md); every row answered but at most one: the
    # B200 row at 309.17 tok/s per user is at the model's ceiling for its pools (309.09 at one
    # sequence per decode replica, its KV moved over scale-out), 0.03% short
    ss = _score_serving()
    rows, _ = ss.load_serving_rows()
    sel = [sr for sr in rows if sr.serving == "disaggregated" and sr.row.kind == "at_interactivity"
           and sr.pools]
    assert len(sel) >= 8
    errs = [x["err"] for x in ss.score(sel, "after")]
    assert sum(not math.isfinite(e) for e in errs) <= 1
    assert float(np.median(errs)) <= 0.35


def test_pool_bound_closed_loop_with_spread_lengths_obeys_little():
    # one TP4 prefill replica against 5 decode replicas at 875 in flight: the pools run at their
    # capacity; the closed loop's throughput X and TTFT satisfy C = X (TTFT + osl TPOT) (Little),
    # where the open M/D/c queue at that rate alone would have no finite wait
    kw = dict(hardware="b200", model="deepseek-r1", precision="fp4", isl=1024, osl=1024, concurrency=875,
              serving="disaggregated", prefill_tp=4, prefill_ep=1, prefill_replicas=1, decode_tp=1,
              decode_ep=8, decode_replicas=5, speculative="mtp", engine="trtllm", arrivals="spread")
    m = optimizer.predict(**kw)
    x = m.requests_per_s_per_replica
    assert 875 == pytest.approx(x * (m.ttft_s + m.osl * m.tpot_s), rel=0.01)
    assert m.ttft_s > 3.0
    # less in flight, the prefill pool keeps up: TTFT falls to a prefill plus a short queue
    light = optimizer.predict(**{**kw, "concurrency": 45})
    assert light.ttft_s < 0.3 * m.ttft_s


def test_searched_pools_at_a_concurrency_may_run_prefill_bound():
    # a stated concurrency: the prefill pool may be one replica short of the decode rate when
    # that gives more tokens per GPU (the InferenceX best-throughput points run so: TTFT 2-5 s)
    kw = dict(hardware="gb300-nvl72", model="deepseek-r1", precision="fp4", isl=8192, osl=1024,
              concurrency=3000, serving="disaggregated", arrivals="spread", engine="trtllm",
              metric="total_tok_s_per_gpu")
    m = optimizer.predict(**kw)
    fixed = dict(prefill_tp=m.prefill_tp, prefill_ep=m.prefill_ep, decode_tp=m.decode_tp,
                 decode_ep=m.decode_ep, decode_replicas=m.decode_replicas)
    more = optimizer.predict(**kw, **fixed, prefill_replicas=m.prefill_replicas + 1)
    assert m.total_tok_s_per_gpu >= more.total_tok_s_per_gpu
    assert m.ttft_s > 2.0 * more.ttft_s
