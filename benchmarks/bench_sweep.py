"""1,000 scenarios of the enterprise example varying demand and prices (parameter-only changes:
one evaluation, one cvxpy problem, 1,000 re-solves).

    python benchmarks/bench_sweep.py [--workers 2] [--n 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.sweeps import SweepSpec, read_table, run_sweep  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--n", type=int, default=10, help="values per axis (3 axes: n^3 scenarios)")
    ap.add_argument("--axes", default="demand-price", help="demand-price | sla (changes the candidate set)")
    ap.add_argument("--backend", default="numpy")
    ap.add_argument("--mip-gap", type=float, default=1e-4)
    ap.add_argument("--no-brackets", action="store_true", help="solve every scenario's MILP")
    ap.add_argument("--keep", help="copy the result table here (e.g. to compare two runs)")
    a = ap.parse_args()
    n = a.n
    if a.axes == "sla":
        # every scenario changes the candidate set, so each re-evaluates a 4.7e6-configuration
        # space (every batch size 1..4096): the case a GPU backend is for
        vary = [f"workloads.0.sla.min_output_tok_s_per_user=10:60:{n}",
                f"workloads.1.sla.min_output_tok_s_per_user=10:40:{n}", "search.batch_grid=all"]
    else:
        vary = [f"workloads.0.demand.requests_per_s=50:400:{n}", f"workloads.1.demand.requests_per_s=50:500:{n}",
                f"hardware.3.price_usd_per_hour=1.2:3.0:{n}"]
    sp = SweepSpec.from_cli("enterprise-mix", vary)
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "sweep.csv"
        t = time.perf_counter()
        s = run_sweep(sp, out, workers=a.workers, backend=a.backend, mip_rel_gap=a.mip_gap, brackets=not a.no_brackets)
        wall = time.perf_counter() - t
        rows = read_table(out)
        if a.keep:
            shutil.copy(out, a.keep)
    print(json.dumps(dict(scenarios=len(rows), axes=a.axes, backend=a.backend, workers=a.workers, mip_gap=a.mip_gap,
                          brackets=not a.no_brackets, milps=sum(r["method"] == "milp" for r in rows), wall_s=round(wall, 1),
                          per_scenario_s=round(wall / len(rows), 4),
                          # each row's elapsed time covers its MILP and plan, not the evaluation
                          solve_plan_s_per_scenario=round(sum(r["elapsed_s"] for r in rows) / len(rows), 4), feasible=sum(r["status"] == "optimal" for r in rows),
                          mean_cost_usd_per_hour=sum(r["total_cost_usd_per_hour"] or 0 for r in rows) / len(rows),
                          summary=s)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
