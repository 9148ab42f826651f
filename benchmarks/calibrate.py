"""Refit the performance model's physical parameters and print the error tables.

    python benchmarks/calibrate.py                 # evaluate the shipped calibration
    python benchmarks/calibrate.py --fit           # refit, write kernels/calibration.json
    python benchmarks/calibrate.py --holdout       # leave-one-hardware-out and leave-one-engine-out
    python benchmarks/calibrate.py --rows          # also print every calibration row

Data: ``benchmarks/data/calibration.csv`` (published measurements: max-throughput, at a
concurrency, at an interactivity) and the aggregated rows of aiconfigurator's silicon sample
(``benchmarks/data/silicon_sample.csv``: measured TPOT and TTFT at a concurrency, per engine).
Every row keeps its id and source. Needs scipy for --fit and --holdout.

``--fit`` writes the throughput and TPOT error bands from these residuals and keeps the stored TTFT
ones; the TTFT numbers and bands are fitted on the step model as it is: after a refit, run
``python benchmarks/calibrate_ttft.py --write``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernels import default_calibration, load_calibration  # noqa: E402
from kernels.calibration import FAMILY_GROUPS, bands, load_rows, merge_bands, save  # noqa: E402
from kernels.calibration_fit import (NEAREST_MEASURED, PARAM_NAMES, FastRows, fit,  # noqa: E402
                                     measured_tables, residuals, silicon_rows, to_vector)
from kernels.priors import hardware_ratios  # noqa: E402
from kernels.tables import engine_name  # noqa: E402
from problems import get_hardware  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "calibration.csv"
OUT = ROOT / "kernels" / "calibration.json"
MEASURED = ROOT / "kernels" / "data" / "measured_efficiency.json"
KINDS = ("max_throughput", "at_concurrency", "at_interactivity", "silicon")


def _f(x):
    return "-" if (x is None or (isinstance(x, float) and math.isnan(x))) else f"{100 * x:.0f}%"


def _sym(lr):
    """Symmetric error from log ratios: exp(|log(p/m)|) - 1 = max(p/m, m/p) - 1."""
    return np.exp(np.abs(np.asarray(lr, dtype=float))) - 1.0


def kind_of(r) -> str:
    return "silicon" if r.row_id.startswith("silicon:") else r.kind


def records(fr: FastRows, calib) -> list[dict]:
    """Per row: its regime and the log ratios of throughput, TPOT and TTFT (NaN if unmeasured).
    Silicon rows measure TPOT directly; their throughput ratio is the inverse TPOT ratio."""
    lt, lp, lf = residuals(fr, calib)
    out = []
    for r, t, p, f in zip(fr.rows, lt, lp, lf):
        k = kind_of(r)
        g = calib.group_of(get_hardware(r.hardware).family)
        e = calib.engine_for(r.engine, get_hardware(r.hardware).family)
        if k == "silicon":
            # a row the model cannot place (nothing fits) counts as 1000x off, like a failed prediction
            p = p if math.isfinite(p) else math.log(1e3)
            t = -p
        out.append(dict(row=r, kind=k, group=g, engine=e, hardware=r.hardware, throughput=t, tpot=p, ttft=f))
    return out


def summary(recs, by) -> list[dict]:
    """Median / p90 symmetric error of throughput, and TPOT / TTFT medians, per ``by`` key."""
    keys = sorted({by(r) for r in recs}, key=str)
    table = []
    for key in keys + ["all"]:
        for kind in KINDS:
            sel = [r for r in recs if (key == "all" or by(r) == key) and r["kind"] == kind]
            if not sel:
                continue
            thr = _sym([r["throughput"] for r in sel])
            tp = _sym([r["tpot"] for r in sel if math.isfinite(r["tpot"])])
            tf = _sym([r["ttft"] for r in sel if math.isfinite(r["ttft"])])
            table.append(dict(key=key, kind=kind, n=len(sel), median=float(np.median(thr)),
                              p90=float(np.percentile(thr, 90)),
                              tpot_median=float(np.median(tp)) if tp.size else float("nan"),
                              tpot_p90=float(np.percentile(tp, 90)) if tp.size else float("nan"),
                              ttft_median=float(np.median(tf)) if tf.size else float("nan")))
    return table


def fmt(table, head) -> str:
    lines = [f"| {head} | row kind | n | median | p90 | TPOT median | TPOT p90 | TTFT median |",
             "|---|---|---|---|---|---|---|---|"]
    for t in table:
        b = "**" if t["key"] == "all" else ""
        lines.append(f"| {b}{t['key']}{b} | {t['kind']} | {t['n']} | {b}{_f(t['median'])}{b} | {_f(t['p90'])} | "
                     f"{_f(t['tpot_median'])} | {_f(t['tpot_p90'])} | {_f(t['ttft_median'])} |")
    return "\n".join(lines)


def weights(rows, silicon_weight: float):
    """Throughput weights (calibration rows: 1 each) and TPOT weights (silicon rows: together
    ``silicon_weight`` times the calibration rows' total)."""
    sil = np.array([r.row_id.startswith("silicon:") for r in rows])
    n_cal, n_sil = int((~sil).sum()), int(sil.sum())
    w = np.where(sil, 0.0, 1.0)
    wt = np.where(sil, silicon_weight * n_cal / max(n_sil, 1), 0.0)
    return w, wt


def fit_rows(rows, base, silicon_weight, max_nfev, fallback=None):
    fr = FastRows(rows, base)
    w, wt = weights(rows, silicon_weight)
    return fit(fr, base, w, wt, max_nfev=max_nfev, fallback=fallback)


def holdout(rows, base, silicon_weight, max_nfev, fold: str | None = None) -> str:
    """Refit without each hardware type (and without both AMD types, an unseen vendor), and without
    each engine; predict the held-out rows. A group or engine left without rows takes the
    fallback (geometric mean of the fitted groups; the default engine's values)."""
    hws = sorted({r.hardware for r in rows})
    folds = [("hardware", [h]) for h in hws] + [("hardware", ["mi300x", "mi325x"])]
    folds += [("engine", [e]) for e in ("trtllm", "vllm", "sglang")]
    if fold is not None:
        # one fold: a hardware id, an engine, or "amd" (every AMD GPU, an unseen vendor)
        amd = [h for h in hws if base.group_of(get_hardware(h).family) == "amd"]
        folds = [("hardware", amd)] if fold == "amd" else [
            f for f in folds if f[1] == [fold]] or [("hardware", [fold])]
    lines = ["| held out | row kind | n | median, in-sample | median, held out | p90, held out | "
             "TPOT median, held out |", "|---|---|---|---|---|---|---|"]
    full = {id(r["row"]): r for r in records(FastRows(rows, base), base)}
    for what, hold in folds:
        def held(r):
            return r.hardware in hold if what == "hardware" else (r.engine in hold)
        train = [r for r in rows if not held(r)]
        test = [r for r in rows if held(r)]
        if not test:
            continue
        groups_seen = {base.group_of(get_hardware(r.hardware).family) for r in train}
        engines_seen = {engine_name(r.engine) or base.default_engine for r in train}
        fb = dict(groups=[g for g in FAMILY_GROUPS if g not in groups_seen],
                  engines=[e for e in ("trtllm", "vllm", "sglang") if e not in engines_seen])
        c, _ = fit_rows(train, base, silicon_weight, max_nfev, fallback=fb)
        recs = records(FastRows(test, base), c)
        for kind in KINDS:
            sel = [r for r in recs if r["kind"] == kind]
            if not sel:
                continue
            e = _sym([r["throughput"] for r in sel])
            ins = _sym([full[id(r["row"])]["throughput"] for r in sel])
            tp = _sym([r["tpot"] for r in sel if math.isfinite(r["tpot"])])
            lines.append(f"| {'+'.join(hold)} | {kind} | {len(sel)} | {_f(float(np.median(ins)))} | "
                         f"{_f(float(np.median(e)))} | {_f(float(np.percentile(e, 90)))} | "
                         f"{_f(float(np.median(tp)) if tp.size else float('nan'))} |")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fit", action="store_true", help="refit and write kernels/calibration.json")
    ap.add_argument("--rows", action="store_true", help="print every calibration row")
    ap.add_argument("--calibration", help="evaluate this calibration JSON instead of the shipped one")
    ap.add_argument("--holdout", action="store_true",
                    help="leave-one-hardware-out and leave-one-engine-out refits")
    ap.add_argument("--fold", default=None,
                    help="with --holdout: run one fold only (a hardware id, an engine, or 'amd')")
    ap.add_argument("--max-nfev", type=int, default=400, help="least-squares evaluations per fit")
    ap.add_argument("--silicon-max", type=int, default=None,
                    help="deterministic subsample of the silicon rows (by id hash); default all")
    ap.add_argument("--silicon-weight", type=float, default=1.0,
                    help="silicon TPOT residuals' total weight relative to the calibration rows'")
    ap.add_argument("--out", default=str(OUT), help="where --fit writes the calibration")
    ap.add_argument("--measured", default=str(MEASURED),
                    help="measured kernel curves (JSON) the efficiency shapes come from")
    a = ap.parse_args(argv)
    rows, excluded = load_rows(DATA)
    srows, s_excl = silicon_rows(a.silicon_max)
    allrows = rows + srows
    calib = load_calibration(a.calibration) if a.calibration else default_calibration()
    if a.fit or a.holdout:
        if Path(a.measured).exists():
            m = measured_tables(a.measured)
            calib = replace(calib, measured=m.pop("tables"), nearest=dict(NEAREST_MEASURED),
                            meta={**calib.meta, "measured_source": m})
        # hardware without tables: its borrowed curves scaled by published microbenchmark ratios
        calib = replace(calib, hw_priors=hardware_ratios(dict(calib.nearest)))
        for h, r in sorted(calib.hw_priors.items()):
            print(f"  {h}: curves of {r['reference']} x compute {r['compute']:.3f}, bandwidth "
                  f"{r['bandwidth']:.3f}, all-reduce {r['comm']:.3f}"
                  + (f" ({', '.join(r['assumed'])} from the other GPUs' mean)" if r["assumed"] else ""))
        print(f"measured kernel tables for {len(calib.measured)} hardware types"
              + (f" from {a.measured}" if Path(a.measured).exists() else " (shipped)"))
    print(f"calibration.csv: {len(rows)} rows used; excluded {sum(excluded.values())}: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(excluded.items())))
    print(f"silicon sample: {len(srows)} aggregated rows used; excluded {sum(s_excl.values())}")
    if a.holdout:
        t0 = time.perf_counter()
        print(holdout(allrows, calib, a.silicon_weight, a.max_nfev, a.fold))
        print(f"holdout: {time.perf_counter() - t0:.0f} s")
        return 0
    if a.fit:
        t0 = time.perf_counter()
        calib, sol = fit_rows(allrows, calib, a.silicon_weight, a.max_nfev)
        print(f"fit: {sol.nfev} evaluations in {time.perf_counter() - t0:.1f} s, cost {sol.cost:.3f} ({sol.message})")
        for name, v in zip(PARAM_NAMES, to_vector(calib)):
            print(f"  {name:34s} {v:.4g}")
    fr = FastRows(allrows, calib)
    recs = records(fr, calib)
    if a.rows:
        for r in recs:
            R = r["row"]
            if r["kind"] != "silicon":
                print(f"{R.row_id:22s} {R.hardware:12s} {R.model:16s} {R.precision} {R.kind:16s} "
                      f"{R.isl}/{R.osl} meas {R.measured:9.1f} err {_sym(r['throughput']):6.2f}")
    by_hw = summary(recs, lambda r: r["hardware"])
    print(fmt(by_hw, "hardware"))
    print(fmt(summary(recs, lambda r: r["engine"]), "engine"))
    if a.fit:
        table = error_table_for_json(by_hw)
        save(calib, a.out, fitted_on=dt.date.today().isoformat(), table=table,
             excluded={**excluded, **{f"silicon: {k}": v for k, v in s_excl.items()}},
             n_rows={"calibration.csv": len(rows), "silicon_sample.csv (aggregated)": len(srows)},
             data=["benchmarks/data/calibration.csv", "benchmarks/data/silicon_sample.csv"],
             # throughput and TPOT bands from these residuals; TTFT's stay those of the TTFT
             # optimizer.predict reports (under load: benchmarks/calibrate_ttft.py --write)
             band_table=merge_bands(bands([{**r, "ttft": math.nan} for r in recs]),
                                    calib.meta.get("bands", {}), ("ttft",)),
             fit_info={"parameters": len(PARAM_NAMES), "evaluations": int(sol.nfev),
                       "silicon_weight": a.silicon_weight, "loss": "soft-L1 on log ratios, scale 0.3"})
        print(f"wrote {Path(a.out).resolve().relative_to(ROOT) if Path(a.out).resolve().is_relative_to(ROOT) else a.out}")
    return 0


def error_table_for_json(table):
    return [dict(hardware=t["key"], kind=t["kind"], n=t["n"], median=t["median"], p90=t["p90"],
                 tpot_median=t["tpot_median"], ttft_median=t["ttft_median"]) for t in table]


if __name__ == "__main__":
    raise SystemExit(main())
