"""Calibration against published measurements: row parsing, prediction, fit and error table.

Each row of ``benchmarks/data/calibration.csv`` says what its throughput means (see the
``[metric: ...]`` tag): OUTPUT tokens/s per GPU (TensorRT-LLM perf tables) or TOTAL
(input + output) tokens/s per GPU (InferenceX). Rows come in three kinds:

* ``max_throughput``: offline max-throughput runs (no concurrency given) -> the best batch that fits;
* ``at_concurrency``: a measured concurrency (InferenceX blog best-throughput points), with the
  measured TPOT and TTFT as well -> the best tensor-parallel layout at that concurrency;
* ``at_interactivity``: throughput at a given tok/s per user (InferenceX compare pages, points
  interpolated along measured frontiers) -> the best configuration meeting that interactivity.

Rows the model cannot represent are excluded and counted by reason: disaggregated prefill/decode
serving, prefill- or decode-only pools, MLPerf aggregate scenarios, lower bounds, throughput
definitions that were not captured, and hardware or models outside the catalog.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .predict import PredictError, predict
from .tables import Calibration

HW_MAP = {"B200": "b200", "B300": "b300", "GB200 NVL72": "gb200-nvl72", "GB300 NVL72": "gb300-nvl72",
          "H100 SXM": "h100-sxm", "H200 SXM": "h200-sxm", "MI300X": "mi300x", "MI325X": "mi325x",
          "MI355X": "mi355x", "RTX PRO 6000 Blackwell Server Edition": "rtx-pro-6000"}
MODEL_MAP = [
    (r"^DeepSeek-R1", "deepseek-r1"), (r"^gpt-oss-120b", "gpt-oss-120b"), (r"^gpt-oss-20b", "gpt-oss-20b"),
    (r"^Llama-3\.3-70B", "llama-3.3-70b"), (r"^Llama-3\.1-8B", "llama-3.1-8b"),
    (r"^Llama-3\.1-405B", "llama-3.1-405b"), (r"^Llama-3\.1-70B", "llama-3.1-70b"),
    (r"^Llama-4-Maverick", "llama-4-maverick"), (r"^Llama-4-Scout", "llama-4-scout"),
    (r"^Qwen3-235B-A22B", "qwen3-235b-a22b"), (r"^Qwen3-30B-A3B", "qwen3-30b-a3b"),
]
FAMILY_GROUPS = ("hopper", "blackwell", "amd")


@dataclass(frozen=True)
class CalRow:
    line: int
    hardware: str
    model: str
    precision: str
    metric: str                 # "output" | "total"
    kind: str                   # max_throughput | at_concurrency | at_interactivity
    isl: int
    osl: int
    measured: float             # tok/s per GPU in `metric`
    tp: int | None
    ep: int | None
    concurrency: int | None
    tok_s_user: float | None
    tpot_ms: float | None
    ttft_ms: float | None
    speculative: str
    source: str
    engine: str | None = None     # trtllm | vllm | sglang; None where the source does not say
    row_id: str = ""              # stable id: "calibration.csv:<line>" or the source's own id


def engine_of(framework: str) -> str | None:
    """Serving engine named by a row's framework column (None when not stated)."""
    f = (framework or "").lower()
    if "sglang" in f:
        return "sglang"
    if "vllm" in f:
        return "vllm"
    if "tensorrt" in f or "trt" in f:
        return "trtllm"
    return None


def _num(s):
    s = (s or "").strip().lstrip("~")
    try:
        return float(s)
    except ValueError:
        return None


def load_rows(path) -> tuple[list[CalRow], dict[str, int]]:
    """Parse the calibration CSV. Returns (usable rows, excluded counts by reason)."""
    rows, excluded = [], {}

    def skip(reason):
        excluded[reason] = excluded.get(reason, 0) + 1

    with open(path, newline="", encoding="utf-8") as f:
        for i, r in enumerate(csv.DictReader(f), start=2):
            notes, fw = r["notes"], r["framework"]
            if "disagg" in fw.lower() or "disagg" in notes.lower():
                skip("disaggregated prefill/decode serving"); continue
            if "[metric: INPUT" in notes or "(decode)" in notes or "decode nodes" in notes:
                skip("prefill- or decode-only pool"); continue
            if "MLPerf" in notes or "MLPerf" in r["concurrency_or_batch"]:
                skip("MLPerf aggregate (variable ISL/OSL)"); continue
            if "lower bound" in notes or "stated as" in notes or not r["isl"]:
                skip("lower bound or no sequence lengths"); continue
            if "definition per AMD footnote" in notes or "latency table" in r["source"]:
                skip("throughput definition not captured"); continue
            hw = HW_MAP.get(r["hardware"])
            model = next((mid for pat, mid in MODEL_MAP if re.search(pat, r["model"])), None)
            if hw is None or model is None:
                skip("hardware or model outside the catalog"); continue
            prec = "fp4" if "FP4" in r["precision"].upper() else ("fp8" if "FP8" in r["precision"].upper() else "bf16")
            if model.startswith("gpt-oss"):
                prec = "fp4"  # MXFP4 weights whatever the label
            if "[metric: OUTPUT" in notes:
                metric = "output"
            elif "[metric: TOTAL" in notes or "InferenceX compare page" in notes:
                metric = "total"
            else:
                skip("throughput definition not captured"); continue
            tput = _num(r["throughput_tok_s_per_gpu"])
            if tput is None:
                skip("no throughput figure"); continue
            conc = _num(r["concurrency_or_batch"])
            user = _num(r["output_tok_s_per_user"])
            kind = "at_interactivity" if user is not None else ("at_concurrency" if conc else "max_throughput")
            spec = "mtp" if "MTP ON" in notes else "off"
            rows.append(CalRow(
                line=i, hardware=hw, model=model, precision=prec, metric=metric, kind=kind,
                isl=int(float(r["isl"])), osl=int(float(r["osl"])), measured=tput,
                tp=int(float(r["tp"])) if r["tp"] else None, ep=int(float(r["ep"])) if r["ep"] else None,
                concurrency=int(conc) if conc else None, tok_s_user=user,
                tpot_ms=_num(r["tpot_ms"]), ttft_ms=_num(r["ttft_ms"]), speculative=spec,
                source=r["source"][:80], engine=engine_of(fw), row_id=f"{Path(path).name}:{i}"))
    return rows, excluded


def row_query(row: CalRow, calib: Calibration) -> dict:
    """The prediction request a row describes (keyword arguments of :func:`kernels.predict.predict`
    and of the fit's candidate search): its layout when published, else searched; its concurrency
    or interactivity by row kind."""
    # the rows publish single-stage layouts (benchmarks/data/calibration.csv records no pipeline
    # parallelism; the silicon sample's PP rows are left out), so pipeline stages are not searched
    kw = dict(hardware=row.hardware, model=row.model, precision=row.precision, isl=row.isl,
              osl=row.osl, calibration=calib, speculative=row.speculative, engine=row.engine, pp=1)
    if row.tp is not None:
        kw.update(tp=row.tp, ep=row.ep if row.ep else 1)
    else:
        kw.update(tp=None, ep=None)
    if row.kind == "at_concurrency":
        kw["concurrency"] = row.concurrency
    elif row.kind == "at_interactivity":
        kw["min_output_tok_s_per_user"] = row.tok_s_user
    return kw


def predict_row(row: CalRow, calib: Calibration):
    """The model's prediction for one row: (throughput in the row's metric, ConfigMetrics)."""
    metric = "output_tok_s_per_gpu" if row.metric == "output" else "total_tok_s_per_gpu"
    m = predict(**row_query(row, calib), metric=metric)
    return getattr(m, metric), m


def sym_error(pred: float, meas: float) -> float:
    """Symmetric error max(p/m, m/p) - 1 (a model predicting ~0 is not 'only 100% off')."""
    if not (pred > 0 and meas > 0) or not math.isfinite(pred):
        return math.inf
    return max(pred / meas, meas / pred) - 1.0


def evaluate_rows(rows, calib: Calibration) -> list[dict]:
    out = []
    for r in rows:
        try:
            p, m = predict_row(r, calib)
            rec = dict(row=r, pred=p, err=sym_error(p, r.measured), log_ratio=math.log(p / r.measured), metrics=m)
        except PredictError as e:
            rec = dict(row=r, pred=float("nan"), err=math.inf, log_ratio=math.log(1e-3), metrics=None, error=str(e))
        if r.tpot_ms and rec.get("metrics") is not None:
            rec["tpot_err"] = sym_error(rec["metrics"].tpot_s * 1e3, r.tpot_ms)
        if r.ttft_ms and rec.get("metrics") is not None:
            rec["ttft_err"] = sym_error(rec["metrics"].ttft_s * 1e3, r.ttft_ms)
        out.append(rec)
    return out


def _pct(vals, q):
    vals = [v for v in vals if v is not None]
    return float(np.percentile(vals, q)) if vals else float("nan")


def error_table(results) -> list[dict]:
    """Median and p90 symmetric error per hardware and row kind, plus 'all'."""
    table = []
    kinds = ("max_throughput", "at_concurrency", "at_interactivity")
    hws = sorted({r["row"].hardware for r in results})
    for hw in hws + ["all"]:
        for kind in kinds + ("any",):
            sel = [r for r in results if (hw == "all" or r["row"].hardware == hw)
                   and (kind == "any" or r["row"].kind == kind)]
            if not sel:
                continue
            errs = [r["err"] for r in sel]
            table.append(dict(hardware=hw, kind=kind, n=len(sel), median=_pct(errs, 50), p90=_pct(errs, 90),
                              tpot_median=_pct([r.get("tpot_err") for r in sel], 50),
                              ttft_median=_pct([r.get("ttft_err") for r in sel], 50)))
    return table


BAND_MIN_ROWS = 8   # a regime needs this many residuals for its own P10/P90; else a broader one


def regime_keys(group: str, engine: str, kind: str) -> list[str]:
    """Band keys a residual counts toward: its exact regime and every broader one."""
    return [f"{group}/{engine}/{kind}", f"{group}/*/{kind}", f"*/{engine}/{kind}", f"*/*/{kind}"]


def bands(records) -> dict:
    """P10/P90 of log(pred / measured) per regime (hardware group, engine, kind), where kind is
    ``max_throughput`` or ``interactivity`` (every row at a stated concurrency or interactivity).

    ``records``: dicts with group, engine, kind and the log ratios ``throughput``, ``tpot``,
    ``ttft`` (NaN where not measured). Regimes with fewer than ``BAND_MIN_ROWS`` residuals of a
    quantity are left out, so ``kernels.predict.bands_for`` falls back to a broader regime.
    """
    acc: dict = {}
    for r in records:
        kind = "max_throughput" if r["kind"] == "max_throughput" else "interactivity"
        for key in regime_keys(r["group"], r["engine"], kind):
            d = acc.setdefault(key, {"throughput": [], "tpot": [], "ttft": []})
            for q in d:
                v = r.get(q)
                if v is not None and math.isfinite(v):
                    d[q].append(v)
    out = {}
    for key, d in sorted(acc.items()):
        e = {q: [round(float(np.percentile(v, 10)), 4), round(float(np.percentile(v, 90)), 4)]
             for q, v in d.items() if len(v) >= BAND_MIN_ROWS}
        if e:
            e["n"] = {q: len(v) for q, v in d.items() if len(v) >= BAND_MIN_ROWS}
            out[key] = e
    return out


def merge_bands(base: dict, update: dict, quantities) -> dict:
    """``base`` with its bands of ``quantities`` replaced by ``update``'s (a regime ``update``
    gives none of them loses them). TTFT bands come from ``benchmarks/calibrate_ttft.py`` (the
    TTFT ``optimizer.predict`` reports, under load); throughput and TPOT bands from the fit."""
    out = {}
    for key in sorted(set(base) | set(update)):
        e = {q: v for q, v in base.get(key, {}).items() if q not in quantities and q != "n"}
        n = {q: v for q, v in base.get(key, {}).get("n", {}).items() if q not in quantities}
        u = update.get(key, {})
        for q in quantities:
            if q in u:
                e[q], n[q] = u[q], u["n"][q]
        if e:
            out[key] = {**e, "n": n}
    return out


def save(calib: Calibration, path, *, fitted_on: str, table, excluded, n_rows, data, band_table,
         fit_info: dict) -> None:
    d = {
        "fitted": fitted_on,
        "data": data,
        "rows_used": n_rows,
        "rows_excluded": excluded,
        "fit": fit_info,
        "default_engine": calib.default_engine,
        "groups": calib.groups,
        "global": calib.global_,
        "engines": calib.engines,
        "family_to_group": calib.family_to_group,
        "measured": {**calib.meta.get("measured_source", {}), "tables": calib.measured},
        "nearest": calib.nearest,
        "hardware_priors": calib.hw_priors,
        "bands": band_table,
        "residuals": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in t.items()} for t in table],
    }
    Path(path).write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")
