"""Your own measurements: read serving-benchmark results, refit the calibration on them with the
shipped calibration as a prior, and write a calibration file a problem can name.

Accepted inputs (one or more files, mixed):

* a CSV with one measured operating point per row (``docs``: README "Your own measurements"):
  ``hardware, model, precision, tp, ep, concurrency, isl, osl`` and one of
  ``output_tok_s_per_gpu`` / ``total_tok_s_per_gpu`` (input+output), optionally ``ttft_ms``,
  ``tpot_ms``, ``engine``, ``source``. ``tp`` or ``ep`` may be empty (the best layout is taken),
  ``concurrency`` empty means a max-throughput run.
* the result JSON of vLLM's serving benchmark (``vllm bench serve --save-result``; one object) or
  SGLang's (``python -m sglang.bench_serving --output-file``; one object per line). They hold the
  concurrency (``max_concurrency``), the token counts (``total_input_tokens``,
  ``total_output_tokens``, ``completed``), ``output_throughput`` (tok/s of the whole server) and
  ``mean_ttft_ms`` / ``mean_tpot_ms``; the hardware, precision and parallel layout are not in them
  and are given on the command line. Throughput per GPU is ``output_throughput / gpus`` (``gpus``
  defaults to ``tp``).

The fit: in log space, each measured throughput (and TPOT where measured) gives a residual
``log(predicted / measured) / 0.2``, and each refitted factor ``log(factor / shipped) / 0.5``: the
shipped calibration (fitted to the published measurements) is a prior that holds factors the new
rows say little about. The factors refitted are the compute and bandwidth factors (multipliers on
the measured kernel efficiencies) of each calibration group the measured hardware belongs to.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kernels import PredictError, default_calibration, load_calibration, predict
from problems import get_hardware, hardware_catalog, model_catalog
from problems.errors import InputError

if TYPE_CHECKING:   # the class moves between kernels modules; the package exports the functions
    from kernels.tables import Calibration

ROW_SIGMA = 0.2        # log-space scatter of one measurement around the model (about 20%)
PRIOR_SIGMA = 0.5      # how far (log space) a refitted factor may move from the shipped one
# per-hardware-group multipliers on the measured kernel efficiencies (GEMM/attention compute and
# HBM bandwidth): what one set of end-to-end measurements can pin down without over-fitting
FITTED_KEYS = ("compute_factor", "bandwidth_factor")


@dataclass(frozen=True)
class Measurement:
    """One measured operating point; throughput is output tokens/s per GPU."""

    hardware: str
    model: str
    precision: str
    tp: int | None
    ep: int | None
    concurrency: int | None
    isl: int
    osl: int
    output_tok_s_per_gpu: float
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    engine: str | None = None
    source: str = ""
    file: str = ""


@dataclass
class CalibrationResult:
    """A refitted calibration and the error on the measurements before and after."""

    calibration: Calibration
    measurements: list
    errors: list = field(default_factory=list)   # per hardware: median symmetric errors before/after, rms log
    groups: list = field(default_factory=list)
    elapsed_s: float = 0.0


def _int(v):
    return None if v in (None, "") else int(float(v))


def _float(v):
    return None if v in (None, "") else float(v)


def _model_id(name: str) -> str:
    """A catalog model id from an id or a Hugging Face repo name (``meta-llama/Llama-3.3-70B-Instruct``)."""
    cat = model_catalog()
    if name in cat:
        return name
    for mid, m in cat.items():
        if m.hf_repo.lower() == name.lower() or m.hf_repo.split("/")[-1].lower() == name.split("/")[-1].lower():
            return mid
    raise InputError(f"model {name!r} is neither a catalog id nor a catalog model's Hugging Face repo; "
                     "give --model with a catalog id")


def read_csv(path: Path) -> list[Measurement]:
    rows = []
    with open(path, newline="") as f:
        for i, r in enumerate(csv.DictReader(f), start=2):
            try:
                isl, osl = int(r["isl"]), int(r["osl"])
                out = _float(r.get("output_tok_s_per_gpu"))
                if out is None:
                    out = float(r["total_tok_s_per_gpu"]) * osl / (isl + osl)
                if r["hardware"] not in hardware_catalog():
                    raise ValueError(f"unknown hardware {r['hardware']!r}")
                rows.append(Measurement(
                    hardware=r["hardware"], model=_model_id(r["model"]), precision=r["precision"],
                    tp=_int(r.get("tp")), ep=_int(r.get("ep")), concurrency=_int(r.get("concurrency")),
                    isl=isl, osl=osl, output_tok_s_per_gpu=out, ttft_ms=_float(r.get("ttft_ms")),
                    tpot_ms=_float(r.get("tpot_ms")), engine=r.get("engine") or None,
                    source=r.get("source") or f"{path.name}:{i}", file=str(path)))
            except (KeyError, ValueError, TypeError) as e:
                raise InputError(f"{path}, line {i}: {e}; columns: hardware, model, precision, tp, ep, "
                                 "concurrency, isl, osl, output_tok_s_per_gpu (or total_tok_s_per_gpu)") from e
    return rows


def read_bench_json(path: Path, *, hardware: str | None = None, precision: str | None = None, tp: int | None = None,
                    ep: int | None = None, gpus: int | None = None, model: str | None = None,
                    engine: str | None = None) -> list[Measurement]:
    """vLLM (one JSON object) or SGLang (JSON lines) serving-benchmark results."""
    text = path.read_text()
    try:
        objs = [json.loads(text)]
    except json.JSONDecodeError:
        objs = [json.loads(line) for line in text.splitlines() if line.strip()]
    missing = [n for n, v in (("--hardware", hardware), ("--precision", precision), ("--tp", tp)) if v is None]
    if missing:
        raise InputError(f"{path}: a benchmark result does not say the hardware, precision or layout; "
                         f"give {', '.join(missing)}")
    if hardware not in hardware_catalog():
        raise InputError(f"--hardware: unknown hardware {hardware!r}")
    rows = []
    for k, o in enumerate(objs):
        try:
            n = float(o["completed"])
            name = model or o.get("model_id") or o.get("tokenizer_id") or o.get("model")
            rows.append(Measurement(
                hardware=hardware, model=_model_id(str(name)), precision=precision, tp=tp, ep=ep,
                concurrency=_int(o.get("max_concurrency")),
                isl=max(1, round(float(o["total_input_tokens"]) / n)),
                osl=max(1, round(float(o["total_output_tokens"]) / n)),
                output_tok_s_per_gpu=float(o["output_throughput"]) / (gpus or tp),
                ttft_ms=_float(o.get("mean_ttft_ms")), tpot_ms=_float(o.get("mean_tpot_ms")),
                engine=engine or o.get("backend"), source=f"{path.name}#{k}", file=str(path)))
        except (KeyError, ValueError, TypeError, ZeroDivisionError) as e:
            raise InputError(f"{path}, result {k}: {e!r} missing or invalid; a serving-benchmark result needs "
                             "completed, total_input_tokens, total_output_tokens, output_throughput") from e
    return rows


def read_results(paths, **layout) -> list[Measurement]:
    """Measurements from CSV files and vLLM/SGLang result files (``layout``: see read_bench_json)."""
    rows: list[Measurement] = []
    for p in map(Path, paths):
        if not p.exists():
            raise InputError(f"{p}: no such file")
        rows += read_csv(p) if p.suffix.lower() == ".csv" else read_bench_json(p, **layout)
    if not rows:
        raise InputError("no measurements in " + ", ".join(map(str, paths)))
    return rows


def _predict(m: Measurement, calib: Calibration):
    ep = m.ep if m.ep is not None else (None if m.tp is None else 1)
    return predict(hardware=m.hardware, model=m.model, precision=m.precision, tp=m.tp, ep=ep,
                   concurrency=m.concurrency, isl=m.isl, osl=m.osl, calibration=calib)


def residuals(rows: list[Measurement], calib: Calibration) -> tuple[np.ndarray, np.ndarray]:
    """log(predicted / measured) per row: throughput, and TPOT (NaN where not measured)."""
    thr, tpot = np.zeros(len(rows)), np.full(len(rows), np.nan)
    for i, m in enumerate(rows):
        try:
            p = _predict(m, calib)
            ok = p.fits and p.output_tok_s_per_gpu > 0
        except PredictError:
            p, ok = None, False
        thr[i] = math.log(p.output_tok_s_per_gpu / m.output_tok_s_per_gpu) if ok else 3.0  # unreachable: a large miss
        if m.tpot_ms:
            tpot[i] = math.log(p.tpot_s * 1e3 / m.tpot_ms) if ok and p.tpot_s > 0 else 3.0
    return thr, tpot


def _stacked(rows, calib) -> np.ndarray:
    thr, tpot = residuals(rows, calib)
    return np.concatenate([thr, tpot[np.isfinite(tpot)]])


def _with_groups(base: Calibration, values: dict) -> Calibration:
    groups = {g: dict(v) for g, v in base.groups.items()}
    for (g, k), v in values.items():
        groups[g][k] = float(v)
    return replace(base, groups=groups)


def _sym(r: float) -> float:
    """Symmetric error max(p/m, m/p) - 1 from a log ratio."""
    return math.exp(abs(r)) - 1.0


def fit_calibration(rows: list[Measurement], base: Calibration | None = None, *, max_nfev: int = 40) -> CalibrationResult:
    """Refit the efficiency factors of the measured hardware's calibration groups on ``rows``."""
    from scipy.optimize import least_squares  # noqa: PLC0415

    t0 = time.perf_counter()
    base = base or default_calibration()
    groups = sorted({base.group_of(get_hardware(m.hardware).family) for m in rows})
    keys = [(g, k) for g in groups for k in FITTED_KEYS]
    x0 = np.log([base.groups.get(g, base.groups["default"])[k] for g, k in keys])

    def calib_at(x):
        return _with_groups(base, dict(zip(keys, np.exp(x))))

    def f(x):
        return np.concatenate([_stacked(rows, calib_at(x)) / ROW_SIGMA, (x - x0) / PRIOR_SIGMA])

    sol = least_squares(f, x0, method="trf", diff_step=1e-3, max_nfev=max_nfev,
                        bounds=(x0 + np.log(0.1), x0 + np.log(2.0)))
    fitted = calib_at(sol.x)
    before, after = residuals(rows, base), residuals(rows, fitted)
    errors = []
    for hw in sorted({m.hardware for m in rows}) + ["all"]:
        idx = [i for i, m in enumerate(rows) if hw in ("all", m.hardware)]
        e = dict(hardware=hw, rows=len(idx))
        for name, (b, a) in (("throughput", (before[0], after[0])), ("tpot", (before[1], after[1]))):
            bi, ai = b[idx], a[idx]
            ai, bi = ai[np.isfinite(bi)], bi[np.isfinite(bi)]
            e[f"{name}_before"] = float(np.median([_sym(v) for v in bi])) if bi.size else None
            e[f"{name}_after"] = float(np.median([_sym(v) for v in ai])) if ai.size else None
        both_b = np.concatenate([before[0][idx], before[1][idx]])
        both_a = np.concatenate([after[0][idx], after[1][idx]])
        # the fit's own measure: root mean square log error over throughput and TPOT together
        e["rms_log_before"] = float(np.sqrt(np.nanmean(both_b ** 2)))
        e["rms_log_after"] = float(np.sqrt(np.nanmean(both_a ** 2)))
        errors.append(e)
    # the shipped calibration's other records (measured-table source, error bands) carry over
    fitted = replace(fitted, meta=dict(
        {k: v for k, v in base.meta.items() if k not in ("fitted", "data", "rows_used", "residuals")},
        fitted=time.strftime("%Y-%m-%d"), measurements=sorted({m.file for m in rows}),
        sources=sorted({m.source for m in rows}), rows_used=len(rows), refitted_groups=groups,
        refitted_factors=list(FITTED_KEYS),
        prior=dict(calibration="shipped", fitted=base.meta.get("fitted"), data=base.meta.get("data"),
                   log_sigma=PRIOR_SIGMA, row_log_sigma=ROW_SIGMA),
        residuals=errors))
    return CalibrationResult(fitted, rows, errors, groups, time.perf_counter() - t0)


def save_calibration(calib: Calibration, path, option: str | None = None) -> None:
    """Write ``calib`` in the format of the shipped calibration (``kernels/calibration.json``),
    whole or not at all."""
    from .outputs import write_text  # noqa: PLC0415

    d = {k: v for k, v in calib.meta.items() if k != "measured_source"}
    d.update(groups=calib.groups, family_to_group=calib.family_to_group, engines=calib.engines,
             default_engine=calib.default_engine, nearest=calib.nearest, hardware_priors=calib.hw_priors,
             measured={**calib.meta.get("measured_source", {}), "tables": calib.measured})
    d["global"] = calib.global_
    write_text(path, json.dumps(d, indent=1, default=str) + "\n", option)


def calibration_info(problem) -> dict:
    """Which calibration a plan of ``problem`` used: its file (or the shipped one), fit date and data."""
    path = getattr(problem, "calibration", None)
    c = load_calibration(path) if path else default_calibration()
    engine = getattr(problem, "engine", None)
    if engine is None:
        # each hardware type is evaluated with the default engine that runs on it
        fams = {h.spec().family for h in getattr(problem, "hardware", ())}
        engine = ", ".join(sorted({c.engine_for(None, f) for f in fams})) or c.default_engine
    # hardware without kernel tables of its own: whose curves it borrows, and the measured
    # hardware ratios (kernels/priors.py) that scale them
    borrowed = {}
    for h in getattr(problem, "hardware", ()) or ():
        try:
            spec = h.spec()
            b = c.for_hardware(h.id, spec.family).get("borrowed")
        except (AttributeError, ValueError):
            continue
        if b:
            borrowed[h.key] = b
    return dict(file=path or "shipped", engine=engine,
                fitted=c.meta.get("fitted"),
                data=c.meta.get("measurements") or c.meta.get("data"),
                refitted_groups=c.meta.get("refitted_groups"), borrowed=borrowed or None)
