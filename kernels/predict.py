"""Point predictions: one (hardware, model, precision) at one operating point.

This is what ``optimizer.predict`` and the calibration fit use: a tiny configuration space
evaluated with the reference backend, then the operating point picked the way a benchmark
reports it (a fixed concurrency, the max-throughput point, or the best throughput at a minimum
interactivity).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from problems import get_hardware, get_model
from problems.errors import InputError
from problems.catalog import suggest, hardware_catalog, model_catalog

from .formulas import MEM_USABLE_FRACTION
from .layout import HW_FIELDS, MTP_DRAFT_TOKENS, PREC_CODES, PREC_NAMES, WM_FIELDS, Status
from .reference import evaluate_indices
from .space import ConfigSpace
from .tables import (SPECULATIVE_DATA, Calibration, axis_values, batch_bound, batch_grid, default_calibration, engine_name, hardware_row,
                     model_row)


@dataclass(frozen=True)
class ConfigMetrics:
    """Predicted metrics of one configuration. SI units; per GPU unless stated."""

    hardware: str
    model: str
    precision: str
    tp: int
    ep: int
    concurrency: int
    speculative: str
    isl: int
    osl: int
    ttft_s: float
    tpot_s: float
    output_tok_s_per_user: float
    output_tok_s_per_gpu: float
    total_tok_s_per_gpu: float
    requests_per_s_per_replica: float
    power_w_per_gpu: float
    cost_usd_per_mtok_output: float
    cost_usd_per_mtok_blended: float
    tok_per_joule: float
    memory_bytes_per_gpu: float
    fits: bool
    # serving mode; a disaggregated point counts GPUs, power and cost over both pools, and its
    # requests_per_s_per_replica is the whole deployment's (kernels/serving.py)
    serving: str = "aggregated"
    gpus: int = 0                       # GPUs of the deployment described (0: one replica, tp)
    prefill_tp: int = 0
    prefill_ep: int = 0
    prefill_replicas: int = 0
    decode_tp: int = 0
    decode_ep: int = 0
    decode_replicas: int = 0
    kv_transfer_s: float = 0.0
    ttft_p90_s: float = float("nan")    # TTFT under load (ttft_s is the mean); NaN: not modelled
    ttft_p99_s: float = float("nan")
    queue_wait_s: float = 0.0
    note: str = ""
    # error band: P10 and P90 of what a measurement would show, from the calibration residuals
    # of this prediction's regime (hardware group, engine, max-throughput vs interactivity)
    output_tok_s_per_gpu_p10: float = float("nan")
    output_tok_s_per_gpu_p90: float = float("nan")
    total_tok_s_per_gpu_p10: float = float("nan")
    total_tok_s_per_gpu_p90: float = float("nan")
    tpot_s_p10: float = float("nan")
    tpot_s_p90: float = float("nan")
    ttft_s_p10: float = float("nan")
    ttft_s_p90: float = float("nan")
    band_regime: str = ""
    engine: str = ""
    pp: int = 1                         # pipeline stages per replica (GPUs per replica: tp x pp)

    def to_dict(self) -> dict:
        return asdict(self)


SEARCH_TPS = (1, 2, 4, 8, 16, 32, 64)
# pipeline stages a prediction tries when ``pp`` is None, fewest first: a published benchmark
# pipelines a model only when it does not fit otherwise (scored: benchmarks/RESULTS.md), so
# deeper pipelines join the search only when no layout with fewer stages fits
PP_DEGREES = (1, 2, 4)


class PredictError(InputError):
    """A prediction request that cannot be answered (unknown id, nothing fits...)."""


# operating-point metrics where more is better: what ``metric`` may pick the best point by
PREDICT_METRICS = ("output_tok_s_per_gpu", "total_tok_s_per_gpu", "output_tok_s_per_user",
                   "requests_per_s_per_replica", "tok_per_joule")


def _checked_arguments(hardware, model, precision, tp, ep, concurrency, isl, osl, engine,
                       min_output_tok_s_per_user, speculative, cached_input_fraction, max_concurrency,
                       calibration, metric, speculative_data="benchmark", pp=None):
    """predict()'s arguments checked for type and range (a PredictError naming the argument and
    what is allowed); returns the numeric ones as Python ints and floats, nothing truncated."""
    from problems import args  # noqa: PLC0415 - only this entry needs it

    f, e = "predict", PredictError
    args.text(f, "hardware", hardware, error=e)
    args.text(f, "model", model, error=e)
    args.choice(f, "precision", precision, tuple(PREC_CODES), error=e)
    args.choice(f, "speculative", speculative, ("off", "mtp"), error=e)
    args.choice(f, "speculative_data", speculative_data, SPECULATIVE_DATA, error=e)
    # an engine as sources spell it ("TensorRT-LLM", "vLLM 0.10") is the calibrated one it names
    try:
        engine = engine_name(engine) if isinstance(engine, str) else engine
    except ValueError:
        pass
    args.choice(f, "engine", engine, ("trtllm", "vllm", "sglang"), optional=True, error=e)
    args.choice(f, "metric", metric, PREDICT_METRICS, error=e)
    args.whole(f, "pp", pp, 1, max(PP_DEGREES), optional=True, error=e)
    if calibration is not None and not isinstance(calibration, Calibration):
        raise PredictError(f"predict: calibration must be a kernels.Calibration or None, "
                           f"got {type(calibration).__name__}")
    return (args.whole(f, "tp", tp, 1, 1024, optional=True, error=e),
            args.whole(f, "ep", ep, 1, 1024, optional=True, error=e),
            args.whole(f, "concurrency", concurrency, optional=True, error=e),
            args.whole(f, "isl", isl, error=e), args.whole(f, "osl", osl, error=e),
            args.real(f, "min_output_tok_s_per_user", min_output_tok_s_per_user, 0.0, lo_open=True,
                      optional=True, error=e),
            args.real(f, "cached_input_fraction", cached_input_fraction, 0.0, 1.0, hi_open=True, error=e),
            args.whole(f, "max_concurrency", max_concurrency, error=e))


def _space(hw_id, model_id, prec, tps, modes, specs, batches, isl, osl, calib, cached=0.0, price=None,
           engine=None, speculative_data="benchmark", pps=(1,)):
    hw = get_hardware(hw_id)
    if price is not None:
        hw = hw.model_copy(update={"price_usd_per_hour": price})
    mr = model_row(get_model(model_id), isl, osl, cached, speculative_data=speculative_data)
    hr = hardware_row(hw, calib, engine=engine)
    # modes and specs are codes (0/1), in the caller's order
    values = axis_values(precisions=[prec], tensor_parallel=tps, pipeline_parallel=pps, batches=batches)
    values["mode"] = np.asarray(modes, dtype=np.float64)
    values["spec"] = np.asarray(specs, dtype=np.float64) * MTP_DRAFT_TOKENS
    return ConfigSpace(
        wm_pairs=[("predict", model_id)], hardware=[hw_id], values=values,
        wm_table=np.array([[mr[f] for f in WM_FIELDS]]), hw_table=np.array([[hr[f] for f in HW_FIELDS]]),
        hw_families=[hw.family])


def _with_batches(space: ConfigSpace, batches) -> ConfigSpace:
    """The same space with another batch axis."""
    return ConfigSpace(wm_pairs=space.wm_pairs, hardware=space.hardware,
                       values={**space.values, "batch": np.asarray(batches, dtype=np.float64)},
                       wm_table=space.wm_table, hw_table=space.hw_table, hw_families=space.hw_families)


def memory_caps(space: ConfigSpace) -> np.ndarray:
    """Largest batch that fits in memory per group (tp, pp, mode, spec), 0 where none does.

    Memory per GPU is affine in the batch (weights + batch x KV per sequence + reserve), so two
    evaluations give it exactly; engines size their batch from this KV capacity, and the batch
    grid (steps of 1.33-1.5x) would otherwise stop up to a third below it.
    """
    probe = _with_batches(space, np.array([1.0, 2.0]))
    res = evaluate_indices(probe, np.arange(probe.size))
    mem = res["memory_bytes_per_gpu"].reshape(-1, 2)
    per_seq = mem[:, 1] - mem[:, 0]
    fixed = mem[:, 0] - per_seq
    hbm = space.hw_table[0, HW_FIELDS.index("hbm_bytes")]
    of_free = space.hw_table[0, HW_FIELDS.index("mem_of_free")]
    # the same limit as the formulas' fit test; one part in 1e9 inside it for rounding
    limit = MEM_USABLE_FRACTION * hbm + of_free * (1.0 - MEM_USABLE_FRACTION) * fixed
    room = limit * (1.0 - 1e-9) - fixed
    cap = np.floor(np.where(per_seq > 0, room / np.maximum(per_seq, 1e-300), np.inf))
    # a layout whose replica has no link (wider than its domain, no NIC) fits no batch
    valid = (res["status"].reshape(-1, 2)[:, 0] >= Status.MISSES_SLA)
    return np.where(valid & (cap >= 1), cap, 0.0)


@dataclass
class Candidates:
    """The configurations a prediction chooses from, and how it chooses."""

    space: ConfigSpace
    tps: list
    mode: str                 # "concurrency" | "interactivity" | "max_throughput"
    concurrency: int | None = None
    min_tok_s_user: float | None = None
    engine: str | None = None   # canonical engine name (the hardware's default when not asked)
    note: str = ""
    pps: list = (1,)


def candidates(hardware: str, model: str, precision: str, tp: int | None = None, ep: int | None = 1,
               concurrency: int | None = None, isl: int = 1024, osl: int = 1024,
               engine: str | None = None, min_output_tok_s_per_user: float | None = None,
               speculative: str = "off", cached_input_fraction: float = 0.0,
               max_concurrency: int = 4096, calibration: Calibration | None = None,
               speculative_data: str = "benchmark", pp: int | None = 1) -> Candidates:
    """Validate a prediction request and build the small configuration space it chooses from.

    ``pp`` None: single-stage layouts when any fits in memory, else up to 2 stages, else up to 4
    (``PP_DEGREES``)."""
    calib = calibration or default_calibration()
    if hardware not in hardware_catalog():
        raise PredictError(f"unknown hardware {hardware!r}; {suggest(hardware, hardware_catalog())}")
    if model not in model_catalog():
        raise PredictError(f"unknown model {model!r}; {suggest(model, model_catalog())}")
    if precision not in PREC_CODES:
        raise PredictError(f"unknown precision {precision!r}; use bf16, fp8 or fp4")
    engine_note = ""
    hw_spec = get_hardware(hardware)
    family = hw_spec.family
    try:
        engine = calib.engine_for(engine, family)
    except ValueError:
        # an engine without calibration is predicted as the hardware's default engine, and said so
        fallback = calib.engine_for(None, family)
        engine_note = (f"no calibration for engine {engine!r}; {fallback}'s is used "
                       f"(calibrated: trtllm, vllm, sglang)")
        engine = fallback
    m = get_model(model)
    if precision not in m.precisions:
        raise PredictError(f"{model} is offered in {', '.join(m.precisions)} only")
    if speculative == "mtp" and m.mtp is None:
        raise PredictError(f"{model} has no MTP layers")
    for name, v in (("isl", isl), ("osl", osl)):
        if not (isinstance(v, (int, np.integer)) and v > 0):
            raise PredictError(f"{name} must be a positive integer, got {v!r}")
    if concurrency is not None and concurrency <= 0:
        raise PredictError(f"concurrency must be > 0, got {concurrency}")
    if tp is not None and (tp <= 0 or tp & (tp - 1)):
        raise PredictError(f"tp must be a power of two, got {tp}")
    if pp is not None and pp not in PP_DEGREES:
        raise PredictError(f"pp must be one of {', '.join(map(str, PP_DEGREES))} (pipeline stages), got {pp}")
    pps = [pp] if pp is not None else [1]
    borrowed = borrowed_note(hardware, family, calib)
    if borrowed:
        engine_note = "; ".join(x for x in (engine_note, borrowed) if x)
    tps = [tp] if tp is not None else [t for t in SEARCH_TPS if t <= hw_spec.scaleup_domain_gpus
                                       or (hw_spec.scaleout_gb_s_per_gpu and t <= 16)]
    if ep is None:
        modes = [0, 1] if m.is_moe else [0]
    elif ep > 1:
        if not m.is_moe:
            raise PredictError(f"{model} is dense: expert parallel needs an MoE model")
        if tp is not None and ep != tp:
            raise PredictError("ep must be 1 (tensor parallel) or equal to tp (attention DP + EP)")
        modes = [1]
    else:
        modes = [0]
    if tp is None and m.is_moe and ep is not None and ep > 1:
        tps = [t for t in tps if t > 1]
    specs = [1 if speculative == "mtp" else 0]
    # an engine's default batch limit (vLLM max_num_seqs) bounds what each of its schedulers runs
    bound = batch_bound(calib, engine, max(tps) if 1 in modes else 1)
    if bound is not None:
        max_concurrency = int(min(max_concurrency, bound))
    grid = batch_grid(max_concurrency)
    if concurrency is not None:
        grid = np.unique(np.concatenate([grid[grid < concurrency], [float(concurrency)]]))
    space = _space(hardware, model, precision, tps, modes, specs, grid, isl, osl, calib,
                   cached_input_fraction, engine=engine, speculative_data=speculative_data, pps=pps)
    caps = memory_caps(space) if (pp is None or concurrency is None) else None
    while pp is None and not (caps >= 1).any() and len(pps) < len(PP_DEGREES):
        # nothing fits with this many stages: the model needs a deeper pipeline
        pps = list(PP_DEGREES[:len(pps) + 1])
        space = _space(hardware, model, precision, tps, modes, specs, grid, isl, osl, calib,
                       cached_input_fraction, engine=engine, speculative_data=speculative_data, pps=pps)
        caps = memory_caps(space)
    if concurrency is None:
        # the exact memory cap of every layout joins the grid: max throughput usually sits there
        extra = caps[(caps >= 1) & (caps <= max_concurrency)]
        if extra.size:
            space = _with_batches(space, np.unique(np.concatenate([grid, extra])))
    mode = ("concurrency" if concurrency is not None else
            "interactivity" if min_output_tok_s_per_user is not None else "max_throughput")
    return Candidates(space=space, tps=tps, mode=mode, concurrency=concurrency,
                      min_tok_s_user=min_output_tok_s_per_user, engine=engine, note=engine_note, pps=pps)


def borrowed_note(hardware: str, family: str, calib: Calibration) -> str:
    """What a prediction for hardware without kernel tables of its own rests on ('' if measured)."""
    try:
        b = calib.for_hardware(hardware, family).get("borrowed")
    except ValueError:          # no tables and no nearest measured hardware: nothing borrowed
        return ""
    if not b:
        return ""
    how = (f", scaled by published microbenchmark ratios to it (GEMM x{b['compute']:.2f}, HBM "
           f"x{b['bandwidth']:.2f}, all-reduce x{b['comm']:.2f}; kernels/data/amd_microbenchmarks.csv)"
           if "compute" in b else "")
    return (f"no kernel tables for {hardware}: curves borrowed from {b['tables']}{how} and the "
            f"{calib.group_of(family)} group's fitted factors")


def choose(c: Candidates, res: dict, metric: str):
    """Index of the configuration a benchmark of this kind reports, and the queueing wait.

    Raises PredictError when nothing fits (or nothing meets the interactivity)."""
    space = c.space
    ok = res["status"] >= Status.MISSES_SLA    # fits (the SLA is the caller's question here)
    if c.mode == "concurrency":
        # per (tp, mode): the point at `concurrency`, or the largest batch that fits (queueing)
        nb = len(space.batches)
        okm = ok.reshape(-1, nb)
        last = nb - 1 - np.argmax(okm[:, ::-1], axis=1)
        anyok = okm.any(axis=1)
        if not anyok.any():
            raise PredictError(_nofit_msg(space.hardware[0], space.wm_pairs[0][1], PREC_NAMES[int(space.precisions[0])], c.tps, c.pps))
        gi = np.arange(okm.shape[0]) * nb + last
        vals = np.where(anyok, res[metric][gi], -np.inf)
        return int(gi[int(np.argmax(vals))])
    if c.mode == "interactivity":
        sel = ok & (res["output_tok_s_per_user"] >= c.min_tok_s_user)
        if not sel.any():
            if not ok.any():
                raise PredictError(_nofit_msg(space.hardware[0], space.wm_pairs[0][1], PREC_NAMES[int(space.precisions[0])], c.tps, c.pps))
            top = float(res["output_tok_s_per_user"][ok].max())
            raise PredictError(f"no configuration reaches {c.min_tok_s_user} tok/s per user "
                               f"on {space.hardware[0]}; the best is {top:.1f}")
    else:
        sel = ok
    if not sel.any():
        raise PredictError(_nofit_msg(space.hardware[0], space.wm_pairs[0][1], PREC_NAMES[int(space.precisions[0])], c.tps, c.pps))
    return int(np.argmax(np.where(sel, res[metric], -np.inf)))


def predict(hardware: str, model: str, precision: str, tp: int | None = None, ep: int = 1,
            concurrency: int | None = None, isl: int = 1024, osl: int = 1024,
            engine: str | None = None, min_output_tok_s_per_user: float | None = None,
            speculative: str = "off", cached_input_fraction: float = 0.0,
            max_concurrency: int = 4096, calibration: Calibration | None = None,
            metric: str = "output_tok_s_per_gpu", speculative_data: str = "benchmark",
            pp: int | None = None) -> ConfigMetrics:
    """Predict one operating point.

    ``concurrency=None``: the max-throughput point (the best batch up to the largest that fits in
    memory, that exact cap included); ``min_output_tok_s_per_user=X``: the highest-throughput
    batch with at least X tok/s per user; ``tp=None``: search tensor-parallel degrees 1..64 that
    the scale-up domain (or two nodes over scale-out) allows (and expert parallel for MoE models
    when ``ep`` is None or > 1). ``pp``: pipeline stages per replica (1, 2 or 4; the replica
    spans ``tp * pp`` GPUs); None: one stage where any searched layout fits, else 2, else 4.
    ``ep`` equal to ``tp`` means attention data-parallel + expert
    parallel over the replica's GPUs (the "DEP" layout); ``ep=1`` means pure tensor parallel.
    A ``concurrency`` larger than what fits in memory runs at the largest batch that fits and the
    rest queue (``queue_wait_s``). ``engine`` (trtllm, vllm, sglang; None = the calibration's
    default, trtllm, on hardware it runs on, else vLLM: AMD GPUs) selects the engine's fitted host overhead and kernel efficiency. The result
    carries P10/P90 bands from the calibration residuals of its regime.

    Raises
    ------
    PredictError
        An argument of the wrong type or out of range (named, with what is allowed), an unknown id,
        or an operating point no configuration reaches.
    """
    (tp, ep, concurrency, isl, osl, min_output_tok_s_per_user, cached_input_fraction,
     max_concurrency) = _checked_arguments(hardware, model, precision, tp, ep, concurrency, isl, osl, engine,
                                           min_output_tok_s_per_user, speculative, cached_input_fraction,
                                           max_concurrency, calibration, metric, speculative_data, pp)
    calib = calibration or default_calibration()
    pp = None if pp is None else int(pp)
    c = candidates(hardware, model, precision, tp, ep, concurrency, isl, osl, engine,
                   min_output_tok_s_per_user, speculative, cached_input_fraction, max_concurrency, calib,
                   speculative_data, pp)
    space = c.space
    res = evaluate_indices(space, np.arange(space.size))
    idx = choose(c, res, metric)
    notes, wait = [c.note] if c.note else [], 0.0
    if concurrency is not None:
        b_eff = space.batches[space.decode(idx)[-1]]
        if b_eff < concurrency:
            dur = res["ttft_s"][idx] + osl * res["tpot_s"][idx]
            wait = (concurrency - b_eff) / b_eff * dur
            notes.append(f"only {int(b_eff)} of {concurrency} concurrent requests fit; the rest queue")
    note = "; ".join(notes)
    band = bands_for(calib, get_hardware(hardware).family, c.engine, c.mode)
    return _metrics(space, res, idx, isl, osl, queue_wait_s=wait, note=note, band=band)


def _nofit_msg(hw, model, prec, tps, pps=(1,)):
    return (f"{model} in {prec} does not fit on {hw} with tp in {tps} and pp in {list(pps)} "
            "(weights + KV cache exceed the usable memory, or no link for a replica that wide)")


def bands_for(calib: Calibration, family: str, engine: str, mode: str) -> dict:
    """Log-ratio bands (pred / measured) for a prediction's regime. Each quantity (throughput,
    TPOT, TTFT) takes the most specific regime that has it: (group, engine, kind), (group, any
    engine, kind), (any group, engine, kind), (all, kind), then all rows of the other kind.

    TTFT is measured only at a stated concurrency, and its residuals are those of the TTFT
    ``optimizer.predict`` reports (under load, ``benchmarks/calibrate_ttft.py``): its band is
    always the interactivity regime's, whatever ``mode``."""
    bands = calib.meta.get("bands", {})
    kind = "max_throughput" if mode == "max_throughput" else "interactivity"
    group = calib.group_of(family)

    def keys(kind):
        other = "interactivity" if kind == "max_throughput" else "max_throughput"
        return (f"{group}/{engine}/{kind}", f"{group}/*/{kind}", f"*/{engine}/{kind}", f"*/*/{kind}",
                f"*/*/{other}")

    out = {"engine": engine, "regime": ""}
    for q in ("throughput", "tpot", "ttft"):
        key = next((k for k in keys("interactivity" if q == "ttft" else kind) if q in bands.get(k, {})), None)
        if key is not None:
            out[q] = bands[key][q]
            if q == "throughput":
                out["regime"] = key
    return out


def ttft_interval(ttft_s: float, calib: Calibration, hardware: str, engine: str | None) -> tuple[float, float]:
    """P10, P90 of a measured TTFT given a predicted one (seconds), from the TTFT band of
    (hardware's group, engine; None: the engine a prediction on that hardware defaults to)."""
    family = get_hardware(hardware).family
    band = bands_for(calib, family, calib.engine_for(engine, family), "interactivity")
    return _interval(ttft_s, band.get("ttft"))


def with_bands(m: ConfigMetrics, calib: Calibration, engine: str, mode: str) -> ConfigMetrics:
    """``m`` with every P10/P90 recomputed from its current values and the bands of its regime
    (a point built or changed outside :func:`predict`: under load, disaggregated)."""
    return _banded(m, bands_for(calib, get_hardware(m.hardware).family, engine, mode))


def _banded(m: ConfigMetrics, band: dict) -> ConfigMetrics:
    o10, o90 = _interval(m.output_tok_s_per_gpu, band.get("throughput"))
    t10, t90 = _interval(m.total_tok_s_per_gpu, band.get("throughput"))
    p10, p90 = _interval(m.tpot_s, band.get("tpot"))
    f10, f90 = _interval(m.ttft_s, band.get("ttft"))
    return replace(m, output_tok_s_per_gpu_p10=o10, output_tok_s_per_gpu_p90=o90,
                   total_tok_s_per_gpu_p10=t10, total_tok_s_per_gpu_p90=t90,
                   tpot_s_p10=p10, tpot_s_p90=p90, ttft_s_p10=f10, ttft_s_p90=f90,
                   band_regime=band.get("regime", ""), engine=band.get("engine", ""))


def _interval(value, q, invert=False):
    """P10, P90 of the measured value given quantiles ``q`` = [P10, P90] of log(pred / measured).

    For a quantity where more is better (throughput) measured = pred / exp(r); for a time the
    same. A ratio at P90 of r is the P10 of the measured value."""
    if not q or value is None or not np.isfinite(value):
        return float("nan"), float("nan")
    lo, hi = value * float(np.exp(-q[1])), value * float(np.exp(-q[0]))
    return (lo, hi)


def _metrics(space, res, idx, isl, osl, queue_wait_s=0.0, note="", band=None) -> ConfigMetrics:
    d = space.describe(int(idx))
    band = band or {}
    out = float(res["output_tok_s_per_gpu"][idx])
    tot = float(res["total_tok_s_per_gpu"][idx])
    tpot = float(res["tpot_s"][idx])
    ttft = float(res["ttft_s"][idx]) + queue_wait_s
    m = ConfigMetrics(
        hardware=d["hardware"], model=d["model"], precision=d["precision"], tp=d["tp"], pp=d["pp"], ep=d["ep"],
        concurrency=d["concurrency"], speculative=d["speculative"], isl=int(isl), osl=int(osl),
        ttft_s=ttft, tpot_s=tpot,
        output_tok_s_per_user=float(res["output_tok_s_per_user"][idx]),
        output_tok_s_per_gpu=out, total_tok_s_per_gpu=tot,
        requests_per_s_per_replica=float(res["requests_per_s_per_replica"][idx]),
        power_w_per_gpu=float(res["power_w_per_gpu"][idx]),
        cost_usd_per_mtok_output=float(res["cost_usd_per_mtok_output"][idx]),
        cost_usd_per_mtok_blended=float(res["cost_usd_per_mtok_blended"][idx]),
        tok_per_joule=float(res["tok_per_joule"][idx]),
        memory_bytes_per_gpu=float(res["memory_bytes_per_gpu"][idx]),
        fits=bool(res["status"][idx] >= Status.MISSES_SLA), queue_wait_s=queue_wait_s, note=note,
        gpus=d["gpus"])
    return _banded(m, band)
