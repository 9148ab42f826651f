"""Refit the performance model's efficiency factors and print the error table.

    python benchmarks/calibrate.py            # evaluate the shipped calibration
    python benchmarks/calibrate.py --fit      # refit, write kernels/calibration.json, print errors
    python benchmarks/calibrate.py --rows     # also print every row's prediction

Needs scipy for --fit (pip install -e '.[test]').
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernels import default_calibration, load_calibration  # noqa: E402
from kernels.calibration import (error_table, evaluate_rows, fit, load_rows,  # noqa: E402
                                   save, PARAM_NAMES, to_vector)

DATA = ROOT / "benchmarks" / "data" / "calibration.csv"
OUT = ROOT / "kernels" / "calibration.json"


def fmt_table(table) -> str:
    lines = ["| hardware | row kind | n | median | p90 | TPOT median | TTFT median |",
             "|---|---|---|---|---|---|---|"]
    for t in table:
        def f(x):
            return "-" if (x is None or (isinstance(x, float) and math.isnan(x))) else f"{100 * x:.0f}%"
        lines.append(f"| {t['hardware']} | {t['kind']} | {t['n']} | {f(t['median'])} | {f(t['p90'])} | "
                     f"{f(t['tpot_median'])} | {f(t['ttft_median'])} |")
    return "\n".join(lines)


def holdout_table(rows, base, max_nfev) -> str:
    """Refit without each hardware type (and without both AMD types: an unseen vendor), then
    predict the held-out rows. Groups left without rows take the mean of the fitted groups."""
    import numpy as np

    from kernels.calibration import FAMILY_GROUPS, from_vector
    from problems import get_hardware

    folds = [[h] for h in sorted({r.hardware for r in rows})] + [["mi300x", "mi325x"]]
    lines = ["| held out | rows | median, in-sample fit | median, held out | p90, held out |", "|---|---|---|---|---|"]
    full = evaluate_rows(rows, base)
    for hold in folds:
        train = [r for r in rows if r.hardware not in hold]
        test = [r for r in rows if r.hardware in hold]
        c, sol = fit(train, base, max_nfev=max_nfev)
        groups_seen = {base.group_of(get_hardware(r.hardware).family) for r in train}
        v = to_vector(c)
        for i, g in enumerate(FAMILY_GROUPS):
            if g not in groups_seen:
                others = [j for j, gg in enumerate(FAMILY_GROUPS) if gg in groups_seen]
                v[2 * i] = float(np.exp(np.mean([np.log(v[2 * j]) for j in others])))
                v[2 * i + 1] = float(np.exp(np.mean([np.log(v[2 * j + 1]) for j in others])))
        c = from_vector(v, c)
        res = evaluate_rows(test, c)
        errs = [r["err"] for r in res]
        ins = float(np.median([r["err"] for r in full if r["row"].hardware in hold]))
        lines.append(f"| {'+'.join(hold)} | {len(test)} | {100 * ins:.0f}% | "
                     f"{100 * float(np.median(errs)):.0f}% | {100 * float(np.percentile(errs, 90)):.0f}% |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fit", action="store_true", help="refit and write kernels/calibration.json")
    ap.add_argument("--rows", action="store_true", help="print every row")
    ap.add_argument("--calibration", help="evaluate this calibration JSON instead of the shipped one")
    ap.add_argument("--holdout", action="store_true",
                    help="leave-one-hardware-out: refit without each GPU type, then predict it")
    ap.add_argument("--max-nfev", type=int, default=800)
    ap.add_argument("--from-current", action="store_true",
                    help="start the fit from the shipped calibration instead of the physical defaults")
    a = ap.parse_args(argv)
    rows, excluded = load_rows(DATA)
    calib = load_calibration(a.calibration) if a.calibration else default_calibration()
    print(f"{len(rows)} rows used; excluded: {sum(excluded.values())} "
          + ", ".join(f"{k}: {v}" for k, v in sorted(excluded.items())))
    if a.holdout:
        print(holdout_table(rows, calib, a.max_nfev))
        return 0
    if a.fit:
        t0 = time.perf_counter()
        start = to_vector(calib) if a.from_current else None
        calib, sol = fit(rows, calib, max_nfev=a.max_nfev, start=start)
        print(f"fit: {sol.nfev} evaluations in {time.perf_counter() - t0:.1f} s, loss {sol.fun:.3f}")
        for name, v in zip(PARAM_NAMES, to_vector(calib)):
            print(f"  {name:28s} {v:.4g}")
    res = evaluate_rows(rows, calib)
    table = error_table(res)
    if a.rows:
        for r in res:
            R, m = r["row"], r["metrics"]
            cfg = f"tp{m.tp} ep{m.ep} b{m.concurrency} {m.speculative}" if m else r.get("error", "")
            print(f"line {R.line:3d} {R.hardware:12s} {R.model:16s} {R.precision} {R.kind:16s} "
                  f"{R.isl}/{R.osl} meas {R.measured:9.1f} pred {r['pred']:9.1f} err {r['err']:6.2f}  {cfg}")
    print(fmt_table(table))
    if a.fit:
        save(calib, OUT, fitted_on=dt.date.today().isoformat(), table=table, excluded=excluded, n_rows=len(rows))
        print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
