"""Serving modes around the per-step model: aggregated with TTFT under load, and disaggregated
prefill/decode pools.

The per-step formulas (:mod:`kernels.formulas`) describe one replica whose steps carry decode
tokens and, on average, chunked prefill tokens. This module composes them on the host:

* **aggregated**: one pool of identical replicas; the wait for memory (requests beyond what fits
  queue for a slot) and the TTFT a benchmark at the stated concurrency measures, or the
  steady-state prefill queue a plan sees (:mod:`kernels.ttft`);
* **disaggregated**: a prefill pool (prefill-only steps: a batch of prompts per step, no decode
  tokens; evaluated as a one-output-token request) and a decode pool (decode-only steps at
  ``concurrency / decode replicas`` sequences per replica; evaluated with every prompt token
  already in the cache), the KV cache of each prompt sent from one to the other over the
  scale-up link when both pools fit in one scale-up domain and over the scale-out NIC otherwise,
  and the prefill pool under a benchmark's synchronized wave
  (:func:`kernels.queueing.synchronized_pool_ttft`) or, with spread lengths, an M/D/c queue
  (:func:`kernels.queueing.pool_wait`).

Every figure comes from ``formulas.evaluate_config`` through the NumPy reference backend, so the
composition follows whatever the step model computes. See docs/model.md, "Serving modes".
"""

from __future__ import annotations

import inspect
import math
from dataclasses import replace

import numpy as np

from problems import get_hardware, get_model

from . import formulas
from .predict import ConfigMetrics, PredictError, _space, with_bands
from .predict import predict as predict_aggregated_zero_load
from .queueing import pool_wait, synchronized_pool_ttft
from .ttft import (ARRIVALS, ttft_headroom, ttft_overhead_s, ttft_under_load, ttft_wave_fraction,  # noqa: F401
                   wave_step_costs, with_ttft_under_load)
from .reference import evaluate_indices
from .layout import Status
from .tables import batch_grid, default_calibration, hardware_row, model_row, usd_per_mtok

PREFILL_CHUNK_TOKENS = formulas.PREFILL_CHUNK_TOKENS
# decode replicas tried when a search leaves them free (per-GPU figures depend on the rounding
# of the prefill:decode ratio, so a few decode replicas per prefill replica are searched)
SEARCH_DECODE_REPLICAS = tuple(range(1, 9))
DECODE_EPS = (2, 4, 8, 16, 32, 64)
PREFILL_EPS = (2, 4, 8, 16)
TPS = (1, 2, 4, 8)
# the engine selects its calibration where the space builder takes one
_ENGINE_AWARE = "engine" in inspect.signature(_space).parameters
SERVING_MODES = ("aggregated", "disaggregated")


def _check_spec(model_id: str, speculative):
    m = get_model(model_id)
    if speculative not in (None, "off", "mtp"):
        raise PredictError(f"speculative must be 'off', 'mtp' or None (search), got {speculative!r}")
    if speculative == "mtp" and m.mtp is None:
        raise PredictError(f"{model_id} has no MTP layers; use speculative='off'")
    if speculative is None:
        return ["off", "mtp"] if m.mtp is not None else ["off"]
    return [speculative]


# ----------------------------------------------------------------------------------- aggregated

def predict_aggregated(hardware, model, precision, *, speculative=None, metric="output_tok_s_per_gpu",
                       concurrency=None, min_output_tok_s_per_user=None, calibration=None,
                       engine=None, arrivals="synchronized", **kw) -> ConfigMetrics:
    """The aggregated point :func:`kernels.predict.predict` picks, searched over speculative
    decoding when ``speculative`` is None, with TTFT under load (mean, P90, P99)."""
    best, err = None, None
    for spec in _check_spec(model, speculative):
        try:
            m = predict_aggregated_zero_load(
                hardware=hardware, model=model, precision=precision, speculative=spec, metric=metric,
                concurrency=concurrency, min_output_tok_s_per_user=min_output_tok_s_per_user,
                calibration=calibration, engine=engine, **kw)
        except PredictError as e:
            err = e
            continue
        if best is None or getattr(m, metric) > getattr(best, metric):
            best = m
    if best is None:
        raise err
    if concurrency is not None and best.concurrency < concurrency:
        best = _at_memory_cap(best, concurrency, metric=metric, calibration=calibration,
                              engine=engine, **kw)
    return with_ttft_under_load(best, calibration=calibration, engine=engine,
                                cached_input_fraction=kw.get("cached_input_fraction", 0.0),
                                in_flight=concurrency, arrivals=arrivals,
                                speculative_data=kw.get("speculative_data", "benchmark"))


def _at_memory_cap(m: ConfigMetrics, concurrency, *, metric, calibration, engine, **kw) -> ConfigMetrics:
    """Rerun an aggregated point whose ``concurrency`` does not fit at the exact largest batch
    that does (the batch grid steps by 1.33-1.5x; engines size the batch from KV capacity), with
    the rest of the requests waiting for a slot: each of the ``concurrency - cap`` requests
    ahead frees its slot after one request's duration, ``cap`` slots at a time."""
    calib = calibration or default_calibration()
    dep = 1 if m.ep > 1 else 0
    spec = 1 if m.speculative == "mtp" else 0
    cached = kw.get("cached_input_fraction", 0.0)
    res = _evaluate(m.hardware, m.model, m.precision, [(m.tp, dep)], [spec], [1.0, 2.0], m.isl, m.osl,
                    calib, engine, cached=[cached],
                    speculative_data=kw.get("speculative_data", "benchmark"), pp=m.pp)
    mem = res["memory_bytes_per_gpu"][0, 0, 0]
    per_seq, fixed = mem[1] - mem[0], mem[0] - (mem[1] - mem[0])
    hr = _hw_row(m.hardware, calib, engine)
    # the formulas' fit test, with the engine's KV sizing policy (of all memory or of what is free)
    limit = (formulas.MEM_USABLE_FRACTION * hr["hbm_bytes"]
             + hr["mem_of_free"] * (1.0 - formulas.MEM_USABLE_FRACTION) * fixed)
    cap = math.floor((limit * (1.0 - 1e-9) - fixed) / per_seq)
    if not (m.concurrency < cap < concurrency):
        return m
    args = {k: v for k, v in kw.items() if k not in ("tp", "ep", "pp")}
    r = predict_aggregated_zero_load(hardware=m.hardware, model=m.model, precision=m.precision, tp=m.tp,
                                     ep=m.ep, pp=m.pp, concurrency=cap, speculative=m.speculative, metric=metric,
                                     calibration=calibration, engine=engine, **args)
    dur = r.ttft_s + m.osl * r.tpot_s
    wait = (concurrency - cap) / cap * dur
    return replace(r, ttft_s=r.ttft_s + wait, queue_wait_s=wait,
                   note=f"only {cap} of {concurrency} concurrent requests fit; the rest queue")


# --------------------------------------------------------------------------------- evaluation

def _evaluate(hw_id, model_id, prec, layouts, specs, batches, isl, osl, calib, engine, cached,
              speculative_data="benchmark", pp=1):
    """Metrics of every (cached fraction, layout, spec, batch); arrays shaped (cached, layout,
    spec, batch). ``layouts`` are (GPUs per pipeline stage, dep) pairs, every one with ``pp``
    stages; a layout that is not valid for the model has status -1."""
    kw = {"engine": engine} if (_ENGINE_AWARE and engine is not None) else {}
    out = None
    gpus = sorted({g for g, _ in layouts})
    for ci, c in enumerate(cached):
        sp = _space(hw_id, model_id, prec, gpus, [0, 1], [1 if s else 0 for s in specs],
                    np.asarray(batches, dtype=np.float64), isl, osl, calib, c,
                    speculative_data=speculative_data, pps=[pp], **kw)
        res = evaluate_indices(sp, np.arange(sp.size))
        shape = (len(gpus), 2, len(specs), len(batches))
        if out is None:
            out = {k: np.empty((len(cached), len(layouts), len(specs), len(batches))) for k in res}
        for li, (g, d) in enumerate(layouts):
            for k, v in res.items():
                out[k][ci, li] = v.reshape(shape)[gpus.index(g), d]
    return out


def _layouts(tp, ep, is_moe, domain, eps, role):
    """(GPUs per replica, dep) pairs for a pool: given, or searched."""
    if ep is not None and ep > 1:
        if not is_moe:
            raise PredictError(f"{role}_ep={ep}: expert parallel needs an MoE model; use {role}_ep=1")
        if tp not in (None, 1, ep):
            raise PredictError(f"{role}_tp={tp} with {role}_ep={ep}: use {role}_tp=1 (attention "
                               f"data-parallel over the EP ranks) or {role}_tp={ep}")
        return [(int(ep), 1)]
    if tp is not None:
        if tp < 1:
            raise PredictError(f"{role}_tp must be >= 1, got {tp}")
        return [(int(tp), 0)] + ([(int(tp), 1)] if ep is None and is_moe and tp > 1 else [])
    out = [(t, 0) for t in TPS if t <= max(domain, 1)]
    if is_moe and ep != 1:
        out += [(e, 1) for e in eps if e <= domain]
        if domain > max(eps) and role == "decode":
            out.append((int(domain), 1))          # wide EP over the whole scale-up domain
    return out


def kv_transfer_s(kv_bytes_per_request, parallel_links, link_bytes_s, latency_s):
    """Seconds to move one request's KV cache from the prefill to the decode pool: the bytes
    split over ``parallel_links`` GPU-to-GPU links of ``link_bytes_s`` each, plus one latency."""
    return kv_bytes_per_request / (parallel_links * link_bytes_s) + latency_s


def prefill_batch(isl_new: float) -> float:
    """Prompts per prefill step: as many whole prompts as the chunk budget holds, at least one."""
    return max(1.0, math.floor(PREFILL_CHUNK_TOKENS / max(isl_new, 1.0)))


def pool_ratio(decode_requests_s, prefill_requests_s_per_replica):
    """Prefill replicas whose throughput covers the decode pool's request rate: the fewest, and
    at least one (scalars or broadcasting arrays; a scalar gives an int)."""
    n = np.maximum(1.0, np.ceil(np.asarray(decode_requests_s) / prefill_requests_s_per_replica - 1e-9))
    return int(n) if n.ndim == 0 else n


# ------------------------------------------------------------------------------ disaggregated

def predict_disaggregated(hardware, model, precision, *, isl=1024, osl=1024, concurrency=None,
                          min_output_tok_s_per_user=None, prefill_tp=None, prefill_ep=None,
                          prefill_replicas=None, decode_tp=None, decode_ep=None, decode_replicas=None,
                          speculative=None, cached_input_fraction=0.0, engine=None, calibration=None,
                          metric="output_tok_s_per_gpu", max_concurrency=4096,
                          arrivals="synchronized", speculative_data="benchmark") -> ConfigMetrics:
    """One disaggregated deployment: prefill pool + decode pool, searched where not given.

    ``concurrency`` is the total in flight over the deployment: each decode replica carries
    ``concurrency / decode_replicas`` sequences. Without it, the decode batch is searched
    (max throughput, or the best meeting ``min_output_tok_s_per_user``). ``prefill_replicas``
    None: the fewest prefill replicas whose throughput covers the decode pool's request rate.
    Throughput per GPU counts both pools; ``requests_per_s_per_replica`` is the deployment's.
    """
    calib = calibration or default_calibration()
    hw, mspec = get_hardware(hardware), get_model(model)
    specs = [1 if s == "mtp" else 0 for s in _check_spec(model, speculative)]
    for name, v in (("prefill_replicas", prefill_replicas), ("decode_replicas", decode_replicas)):
        if v is not None and v < 1:
            raise PredictError(f"{name} must be >= 1, got {v}")
    domain = int(hw.scaleup_domain_gpus)
    is_moe = mspec.is_moe
    p_lay = _layouts(prefill_tp, prefill_ep, is_moe, domain, PREFILL_EPS, "prefill")
    d_lay = _layouts(decode_tp, decode_ep, is_moe, domain, DECODE_EPS, "decode")
    isl_new = isl * (1.0 - cached_input_fraction)

    # ---- prefill pool: b_p prompts per prefill-only step
    b_p = prefill_batch(isl_new)
    rp = _evaluate(hardware, model, precision, p_lay, [0], [b_p], isl, 1, calib, engine,
                   [cached_input_fraction])
    t_pf = rp["tpot_s"][0, :, 0, 0]                          # (P,) seconds per prefill step
    ok_p = rp["status"][0, :, 0, 0] >= Status.MISSES_SLA
    mu_p = b_p / t_pf                                         # prompts per second per replica
    g_p = np.array([g for g, _ in p_lay], dtype=float)

    # ---- decode pool: decode-only steps (every prompt token already in the KV cache)
    grid = batch_grid(max_concurrency)
    if concurrency is not None:
        n_ds = [decode_replicas] if decode_replicas else list(range(1, min(int(concurrency), 64) + 1))
        targets = np.array([concurrency / n for n in n_ds], dtype=float)
        batches = np.unique(np.concatenate([grid[grid < targets.max()], targets]))
    else:
        n_ds = [decode_replicas] if decode_replicas else list(SEARCH_DECODE_REPLICAS)
        batches = grid
    rd = _evaluate(hardware, model, precision, d_lay, specs, batches, isl, osl, calib, engine, [1.0],
                   speculative_data=speculative_data)
    rd = {k: v[0] for k, v in rd.items()}                    # (D layouts, S, NB)
    ok_d = rd["status"] >= Status.MISSES_SLA
    L, S, NB = ok_d.shape
    # decode candidates: (layout, spec, batch index, decode replicas, admission wait)
    cand = []
    for li in range(L):
        for si in range(S):
            okb = np.flatnonzero(ok_d[li, si])
            if okb.size == 0:
                continue
            for n in n_ds:
                if concurrency is not None:
                    target = concurrency / n
                    fit = okb[batches[okb] <= target * (1 + 1e-12)]
                    if fit.size == 0:
                        continue
                    bi = int(fit[-1])
                    b = batches[bi]
                    dur = osl * rd["tpot_s"][li, si, bi]
                    cand.append((li, si, bi, n, (target - b) / b * dur if b < target else 0.0))
                else:
                    cand.extend((li, si, int(bi), n, 0.0) for bi in okb)
    if decode_replicas is None and any(a == 0.0 for *_, a in cand):
        # a searched deployment sizes its decode pool so that every request in flight fits
        cand = [x for x in cand if x[4] == 0.0]
    if not cand or not ok_p.any():
        raise PredictError(f"no disaggregated layout of {model} in {precision} fits on {hardware} "
                           "(weights + KV cache exceed the usable memory in the prefill or decode pool)")
    c = np.array(cand, dtype=float)
    li, si, bi = c[:, 0].astype(int), c[:, 1].astype(int), c[:, 2].astype(int)
    n_d, adm = c[:, 3], c[:, 4]
    tpot = rd["tpot_s"][li, si, bi]
    user = rd["output_tok_s_per_user"][li, si, bi]
    g_d = np.array([d_lay[i][0] for i in li], dtype=float)
    r_dec = n_d * rd["requests_per_s_per_replica"][li, si, bi]   # (D,) requests/s of the decode pool

    # ---- pool ratio and throughput over both pools, (P, D)
    if prefill_replicas is not None:
        n_p = np.full((len(p_lay), len(c)), float(prefill_replicas))
    else:
        n_p = pool_ratio(r_dec[None, :], mu_p[:, None])
        if concurrency is not None:
            # a closed loop at a stated concurrency keeps its requests in flight whichever pool
            # is short, so one prefill replica fewer than the decode rate asks for is a
            # deployment too (prefill-bound: the rest of the requests wait for a prefill slot);
            # it is taken where it gives more tokens per GPU
            n_lo = np.maximum(1.0, np.floor(r_dec[None, :] / mu_p[:, None] + 1e-9))
            per_gpu = lambda n: (np.minimum(r_dec[None, :], n * mu_p[:, None])  # noqa: E731
                                 / (n * g_p[:, None] + (n_d * g_d)[None, :]))
            n_p = np.where(per_gpu(n_lo) > per_gpu(n_p), n_lo, n_p)
    x = np.minimum(r_dec[None, :], n_p * mu_p[:, None])
    gpus = n_p * g_p[:, None] + (n_d * g_d)[None, :]
    hr = _hw_row(hardware, calib, engine)
    in_domain = gpus <= domain
    link = np.where(in_domain, hr["su_bw"], hr["so_bw"]) * hr["comm_eff"]
    ok = ok_p[:, None] & (link > 0)
    if min_output_tok_s_per_user is not None:
        ok &= (user >= min_output_tok_s_per_user)[None, :]
    val = x * (osl if metric == "output_tok_s_per_gpu" else isl + osl) / gpus
    val = np.where(ok, val, -np.inf)
    if not np.isfinite(val).any():
        if min_output_tok_s_per_user is not None and (ok_p[:, None] & (link > 0)).any():
            raise PredictError(f"no disaggregated layout reaches {min_output_tok_s_per_user} tok/s per "
                               f"user on {hardware}; the best is {float(user.max()):.1f}")
        raise PredictError(f"{hardware} has no scale-out link figure: a disaggregated deployment of "
                           f"{model} wider than its {domain}-GPU scale-up domain cannot move the KV cache")
    # ties (a prefill pool that caps the throughput of several decode layouts alike) go to the
    # fastest decode per user, as a deployment at that throughput would be tuned
    best = val >= np.max(val) * (1.0 - 1e-9)
    pi, di = np.unravel_index(int(np.argmax(np.where(best, user[None, :], -np.inf))), val.shape)
    return _compose(hardware, model, precision, isl, osl, cached_input_fraction, calib, hr,
                    p_lay[pi], d_lay[li[di]], int(n_p[pi, di]), int(n_d[di]), specs[si[di]],
                    b_p, float(t_pf[pi]), float(batches[bi[di]]), rp, pi, rd, (li[di], si[di], bi[di]),
                    float(link[pi, di]), bool(in_domain[pi, di]), float(adm[di]), concurrency, engine, arrivals)


def _hw_row(hardware, calib, engine):
    kw = {"engine": engine} if (_ENGINE_AWARE and engine is not None) else {}
    return hardware_row(get_hardware(hardware), calib, **kw)


def kv_bytes_per_request(model: str, precision: str, isl: float) -> float:
    """KV cache bytes of one prompt of ``isl`` tokens (FP8 KV with fp8/fp4 weights, BF16 with bf16)."""
    r = model_row(get_model(model), isl, 1)
    kv_b = 2.0 if precision == "bf16" else 1.0
    return float(formulas.kv_bytes_per_seq(float(isl), r["kv_elems_per_layer"], r["n_full"], r["n_win"],
                                           r["window"], kv_b))


def _compose(hardware, model, precision, isl, osl, cached, calib, hr, p_layout, d_layout, n_p, n_d,
             spec, b_p, t_pf, b_d, rp, pi, rd, di, link_bw, in_domain, admission_s, concurrency,
             engine=None, arrivals="synchronized"):
    """ConfigMetrics of one disaggregated deployment, TTFT under load included."""
    (g_p, dep_p), (g_d, dep_d) = p_layout, d_layout
    tpot = float(rd["tpot_s"][di])
    user = float(rd["output_tok_s_per_user"][di])
    r_dec = n_d * float(rd["requests_per_s_per_replica"][di])
    mu_p = b_p / t_pf
    gpus = n_p * g_p + n_d * g_d
    in_flight = float(concurrency) if concurrency is not None else n_d * b_d
    xfer = kv_transfer_s(kv_bytes_per_request(model, precision, isl), min(g_p, g_d), link_bw, hr["lat"])
    # a benchmark at a stated concurrency sends its prompts in synchronized waves: the wave of
    # in_flight prompts queues at the pool's n_p * b_p slots; a closed loop whose prefill pool
    # saturates cycles no faster than in_flight / (n_p mu_p), so TTFT is at least that cycle less
    # the decode time (Little); the throughput is the closed loop's, at most the prefill capacity
    decode_s = osl * tpot
    over = ttft_overhead_s(calib, engine)
    if arrivals == "spread":
        # desynchronized closed loop: M/D/c at the throughput X, with in_flight = X (TTFT +
        # decode) (Little). TTFT rises with X, so X is found by bisection up to the pools'
        # capacity; a loop that still has requests to spare there is pool-bound: it cycles at
        # the capacity and its TTFT is what the cycle leaves besides decode
        cap_x = min(r_dec, n_p * mu_p)
        servers = int(n_p * b_p)

        def queue(x):
            q = pool_wait(x, t_pf, servers, in_flight)
            return {**q, **{k: q[k] + t_pf for k in ("mean", "p90", "p99")}}

        def cycle(x):
            return x * (admission_s + queue(x)["mean"] + xfer + over + decode_s) - in_flight

        x = cap_x * (1.0 - 1e-9)
        if concurrency is not None and cycle(x) > 0.0:
            lo, hi = 0.0, x
            for _ in range(50):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if cycle(mid) <= 0.0 else (lo, mid)
            x = lo
            q = queue(x)
        elif concurrency is not None:
            x = cap_x
            sat = max(in_flight / x - decode_s - xfer - over - admission_s, t_pf)
            q = {**queue(x * (1.0 - 1e-9)), "mean": sat, "rho": r_dec / (n_p * mu_p)}
            q.update({k: max(q[k], sat) if math.isfinite(q[k]) else sat for k in ("p90", "p99")})
        else:
            q = {**queue(x), "rho": r_dec / (n_p * mu_p)}
            x = cap_x
        ttft = admission_s + q["mean"] + xfer + over
    else:
        w = synchronized_pool_ttft(in_flight, n_p * b_p, t_pf)
        f = ttft_wave_fraction(calib, engine)
        w = {k: t_pf + f * (w[k] - t_pf) for k in ("mean", "p90", "p99")}
        sat = in_flight / (n_p * mu_p) - decode_s - xfer
        q = {k: max(w[k], sat) for k in ("mean", "p90", "p99")}
        q["rho"] = r_dec / (n_p * mu_p)
        ttft = admission_s + q["mean"] + xfer + over
        x = min(in_flight / (ttft + decode_s), n_p * mu_p) if concurrency is not None else min(r_dec, n_p * mu_p)
    p90, p99 = (admission_s + q[k] + xfer + over for k in ("p90", "p99"))
    pw_p, pw_d = float(rp["power_w_per_gpu"][0, pi, 0, 0]), float(rd["power_w_per_gpu"][di])
    power = (n_p * g_p * pw_p + n_d * g_d * pw_d) / gpus
    cost_h = hr["cost_usd_per_gpu_hour"] + hr["elec_usd_per_kwh"] * power / 1000.0
    out_gpu = x * osl / gpus
    tot_gpu = x * (isl + osl) / gpus
    mem = max(float(rp["memory_bytes_per_gpu"][0, pi, 0, 0]), float(rd["memory_bytes_per_gpu"][di]))
    notes = [f"prefill {n_p} x {'DEP' if dep_p else 'TP'}{g_p}, decode {n_d} x {'DEP' if dep_d else 'TP'}{g_d}",
             f"KV over {'scale-up' if in_domain else 'scale-out'} ({xfer * 1e3:.2f} ms)"]
    if q["rho"] >= 1.0:
        notes.append("prefill pool saturated; TTFT is the closed-loop bound")
    if admission_s > 0:
        notes.append(f"only {int(b_d)} sequences per decode replica fit; the rest queue")
    m = ConfigMetrics(
        hardware=hardware, model=model, precision=precision, tp=int(g_d), ep=int(g_d) if dep_d else 1,
        concurrency=int(round(in_flight)), speculative="mtp" if spec else "off", isl=int(isl), osl=int(osl),
        ttft_s=ttft, tpot_s=tpot, output_tok_s_per_user=user, output_tok_s_per_gpu=out_gpu,
        total_tok_s_per_gpu=tot_gpu, requests_per_s_per_replica=x, power_w_per_gpu=power,
        cost_usd_per_mtok_output=usd_per_mtok(cost_h, out_gpu),
        cost_usd_per_mtok_blended=usd_per_mtok(cost_h, tot_gpu),
        tok_per_joule=tot_gpu / power, memory_bytes_per_gpu=mem, fits=True,
        serving="disaggregated", gpus=int(gpus),
        prefill_tp=1 if dep_p else int(g_p), prefill_ep=int(g_p) if dep_p else 1, prefill_replicas=int(n_p),
        decode_tp=1 if dep_d else int(g_d), decode_ep=int(g_d) if dep_d else 1, decode_replicas=int(n_d),
        kv_transfer_s=xfer, ttft_p90_s=p90, ttft_p99_s=p99, queue_wait_s=admission_s + q["mean"] - t_pf,
        note="; ".join(notes))
    # bands of the interactivity regime of the decode hardware and engine (the fit's residuals are
    # aggregated serving's; benchmarks/score_serving.py scores the disaggregated rows)
    return with_bands(m, calib, calib.engine_for(engine, get_hardware(hardware).family), "interactivity")


# ----------------------------------------------------------------------------------- front door

def predict(hardware, model, precision, tp=None, ep=1, concurrency=None, isl=1024, osl=1024,
            engine=None, min_output_tok_s_per_user=None, *, serving="aggregated", prefill_tp=None,
            prefill_ep=None, prefill_replicas=None, decode_tp=None, decode_ep=None,
            decode_replicas=None, speculative=None, cached_input_fraction=0.0, max_concurrency=4096,
            calibration=None, metric="output_tok_s_per_gpu", arrivals="synchronized",
            speculative_data="benchmark", pp=None) -> ConfigMetrics:
    """Predict one operating point in a serving mode; see :func:`optimizer.predict`.

    ``pp`` (pipeline stages of an aggregated replica; None: as few as fit) does not apply to the
    disaggregated pools, whose layouts are single-stage.

    ``arrivals`` says what the benchmark at ``concurrency`` sends: "synchronized" (fixed ISL/OSL,
    every request at once: waves of ``concurrency`` prompts; vLLM/SGLang ``bench_serving``,
    genai-perf, trtllm-bench, aiconfigurator's silicon runs) or "spread" (lengths drawn from a
    range, e.g. InferenceX's 80-100%: the waves dissolve into a steady-state queue).
    """
    from problems import args  # noqa: PLC0415

    from .predict import _checked_arguments  # noqa: PLC0415

    if speculative not in (None, "off", "mtp"):
        raise PredictError(f"predict: speculative must be 'off', 'mtp' or None (search), got {speculative!r}")
    # the same type and range checks as an aggregated call, before anything is looked up
    _checked_arguments(hardware, model, precision, tp, ep, concurrency, isl, osl, engine,
                       min_output_tok_s_per_user, speculative or "off", cached_input_fraction,
                       max_concurrency, calibration, metric, speculative_data, pp)
    if pp is not None and pp > 1 and serving == "disaggregated":
        raise PredictError(f"predict: pp={pp} describes an aggregated replica; disaggregated pools are "
                           "single-stage here: pass serving='aggregated' (or None), or pp=None")
    for name in ("prefill_tp", "prefill_ep", "prefill_replicas", "decode_tp", "decode_ep", "decode_replicas"):
        args.whole("predict", name, locals()[name], 1, 1024, optional=True, error=PredictError)
    if arrivals not in ARRIVALS:
        raise PredictError(f"arrivals must be 'synchronized' or 'spread', got {arrivals!r}")
    if serving not in (None, *SERVING_MODES):
        raise PredictError(f"serving must be 'aggregated', 'disaggregated' or None (search), got {serving!r}")
    pools = dict(prefill_tp=prefill_tp, prefill_ep=prefill_ep, prefill_replicas=prefill_replicas,
                 decode_tp=decode_tp, decode_ep=decode_ep, decode_replicas=decode_replicas)
    if serving == "aggregated" and any(v is not None for v in pools.values()):
        given = ", ".join(k for k, v in pools.items() if v is not None)
        raise PredictError(f"{given} describe a disaggregated deployment; pass serving='disaggregated' "
                           "(or None to search both modes)")
    if engine is None:
        # the calibration's default engine where it runs, else one that does (vLLM on AMD GPUs)
        engine = (calibration or default_calibration()).engine_for(None, get_hardware(hardware).family)
    common = dict(concurrency=concurrency, min_output_tok_s_per_user=min_output_tok_s_per_user,
                  calibration=calibration, engine=engine, metric=metric, arrivals=arrivals,
                  speculative_data=speculative_data)
    results, errors = [], []
    if serving in (None, "aggregated"):
        try:
            results.append(predict_aggregated(
                hardware, model, precision, tp=tp, ep=ep, pp=pp, isl=isl, osl=osl, speculative=speculative,
                cached_input_fraction=cached_input_fraction, max_concurrency=max_concurrency, **common))
        except PredictError as e:
            errors.append(e)
    if serving in (None, "disaggregated") and not (pp is not None and pp > 1):
        try:
            results.append(predict_disaggregated(
                hardware, model, precision, isl=isl, osl=osl, speculative=speculative,
                cached_input_fraction=cached_input_fraction, max_concurrency=max_concurrency,
                **pools, **common))
        except PredictError as e:
            errors.append(e)
    if not results:
        raise errors[0]
    return max(results, key=lambda m: getattr(m, metric))


# ------------------------------------------------------------------------- planner's pool pairs

def disaggregated_pools(prefill_hardware, decode_hardware, model, precision, *, isl=1024, osl=1024,
                        min_output_tok_s_per_user=None, ttft_s=None, ttft_percentile="p90",
                        decode_replicas=(1, 2, 4), speculative=None, cached_input_fraction=0.0,
                        engine=None, calibration=None, max_concurrency=4096, same_units=None,
                        speculative_data="chat") -> list[dict]:
    """Disaggregated deployments a planner can buy: prefill pool on ``prefill_hardware``, decode
    pool on ``decode_hardware`` (the same type or another), one per decode pool size.

    For each ``decode_replicas`` count the deployment with the most output tokens/s per GPU over
    both pools that reaches ``min_output_tok_s_per_user`` (decode pool) and whose TTFT at
    ``ttft_percentile`` ("mean", "p90", "p99"; queueing + prefill + KV transfer) is at most
    ``ttft_s`` seconds. The prefill pool has the fewest replicas covering the decode pool's
    request rate (:func:`pool_ratio`). The KV cache moves over the scale-up link when both pools
    are one hardware type and fit in one scale-up domain, else over the slower scale-out NIC;
    ``same_units`` False says the two pools never share a scale-up domain (None: they may when
    both hardware ids are equal). ``speculative_data`` ("chat", a plan's default, or
    "benchmark") selects the model's MTP draft acceptance.

    Returns a list of dicts (possibly empty): layouts (``prefill_gpus``, ``prefill_dep``,
    ``prefill_replicas``, ``decode_*``, ``speculative``, ``decode_batch``), ``requests_s``
    (deployment), ``tpot_s``, ``output_tok_s_per_user``, ``ttft_s``/``ttft_p90_s``/``ttft_p99_s``,
    ``kv_transfer_s``, ``in_domain``, per-pool ``*_power_w_per_gpu`` (all-in at the default
    economics of :func:`kernels.tables.hardware_row`) and ``*_memory_bytes_per_gpu``.
    """
    calib = calibration or default_calibration()
    hp, hd, mspec = get_hardware(prefill_hardware), get_hardware(decode_hardware), get_model(model)
    specs = [1 if s == "mtp" else 0 for s in _check_spec(model, speculative)]
    p_lay = _layouts(None, None, mspec.is_moe, int(hp.scaleup_domain_gpus), PREFILL_EPS, "prefill")
    d_lay = _layouts(None, None, mspec.is_moe, int(hd.scaleup_domain_gpus), DECODE_EPS, "decode")
    isl_new = isl * (1.0 - cached_input_fraction)
    b_p = prefill_batch(isl_new)
    rp = _evaluate(prefill_hardware, model, precision, p_lay, [0], [b_p], isl, 1, calib, engine,
                   [cached_input_fraction])
    t_pf = rp["tpot_s"][0, :, 0, 0]
    ok_p = rp["status"][0, :, 0, 0] >= Status.MISSES_SLA
    if not ok_p.any():
        return []
    mu_p = b_p / t_pf
    g_p = np.array([g for g, _ in p_lay], dtype=float)
    grid = batch_grid(max_concurrency)
    rd = {k: v[0] for k, v in _evaluate(decode_hardware, model, precision, d_lay, specs, grid, isl, osl,
                                        calib, engine, [1.0], speculative_data=speculative_data).items()}
    ok_d = rd["status"] >= Status.MISSES_SLA
    if min_output_tok_s_per_user is not None:
        ok_d &= rd["output_tok_s_per_user"] >= min_output_tok_s_per_user
    li, si, bi = np.nonzero(ok_d)
    if li.size == 0:
        return []
    g_d = np.array([d_lay[i][0] for i in li], dtype=float)
    hrp, hrd = _hw_row(prefill_hardware, calib, engine), _hw_row(decode_hardware, calib, engine)
    kv = kv_bytes_per_request(model, precision, isl)
    same = (prefill_hardware == decode_hardware) if same_units is None else bool(same_units)
    out = []
    for n_d in decode_replicas:
        r_dec = n_d * rd["requests_per_s_per_replica"][li, si, bi]          # (D,)
        n_p = pool_ratio(r_dec[None, :], mu_p[:, None])                     # (P, D)
        gpus = n_p * g_p[:, None] + (n_d * g_d)[None, :]
        in_dom = same & (gpus <= hd.scaleup_domain_gpus)
        link = np.where(in_dom, hrd["su_bw"], min(hrp["so_bw"], hrd["so_bw"])) * hrd["comm_eff"]
        val = np.where(ok_p[:, None] & (link > 0), r_dec[None, :] * osl / gpus, -np.inf)
        # best first; the first whose TTFT meets the SLA is this pool size's deployment
        for flat in np.argsort(-val, axis=None, kind="stable")[:64]:
            pi, di = np.unravel_index(int(flat), val.shape)
            if not np.isfinite(val[pi, di]):
                break
            (gp, dep_p), (gd, dep_d) = p_lay[pi], d_lay[li[di]]
            x, b_d = float(r_dec[di]), float(grid[bi[di]])
            xfer = kv_transfer_s(kv, min(gp, gd), float(link[pi, di]), hrd["lat"])
            npi = int(n_p[pi, di])
            q = pool_wait(x, float(t_pf[pi]), int(npi * b_p), n_d * b_d)
            base = float(t_pf[pi]) + xfer
            t = {"mean": base + q["mean"], "p90": base + q["p90"], "p99": base + q["p99"]}
            if ttft_s is not None and not t[ttft_percentile] <= ttft_s:
                continue
            k = (li[di], si[di], bi[di])
            out.append(dict(
                prefill_hardware=prefill_hardware, decode_hardware=decode_hardware,
                prefill_gpus=int(gp), prefill_dep=bool(dep_p), prefill_replicas=npi,
                decode_gpus=int(gd), decode_dep=bool(dep_d), decode_replicas=int(n_d),
                speculative="mtp" if specs[si[di]] else "off", decode_batch=b_d,
                requests_s=x, tpot_s=float(rd["tpot_s"][k]),
                output_tok_s_per_user=float(rd["output_tok_s_per_user"][k]),
                ttft_s=t["mean"], ttft_p90_s=t["p90"], ttft_p99_s=t["p99"], kv_transfer_s=xfer,
                in_domain=bool(in_dom[pi, di]),
                prefill_power_w_per_gpu=float(rp["power_w_per_gpu"][0, pi, 0, 0]),
                decode_power_w_per_gpu=float(rd["power_w_per_gpu"][k]),
                prefill_memory_bytes_per_gpu=float(rp["memory_bytes_per_gpu"][0, pi, 0, 0]),
                decode_memory_bytes_per_gpu=float(rd["memory_bytes_per_gpu"][k])))
            break
    return out
