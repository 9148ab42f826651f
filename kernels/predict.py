"""Point predictions: one (hardware, model, precision) at one operating point.

This is what ``optimizer.predict`` and the calibration fit use: a tiny configuration space
evaluated with the reference backend, then the operating point picked the way a benchmark
reports it (a fixed concurrency, the max-throughput point, or the best throughput at a minimum
interactivity).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from problems import get_hardware, get_model
from problems.errors import InputError
from problems.catalog import suggest, hardware_catalog, model_catalog

from .layout import HW_FIELDS, MTP_DRAFT_TOKENS, PREC_CODES, WM_FIELDS, Status
from .reference import evaluate_indices
from .space import ConfigSpace
from .tables import Calibration, axis_values, batch_grid, default_calibration, hardware_row, model_row


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

    def to_dict(self) -> dict:
        return asdict(self)


SEARCH_TPS = (1, 2, 4, 8, 16, 32, 64)


class PredictError(InputError):
    """A prediction request that cannot be answered (unknown id, nothing fits...)."""


# operating-point metrics where more is better: what ``metric`` may pick the best point by
PREDICT_METRICS = ("output_tok_s_per_gpu", "total_tok_s_per_gpu", "output_tok_s_per_user",
                   "requests_per_s_per_replica", "tok_per_joule")


def _checked_arguments(hardware, model, precision, tp, ep, concurrency, isl, osl, engine,
                       min_output_tok_s_per_user, speculative, cached_input_fraction, max_concurrency,
                       calibration, metric):
    """predict()'s arguments checked for type and range (a PredictError naming the argument and
    what is allowed); returns the numeric ones as Python ints and floats, nothing truncated."""
    from problems import args  # noqa: PLC0415 - only this entry needs it

    f, e = "predict", PredictError
    args.text(f, "hardware", hardware, error=e)
    args.text(f, "model", model, error=e)
    args.choice(f, "precision", precision, tuple(PREC_CODES), error=e)
    args.choice(f, "speculative", speculative, ("off", "mtp"), error=e)
    args.choice(f, "engine", engine, ("trtllm", "vllm", "sglang"), optional=True, error=e)
    args.choice(f, "metric", metric, PREDICT_METRICS, error=e)
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


def _space(hw_id, model_id, prec, tps, modes, specs, batches, isl, osl, calib, cached=0.0, price=None):
    hw = get_hardware(hw_id)
    if price is not None:
        hw = hw.model_copy(update={"price_usd_per_hour": price})
    mr = model_row(get_model(model_id), isl, osl, cached)
    hr = hardware_row(hw, calib)
    # modes and specs are codes (0/1), in the caller's order
    values = axis_values(precisions=[prec], tensor_parallel=tps, batches=batches)
    values["mode"] = np.asarray(modes, dtype=np.float64)
    values["spec"] = np.asarray(specs, dtype=np.float64) * MTP_DRAFT_TOKENS
    return ConfigSpace(
        wm_pairs=[("predict", model_id)], hardware=[hw_id], values=values,
        wm_table=np.array([[mr[f] for f in WM_FIELDS]]), hw_table=np.array([[hr[f] for f in HW_FIELDS]]),
        hw_families=[hw.family])


def predict(hardware: str, model: str, precision: str, tp: int | None = None, ep: int = 1,
            concurrency: int | None = None, isl: int = 1024, osl: int = 1024,
            engine: str | None = None, min_output_tok_s_per_user: float | None = None,
            speculative: str = "off", cached_input_fraction: float = 0.0,
            max_concurrency: int = 4096, calibration: Calibration | None = None,
            metric: str = "output_tok_s_per_gpu") -> ConfigMetrics:
    """Predict one operating point.

    ``concurrency=None``: the max-throughput point (largest useful batch that fits);
    ``min_output_tok_s_per_user=X``: the highest-throughput batch with at least X tok/s per user;
    ``tp=None``: search tensor-parallel degrees 1..64 that the scale-up domain (or two nodes
    over scale-out) allows (and expert parallel for MoE models when
    ``ep`` is None or > 1). ``ep`` equal to ``tp`` means attention data-parallel + expert
    parallel over the replica's GPUs (the "DEP" layout); ``ep=1`` means pure tensor parallel.
    A ``concurrency`` larger than what fits in memory runs at the largest batch that fits and the
    rest queue (``queue_wait_s``). ``engine`` is accepted for calibration keys; the shipped
    calibration is per hardware family.

    Raises
    ------
    PredictError
        An argument of the wrong type or out of range (named, with what is allowed), an unknown id,
        or an operating point no configuration reaches.
    """
    (tp, ep, concurrency, isl, osl, min_output_tok_s_per_user, cached_input_fraction,
     max_concurrency) = _checked_arguments(hardware, model, precision, tp, ep, concurrency, isl, osl, engine,
                                           min_output_tok_s_per_user, speculative, cached_input_fraction,
                                           max_concurrency, calibration, metric)
    calib = calibration or default_calibration()
    if hardware not in hardware_catalog():
        raise PredictError(f"unknown hardware {hardware!r}; {suggest(hardware, hardware_catalog())}")
    if model not in model_catalog():
        raise PredictError(f"unknown model {model!r}; {suggest(model, model_catalog())}")
    if precision not in PREC_CODES:
        raise PredictError(f"unknown precision {precision!r}; use bf16, fp8 or fp4")
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
    hw_spec = get_hardware(hardware)
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
    grid = batch_grid(max_concurrency)
    if concurrency is not None:
        grid = np.unique(np.concatenate([grid[grid < concurrency], [float(concurrency)]]))
    space = _space(hardware, model, precision, tps, modes, specs, grid, isl, osl, calib,
                   cached_input_fraction)
    res = evaluate_indices(space, np.arange(space.size))
    ok = res["status"] >= Status.MISSES_SLA    # fits (the SLA is the caller's question here)
    note = ""
    if concurrency is not None:
        # per (tp, mode): the point at `concurrency`, or the largest batch that fits (queueing)
        nb = len(space.batches)
        best, best_val = None, -np.inf
        for g in range(space.size // nb):
            sl = slice(g * nb, (g + 1) * nb)
            okg = np.flatnonzero(ok[sl])
            if okg.size == 0:
                continue
            i = g * nb + okg[-1]
            val = res[metric][i]
            if val > best_val:
                best, best_val = i, val
        if best is None:
            raise PredictError(_nofit_msg(hardware, model, precision, tps))
        idx = best
        b_eff = space.batches[space.decode(idx)[-1]]
        wait = 0.0
        if b_eff < concurrency:
            dur = res["ttft_s"][idx] + osl * res["tpot_s"][idx]
            wait = (concurrency - b_eff) / b_eff * dur
            note = f"only {int(b_eff)} of {concurrency} concurrent requests fit; the rest queue"
        return _metrics(space, res, idx, isl, osl, queue_wait_s=wait, note=note)
    if min_output_tok_s_per_user is not None:
        sel = ok & (res["output_tok_s_per_user"] >= min_output_tok_s_per_user)
        if not sel.any():
            if not ok.any():
                raise PredictError(_nofit_msg(hardware, model, precision, tps))
            top = float(res["output_tok_s_per_user"][ok].max())
            raise PredictError(f"no configuration reaches {min_output_tok_s_per_user} tok/s per user "
                               f"on {hardware}; the best is {top:.1f}")
    else:
        sel = ok
    if not sel.any():
        raise PredictError(_nofit_msg(hardware, model, precision, tps))
    vals = np.where(sel, res[metric], -np.inf)
    idx = int(np.argmax(vals))
    return _metrics(space, res, idx, isl, osl)


def _nofit_msg(hw, model, prec, tps):
    return (f"{model} in {prec} does not fit on {hw} with tp in {tps} "
            "(weights + KV cache exceed the usable memory, or no link for a replica that wide)")


def _metrics(space, res, idx, isl, osl, queue_wait_s=0.0, note="") -> ConfigMetrics:
    d = space.describe(int(idx))
    return ConfigMetrics(
        hardware=d["hardware"], model=d["model"], precision=d["precision"], tp=d["tp"], ep=d["ep"],
        concurrency=d["concurrency"], speculative=d["speculative"], isl=int(isl), osl=int(osl),
        ttft_s=float(res["ttft_s"][idx]) + queue_wait_s, tpot_s=float(res["tpot_s"][idx]),
        output_tok_s_per_user=float(res["output_tok_s_per_user"][idx]),
        output_tok_s_per_gpu=float(res["output_tok_s_per_gpu"][idx]),
        total_tok_s_per_gpu=float(res["total_tok_s_per_gpu"][idx]),
        requests_per_s_per_replica=float(res["requests_per_s_per_replica"][idx]),
        power_w_per_gpu=float(res["power_w_per_gpu"][idx]),
        cost_usd_per_mtok_output=float(res["cost_usd_per_mtok_output"][idx]),
        cost_usd_per_mtok_blended=float(res["cost_usd_per_mtok_blended"][idx]),
        tok_per_joule=float(res["tok_per_joule"][idx]),
        memory_bytes_per_gpu=float(res["memory_bytes_per_gpu"][idx]),
        fits=bool(res["status"][idx] >= Status.MISSES_SLA), queue_wait_s=queue_wait_s, note=note)
