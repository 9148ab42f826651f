"""Solving a batch of scenarios that share a structure: one evaluation, one model, many re-solves.

Runs in the driver (serial sweeps) or in a Dask worker (its arguments are plain data), so it
writes nothing: each finished scenario goes to ``on_row`` or into the returned list.
"""

from __future__ import annotations

import json
import time

import numpy as np

from problems import problem_from_dict

from .paths import apply_values
from .rows import plan_row

TIME_LIMIT_S = 30.0   # per MILP


def boxes(scenarios: list[dict], prices: list[str]) -> list[list[dict]]:
    """Scenarios grouped by everything but their prices (in first-seen order)."""
    if not prices:
        return [[sc] for sc in scenarios]
    out: dict[str, list] = {}
    for sc in scenarios:
        key = json.dumps({p: v for p, v in sc["values"].items() if p not in prices}, sort_keys=True, default=str)
        out.setdefault(key, []).append(sc)
    return list(out.values())


def solve_batch(base: dict, source: str, scenarios: list[dict], backend: str = "numpy",
                keep_plans: bool = False, on_row=None, mip_rel_gap: float = 1e-4, anchor: dict | None = None,
                prices: list[str] | tuple = (), skip=frozenset()) -> list[dict]:
    """Solve scenarios that share a structure: one prepare, one Allocator, many re-solves.

    ``anchor`` (values of the structure's first scenario) is the problem the candidate table is
    built from, so a scenario's plan does not depend on which task it falls in. Scenarios that
    differ only along the ``prices`` axes are solved as price brackets (:mod:`optimizer.brackets`)
    under a min_cost objective. Scenarios in ``skip`` are finished already: they are solved only
    when a bracket needs their MILP, and never returned.

    Returns
    -------
    list of dict
        ``{"row": plan_row(...)}`` (and ``"plan"`` with ``keep_plans``) per scenario solved.
    """
    from ..allocate import Allocator  # noqa: PLC0415
    from ..solve import prepare  # noqa: PLC0415

    p0 = problem_from_dict(apply_values(base, (anchor if anchor is not None else scenarios[0]["values"])), source)
    prep = prepare(p0, backend)
    alloc = Allocator(prep.candidates, prep.workloads, prep.hardware, p0.objective) if prep.candidates else None
    ctx = dict(base=base, source=source, prep=prep, alloc=alloc, p0=p0, mip_rel_gap=mip_rel_gap)
    rows = []

    def emit(sc, plan, elapsed):
        if sc["scenario"] in skip:
            return
        rec = dict(row=plan_row(sc, plan, elapsed))
        if keep_plans:
            rec["plan"] = plan.to_dict()
        rows.append(rec)
        if on_row is not None:
            on_row(rec)

    use_brackets = bool(prices) and alloc is not None and p0.objective == "min_cost"
    for box in boxes(scenarios, list(prices) if use_brackets else []):
        if len(box) == 1:
            _emit_milp(ctx, box[0], emit)
        else:
            _solve_box(ctx, box, list(prices), emit)
    return rows


def _problem(ctx: dict, sc: dict):
    return problem_from_dict(apply_values(ctx["base"], sc["values"]), ctx["source"])


def _solve_one(ctx: dict, sc: dict, result=None, prob=None):
    from ..solve import solve_prepared  # noqa: PLC0415

    return solve_prepared(ctx["prep"], prob or _problem(ctx, sc), ctx["alloc"], base_problem=ctx["p0"],
                          marginal_values=False, time_limit_s=TIME_LIMIT_S, mip_rel_gap=ctx["mip_rel_gap"],
                          result=result)


def _emit_milp(ctx: dict, sc: dict, emit) -> None:
    t0 = time.perf_counter()
    plan = _solve_one(ctx, sc)
    emit(sc, plan, time.perf_counter() - t0)


def _solve_box(ctx: dict, box: list[dict], prices: list[str], emit) -> None:
    """Scenarios that differ only in prices: MILPs at the corners of price boxes, certified plans
    inside them (see optimizer.brackets); plans identical to solving every scenario's MILP up to
    the MILP gap, which each row reports."""
    from ..allocate import SolveResult  # noqa: PLC0415
    from ..brackets import Certified, Solved, bracket_grid  # noqa: PLC0415
    from ..solve import parameter_values  # noqa: PLC0415

    alloc, prep = ctx["alloc"], ctx["prep"]
    axes = [sorted({float(sc["values"][p]) for sc in box}) for p in prices]
    cells: dict[tuple, list] = {}
    for sc in box:
        cells.setdefault(tuple(ax.index(float(sc["values"][p])) for ax, p in zip(axes, prices)), []).append(sc)
    if len(cells) != int(np.prod([len(a) for a in axes])):     # not a full grid: solve each
        for sc in box:
            _emit_milp(ctx, sc, emit)
        return
    probs: dict[tuple, object] = {}
    params: dict[tuple, dict] = {}
    plans: dict[tuple, tuple] = {}

    def cell_params(pt):
        if pt not in params:
            probs[pt] = _problem(ctx, cells[pt][0])
            params[pt] = parameter_values(probs[pt], prep.candidates, ctx["p0"])
        return params[pt]

    def solve(pt):
        t0 = time.perf_counter()
        alloc.set_params(**cell_params(pt))
        res = alloc.solve(time_limit_s=TIME_LIMIT_S, mip_rel_gap=ctx["mip_rel_gap"])
        plans[pt] = (_solve_one(ctx, cells[pt][0], result=res, prob=probs[pt]), time.perf_counter() - t0)
        return Solved(res.x, res.objective, res.dual_bound if res.status == "optimal" else None)

    def upper(pt, x):
        alloc.set_params(**cell_params(pt))
        return alloc.plan_cost(x) if alloc.satisfies(x) else float("inf")

    results = bracket_grid(axes, solve, upper, ctx["mip_rel_gap"])
    ids = {pt: cells[pt][0]["scenario"] for pt in cells}
    for pt in sorted(cells, key=lambda p: cells[p][0]["scenario"]):
        r = results[pt]
        if isinstance(r, Certified):
            t0 = time.perf_counter()
            corners = sorted(ids[c] for c in r.corners)
            res = SolveResult("optimal", r.x, r.upper, 0.0, r.gap, method="bracket", dual_bound=r.lower,
                              message=f"plan of scenario {ids[r.source]}, certified within the MIP gap by the "
                                      f"solved scenarios {', '.join(map(str, corners))}")
            plan = _solve_one(ctx, cells[pt][0], result=res, prob=probs.get(pt))
            plan.solver["bracket"] = corners
            elapsed = time.perf_counter() - t0
        else:
            plan, elapsed = plans[pt]
        for sc in cells[pt]:
            emit(sc, plan, elapsed)
