"""Waiting before the first token: queueing models for prefill under load.

Two servers are modelled, both with deterministic service (fixed prompt length, fixed work per
prompt) and Poisson arrivals. A closed-loop benchmark at concurrency C keeps C requests in flight;
with many requests whose output lengths vary (InferenceX draws them from 80-100% of the nominal
length) the completions, and so the arrivals that replace them, are close to a Poisson stream.

* **M/D/c** -- ``c`` servers, service ``S`` seconds, arrival rate ``lam`` per second. The mean
  wait is the Allen-Cunneen form ``(Ca^2 + Cs^2)/2 * Wq(M/M/c)`` with ``Ca^2 = 1`` (Poisson) and
  ``Cs^2 = 0`` (deterministic): half the M/M/c wait, ``Wq(M/M/c) = ErlangC(c, a) S / (c (1 - rho))``.
  For one server this is exact: the Pollaczek-Khinchine mean ``rho S / (2 (1 - rho))``.
* **Percentiles**: a request waits with probability ``P_w`` (``rho`` for one server, Erlang's C
  formula for several); given that it waits, the wait is taken as exponential with mean
  ``Wq / P_w``. That is exact for M/M/c and slightly pessimistic for deterministic service
  (the tail decays faster); tests/test_queueing.py checks both against a discrete-event simulation.

A third model is not a steady state at all: what a serving benchmark at a stated concurrency
measures (:func:`synchronized_wave_ttft`). ``bench_serving``-style clients (vLLM, SGLang,
genai-perf, trtllm-bench) with fixed ISL/OSL and every request sent at once keep their ``C``
requests synchronized: a wave of ``C`` prompts arrives together, the engine prefills it one chunk
budget at a time (prompt ``k`` waits for the chunks of prompts ``1..k-1``, each chunk step also
carrying the decode of the prompts already done), the wave decodes its OSL tokens together and
finishes together, and the next ``C`` prompts arrive together. The mean TTFT is about half the
wave's prefill time. Plans see steady-state open-loop traffic instead (the M/D/1 step-clock model
of :func:`chunked_prefill_wait`).

These are host-side scalar functions (a handful of calls per prediction); times in seconds,
rates per second.
"""

from __future__ import annotations

import math

import numpy as np

# quantiles reported besides the mean
PERCENTILES = {"p90": 0.90, "p99": 0.99}
# utilisation treated as saturated: an open queue has no steady state at rho >= 1
RHO_SATURATED = 0.999


def erlang_c(servers, offered):
    """Probability that an arrival waits in an M/M/c queue (Erlang's C formula).

    Parameters
    ----------
    servers : int
        Number of servers ``c`` (>= 1).
    offered : float
        Offered load ``a = lam * S`` in erlangs; must be < ``servers``.

    Returns
    -------
    float
        P(wait > 0), in [0, 1].
    """
    c = int(servers)
    a = float(offered)
    if a <= 0.0:
        return 0.0
    rho = a / c
    if rho >= 1.0:
        return 1.0
    # Erlang B by its stable recursion, then C from B
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b / (1.0 - rho * (1.0 - b))


def mdc_wait(lam: float, service_s: float, servers: int = 1) -> dict:
    """Waiting time in queue (before service) of an M/D/c queue.

    Parameters
    ----------
    lam : float
        Arrival rate (per second).
    service_s : float
        Deterministic service time of one job (seconds).
    servers : int
        Number of identical servers.

    Returns
    -------
    dict
        ``rho`` (utilisation per server), ``p_wait``, ``mean``, ``p90``, ``p99`` (seconds).
        At ``rho >= 1`` every figure is ``inf``: the queue grows without bound.
    """
    c = max(int(servers), 1)
    a = lam * service_s
    rho = a / c
    if not (rho < RHO_SATURATED):
        return dict(rho=rho, p_wait=1.0, mean=math.inf, p90=math.inf, p99=math.inf)
    pw = erlang_c(c, a)
    mean = 0.5 * pw * service_s / (c * (1.0 - rho))
    out = dict(rho=rho, p_wait=pw, mean=mean)
    for name, q in PERCENTILES.items():
        out[name] = wait_quantile(pw, mean, q)
    return out


def wait_quantile(p_wait: float, mean: float, q: float) -> float:
    """Quantile ``q`` of a wait that is 0 with probability ``1 - p_wait`` and otherwise
    exponential with mean ``mean / p_wait`` (seconds)."""
    if p_wait <= 1.0 - q or mean <= 0.0:
        return 0.0
    return (mean / p_wait) * math.log(p_wait / (1.0 - q))


def chunked_prefill_wait(arrivals_per_step: float, isl_new: float, chunk_tokens: float,
                         busy_step_s: float, in_flight: float) -> dict:
    """Prefill queueing of one aggregated replica (continuous batching with chunked prefill).

    Every step carries the whole decode batch and, while prompts wait, a chunk of
    ``chunk_tokens`` prompt tokens. Decode progress is counted in steps, so are the arrivals
    (``B * tau / osl`` requests finish, and are replaced, per step in a closed loop), and so is
    the prefill work: a prompt needs ``S = isl_new / chunk_tokens`` steps' chunks. On the step
    clock the prefill queue is M/D/1 with utilisation ``rho = arrivals_per_step * S`` (the
    average prefill tokens per step over the chunk budget); a long prefill step slows the decode
    clock, and with it the arrivals, by the same factor. A wait of ``w`` steps lasts
    ``w * busy_step_s`` seconds (steps that carry a full chunk). A closed loop holds
    ``in_flight`` requests, so no prompt waits behind more than ``in_flight - 1`` others: the
    wait is capped at ``(in_flight - 1) * S`` steps (which also bounds it at ``rho >= 1``).

    Parameters
    ----------
    arrivals_per_step : float
        Requests started per step on this replica.
    isl_new : float
        Prompt tokens to prefill per request (after prefix-cache hits).
    chunk_tokens : float
        Chunked-prefill budget per step (tokens).
    busy_step_s : float
        Seconds of a step that carries the decode batch and a full chunk.
    in_flight : float
        Requests in flight on this replica (closed loop).

    Returns
    -------
    dict
        ``rho``, ``service_steps``, ``mean``, ``p90``, ``p99`` (seconds of waiting).
    """
    service = isl_new / chunk_tokens
    w = mdc_wait(arrivals_per_step, service, 1)
    cap = max(in_flight - 1.0, 0.0) * service
    out = dict(rho=w["rho"], service_steps=service)
    for k in ("mean", *PERCENTILES):
        out[k] = min(w[k], cap) * busy_step_s
    return out


def pool_wait(lam: float, service_s: float, servers: int, in_flight: float) -> dict:
    """Queueing of a pool of ``servers`` identical prefill slots (disaggregated prefill pool),
    M/D/c at ``lam`` arrivals per second, capped as a closed loop of ``in_flight`` requests
    (no request waits behind more than ``in_flight - servers`` others)."""
    w = mdc_wait(lam, service_s, servers)
    cap = max(in_flight - servers, 0.0) * service_s / max(servers, 1)
    out = dict(rho=w["rho"], service_s=service_s)
    for k in ("mean", *PERCENTILES):
        out[k] = min(w[k], cap)
    return out


def synchronized_wave_ttft(prompts: float, isl_new: float, chunk_tokens: float, step_s: float,
                           seq_s: float, tok_s: float, carry_decode: bool = True) -> dict:
    """TTFTs of one synchronized wave of ``prompts`` prompts arriving together (closed-loop
    benchmark at a fixed concurrency, fixed ISL/OSL).

    The engine prefills the prompts first come first served, ``chunk_tokens`` prompt tokens per
    step. Prompt ``k`` (1-based) finishes its prefill in step ``s_k = ceil(k * isl_new /
    chunk_tokens)``; step ``j`` lasts ``step_s + d_j * seq_s + n_j * tok_s`` seconds, where
    ``n_j`` is the prompt tokens it carries and ``d_j = min(floor((j - 1) * chunk_tokens /
    isl_new), prompts)`` the prompts already prefilled, which decode in the same step when
    ``carry_decode`` (continuous batching with mixed chunks; ``False``: prefill-only steps, as an
    engine that runs waiting prefills before decode). The first token comes one step after the
    prompt's last chunk (as in the formulas' zero-load TTFT). TTFT_k is the sum of those steps;
    the wave's prompts are equally likely, so the mean and quantiles are over ``k``.

    Parameters
    ----------
    prompts : float
        Prompts in the wave (the benchmark's concurrency on this replica); rounded, at least 1.
    isl_new : float
        Prompt tokens to prefill per request (after prefix-cache hits).
    chunk_tokens : float
        Chunked-prefill budget per step (tokens).
    step_s : float
        Fixed seconds of a step (weights read, launches) with no sequence and no prompt token.
    seq_s : float
        Seconds a step spends per decoding sequence.
    tok_s : float
        Seconds a step spends per prompt token.
    carry_decode : bool
        Whether the chunk steps also decode the prompts already prefilled.

    Returns
    -------
    dict
        ``mean``, ``p90``, ``p99`` (seconds of TTFT, the first prompt's zero-load TTFT
        included), ``steps`` (chunk steps of the wave) and ``ttfts`` (shape ``(prompts,)``).
    """
    n = max(int(round(prompts)), 1)
    isl = max(float(isl_new), 1.0)
    k = float(chunk_tokens)
    n_steps = int(math.ceil(n * isl / k - 1e-9))
    j = np.arange(1, n_steps + 1, dtype=np.float64)
    tokens = np.minimum(k, n * isl - (j - 1) * k)                 # prompt tokens in step j
    done = np.minimum(np.floor((j - 1) * k / isl + 1e-9), n)      # prompts prefilled before step j
    dec = done if carry_decode else np.zeros_like(done)
    end = np.cumsum(step_s + dec * seq_s + tokens * tok_s)        # end of step j
    last = np.ceil(np.arange(1, n + 1, dtype=np.float64) * isl / k - 1e-9).astype(np.int64)          # step holding prompt k's last chunk
    d_after = np.minimum(np.floor(last * k / isl + 1e-9), n)      # decoding in the first-token step
    ttfts = end[last - 1] + step_s + (d_after if carry_decode else 1.0) * seq_s
    out = dict(mean=float(ttfts.mean()), steps=n_steps, ttfts=ttfts)
    for name, q in PERCENTILES.items():
        out[name] = float(np.quantile(ttfts, q))
    return out


def synchronized_pool_ttft(prompts: float, slots: float, service_s: float) -> dict:
    """TTFTs (before KV transfer) of a wave of ``prompts`` prompts arriving together at a
    disaggregated prefill pool of ``slots`` prompt slots (replicas x prompts per prefill step),
    each batch of slots served in ``service_s`` seconds: prompt ``k`` is done at
    ``ceil(k / slots) * service_s``. Returns ``mean``, ``p90``, ``p99`` (seconds)."""
    n = max(int(round(prompts)), 1)
    c = max(float(slots), 1.0)
    ttfts = np.ceil(np.arange(1, n + 1) / c - 1e-9) * service_s
    out = dict(mean=float(ttfts.mean()))
    for name, q in PERCENTILES.items():
        out[name] = float(np.quantile(ttfts, q))
    return out
