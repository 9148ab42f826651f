"""Price brackets: every point of a price grid gets a plan within the gap of the true optimum,
MILPs run only where needed, and a bracket is never trusted where the bound does not hold."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.brackets import Certified, Solved, bracket_grid, relative_gap


def toy(plans, budget=math.inf):
    """min over a fixed set of plans of cost a_k + b_k . p (concave in p), exact bounds."""
    plans = [(float(a), np.asarray(b, dtype=float)) for a, b in plans]

    def cost(k, p):
        return plans[k][0] + plans[k][1] @ p

    def optimum(p):
        costs = [cost(k, p) for k in range(len(plans))]
        costs = [c if c <= budget else math.inf for c in costs]
        k = int(np.argmin(costs))
        return k, costs[k]

    return cost, optimum


def run(values, plans, rel_gap=1e-4, budget=math.inf, slack=0.0):
    cost, optimum = toy(plans, budget)
    calls = []

    def point(pt):
        return np.array([values[d][i] for d, i in enumerate(pt)])

    def solve(pt):
        calls.append(pt)
        k, v = optimum(point(pt))
        if not math.isfinite(v):
            return Solved(None, None, None)
        return Solved(np.array([k]), v, v * (1 - slack))   # slack: a MILP stopped at a gap

    def upper(pt, x):
        c = cost(int(x[0]), point(pt))
        return c if c <= budget else math.inf

    return bracket_grid(values, solve, upper, rel_gap), calls, optimum, point


def test_one_plan_everywhere_needs_only_the_corners():
    values = [list(np.linspace(1, 3, 10))]
    res, calls, _, _ = run(values, [(10, [2.0]), (30, [0.5])])   # plan 0 is cheaper for all p <= 3
    assert sorted(calls) == [(0,), (9,)]
    assert all(isinstance(res[(i,)], Certified) for i in range(1, 9))
    assert all(int(res[(i,)].x[0]) == 0 for i in range(1, 9))


def test_a_change_of_plan_is_bracketed_and_every_point_is_right():
    values = [list(np.linspace(0, 20, 21))]
    plans = [(0, [3.0]), (20, [1.0]), (45, [0.0])]      # best: 0 up to p=10, 1 up to 25, then 2
    res, calls, optimum, point = run(values, plans)
    assert len(calls) < 21
    for (i,), r in res.items():
        k, v = optimum(point((i,)))
        assert r.upper == pytest.approx(v, rel=1e-12)
    # the point where the best plan changes (p = 10) cannot be certified across it without a MILP
    assert any(isinstance(r, Solved) for (i,), r in res.items() if 8 <= i <= 12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 10), st.floats(0, 10)), min_size=1, max_size=6),
       st.integers(2, 6), st.integers(1, 5), st.sampled_from([0.0, 1e-4, 1e-2]))
def test_two_price_axes_every_point_within_the_gap(plans, n0, n1, gap):
    values = [list(np.linspace(1, 4, n0)), list(np.linspace(0.5, 2, n1))]
    plans = [(a, [b0, b1]) for a, b0, b1 in plans]
    res, calls, optimum, point = run(values, plans, rel_gap=gap)
    assert set(res) == set(itertools.product(range(n0), range(n1)))
    assert len(set(calls)) <= n0 * n1
    for pt, r in res.items():
        _, v = optimum(point(pt))
        if isinstance(r, Certified):
            assert r.lower <= v + 1e-9 * max(1.0, abs(v))          # the interpolated bound is a bound
            assert relative_gap(r.upper, v) <= gap + 1e-12          # the plan is as good as promised
            assert r.gap <= gap
        else:
            assert r.upper == pytest.approx(v)


def test_infeasible_corner_plan_forces_a_solve():
    # a budget the cheap-at-low-price plan breaks at high prices: the bracket must not use it there
    values = [list(np.linspace(1, 5, 9))]
    plans = [(0, [10.0]), (12, [6.0])]
    res, calls, optimum, point = run(values, plans, budget=40.0)
    for (i,), r in res.items():
        k, v = optimum(point((i,)))
        if math.isfinite(v):
            assert r.upper == pytest.approx(v) and r.upper <= 40.0


def test_no_corner_plan_feasible_inside_forces_a_solve():
    # A (best at p = 1) and B (best at p = 3) both break the budget at p = 2, where C is the plan
    values = [[1.0, 2.0, 3.0]]
    plans = [(0, [10.0]), (40, [-10.0]), (15, [0.0])]
    res, calls, optimum, point = run(values, plans, budget=18.0)
    assert sorted(calls) == [(0,), (1,), (2,)]
    assert res[(1,)].upper == pytest.approx(15.0) and int(res[(1,)].x[0]) == 2


def test_bounds_with_a_gap_are_interpolated_not_trusted_blindly():
    # corners solved only to a 1% gap: a 1e-4 bracket cannot certify anything between them
    values = [list(np.linspace(1, 3, 5))]
    res, calls, _, _ = run(values, [(10, [2.0])], rel_gap=1e-4, slack=0.01)
    assert len(calls) == 5 and all(isinstance(r, Solved) for r in res.values())
    res, calls, _, _ = run(values, [(10, [2.0])], rel_gap=2e-2, slack=0.01)
    assert len(calls) == 2


def test_axes_must_be_sorted_and_distinct():
    with pytest.raises(ValueError, match="ascending"):
        bracket_grid([[2.0, 1.0]], lambda pt: None, lambda pt, x: 0.0, 1e-4)
