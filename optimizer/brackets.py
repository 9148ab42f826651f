"""Price brackets: certified plans for a grid of prices from MILPs solved at its corners.

For a min_cost allocation whose prices enter only the objective (rented GPUs, electricity in the
rent), the cost of a fixed plan ``x`` is affine in the price vector ``p``, so the optimal cost

    V(p) = min_{x feasible} c(p) . x

is a minimum of affine functions of ``p``: **concave**. Inside a box of prices whose corners
``p_k`` have been solved with dual bounds ``LB_k <= V(p_k)``, any ``p = sum_k l_k p_k`` (the
multilinear weights ``l_k >= 0``, ``sum l_k = 1``) has

    V(p) >= sum_k l_k V(p_k) >= sum_k l_k LB_k              (concavity)

and every corner's plan is a feasible plan at ``p`` with a known cost ``c(p) . x_k``. When the
cheapest corner plan is within the MILP's relative gap of that bound, it is as good a plan as a
MILP solved at ``p`` would return (the same gap, proven), and no MILP is run for ``p``. When some
point is not certified, the box is halved along its longest axis and each half is tried again, so
a sweep over prices solves a MILP only where the optimal plan changes.

The feasible set must not depend on the price: a budget does (``c(p) . x <= budget``), so a corner
plan must also pass the feasibility check at ``p`` (``upper`` returns ``inf`` when it does not);
the bound stays valid because adding a constraint can only raise ``V``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np


@dataclass
class Solved:
    """A MILP solved at one grid point: plan ``x``, its cost ``upper`` and proven ``lower`` bound
    (``lower`` None: no usable bound, e.g. infeasible or stopped without a bound)."""

    x: np.ndarray | None
    upper: float | None
    lower: float | None


@dataclass
class Certified:
    """A grid point whose plan is the corner plan ``x`` of ``source`` (a grid point), within
    ``gap`` of the bound interpolated from ``corners``."""

    x: np.ndarray
    upper: float
    lower: float
    gap: float
    source: tuple
    corners: tuple


def relative_gap(upper: float, lower: float) -> float:
    """HiGHS's relative MIP gap, (upper - lower) / |upper| (0 when both are 0)."""
    if not math.isfinite(upper):
        return math.inf
    if upper == lower:
        return 0.0
    return (upper - lower) / abs(upper) if upper != 0 else math.inf


def bracket_grid(values: Sequence[Sequence[float]], solve: Callable[[tuple], Solved],
                 upper: Callable[[tuple, np.ndarray], float], rel_gap: float) -> dict:
    """Plans for every point of the grid ``itertools.product(*values)`` (each axis sorted ascending).

    ``solve(point)`` runs the MILP at a grid point (a tuple of indices, one per axis);
    ``upper(point, x)`` is the cost of plan ``x`` at that point, ``inf`` where it is not feasible.
    Returns {point: Solved | Certified}; every point is one or the other.
    """
    vals = [np.asarray(v, dtype=float) for v in values]
    for v in vals:
        if v.size == 0 or np.any(np.diff(v) <= 0):
            raise ValueError("each axis needs distinct values in ascending order")
    out: dict = {}

    def get(pt: tuple) -> Solved:
        r = out.get(pt)
        if not isinstance(r, Solved):
            r = out[pt] = solve(pt)
        return r

    def box(lo: tuple, hi: tuple) -> None:
        dims = range(len(vals))
        corners = list(itertools.product(*[sorted({lo[d], hi[d]}) for d in dims]))
        res = [get(c) for c in corners]
        inner = [pt for pt in itertools.product(*[range(lo[d], hi[d] + 1) for d in dims])
                 if pt not in out]
        if not inner:
            return
        if all(r.lower is not None and r.x is not None for r in res):
            found = {}
            for pt in inner:
                lower = 0.0
                for c, r in zip(corners, res):
                    w = 1.0
                    for d in dims:
                        if lo[d] != hi[d]:
                            t = (vals[d][pt[d]] - vals[d][lo[d]]) / (vals[d][hi[d]] - vals[d][lo[d]])
                            w *= t if c[d] == hi[d] else 1.0 - t
                    lower += w * r.lower
                costs = [upper(pt, r.x) for r in res]
                k = int(np.argmin(costs))
                if not math.isfinite(costs[k]):
                    break
                gap = max(relative_gap(costs[k], lower), 0.0)
                if gap > rel_gap:
                    break
                found[pt] = Certified(res[k].x, float(costs[k]), float(lower), gap, corners[k], tuple(corners))
            else:
                out.update(found)
                return
        d = max(dims, key=lambda d: hi[d] - lo[d])
        mid = (lo[d] + hi[d]) // 2
        box(lo, hi[:d] + (mid,) + hi[d + 1:])
        box(lo[:d] + (mid,) + lo[d + 1:], hi)

    box(tuple(0 for _ in vals), tuple(len(v) - 1 for v in vals))
    return out
