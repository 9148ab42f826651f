"""The TTFT queueing model against known answers and against a discrete-event simulation.

Two simulations live here: an open FCFS queue with Poisson arrivals and deterministic service on
``c`` servers (M/D/c), and a closed-loop engine with continuous batching and chunked prefill (C
clients, each sends its next request as soon as the last one finishes; every step carries the
decode batch and, while prompts wait, a chunk of prompt tokens, FCFS).
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest

from kernels.queueing import (chunked_prefill_wait, erlang_c, mdc_wait, pool_wait, synchronized_pool_ttft,
                              synchronized_wave_ttft, wait_quantile)


def simulate_mdc(lam, service, servers, n=200_000, seed=0):
    """Waits (seconds) of ``n`` FCFS jobs, Poisson arrivals at ``lam``, deterministic service."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1.0 / lam, n))
    free = [0.0] * servers          # when each server next becomes free
    heapq.heapify(free)
    waits = np.empty(n)
    for i, a in enumerate(t):
        f = heapq.heappop(free)
        start = max(a, f)
        waits[i] = start - a
        heapq.heappush(free, start + service)
    return waits[n // 10:]          # drop the warm-up


def simulate_engine(clients, isl, osl, chunk, t_dec, t_tok, steps=60_000, seed=1, osl_lo=0.8):
    """TTFTs of a closed-loop chunked-prefill engine.

    Each step lasts ``t_dec + prefill_tokens * t_tok`` seconds; prompts are prefilled FCFS up to
    ``chunk`` tokens per step; a request's first token comes at the end of the step that finishes
    its prompt; its output length is drawn uniformly from [osl_lo * osl, osl] tokens, one per step.
    """
    rng = np.random.default_rng(seed)
    now = 0.0
    queue = [[isl, now] for _ in range(clients)]    # [prompt tokens left, arrival time]
    decoding = []                                   # tokens left to emit
    ttfts = []
    for _ in range(steps):
        budget, done = chunk, 0
        for q in queue:
            take = min(budget, q[0])
            q[0] -= take
            budget -= take
            if q[0] > 0 or budget <= 0:
                if q[0] == 0:
                    done += 1
                break
            done += 1
        used = chunk - budget
        now += t_dec + used * t_tok
        finished_prompts, queue = queue[:done], queue[done:]
        for q in finished_prompts:
            ttfts.append(now - q[1])
            decoding.append(int(rng.integers(int(osl_lo * osl), osl + 1)) - 1)
        decoding = [d - 1 for d in decoding]
        n_end = sum(1 for d in decoding if d <= 0)
        decoding = [d for d in decoding if d > 0]
        queue.extend([isl, now] for _ in range(n_end))
    ttfts = np.array(ttfts)
    return ttfts[len(ttfts) // 5:]


def test_md1_mean_wait_is_pollaczek_khinchine():
    # rho = 0.5, S = 2 s: Wq = rho S / (2 (1 - rho)) = 1 s
    w = mdc_wait(lam=0.25, service_s=2.0, servers=1)
    assert w["rho"] == pytest.approx(0.5)
    assert w["mean"] == pytest.approx(1.0)
    # rho = 0.8, S = 1 s: Wq = 0.8 / 0.4 = 2 s
    assert mdc_wait(0.8, 1.0, 1)["mean"] == pytest.approx(2.0)


def test_erlang_c_known_values():
    assert erlang_c(1, 0.7) == pytest.approx(0.7)           # one server: P(wait) = rho
    # two servers, a = 1 erlang: C = a^2 / (2 - a) / (1 + a + a^2 / (2 - a)) = 1/3
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0)


def test_wait_quantile_of_exponential_tail():
    # always waits, mean 1 s: P90 = ln 10
    assert wait_quantile(1.0, 1.0, 0.9) == pytest.approx(math.log(10.0))
    # waits 5% of the time: P90 is zero
    assert wait_quantile(0.05, 0.1, 0.9) == 0.0


def test_saturated_queue_is_unbounded_until_the_closed_loop_caps_it():
    assert mdc_wait(1.0, 1.0, 1)["mean"] == math.inf
    # 10 requests in flight, 2 slots of 1 s each: at most 8 ahead, cleared 2 at a time
    assert pool_wait(5.0, 1.0, 2, in_flight=10)["mean"] == pytest.approx(4.0)


@pytest.mark.parametrize("rho,servers", [(0.5, 1), (0.8, 1), (0.6, 4), (0.85, 8)])
def test_mdc_matches_simulation(rho, servers):
    service = 1.0
    lam = rho * servers / service
    sim = simulate_mdc(lam, service, servers, n=120_000)
    w = mdc_wait(lam, service, servers)
    assert w["mean"] == pytest.approx(sim.mean(), rel=0.10)
    # the exponential tail approximates deterministic service within 20% plus a tenth of a
    # service time (the quantile is steep where P(wait) is close to 1 - q)
    for name, q in (("p90", 0.9), ("p99", 0.99)):
        ref = np.quantile(sim, q)
        assert abs(w[name] - ref) <= 0.2 * ref + 0.1 * service, (name, w[name], ref)


@pytest.mark.parametrize("clients,isl", [(64, 1024), (128, 8192), (96, 16384), (512, 8192)])
def test_chunked_prefill_model_matches_engine_simulation(clients, isl):
    osl, chunk, t_dec, t_tok = 1024, 8192, 0.030, 20e-6
    sim = simulate_engine(clients, isl, osl, chunk, t_dec, t_tok, steps=40_000)
    # closed loop: about `clients` requests decode, each for 0.9 osl steps on average
    per_step = clients / (0.9 * osl)
    q = chunked_prefill_wait(per_step, isl, chunk, t_dec + chunk * t_tok, clients)
    # zero-load TTFT: the prompt's chunk steps, each carrying the decode batch
    zero_load = math.ceil(isl / chunk) * t_dec + isl * t_tok
    assert zero_load + q["mean"] == pytest.approx(sim.mean(), rel=0.15)
    assert zero_load + q["p90"] == pytest.approx(np.quantile(sim, 0.9), rel=0.20)


# ------------------------------------------------------- synchronized waves (benchmark at C)

def simulate_synchronized(clients, isl, osl, chunk, t_dec, t_seq, t_tok, prefill_first, steps):
    """TTFTs, in arrival order, of a closed-loop benchmark with fixed ISL/OSL and every client
    starting at once.

    Each step lasts ``t_dec + decoding * t_seq + prompt_tokens * t_tok`` seconds; prompts are
    prefilled FCFS up to ``chunk`` tokens per step. ``prefill_first``: while a prompt waits the
    step is prefill-only (nothing decodes); otherwise every prefilled request decodes one token
    per step. The first token is counted one step after the prompt's last chunk, as the
    formulas count it (a step of ``t_dec + t_seq`` per request for prefill-only engines, else a
    step at the decode batch). A request ends after ``osl`` tokens and its client sends the next.
    """
    now = 0.0
    queue = [[isl, now] for _ in range(clients)]     # [prompt tokens left, arrival]
    decoding, ttfts, pending = [], [], []            # tokens left; ttft records; (arrival, count)
    for _ in range(steps):
        budget, done = chunk, []
        while queue and budget > 0:
            take = min(budget, queue[0][0])
            queue[0][0] -= take
            budget -= take
            if queue[0][0] == 0:
                done.append(queue.pop(0))
            else:
                break
        stall = prefill_first and (chunk - budget) > 0
        dec = 0 if stall else len(decoding)
        now += t_dec + dec * t_seq + (chunk - budget) * t_tok
        if not stall:
            decoding = [d - 1 for d in decoding]
            ends = sum(1 for d in decoding if d <= 0)
            decoding = [d for d in decoding if d > 0]
            queue.extend([isl, now] for _ in range(ends))
        # the first-token step: the decode batch the step's finished prompts join (prefill-only
        # engines: one request)
        first = t_dec + (1 if prefill_first else len(decoding) + len(done)) * t_seq
        for _, arr in done:
            ttfts.append(now + first - arr)
            decoding.append(osl - 1)
    return np.array(ttfts)


def test_wave_by_hand():
    # one prompt per chunk, 0.1 s steps plus 0.01 s per decoding request: prompt k is done in
    # step k, which also decodes the k - 1 before it; the first-token step decodes k
    w = synchronized_wave_ttft(4, 8192, 8192, 0.1, 0.01, 0.0)
    assert w["ttfts"] == pytest.approx([0.21, 0.33, 0.46, 0.60])
    assert w["mean"] == pytest.approx(0.40)
    # prefill-only steps: no decode carried, the first-token step has one request
    w = synchronized_wave_ttft(4, 8192, 8192, 0.1, 0.01, 0.0, carry_decode=False)
    assert w["ttfts"] == pytest.approx([0.21, 0.31, 0.41, 0.51])
    # four 2k prompts per 8k chunk: a step is 0.1 s + 8192 x 10 us; two groups of four
    w = synchronized_wave_ttft(8, 2048, 8192, 0.1, 0.0, 1e-5)
    assert w["ttfts"] == pytest.approx([0.28192] * 4 + [0.46384] * 4)
    assert w["steps"] == 2


def test_pool_wave_by_hand():
    # 10 prompts at 4 slots of 1 s: done at 1, 1, 1, 1, 2, 2, 2, 2, 3, 3 s
    w = synchronized_pool_ttft(10, 4, 1.0)
    assert w["mean"] == pytest.approx(1.8)
    assert w["p90"] == pytest.approx(3.0)


@pytest.mark.parametrize("clients,isl,osl", [(16, 8192, 128), (64, 1024, 512), (48, 3000, 256)])
def test_wave_matches_simulated_benchmark(clients, isl, osl):
    chunk, t_dec, t_seq, t_tok = 8192, 0.02, 1e-4, 2e-6
    # prefill-first engine: every wave stays synchronized, so every wave is the closed form's
    sim = simulate_synchronized(clients, isl, osl, chunk, t_dec, t_seq, t_tok, True, steps=6_000)
    w = synchronized_wave_ttft(clients, isl, chunk, t_dec, t_seq, t_tok, carry_decode=False)
    n = sim.size // clients * clients
    assert n >= 3 * clients
    waves = sim[:n].reshape(-1, clients)
    np.testing.assert_allclose(waves, np.broadcast_to(w["ttfts"], waves.shape), rtol=1e-9)
    # mixed chunks (decode carried): the first wave is the closed form's exactly; the later
    # waves arrive staggered by the first one's prefill order and wait no longer
    sim = simulate_synchronized(clients, isl, osl, chunk, t_dec, t_seq, t_tok, False, steps=6_000)
    w = synchronized_wave_ttft(clients, isl, chunk, t_dec, t_seq, t_tok)
    np.testing.assert_allclose(sim[:clients], w["ttfts"], rtol=1e-9)
    assert sim[clients:].mean() <= w["mean"] * (1 + 1e-9)
