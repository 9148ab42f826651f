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

from kernels.queueing import chunked_prefill_wait, erlang_c, mdc_wait, pool_wait, wait_quantile


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
