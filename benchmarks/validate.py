"""Score the model on held-out published measurements (never fitted to).

    python benchmarks/validate.py                       # the shipped calibration
    python benchmarks/validate.py --calibration X.json  # another calibration file
    python benchmarks/validate.py --rows                # also every row

``benchmarks/data/validation.csv`` has the columns of ``benchmarks/data/calibration.csv`` and
only rows that are not in it, each with its source and date: hardware with few or no calibration
rows (AMD MI300X / MI325X / MI355X, RTX PRO 6000), and the 97 single-stage rows of TensorRT-LLM's
perf-overview tables (@03e27c7d) that calibration.csv does not carry (long outputs, 1024/8192 and
1024/32768, and the RTX PRO 6000 tables; its 11 pipeline-parallel rows are left out: the columns
record no PP degree). Every row is
predicted through ``optimizer.predict`` (the public call: layout searched where the source does not
publish it, MTP and pipeline stages as the call's defaults search them) and scored with the
symmetric error max(p/m, m/p) - 1 of throughput per GPU in the row's metric (output or
input+output), and of TPOT / TTFT where published. Printed: median and p90 per hardware and per
row kind (``max_throughput``: no concurrency published; ``at_concurrency``).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import optimizer  # noqa: E402
from kernels import PredictError, default_calibration, load_calibration  # noqa: E402
from kernels.calibration import load_rows, row_query, sym_error  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "validation.csv"


def predict_row(row, calib):
    """(predicted throughput in the row's metric, ConfigMetrics) through optimizer.predict."""
    metric = "output_tok_s_per_gpu" if row.metric == "output" else "total_tok_s_per_gpu"
    kw = row_query(row, calib)
    kw.pop("pp", None)          # the public call's default: one stage where a layout fits
    kw.pop("speculative", None)  # the public call's default: MTP searched where the model has it
    m = optimizer.predict(**kw, metric=metric)
    return getattr(m, metric), m


def score(rows, calib) -> list[dict]:
    out = []
    for r in rows:
        rec = dict(row=r, err=math.inf, pred=float("nan"), tpot_err=None, ttft_err=None, note="")
        try:
            p, m = predict_row(r, calib)
            rec.update(pred=p, err=sym_error(p, r.measured), note=m.note)
            if r.tpot_ms:
                rec["tpot_err"] = sym_error(m.tpot_s * 1e3, r.tpot_ms)
            if r.ttft_ms:
                rec["ttft_err"] = sym_error(m.ttft_s * 1e3, r.ttft_ms)
        except PredictError as e:
            rec["note"] = f"error: {e}"
        out.append(rec)
    return out


def _f(x):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def table(recs) -> list[dict]:
    """Median / p90 symmetric throughput error per hardware and row kind (and 'all')."""
    out = []
    hws = sorted({r["row"].hardware for r in recs})
    for hw in hws + ["all"]:
        for kind in ("max_throughput", "at_concurrency", "any"):
            sel = [r for r in recs if hw in ("all", r["row"].hardware) and kind in ("any", r["row"].kind)]
            if not sel or (kind == "any" and hw != "all"):
                continue
            e = np.array([r["err"] for r in sel])
            tp = [r["tpot_err"] for r in sel if r["tpot_err"] is not None]
            out.append(dict(hardware=hw, kind=kind, n=len(sel), median=float(np.median(e)),
                            p90=float(np.percentile(e, 90)),
                            tpot_median=float(np.median(tp)) if tp else None))
    return out


def fmt(t) -> str:
    lines = ["| hardware | row kind | n | median | p90 | TPOT median |", "|---|---|---|---|---|---|"]
    for x in t:
        b = "**" if x["hardware"] == "all" else ""
        lines.append(f"| {b}{x['hardware']}{b} | {x['kind']} | {x['n']} | {b}{_f(x['median'])}{b} | "
                     f"{_f(x['p90'])} | {_f(x['tpot_median'])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calibration", help="score this calibration JSON instead of the shipped one")
    ap.add_argument("--data", default=str(DATA), help="validation CSV (calibration.csv columns)")
    ap.add_argument("--rows", action="store_true", help="print every row")
    a = ap.parse_args(argv)
    calib = load_calibration(a.calibration) if a.calibration else default_calibration()
    rows, excluded = load_rows(a.data)
    print(f"{Path(a.data).name}: {len(rows)} rows" + (f"; excluded {excluded}" if excluded else ""))
    recs = score(rows, calib)
    if a.rows:
        for r in recs:
            R = r["row"]
            print(f"{R.row_id:24s} {R.hardware:9s} {R.model:15s} {R.precision} {R.kind:15s} {R.isl}/{R.osl} "
                  f"c={R.concurrency} meas {R.measured:9.1f} pred {r['pred']:9.1f} err {_f(r['err']):>6s} "
                  f"tpot {_f(r['tpot_err'])}")
    print(fmt(table(recs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
