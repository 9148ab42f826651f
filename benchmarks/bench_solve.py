"""End-to-end solve of the enterprise example and parameter-only re-solves (LP and MILP).

    python benchmarks/bench_solve.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import optimizer  # noqa: E402
import problems  # noqa: E402
from optimizer.allocate import Allocator  # noqa: E402
from optimizer.solve import parameter_values, prepare  # noqa: E402


def main() -> int:
    p = problems.load("enterprise-mix")
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "optimizer.cli", "plan", "enterprise-mix", "-q", "--json", "-"],
                       cwd=ROOT, capture_output=True, text=True)
    cli_wall = time.perf_counter() - t
    plan = json.loads(r.stdout)
    optimizer.solve(p, backend="numpy")        # warm imports
    t = time.perf_counter()
    plan2 = optimizer.solve(p, backend="numpy")
    api_wall = time.perf_counter() - t
    prep = prepare(p, "numpy")
    res = {}
    for integer in (False, True):
        al = Allocator(prep.candidates, prep.workloads, prep.hardware, p.objective, integer=integer)
        pv = parameter_values(p, prep.candidates)
        al.set_params(**pv)
        al.solve()                              # first solve compiles the DPP problem
        times = []
        rng = np.random.default_rng(0)
        for _ in range(20):
            pv = dict(pv, demand=parameter_values(p, prep.candidates)["demand"] * rng.uniform(0.5, 1.2, len(pv["demand"])))
            al.set_params(**pv)
            t = time.perf_counter()
            s = al.solve()
            times.append(time.perf_counter() - t)
            assert s.status == "optimal", s.status
        res["milp" if integer else "lp"] = dict(median_s=statistics.median(times), max_s=max(times))
    out = dict(problem=p.name, cli_status=plan["status"], cli_wall_s=cli_wall, api_solve_wall_s=api_wall,
               api_status=plan2.status, mip_gap=plan2.solver.get("mip_gap"), candidates=plan2.solver["candidates"],
               candidates_before_pruning=plan2.solver["candidates_before_pruning"],
               configurations=plan2.backend["configurations"], resolve_demand=res)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
