"""Error tables for benchmarks/vs_aiconfigurator.py: both models, the same rows, the same metric.

tokenfleet is scored through ``kernels.calibration`` (``evaluate_rows``, ``sym_error``): the
max-throughput rows exactly as ``benchmarks/calibrate.py`` scores them, and each aggregated silicon
row as an ``at_concurrency`` row (its measured concurrency and layout; TPOT errors). TTFT errors
come from ``optimizer.predict`` at the row's concurrency and engine: the TTFT a fixed-length
closed-loop benchmark measures (kernels/serving.py), not the formulas' zero-load TTFT.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter, defaultdict

import numpy as np

from kernels import default_calibration
from kernels.calibration import CalRow, evaluate_rows, sym_error
from kernels.predict import PredictError
from silicon import predict_layout


def _stats(errs) -> tuple[str, str]:
    errs = [e for e in errs if e is not None]
    if not errs:
        return "-", "-"
    return f"{100 * np.median(errs):.0f}%", f"{100 * np.percentile(errs, 90):.0f}%"


def load_predictions(path) -> dict[tuple[str, str], dict]:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run python benchmarks/vs_aiconfigurator.py --predict")
    with open(path, newline="", encoding="utf-8") as f:
        return {(r["set"], r["row_id"]): r for r in csv.DictReader(f)}


def _reason(msg: str) -> str:
    """A short, countable reason from an aiconfigurator error message."""
    if "MoE data missing" in msg:
        q = re.search(r'quant: "+([\w.]+)', msg)
        return f"no MoE kernel table in its database for this shape ({q.group(1) if q else 'quant ?'} experts)"
    if "OOM" in msg:
        return "OOM: weights and activations do not fit with the row's parallel layout"
    msg = re.sub(r" at /\S+", "", msg)
    return re.sub(r"\d+(\.\d+)?", "N", msg)[:110]


def silicon_calrows(rows):
    """Silicon rows as ``at_concurrency`` calibration rows; (rows, skipped-by-reason)."""
    out, skipped = [], Counter()
    for i, r in enumerate(rows):
        lay = predict_layout(r.tp, r.dp, r.ep, r.pp)
        if isinstance(lay, str):
            skipped[f"parallel layout tokenfleet cannot express ({lay})"] += 1
            continue
        tp, ep = lay
        # output tok/s per GPU implied by the measured TPOT (prefill time ignored): a placeholder
        # so the row parses; only the TPOT and TTFT errors are reported
        measured = r.concurrency / r.tpot_s / (r.tp * r.dp)
        out.append((r, CalRow(line=i, hardware=r.hardware, model=r.model, precision=r.precision, metric="output",
                              kind="at_concurrency", isl=r.isl, osl=r.osl, measured=measured, tp=tp, ep=ep,
                              concurrency=r.concurrency, tok_s_user=None, tpot_ms=r.tpot_s * 1e3,
                              ttft_ms=r.ttft_s * 1e3, speculative="off", source=r.source[:80],
                              engine=r.engine, row_id=f"silicon:{r.id}")))
    return out, skipped


def calibration_table(rows, preds) -> tuple[list[str], Counter]:
    res = evaluate_rows(rows, default_calibration())
    aic_missing = Counter()
    recs = []
    for rec in res:
        r = rec["row"]
        p = preds.get(("calibration", f"line {r.line}"))
        a_err = None
        if p is None:
            aic_missing["not predicted yet"] += 1
        elif p["error"]:
            aic_missing[_reason(p["error"])] += 1
        else:
            a = float(p["output_tok_s_per_gpu"])
            if r.metric == "total":
                a *= (r.isl + r.osl) / r.osl
            a_err = sym_error(a, r.measured)
        recs.append((r.hardware, rec["err"], a_err))
    lines = ["| hardware | rows | tokenfleet median | tokenfleet p90 | aiconfigurator rows | aiconfigurator median | "
             "aiconfigurator p90 | tokenfleet median, same rows |", "|---|---|---|---|---|---|---|---|"]
    for hw in sorted({h for h, _, _ in recs}) + ["all"]:
        sel = [x for x in recs if hw in ("all", x[0])]
        both = [x for x in sel if x[2] is not None]
        tm, tp = _stats([x[1] for x in sel])
        am, ap = _stats([x[2] for x in both])
        ts, _ = _stats([x[1] for x in both])
        lines.append(f"| {hw} | {len(sel)} | {tm} | {tp} | {len(both)} | {am} | {ap} | {ts} |")
    return lines, aic_missing


def _serving_ttft_err(r, row) -> float:
    """TTFT error of ``optimizer.predict`` at the row's concurrency and engine: what a fixed-length
    closed-loop benchmark measures (synchronized waves, the engine's fixed overhead and wave
    fraction; kernels/serving.py)."""
    import optimizer  # noqa: PLC0415

    try:
        m = optimizer.predict(hardware=row.hardware, model=row.model, precision=row.precision, tp=row.tp,
                              ep=row.ep, concurrency=row.concurrency, isl=row.isl, osl=row.osl,
                              engine=r.engine, speculative="off")
    except PredictError:
        return math.inf
    return sym_error(m.ttft_s, r.ttft_s)


def silicon_table(rows, preds) -> tuple[list[str], Counter, Counter]:
    pairs, tf_skipped = silicon_calrows(rows)
    res = evaluate_rows([c for _, c in pairs], default_calibration())
    aic_missing = Counter()
    recs = []
    for (r, _), rec in zip(pairs, res):
        if rec.get("metrics") is None:
            tf_skipped[rec.get("error", "no prediction").split(";")[0][:100]] += 1
            continue
        p = preds.get(("silicon", r.id))
        if p is None:
            aic_missing["not predicted yet"] += 1
            continue
        if p["error"]:
            aic_missing[_reason(p["error"])] += 1
            continue
        recs.append(dict(engine=r.engine, hardware=r.hardware, tf_tpot=rec["tpot_err"],
                         tf_ttft=_serving_ttft_err(r, rec["row"]),
                         aic_tpot=sym_error(float(p["tpot_ms"]), r.tpot_s * 1e3),
                         aic_ttft=sym_error(float(p["ttft_ms"]), r.ttft_s * 1e3)))
    lines = ["| engine | hardware | rows | TPOT median: aiconfigurator / tokenfleet | TPOT p90: aic / tf | "
             "TTFT median: aic / tf | TTFT p90: aic / tf |", "|---|---|---|---|---|---|---|"]
    groups = defaultdict(list)
    for x in recs:
        groups[(x["engine"], x["hardware"])].append(x)
        groups[(x["engine"], "all")].append(x)
        groups[("all", "all")].append(x)
    order = sorted(groups, key=lambda k: (k[0] == "all", k[0], k[1] == "all", k[1]))
    for eng, hw in order:
        g = groups[(eng, hw)]
        cells = []
        for key in ("tpot", "ttft"):
            am, ap = _stats([x[f"aic_{key}"] for x in g])
            tm, tp = _stats([x[f"tf_{key}"] for x in g])
            cells += [f"{am} / {tm}", f"{ap} / {tp}"]
        lines.append(f"| {eng} | {hw} | {len(g)} | " + " | ".join(cells) + " |")
    return lines, aic_missing, tf_skipped


def _counts(title, c: Counter) -> list[str]:
    if not c:
        return []
    return [f"{title}:"] + [f"- {v} x {k}" for k, v in c.most_common()]


def report(cal_rows, sil_rows, pred_path) -> str:
    preds = load_predictions(pred_path)
    versions = sorted({p["aiconfigurator_version"] for p in preds.values()})
    out = [f"aiconfigurator {', '.join(versions)} (cached predictions, {pred_path.name}); tokenfleet as in this "
           "checkout; symmetric error max(p/m, m/p) - 1.", "",
           "Max-throughput rows of benchmarks/data/calibration.csv (output tokens/s per GPU, TensorRT-LLM):", ""]
    lines, missing = calibration_table(cal_rows, preds)
    out += lines + [""] + _counts("Rows aiconfigurator could not score", missing)
    out += ["", "Aggregated rows of the silicon sample (TTFT and TPOT at the measured concurrency), rows both "
            "models scored:", ""]
    lines, missing, skipped = silicon_table(sil_rows, preds)
    out += lines + [""] + _counts("Rows aiconfigurator could not score", missing)
    out += _counts("Rows tokenfleet could not score", skipped)
    return "\n".join(out)

