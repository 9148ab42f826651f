"""The allocation: integer replicas per candidate, solved with cvxpy + HiGHS.

Built once from a candidate table with ``cp.Parameter`` s for everything a sweep may change
(demand, cost per replica, power cap, budget, availability); :meth:`Allocator.solve` only sets
their values and re-solves (``enforce_dpp=True``).

    x_c >= 0 integer                replicas of candidate c (c serves one workload w(c))
    served_w = sum_{c in w} cap_c x_c
    min_cost:      min sum_c cost_c x_c            s.t. served_w >= demand_w
    max_margin:    max sum_w value_w tok(s_w) - sum_c cost_c x_c,  s_w <= served_w, s_w <= demand_w
    max_tokens_per_watt: max sum_w tok(s_w) - eps * cost,          s_w <= served_w, s_w <= demand_w
    and for all:   u_h >= 0 integer units (nodes, racks, cards) of hardware h, of U_h GPUs each
                   sum_{c on h} P_c x_c <= K_h u_h        replicas packed whole into units (below)
                   U_h u_h <= avail_h                     sum_h U_h u_h <= max_gpus
                   kw . x + idle_kw . idle <= power cap   cost . x + rate . idle <= budget
    where idle_h = U_h u_h - sum_{c on h} gpus_c x_c are bought GPUs no replica uses: they cost their
    hardware rate and draw idle power.

Packing: a replica of g <= U GPUs takes one of k = floor(U/g) slots of a unit, a larger one
ceil(g/U) whole units. With K_h the lcm of the k's, P_c = K_h / k_c (or K_h ceil(g/U)) keeps the
coefficients integer. The constraint is exact for power-of-two replica sizes (the search's tensor
parallel degrees): placing replicas largest first, a unit that refuses a replica of g GPUs holds
floor(U/g) g GPUs of replicas of g or more, whose slot shares sum to at least one unit, so the
units the constraint allows always suffice.

The LP relaxation of the same model gives the marginal values (duals).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

BIG = 1e12
# HiGHS spends most of its time on these small covering MILPs in root heuristics and a restart;
# on 150 enterprise sweep instances (benchmarks/RESULTS.md) the mean solve is 213 ms with the
# defaults, 138 ms without the feasibility-jump heuristic and the restart, and ~100 ms on one
# thread without the root reduced-cost heuristic too, to the same optima. One thread: HiGHS
# returns a different one of several equally good plans with 1 and with 2 threads, so a plan
# would depend on the machine's core count; with one thread it does not, and sweeps get their
# parallelism from solving scenarios side by side.
HIGHS_OPTIONS = dict(threads=1)
MIP_OPTIONS = dict(HIGHS_OPTIONS, mip_heuristic_run_feasibility_jump=False, mip_allow_restart=False,
                   mip_heuristic_run_root_reduced_cost=False)


def highs_solve(problem, **opts) -> None:
    """``problem.solve`` with HiGHS on one thread (``opts`` are HiGHS options).

    HiGHS refuses a thread count other than the one its process-wide scheduler was started
    with (by an earlier solve in this process with other options, e.g. a caller's own cvxpy
    model); the scheduler is then reset once and the solve retried.
    """
    import cvxpy as cp  # noqa: PLC0415

    opts = dict(HIGHS_OPTIONS, **opts)
    try:
        problem.solve(solver=cp.HIGHS, **opts)
    except cp.error.SolverError:
        import highspy  # noqa: PLC0415

        highspy.Highs.resetGlobalScheduler(True)
        problem.solve(solver=cp.HIGHS, **opts)


@contextlib.contextmanager
def quiet_stdout():
    """Keep solver banners (HiGHS prints to fd 1 even when not verbose) off stdout."""
    try:
        sys.stdout.flush()
        fd = os.dup(1)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(fd, 1)
        os.close(fd)


@dataclass
class SolveResult:
    status: str                 # optimal | time_limit | infeasible | unbounded | error
    x: np.ndarray | None
    objective: float | None
    solve_s: float
    mip_gap: float | None
    solver: str = "HIGHS"
    message: str = ""
    dual_bound: float | None = None   # proven lower bound on a min_cost objective (MILP)
    method: str = "milp"              # milp | bracket (certified from other solves, optimizer.brackets)


def pools(c: dict) -> list[dict]:
    """The GPU pools one replica of candidate ``c`` occupies: dicts with hardware, replicas,
    gpus_per_replica, unit_gpus and idle_kw_per_gpu (one pool for an aggregated candidate)."""
    if c.get("pools"):
        return c["pools"]
    return [dict(role="replica", hardware=c["hardware"], replicas=1, gpus_per_replica=int(c["gpus_per_replica"]),
                 unit_gpus=int(c.get("unit_gpus", 1)), idle_kw_per_gpu=float(np.nan_to_num(c.get("idle_kw_per_gpu", 0.0))))]


def gpus_by_hardware(c: dict) -> dict:
    """GPUs of each hardware type one replica of candidate ``c`` uses."""
    out: dict = {}
    for p in pools(c):
        out[p["hardware"]] = out.get(p["hardware"], 0) + p["replicas"] * p["gpus_per_replica"]
    return out


def allocation_matrices(candidates: list[dict], workloads: list[dict], hardware: list[str]):
    """Constraint data of the allocation, one column per candidate.

    Returns (A_w, A_h, gpus, kw): capacity toward each workload (rows in ``workloads`` order),
    GPUs of each hardware type (rows in ``hardware`` order), GPUs per replica, and all-in kW per
    replica (unknown power, from a TDP that is not published, counts as 0: the schema refuses
    power limits for such hardware).
    """
    wi = {w["workload"]: i for i, w in enumerate(workloads)}
    hi = {h: i for i, h in enumerate(hardware)}
    A_w = np.zeros((len(workloads), len(candidates)))
    A_h = np.zeros((len(hardware), len(candidates)))
    for j, c in enumerate(candidates):
        A_w[wi[c["workload"]], j] = c["capacity_per_replica"]
        for h, g in gpus_by_hardware(c).items():     # both pools of a disaggregated candidate
            A_h[hi[h], j] += g
    gpus = np.array([c["gpus_per_replica"] for c in candidates], dtype=float)
    kw = np.nan_to_num(np.array([c["power_kw_per_replica"] for c in candidates], dtype=float))
    return A_w, A_h, gpus, kw


def unit_matrices(candidates: list[dict], hardware: list[str]):
    """Packing data: (P, K, U, idle_kw) with ``P`` (hardware x candidates) integer slot weights,
    ``K`` slots per unit, ``U`` GPUs per unit and ``idle_kw`` all-in kW of one idle GPU, per hardware.

    Candidates carry ``unit_gpus`` and ``idle_kw_per_gpu``; without them a unit is one GPU drawing
    nothing when idle (hand-built tables in tests).
    """
    hi = {h: i for i, h in enumerate(hardware)}
    U = np.ones(len(hardware), dtype=np.int64)
    idle = np.zeros(len(hardware))
    for c in candidates:
        for p in pools(c):
            U[hi[p["hardware"]]] = int(p["unit_gpus"])
            idle[hi[p["hardware"]]] = float(np.nan_to_num(p["idle_kw_per_gpu"]))
    K = np.ones(len(hardware), dtype=np.int64)
    for c in candidates:
        for p in pools(c):
            h, g = hi[p["hardware"]], int(p["gpus_per_replica"])
            if g <= U[h]:
                K[h] = np.lcm(K[h], U[h] // g)
    P = np.zeros((len(hardware), len(candidates)))
    for j, c in enumerate(candidates):
        # a disaggregated candidate packs each pool's replicas on its own hardware's units
        for p in pools(c):
            h, g = hi[p["hardware"]], int(p["gpus_per_replica"])
            P[h, j] += p["replicas"] * (K[h] // (U[h] // g) if g <= U[h] else K[h] * -(-g // U[h]))
    return P, K.astype(float), U.astype(float), idle


class Allocator:
    """The allocation model for one candidate table, reusable across parameter values."""

    def __init__(self, candidates: list[dict], workloads: list[dict], hardware: list[str],
                 objective: str = "min_cost", integer: bool = True):
        import cvxpy as cp  # noqa: PLC0415 - heavy import kept off the CLI's start-up path

        self.cp = cp
        self.candidates = candidates
        self.workloads = workloads
        self.hardware = hardware
        self.objective = objective
        self.integer = integer
        n, nw, nh = len(candidates), len(workloads), len(hardware)
        A_w, A_h, gpus, kw = allocation_matrices(candidates, workloads, hardware)
        self.A_w, self.A_h, self.gpus, self.kw = A_w, A_h, gpus, kw
        P, K, U, idle_kw = unit_matrices(candidates, hardware)
        self.P, self.K, self.U, self.idle_kw = P, K, U, idle_kw
        # tokens/s of output per unit of served capacity, per workload
        self.tok_per_unit = np.array([w["output_tok_per_unit"] for w in workloads], dtype=float)

        self.x = cp.Variable(n, integer=integer, name="replicas") if n else None
        self.demand = cp.Parameter(nw, nonneg=True, name="demand")
        self.cost = cp.Parameter(n, nonneg=True, name="cost_usd_per_hour")
        self.power_cap_kw = cp.Parameter(nonneg=True, name="power_cap_kw")
        self.budget = cp.Parameter(nonneg=True, name="budget_usd_per_hour")
        self.avail = cp.Parameter(nh, nonneg=True, name="available_gpus")
        self.max_gpus = cp.Parameter(nonneg=True, name="max_gpus")
        self.value = cp.Parameter(nw, nonneg=True, name="value_usd_per_hour_per_unit")
        self.floor = cp.Parameter(nw, nonneg=True, name="served_floor")
        self.rate = cp.Parameter(nh, nonneg=True, name="hardware_usd_per_gpu_hour")
        self.u = cp.Variable(nh, integer=integer, name="units")
        x, u = self.x, self.u
        served = A_w @ x
        idle = cp.multiply(U, u) - A_h @ x          # bought GPUs no replica uses
        cons = {}
        cons["nonneg"] = x >= 0
        cons["units_nonneg"] = u >= 0
        cons["packing"] = P @ x <= cp.multiply(K, u)
        cons["avail"] = cp.multiply(U, u) <= self.avail
        cons["power"] = kw @ x + idle_kw @ idle <= self.power_cap_kw
        total_cost = self.cost @ x + self.rate @ idle
        cons["budget"] = total_cost <= self.budget
        cons["max_gpus"] = U @ u <= self.max_gpus
        if objective == "min_cost":
            cons["demand"] = served >= self.demand
            obj = cp.Minimize(total_cost)
            self.s = None
        else:
            self.s = cp.Variable(nw, nonneg=True, name="served")
            cons["served_cap"] = self.s <= served
            cons["demand"] = self.s <= self.demand
            # require_full_service sets the floor to the demand; otherwise it is 0 and never binds
            cons["full_service"] = served >= self.floor
            if objective == "max_margin":
                obj = cp.Maximize(self.value @ self.s - total_cost)
            else:  # max tokens under the power cap; a tiny cost term breaks ties toward cheap plans
                tok = self.tok_per_unit @ self.s
                obj = cp.Maximize(tok - 1e-9 * total_cost)
        self.cons = cons
        self.problem = cp.Problem(obj, list(cons.values()))

    def set_params(self, demand, cost, power_cap_kw=None, budget=None, avail=None, max_gpus=None, value=None,
                   full_service=False, gpu_rate=None):
        """Parameter values; ``full_service`` makes every objective serve all demand (as min_cost does);
        ``gpu_rate`` is each hardware's USD per GPU-hour, charged for bought GPUs no replica uses."""
        self.demand.value = np.asarray(demand, dtype=float)
        self.rate.value = (np.zeros(len(self.hardware)) if gpu_rate is None
                           else np.asarray(gpu_rate, dtype=float))
        self.floor.value = self.demand.value.copy() if full_service else np.zeros(len(self.workloads))
        self.cost.value = np.asarray(cost, dtype=float)
        self.power_cap_kw.value = float(power_cap_kw) if power_cap_kw is not None else BIG
        self.budget.value = float(budget) if budget is not None else BIG
        self.avail.value = (np.asarray([BIG if a is None else a for a in avail], dtype=float)
                            if avail is not None else np.full(len(self.hardware), BIG))
        self.max_gpus.value = float(max_gpus) if max_gpus is not None else BIG
        self.value.value = np.asarray(value if value is not None else np.zeros(len(self.workloads)), dtype=float)

    def solve(self, time_limit_s: float = 30.0, mip_rel_gap: float = 1e-4) -> SolveResult:
        cp = self.cp
        t0 = time.perf_counter()
        opts = dict(time_limit=float(time_limit_s), enforce_dpp=True)
        if self.integer:
            opts.update(MIP_OPTIONS, mip_rel_gap=float(mip_rel_gap))
        try:
            with quiet_stdout(), warnings.catch_warnings():
                # a time limit makes cvxpy warn "Solution may be inaccurate"; the status says it
                warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                highs_solve(self.problem, **opts)
        except cp.error.SolverError as e:
            return SolveResult("error", None, None, time.perf_counter() - t0, None,
                               message=f"HiGHS failed: {e}; try a longer time limit or fewer candidates")
        dt = time.perf_counter() - t0
        st = self.problem.status
        gap = bound = None
        stats = self.problem.solver_stats
        info = stats.extra_stats if stats is not None else None
        if self.integer and info is not None:
            gap = getattr(info, "mip_gap", None)
            gap = float(gap) if gap is not None and np.isfinite(gap) else None
            bound = getattr(info, "mip_dual_bound", None)
            bound = float(bound) if bound is not None and np.isfinite(bound) else None
        if st in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            status = "optimal"
        elif st == cp.USER_LIMIT:
            status = "time_limit" if self.x.value is not None else "time_limit_no_plan"
        elif st in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
            status = "infeasible"
        elif st in (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE):
            status = "unbounded"
        else:
            status = str(st)
        x = None if self.x.value is None else np.round(self.x.value).clip(min=0) if self.integer else np.clip(self.x.value, 0, None)
        if status == "time_limit" and (x is None or not self.satisfies(x)):
            # stopped before HiGHS had an incumbent: the values cvxpy hands back are no plan
            status, x = "time_limit_no_plan", None
        obj = self.problem.value if status in ("optimal", "time_limit") else None
        msg = (f"HiGHS found no plan within the {time_limit_s:g} s time limit; give it more time"
               if status == "time_limit_no_plan" else "")
        if bound is not None and self.objective != "min_cost":
            bound = None     # only a minimized cost's bound is used (sweeps' price brackets)
        if bound is not None and obj is not None:
            # HiGHS reports its bound without the objective constant cvxpy may have split off
            bound += float(obj) - float(getattr(info, "objective_function_value", obj))
        return SolveResult(status, x, None if obj is None else float(obj), dt, gap, message=msg,
                           dual_bound=bound if status in ("optimal", "time_limit") else None)

    def units_for(self, x) -> np.ndarray:
        """The fewest whole units of each hardware that hold plan ``x``'s replicas."""
        return np.ceil(self.P @ np.round(x) / self.K - 1e-9).clip(min=0)

    def idle_gpus(self, x) -> np.ndarray:
        """Bought GPUs of each hardware that no replica of plan ``x`` uses (whole units)."""
        return self.U * self.units_for(x) - self.A_h @ np.round(x)

    def plan_cost(self, x) -> float:
        """USD per hour of plan ``x`` at the current prices: replicas plus idle GPUs of bought units."""
        return float(self.cost.value @ x + self.rate.value @ self.idle_gpus(x))

    def satisfies(self, x, tol: float = 1e-6) -> bool:
        """Does ``x`` (with the fewest units that hold it) meet every constraint at the current values?"""
        u = self.units_for(x)
        cost = self.plan_cost(x)
        kw = self.kw @ x + self.idle_kw @ self.idle_gpus(x)
        ok = (np.all(self.U * u <= self.avail.value * (1 + tol) + tol)
              and kw <= self.power_cap_kw.value * (1 + tol) + tol
              and cost <= self.budget.value * (1 + tol) + tol
              and self.U @ u <= self.max_gpus.value * (1 + tol) + tol)
        floor = self.demand.value if self.objective == "min_cost" else self.floor.value
        ok = ok and np.all(self.A_w @ x >= floor * (1 - tol) - tol)
        return bool(ok)

    def duals(self) -> dict:
        """Dual values after an LP solve (an Allocator built with ``integer=False``)."""
        out = {}
        for k in ("demand", "avail", "power", "budget", "max_gpus"):
            dv = self.cons[k].dual_value
            out[k] = None if dv is None else np.atleast_1d(np.asarray(dv, dtype=float))
        return out
