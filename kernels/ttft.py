"""TTFT under load: what a benchmark at a stated concurrency measures, and what a plan sees.

* **Benchmark at a stated concurrency** (``predict(concurrency=C)``): a fixed-length closed loop
  sends its prompts in synchronized waves (:func:`kernels.queueing.synchronized_wave_ttft`),
  scaled by the engine's fitted wave fraction, plus the engine's fitted fixed overhead
  (:func:`with_ttft_under_load`); with spread lengths (``arrivals="spread"``) the steady-state
  step-clock queue instead.
* **Plan** (candidates): steady-state open-loop traffic, the M/D/1 step-clock queue at the planned
  utilization (:func:`ttft_under_load`), and the utilization a TTFT SLA allows
  (:func:`ttft_headroom`).

Step costs come from the formulas through the NumPy reference backend
(``kernels.serving._evaluate``). See docs/model.md, "Serving modes and TTFT under load".
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from . import formulas
from .layout import AXIS_POS, WM_FIELDS
from .predict import ConfigMetrics, ttft_interval
from .queueing import chunked_prefill_wait, synchronized_wave_ttft
from .reference import evaluate_indices
from .tables import default_calibration

PREFILL_CHUNK_TOKENS = formulas.PREFILL_CHUNK_TOKENS


def _evaluate(*args, **kw):
    from .serving import _evaluate as evaluate  # noqa: PLC0415 - serving imports this module

    return evaluate(*args, **kw)


def ttft_overhead_s(calibration=None, engine=None) -> float:
    """Fixed seconds every request's TTFT carries besides the engine's steps (the client's and
    the engine's tokenization, scheduling and HTTP), fitted per engine (``engines.<engine>.
    ttft_overhead_s`` in kernels/calibration.json, benchmarks/calibrate_ttft.py); the
    calibration's default engine when ``engine`` is None."""
    from .tables import engine_name  # noqa: PLC0415

    calib = calibration or default_calibration()
    e = engine_name(engine) or calib.default_engine
    return float(calib.engines.get(e, {}).get("ttft_overhead_s", 0.0))


def ttft_wave_fraction(calibration=None, engine=None) -> float:
    """Fraction of a synchronized wave's queueing a fixed-length benchmark sees on ``engine``
    (``engines.<engine>.ttft_wave_fraction``, fitted by benchmarks/calibrate_ttft.py; 1 when not
    fitted). 1: every wave stays synchronized (an engine that prefills waiting prompts before it
    decodes); below 1: later waves arrive staggered by the first one's prefill order and wait
    less (decode-first chunked prefill; tests/test_queueing.py shows the later waves' mean is
    bounded by the first's)."""
    from .tables import engine_name  # noqa: PLC0415

    calib = calibration or default_calibration()
    e = engine_name(engine) or calib.default_engine
    return float(calib.engines.get(e, {}).get("ttft_wave_fraction", 1.0))


def wave_step_costs(m: ConfigMetrics, *, calibration=None, engine=None,
                    cached_input_fraction=0.0, speculative_data="benchmark") -> dict:
    """Step costs of an aggregated point for the synchronized-wave TTFT, read off the formulas:
    the decode-only step at 1 and at ``m.concurrency`` sequences (every prompt token cached) gives
    the fixed step ``step_s`` and the cost per decoding sequence ``seq_s`` (affine in between);
    the zero-load TTFT of one request less its ``ceil(isl_new / K) + 1`` decode steps gives the
    cost per prompt token ``tok_s``. Seconds."""
    calib = calibration or default_calibration()
    tau = m.output_tok_s_per_user * m.tpot_s          # tokens per step (1 without MTP)
    dep = 1 if m.ep > 1 else 0
    spec = 1 if m.speculative == "mtp" else 0
    b = max(float(m.concurrency), 2.0)
    res = _evaluate(m.hardware, m.model, m.precision, [(m.tp, dep)], [spec], [1.0, b], m.isl, m.osl,
                    calib, engine, cached=[cached_input_fraction, 1.0], speculative_data=speculative_data,
                    pp=m.pp)
    d1, db = (float(res["tpot_s"][1, 0, 0, i]) * tau for i in (0, 1))
    seq_s = max(db - d1, 0.0) / (b - 1.0)
    step_s = max(d1 - seq_s, 0.0)
    isl_new = m.isl * (1.0 - cached_input_fraction)
    chunks = math.ceil(isl_new / PREFILL_CHUNK_TOKENS - 1e-9)
    ttft0 = float(res["ttft_s"][0, 0, 0, 0])
    tok_s = max(ttft0 - (chunks + 1) * d1, 0.0) / max(isl_new, 1.0)
    return dict(step_s=step_s, seq_s=seq_s, tok_s=tok_s, isl_new=isl_new)


def _ttft_spread(m: ConfigMetrics, *, calibration=None, engine=None,
                 cached_input_fraction=0.0, in_flight=None, speculative_data="benchmark") -> ConfigMetrics:
    """Add the steady-state chunked-prefill queue to an aggregated point's TTFT: a closed loop
    whose output lengths are spread (``arrivals="spread"``) loses its waves and its arrivals are
    near-Poisson on the step clock (:func:`kernels.queueing.chunked_prefill_wait`).

    The step's marginal cost of a prefill token is read off the formulas: the same configuration
    evaluated with its average prefill load and with none (every prompt token cached).
    """
    calib = calibration or default_calibration()
    tau = m.output_tok_s_per_user * m.tpot_s          # tokens per step (1 without MTP)
    dep = 1 if m.ep > 1 else 0
    spec = 1 if m.speculative == "mtp" else 0
    res = _evaluate(m.hardware, m.model, m.precision, [(m.tp, dep)], [spec],
                    [float(m.concurrency)], m.isl, m.osl, calib, engine,
                    cached=[cached_input_fraction, 1.0], speculative_data=speculative_data, pp=m.pp)
    step_avg = float(res["tpot_s"][0, 0, 0, 0]) * tau
    step_dec = float(res["tpot_s"][1, 0, 0, 0]) * tau
    isl_new = m.isl * (1.0 - cached_input_fraction)
    batch = float(m.concurrency)
    tok_pf = batch * tau * isl_new / m.osl
    per_tok = max(step_avg - step_dec, 0.0) / tok_pf if tok_pf > 0 else 0.0
    busy = step_dec + PREFILL_CHUNK_TOKENS * per_tok
    n_in = batch if in_flight is None else min(float(in_flight), batch)
    q = chunked_prefill_wait(batch * tau / m.osl, isl_new, PREFILL_CHUNK_TOKENS, busy, n_in)
    base = float(m.ttft_s) + ttft_overhead_s(calibration, engine)   # zero-load, memory wait, fixed
    note = m.note
    if q["rho"] >= 1.0:
        note = (note + "; " if note else "") + "prefill saturates the chunk budget; TTFT is the closed-loop bound"
    ttft = base + q["mean"]
    f10, f90 = ttft_interval(ttft, calib, m.hardware, m.engine or engine)
    return replace(m, ttft_s=ttft, ttft_p90_s=base + q["p90"], ttft_p99_s=base + q["p99"],
                   queue_wait_s=m.queue_wait_s + q["mean"], note=note, serving="aggregated",
                   gpus=m.tp * m.pp, ttft_s_p10=f10, ttft_s_p90=f90)


ARRIVALS = ("synchronized", "spread")


def with_ttft_under_load(m: ConfigMetrics, *, calibration=None, engine=None,
                         cached_input_fraction=0.0, in_flight=None,
                         arrivals="synchronized", speculative_data="benchmark") -> ConfigMetrics:
    """Replace an aggregated point's TTFT by what a closed-loop benchmark at its concurrency
    measures: a synchronized wave of ``min(in_flight, m.concurrency)`` prompts prefilled one chunk
    budget at a time, each chunk step also decoding the prompts already done
    (:func:`kernels.queueing.synchronized_wave_ttft`, step costs from :func:`wave_step_costs`),
    plus any wait for memory already in ``m.queue_wait_s`` and the engine's fixed per-request
    overhead (:func:`ttft_overhead_s`). Mean, P90 and P99 come from the same wave; the part of the
    wave's TTFT beyond its first prompt's is scaled by the engine's :func:`ttft_wave_fraction`.

    ``arrivals="spread"``: a benchmark that draws its lengths from a range (InferenceX: 80-100%
    of the nominal ISL/OSL) desynchronizes; the steady-state queue of :func:`_ttft_spread` instead.
    """
    if arrivals == "spread":
        return _ttft_spread(m, calibration=calibration, engine=engine,
                            cached_input_fraction=cached_input_fraction, in_flight=in_flight,
                            speculative_data=speculative_data)
    c = wave_step_costs(m, calibration=calibration, engine=engine,
                        cached_input_fraction=cached_input_fraction, speculative_data=speculative_data)
    n = float(m.concurrency) if in_flight is None else min(float(in_flight), float(m.concurrency))
    w = synchronized_wave_ttft(n, c["isl_new"], PREFILL_CHUNK_TOKENS, c["step_s"], c["seq_s"], c["tok_s"])
    base = m.queue_wait_s + ttft_overhead_s(calibration, engine)   # memory wait, fixed costs
    first = float(w["ttfts"][0])                                   # the wave's first prompt
    f = ttft_wave_fraction(calibration, engine)
    w = {k: first + f * (w[k] - first) for k in ("mean", "p90", "p99")}
    calib = calibration or default_calibration()
    f10, f90 = ttft_interval(base + w["mean"], calib, m.hardware, m.engine or engine)
    return replace(m, ttft_s=base + w["mean"], ttft_p90_s=base + w["p90"], ttft_p99_s=base + w["p99"],
                   queue_wait_s=m.queue_wait_s + w["mean"] - first, serving="aggregated", gpus=m.tp * m.pp,
                   ttft_s_p10=f10, ttft_s_p90=f90)


def _open_loop_terms(space, indices, res):
    """Per configuration: the formulas' TTFT, requests started per step at full load, prompt
    tokens to prefill, seconds of a step with a full chunk, and the batch (arrays over
    ``indices``)."""
    indices = np.asarray(indices, dtype=np.int64)
    ix = space.decode(indices)
    wm, b = ix[AXIS_POS["wm"]], ix[-1]
    col = {f: i for i, f in enumerate(WM_FIELDS)}
    table = space.wm_table.copy()
    table[:, col["cached_frac"]] = 1.0          # the same step with no prompt tokens
    dec = evaluate_indices(type(space)(**{**space.__dict__, "wm_table": table}), indices)
    tau = res["output_tok_s_per_user"] * res["tpot_s"]
    step_avg, step_dec = res["tpot_s"] * tau, dec["tpot_s"] * tau
    isl, osl = space.wm_table[wm, col["isl"]], space.wm_table[wm, col["osl"]]
    isl_new = isl * (1.0 - space.wm_table[wm, col["cached_frac"]])
    batch = space.batches[b]
    tok_pf = batch * tau * isl_new / osl
    per_tok = np.where(tok_pf > 0, np.maximum(step_avg - step_dec, 0.0) / np.maximum(tok_pf, 1e-30), 0.0)
    busy = step_dec + PREFILL_CHUNK_TOKENS * per_tok
    return res["ttft_s"], batch * tau / osl, isl_new, busy, batch


def _open_loop_ttft(terms, k, utilization, percentile) -> float:
    ttft0, per_step, isl_new, busy, batch = terms
    return float(ttft0[k] + chunked_prefill_wait(utilization * per_step[k], isl_new[k], PREFILL_CHUNK_TOKENS,
                                                 busy[k], batch[k])[percentile])


def ttft_under_load(space, indices, res, utilization, percentile) -> np.ndarray:
    """TTFT of aggregated configurations under load (seconds), vectorised for the planner.

    ``res`` holds ``evaluate_indices(space, indices)``; each replica is taken to run at
    ``utilization`` of its request throughput (one for all or one per index; Poisson arrivals on
    the step clock, see :func:`kernels.queueing.chunked_prefill_wait`): a plan's steady-state
    open-loop traffic, not a benchmark's synchronized waves. ``percentile`` is "mean", "p90" or
    "p99", one for all or one per index. Returns the formulas' TTFT plus the prefill queue's wait
    plus the default engine's fixed per-request overhead (:func:`ttft_overhead_s`).
    """
    indices = np.asarray(indices, dtype=np.int64)
    terms = _open_loop_terms(space, indices, res)
    names = np.broadcast_to(np.asarray(percentile), indices.shape)
    u = np.broadcast_to(np.asarray(utilization, dtype=np.float64), indices.shape)
    over = ttft_overhead_s()
    return np.array([_open_loop_ttft(terms, k, u[k], str(names[k])) + over for k in range(indices.size)])


def ttft_headroom(space, indices, res, max_utilization, percentile, limit_s, tol=1e-4) -> np.ndarray:
    """Utilization each configuration can be planned at (the MILP's headroom), from the queue.

    The largest ``u <= max_utilization`` whose TTFT under load (:func:`ttft_under_load`) at
    ``percentile`` stays within ``limit_s`` seconds (one for all or one per index; None or inf:
    no TTFT SLA, ``max_utilization``); 0 where even an idle replica misses it. The queue's wait
    rises with ``u``, so the answer is found by bisection to ``tol``. Shape ``(len(indices),)``.
    """
    indices = np.asarray(indices, dtype=np.int64)
    terms = _open_loop_terms(space, indices, res)
    names = np.broadcast_to(np.asarray(percentile), indices.shape)
    lims = np.atleast_1d(np.asarray(limit_s, dtype=object))
    lim = np.broadcast_to(np.array([np.inf if v is None else float(v) for v in lims]), indices.shape)
    over = ttft_overhead_s()
    out = np.empty(indices.size)
    for k in range(indices.size):
        f = lambda u: _open_loop_ttft(terms, k, u, str(names[k])) + over  # noqa: E731
        if f(max_utilization) <= lim[k]:
            out[k] = max_utilization
            continue
        if f(0.0) > lim[k]:
            out[k] = 0.0
            continue
        lo, hi = 0.0, max_utilization
        while hi - lo > tol:
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if f(mid) <= lim[k] else (lo, mid)
        out[k] = lo
    return out
