"""Cost of disaggregated candidates in plans: for every bundled example, the candidate table and
solve times with ``search.serving: [aggregated]`` and with ``[aggregated, disaggregated]``.

    python benchmarks/bench_serving_modes.py [--repeat 3]

Prints one row per (example, serving): candidates before and after dominance pruning, the
candidate build time (configuration space + disaggregated pools, seconds), the MILP time
(seconds, HiGHS), the plan's cost and output tokens/s (ai-factory maximizes tokens
under a power cap, so its cost may rise with more candidates). Timings are the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import problems  # noqa: E402
from optimizer.allocate import Allocator  # noqa: E402
from optimizer.solve import prepare, solve_prepared  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    print(f"{'example':24} {'serving':26} {'before':>6} {'after':>6} {'build s':>8} {'MILP s':>7} {'$/h':>10} {'output tok/s':>13}")
    for name in problems.bundled_examples():
        d = problems.load(name).model_dump(mode="json")
        for modes in (["aggregated"], ["aggregated", "disaggregated"]):
            d["search"]["serving"] = modes
            p = problems.problem_from_dict(d)
            build, milp = [], []
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                prep = prepare(p)
                build.append(time.perf_counter() - t0)
                alloc = Allocator(prep.candidates, prep.workloads, prep.hardware, p.objective)
                plan = solve_prepared(prep, p, alloc, marginal_values=False)
                milp.append(plan.solver.get("solve_s", 0.0))
            cost = plan.total_cost_usd_per_hour
            print(f"{name:24} {'+'.join(modes):26} {prep.n_raw:6d} {len(prep.candidates):6d} "
                  f"{statistics.median(build):8.3f} {statistics.median(milp):7.3f} "
                  f"{cost if cost is not None else float('nan'):10.2f} {plan.totals.get('output_tok_s', 0):13,.0f}")


if __name__ == "__main__":
    main()
