"""``solve``: problem -> configuration space -> evaluation -> candidates -> allocation -> Plan."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from kernels import (Status, build_space, evaluate, evaluate_indices, gpu_hour_price_usd, resolve_backend,
                     usd_per_hour, usd_per_mtok)
from problems import Problem, args
from problems.errors import InputError
from problems.plausible import plausibility_warnings

from .allocate import Allocator, SolveResult
from .candidates import candidate_rows, idle_kw_per_gpu, prune_dominated
from .disagg import disaggregated_rows, gpus_by_hardware, mode_comparison
from .plan import Plan


@dataclass
class Prepared:
    """Everything before the allocation, reusable across parameter-only scenario changes."""

    problem: Problem
    space: object
    reduction: object
    candidates: list
    n_raw: int
    workloads: list
    hardware: list
    # per workload and serving mode: best output tok/s per GPU at the SLA (optimizer.disagg.mode_comparison)
    modes: dict | None = None


def workload_rows(problem: Problem) -> list[dict]:
    return [dict(workload=w.name, models=list(w.candidate_models()), demand=w.demand_value,
                 capacity_unit=w.capacity_unit, output_tok_per_unit=w.output_tok_per_unit,
                 output_tokens=w.output_tokens, input_tokens=w.input_tokens,
                 value_usd_per_mtok=w.value_usd_per_mtok) for w in problem.workloads]


def prepare(problem: Problem, backend: str = "auto", progress=None, batches=None) -> Prepared:
    """Evaluate ``problem``'s configuration space and keep its candidates.

    The size of the space is checked first, from the problem alone (:mod:`optimizer.limits`).
    """
    from .limits import check_configuration_space, configuration_count  # noqa: PLC0415

    name = resolve_backend(backend, size=configuration_count(problem, batches))
    check_configuration_space(problem, name, batches)
    space = build_space(problem, batches=batches)
    red = evaluate(space, backend=name, progress=progress)
    raw = candidate_rows(problem, space, red.candidate_indices()) if "aggregated" in problem.search.serving else []
    raw += disaggregated_rows(problem)
    modes = mode_comparison(problem, raw)
    cands = prune_dominated(raw)
    return Prepared(problem, space, red, cands, len(raw), workload_rows(problem), [h.key for h in problem.hardware],
                    modes)


def parameter_values(problem: Problem, cands: list[dict], base_problem: Problem | None = None) -> dict:
    """Allocation parameter values for ``problem`` on a candidate table built from ``base_problem``.

    Cost per replica follows price changes: the candidate's cost per GPU-hour is shifted by the
    change in the hardware's base price (rent or amortized capex) between the two problems.
    """
    base = base_problem or problem

    def base_rate(p: Problem, hw_id: str) -> float:
        h = next(h for h in p.hardware if h.key == hw_id)
        return gpu_hour_price_usd(h.spec(), h.pricing_for(p.economics), p.economics.years, missing=0.0)

    delta = {h.key: base_rate(problem, h.key) - base_rate(base, h.key) for h in problem.hardware}
    # an idle GPU of a bought unit costs its hardware rate, plus its idle power where it is paid apart
    e = problem.economics
    gpu_rate = [base_rate(problem, h.key) + (e.electricity_usd_per_kwh * idle_kw_per_gpu(problem, h.key)
                                             if h.pricing_for(e) == "own" or not e.electricity_included_in_rent
                                             else 0.0) for h in base.hardware]
    cost = np.array([max(c["cost_usd_per_hour_per_replica"]
                         + sum(delta.get(h, 0.0) * g for h, g in gpus_by_hardware(c).items()), 0.0)
                     for c in cands])
    demand = np.array([w.demand_value for w in problem.workloads])
    value = np.array([usd_per_hour(w.value_usd_per_mtok or 0.0, w.output_tok_per_unit) for w in problem.workloads])
    c = problem.constraints
    # inventory in the allocation's hardware order (the base problem's)
    available = {h.key: h.available for h in problem.hardware}
    return dict(demand=demand, cost=cost,
                power_cap_kw=c.power_cap_mw * 1000.0 if c.power_cap_mw else None,
                budget=c.budget_usd_per_hour, avail=[available[h.key] for h in base.hardware],
                max_gpus=c.max_gpus, value=value, full_service=c.require_full_service, gpu_rate=gpu_rate)


def solve(problem: Problem, backend: str = "auto", *, time_limit_s: float = 30.0,
          mip_rel_gap: float = 1e-4, marginal_values: bool = True, progress=None, batches=None) -> Plan:
    """Find the plan for ``problem``.

    Parameters
    ----------
    backend : "auto" | "numpy" | "numba" | "cupy" | "numba-cuda"
        Where the configuration space is evaluated; the plan records which one ran.
    time_limit_s, mip_rel_gap : HiGHS limits. A plan stopped by the time limit is returned with
        status ``time_limit`` and its MILP gap.

    Raises
    ------
    InputError
        An argument of the wrong type or out of range (named, with what is allowed), or a
        configuration space over ``search.max_configurations``.
    BackendError
        The requested backend cannot run here (the message names what to install).
    """
    time_limit_s, mip_rel_gap, batches = _checked_arguments(problem, backend, time_limit_s, mip_rel_gap,
                                                            marginal_values, progress, batches)
    t0 = time.perf_counter()
    prep = prepare(problem, backend, progress, batches)
    alloc = Allocator(prep.candidates, prep.workloads, prep.hardware, problem.objective) if prep.candidates else None
    plan = solve_prepared(prep, problem, alloc, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
                          marginal_values=marginal_values, t_start=t0)
    plan.reduction = prep.reduction   # not serialized: lets a caller draw frontiers without re-evaluating
    return plan


def _checked_arguments(problem, backend, time_limit_s, mip_rel_gap, marginal_values, progress, batches):
    """solve()'s arguments checked for type and range; InputError names the argument."""
    if not isinstance(problem, Problem):
        raise InputError("solve: problem must be a problems.Problem (from problems.load(path_or_name) or "
                         f"problems.problem_from_dict(mapping)), got {type(problem).__name__}")
    if not isinstance(backend, str):
        raise InputError(f"solve: backend must be 'auto', 'numpy', 'numba', 'cupy' or 'numba-cuda', got "
                         f"{type(backend).__name__}")
    time_limit_s = args.real("solve", "time_limit_s", time_limit_s, 0.0, lo_open=True)
    mip_rel_gap = args.real("solve", "mip_rel_gap", mip_rel_gap, 0.0, 1.0, hi_open=True)
    if not isinstance(marginal_values, bool):
        raise InputError(f"solve: marginal_values must be True or False, got {type(marginal_values).__name__}")
    if progress is not None and not callable(progress):
        raise InputError(f"solve: progress must be a callable taking a count, or None, got "
                         f"{type(progress).__name__}")
    if batches is not None:
        try:
            b = np.asarray(batches, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("solve: batches must be a 1-D sequence of batch sizes (numbers >= 1)") from None
        if b.ndim != 1 or b.size == 0 or not np.all(np.isfinite(b)) or b.min() < 1:
            raise InputError(f"solve: batches must be a non-empty 1-D sequence of finite batch sizes >= 1, "
                             f"got shape {b.shape}")
        batches = b
    return time_limit_s, mip_rel_gap, batches


def solve_prepared(prep: Prepared, problem: Problem, alloc: Allocator | None, *, time_limit_s=30.0,
                   mip_rel_gap=1e-4, marginal_values=True, t_start=None, base_problem=None,
                   result: SolveResult | None = None) -> Plan:
    """The plan for ``problem`` on a prepared candidate table; ``result`` is an allocation already
    found (a sweep's certified bracket) instead of a MILP solved here."""
    t_start = t_start or time.perf_counter()
    red = prep.reduction
    from .calibrate import calibration_info  # noqa: PLC0415

    backend_info = dict(name=red.backend, evaluate_s=red.elapsed_s, compile_s=red.compile_s,
                        configurations=red.n_evaluated, fit=red.n_fit, meet_sla=red.n_meet,
                        calibration=calibration_info(problem))
    plan = Plan(problem=problem.name, objective=problem.objective, status="infeasible",
                candidates=prep.candidates, workloads=[], backend=backend_info,
                warnings=plausibility_warnings(problem))
    # workloads with no candidate at all: their SLA is out of reach
    served_by = {c["workload"] for c in prep.candidates}
    missing = [w for w in problem.workloads if w.name not in served_by]
    if missing and problem.objective == "min_cost":
        plan.infeasibility = [_unreachable(problem, prep.space, w) for w in missing]
        plan.message = "; ".join(i["message"] for i in plan.infeasibility)
        plan.solver = dict(name="HIGHS", status="not run", candidates=len(prep.candidates),
                           candidates_before_pruning=prep.n_raw, total_s=time.perf_counter() - t_start)
        return plan
    params = parameter_values(problem, prep.candidates, base_problem)
    res = None
    if result is not None:
        res = result
    elif alloc is not None:
        alloc.set_params(**params)
        res = alloc.solve(time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    plan.solver = dict(name="HIGHS", status=res.status if res else "no candidates",
                       method=res.method if res else None, message=res.message if res else "",
                       mip_gap=res.mip_gap if res else None, solve_s=res.solve_s if res else 0.0,
                       candidates=len(prep.candidates), candidates_before_pruning=prep.n_raw,
                       time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    if res is None or res.x is None or res.status not in ("optimal", "time_limit"):
        plan.status = "infeasible" if (res is None or res.status == "infeasible") else res.status
        if plan.status == "infeasible":
            plan.infeasibility = _elastic_diagnosis(prep, problem, params)
            plan.message = "; ".join(i["message"] for i in plan.infeasibility) or "infeasible"
        else:
            plan.message = res.message or f"solver status {res.status}"
        plan.solver["total_s"] = time.perf_counter() - t_start
        return plan
    plan.status = res.status
    if res.status == "time_limit":
        plan.message = (f"time limit of {time_limit_s:g} s reached: best plan found so far, MILP gap "
                        f"{(res.mip_gap or float('nan')) * 100:.2f}%")
    _fill_plan(plan, prep, problem, params, res.x)
    if marginal_values and prep.candidates:
        plan.marginal_values = _marginal_values(prep, problem, params)
    plan.solver["total_s"] = time.perf_counter() - t_start
    return plan


def unit_word(gpus_per_unit: int) -> str:
    """What one buyable unit of this size is called."""
    return "GPU" if gpus_per_unit == 1 else "rack" if gpus_per_unit >= 32 else "node"


def _fill_plan(plan: Plan, prep: Prepared, problem: Problem, params: dict, x: np.ndarray) -> None:
    cands = prep.candidates
    cost = params["cost"]
    allocs, gpus_by_type = [], {}
    cap_w = {w.name: 0.0 for w in problem.workloads}
    cost_total = power_kw = 0.0
    for j, n in enumerate(x):
        n = int(round(n))
        if n <= 0:
            continue
        c = cands[j]
        g = n * c["gpus_per_replica"]
        for h, gh in gpus_by_hardware(c).items():     # both pools of a disaggregated candidate
            gpus_by_type[h] = gpus_by_type.get(h, 0) + n * gh
        cap_w[c["workload"]] += n * c["capacity_per_replica"]
        cost_total += n * cost[j]
        power_kw += n * c["power_kw_per_replica"]
        allocs.append(dict(workload=c["workload"], candidate=c["candidate"], replicas=n, model=c["model"],
                           hardware=c["hardware"], hardware_id=c.get("hardware_id", c["hardware"]),
                           pricing=c.get("pricing"), configuration=c["configuration"], precision=c["precision"],
                           precision_label=c.get("precision_label", c["precision"]),
                           unit_gpus=c.get("unit_gpus", 1),
                           mode=c["mode"], tp=c["tp"], pp=c.get("pp", 1), ep=c["ep"],
                           speculative=c["speculative"], concurrency=c["concurrency"], gpus=g,
                           capacity=n * c["capacity_per_replica"], capacity_unit=c["capacity_unit"],
                           cost_usd_per_hour=n * cost[j], power_kw=n * c["power_kw_per_replica"],
                           ttft_s=c["ttft_s"], output_tok_s_per_user=c["output_tok_s_per_user"],
                           output_tok_s_per_gpu=c["output_tok_s_per_gpu"],
                           cost_usd_per_mtok_output=c["cost_usd_per_mtok_output"],
                           **_serving_fields(c)))
    # whole units (nodes, racks, cards): their idle GPUs cost their rate and draw idle power
    from .allocate import unit_matrices  # noqa: PLC0415

    P, K, U, idle_kw = unit_matrices(cands, prep.hardware)
    xr = np.round(np.asarray(x, dtype=float)).clip(min=0)
    units = np.ceil(P @ xr / K - 1e-9).clip(min=0)
    used = np.array([gpus_by_type.get(h, 0) for h in prep.hardware], dtype=float)
    idle = U * units - used
    rate = np.asarray(params.get("gpu_rate") or np.zeros(len(prep.hardware)), dtype=float)
    cost_total += float(rate @ idle)
    power_kw += float(idle_kw @ idle)
    bought = {h: int(U[i] * units[i]) for i, h in enumerate(prep.hardware) if units[i] > 0}
    unit_rows = {h: dict(units=int(units[i]), gpus_per_unit=int(U[i]), unit=unit_word(int(U[i])),
                         gpus_bought=int(U[i] * units[i]), gpus_in_use=int(used[i]), gpus_idle=int(idle[i]))
                 for i, h in enumerate(prep.hardware) if units[i] > 0}
    wrows, out_tok, tot_tok = [], 0.0, 0.0
    for w, wr in zip(problem.workloads, prep.workloads):
        served = min(cap_w[w.name], w.demand_value)
        o = served * w.output_tok_per_unit
        out_tok += o
        tot_tok += o * (1.0 + w.input_tokens / w.output_tokens)
        share = served / w.demand_value if w.demand_value > 0 else 1.0
        wrows.append(dict(workload=w.name, demand=w.demand_value, capacity_unit=w.capacity_unit,
                          served=served, served_share=share, unserved=w.demand_value - served,
                          capacity=cap_w[w.name], output_tok_s=o,
                          models=wr["models"], sla_ttft_ms=w.sla.ttft_ms,
                          sla_min_output_tok_s_per_user=w.sla.min_output_tok_s_per_user,
                          input_tokens=w.input_tokens, output_tokens=w.output_tokens,
                          cached_input_fraction=w.cached_input_fraction,
                          warning=_shortfall_warning(problem, w, served, share), **_workload_modes(prep, w.name, allocs)))
    power_known = all(np.isfinite(c["power_kw_per_replica"]) for c in cands)
    plan.allocations = allocs
    plan.workloads = wrows
    plan.warnings += [r["warning"] for r in wrows if r["warning"]]
    plan.totals = dict(
        total_cost_usd_per_hour=cost_total, gpus_by_type=dict(sorted(bought.items())),
        total_gpus=int(sum(bought.values())), gpus_in_use=int(used.sum()),
        units_by_type=dict(sorted(unit_rows.items())),
        power_mw=power_kw / 1000.0 if power_known else None,
        output_tok_s=out_tok, total_tok_s=tot_tok,
        cost_usd_per_mtok_output=usd_per_mtok(cost_total, out_tok) if out_tok > 0 else None,
        cost_usd_per_mtok_blended=usd_per_mtok(cost_total, tot_tok) if tot_tok > 0 else None,
        tok_per_joule=tot_tok / (power_kw * 1000.0) if power_known and power_kw > 0 else None,
        revenue_usd_per_hour=sum(usd_per_hour(w.value_usd_per_mtok or 0.0, r["output_tok_s"])
                                 for w, r in zip(problem.workloads, wrows)),
    )
    plan.totals["margin_usd_per_hour"] = plan.totals["revenue_usd_per_hour"] - cost_total
    plan.totals.update(_bands(allocs, problem, cost_total, out_tok))


def _workload_modes(prep: Prepared, name: str, allocs: list[dict]) -> dict:
    """The serving modes a workload got and each mode's best output tok/s per GPU at its SLA."""
    best = (prep.modes or {}).get(name, {})
    chosen = sorted({a["serving"] for a in allocs if a["workload"] == name})
    return dict(serving="+".join(chosen) or None,
                best_output_tok_s_per_gpu_by_mode={m: (b["output_tok_s_per_gpu"] if b else None) for m, b in best.items()},
                serving_reason=mode_reason(name, chosen, best) if best else "")


def _serving_fields(c: dict) -> dict:
    """The serving mode of a candidate and, when disaggregated, both pools' layouts."""
    out = dict(serving=c.get("serving", "aggregated"))
    if out["serving"] == "disaggregated":
        out.update({k: c[k] for k in ("prefill_hardware", "prefill_tp", "prefill_ep", "prefill_replicas",
                                      "decode_hardware", "decode_tp", "decode_ep", "decode_replicas",
                                      "kv_transfer_s")})
        out["pools"] = [dict(p) for p in c["pools"]]
    return out


def mode_reason(workload: str, chosen: list[str], best: dict) -> str:
    """Why a workload got its serving mode, from each mode's best output tok/s per GPU at the SLA."""
    figs = "; ".join(f"{m} {'none meets the SLA' if b is None else format(b['output_tok_s_per_gpu'], ',.0f') + ' tok/s per GPU'}"
                     for m, b in best.items())
    if len(best) < 2:
        return f"{'+'.join(chosen) or 'none'} (only mode searched; {figs})"
    return f"{'+'.join(chosen) or 'none'} (best at the SLA: {figs}; the plan weighs cost per GPU too)"


def _bands(allocs, problem: Problem, cost_total: float, out_tok: float) -> dict:
    """P10/P90 of GPUs needed and cost per Mtok from the calibration's error bands.

    A replica that delivers measured = predicted / exp(r) needs exp(r) times the GPUs for the same
    demand, r = log(predicted / measured) at its regime's P10 and P90 (kernels/calibration.json).
    Errors of one plan are taken to move together (one model, one calibration), so the quantiles
    add up over allocations.
    """
    from kernels.predict import bands_for  # noqa: PLC0415
    from kernels import default_calibration, load_calibration  # noqa: PLC0415
    from kernels import usd_per_mtok  # noqa: PLC0415

    calib = load_calibration(problem.calibration) if problem.calibration else default_calibration()
    family = {h.key: h.spec().family for h in problem.hardware}   # allocations name entries by key
    sla = {w.name: w.sla.min_output_tok_s_per_user for w in problem.workloads}
    g10 = g90 = c10 = c90 = 0.0
    for a in allocs:
        kind = "interactivity" if sla.get(a["workload"]) else "max_throughput"
        fam = family[a["hardware"]]
        q = bands_for(calib, fam, calib.engine_for(problem.engine, fam), kind).get("throughput")
        lo, hi = (np.exp(q[0]), np.exp(q[1])) if q else (np.nan, np.nan)
        a["gpus_p10"], a["gpus_p90"] = a["gpus"] * lo, a["gpus"] * hi
        g10, g90 = g10 + a["gpus_p10"], g90 + a["gpus_p90"]
        c10, c90 = c10 + a["cost_usd_per_hour"] * lo, c90 + a["cost_usd_per_hour"] * hi
    return dict(total_gpus_p10=g10, total_gpus_p90=g90,
                cost_usd_per_mtok_output_p10=usd_per_mtok(c10, out_tok) if out_tok > 0 else None,
                cost_usd_per_mtok_output_p90=usd_per_mtok(c90, out_tok) if out_tok > 0 else None)


# a workload counts as served when the shortfall is below this share of its demand (solver tolerance)
SERVED_TOL = 1e-6


def _shortfall_warning(problem: Problem, w, served: float, share: float) -> str:
    """One line saying what a plan leaves out of workload ``w``'s demand ('' when fully served)."""
    if share >= 1.0 - SERVED_TOL:
        return ""
    unit = "output tok/s" if w.capacity_unit == "output_tok_s" else "requests/s"
    why = {"max_tokens_per_watt": "the power cap is spent where it yields the most tokens",
           "max_margin": "serving more would cost more than it earns"}.get(problem.objective, "")
    return (f"workload {w.name!r} served {share:.1%} of its demand: {served:,.0f} of "
            f"{w.demand_value:,.0f} {unit}, {w.demand_value - served:,.0f} {unit} unserved"
            + (f" ({problem.objective}: {why}; constraints.require_full_service: true or "
               f"--require-full-service asks for all of it)" if why else ""))


def _marginal_values(prep: Prepared, problem: Problem, params: dict) -> dict:
    """Shadow prices from the LP relaxation of the same allocation, in the objective's own unit.

    ``objective_unit`` is ``usd_per_hour`` (min_cost: cost saved; max_margin: margin gained) or
    ``output_tok_s`` (max_tokens_per_watt: output tokens/s gained); the keys carry it too.
    """
    lp = Allocator(prep.candidates, prep.workloads, prep.hardware, problem.objective, integer=False)
    lp.set_params(**params)
    r = lp.solve(time_limit_s=30.0)
    if r.status != "optimal":
        return dict(status=f"LP relaxation {r.status}")
    d = lp.duals()
    tokens = problem.objective == "max_tokens_per_watt"
    out = dict(status="optimal", objective_unit="output_tok_s" if tokens else "usd_per_hour",
               lp_objective=r.objective, lp_solve_s=r.solve_s, workloads={}, hardware={})
    for i, w in enumerate(problem.workloads):
        lam = abs(float(d["demand"][i])) if d["demand"] is not None else float("nan")
        if tokens:   # output tok/s gained per extra unit of demand
            out["workloads"][w.name] = dict(output_tok_s_per_unit=lam, capacity_unit=w.capacity_unit)
            continue
        usd_h_per_tok_s = lam / w.output_tok_per_unit
        out["workloads"][w.name] = dict(
            usd_per_hour_per_unit=lam, capacity_unit=w.capacity_unit,
            usd_per_hour_per_mtok_s=usd_h_per_tok_s * 1e6,
            marginal_usd_per_mtok=usd_per_mtok(usd_h_per_tok_s, 1.0))
    gpu_key = "output_tok_s_per_gpu" if tokens else "usd_per_hour_per_gpu"
    for i, h in enumerate(prep.hardware):
        v = float(d["avail"][i]) if d["avail"] is not None else float("nan")
        out["hardware"][h] = {gpu_key: abs(v)}
    power = abs(float(d["power"][0])) * 1000.0 if d["power"] is not None else None
    out["power_output_tok_s_per_mw" if tokens else "power_usd_per_hour_per_mw"] = power
    budget = abs(float(d["budget"][0])) if d["budget"] is not None else None
    out["budget_output_tok_s_per_usd_per_hour" if tokens else "budget_per_usd"] = budget
    return out


def _unreachable(problem: Problem, space, w) -> dict:
    """Why no configuration serves workload ``w`` at its SLA, with the best reachable figures."""
    wm = [i for i, (name, _) in enumerate(space.wm_pairs) if name == w.name]
    inner = space.size // len(space.wm_pairs)
    best_user = best_ttft = best_ttft_at_user = None
    for i in wm:
        res = evaluate_indices(space, np.arange(i * inner, (i + 1) * inner))
        ok = res["status"] >= Status.MISSES_SLA     # fits
        if not ok.any():
            continue
        u = res["output_tok_s_per_user"][ok]
        t = res["ttft_s"][ok]
        best_user = max(best_user or 0.0, float(u.max()))
        best_ttft = min(best_ttft or np.inf, float(t.min()))
        m = w.sla.min_output_tok_s_per_user or 0.0
        if (u >= m).any():
            best_ttft_at_user = min(best_ttft_at_user or np.inf, float(t[u >= m].min()))
    sla = []
    if w.sla.ttft_ms:
        sla.append(f"TTFT <= {w.sla.ttft_ms:g} ms")
    if w.sla.min_output_tok_s_per_user:
        sla.append(f">= {w.sla.min_output_tok_s_per_user:g} tok/s per user")
    if best_user is None:
        msg = (f"workload {w.name!r}: {', '.join(w.candidate_models())} fits on none of "
               f"{', '.join(space.hardware)} with the searched precisions and tensor-parallel degrees")
    else:
        parts = [f"best tok/s per user {best_user:.1f}", f"best TTFT {best_ttft * 1e3:.0f} ms"]
        if best_ttft_at_user is not None and w.sla.min_output_tok_s_per_user:
            parts.append(f"best TTFT at >= {w.sla.min_output_tok_s_per_user:g} tok/s per user "
                         f"{best_ttft_at_user * 1e3:.0f} ms")
        msg = f"workload {w.name!r}: no configuration meets {' and '.join(sla)} ({'; '.join(parts)})"
    return dict(kind="sla", workload=w.name, message=msg, best_output_tok_s_per_user=best_user,
                best_ttft_s=best_ttft, best_ttft_s_at_min_tok_s_per_user=best_ttft_at_user)


def _elastic_diagnosis(prep: Prepared, problem: Problem, params: dict) -> list[dict]:
    """Which limits bind and by how much: minimize the relative relaxation of every limit."""
    import cvxpy as cp  # noqa: PLC0415

    from .allocate import MIP_OPTIONS, allocation_matrices, highs_solve, quiet_stdout, unit_matrices

    A_w, A_h, gpus, kw = allocation_matrices(prep.candidates, prep.workloads, prep.hardware)
    P, K, U, idle_kw = unit_matrices(prep.candidates, prep.hardware)
    rate = np.asarray(params.get("gpu_rate") or np.zeros(len(prep.hardware)), dtype=float)
    cost = params["cost"]
    x = cp.Variable(len(prep.candidates), integer=True)
    u = cp.Variable(len(prep.hardware), integer=True)
    idle = cp.multiply(U, u) - A_h @ x
    s_h = cp.Variable(len(prep.hardware), nonneg=True)
    s_p, s_b, s_g = cp.Variable(nonneg=True), cp.Variable(nonneg=True), cp.Variable(nonneg=True)
    cons = [x >= 0, u >= 0, P @ x <= cp.multiply(K, u), A_w @ x >= params["demand"]]
    obj = 0
    limited = [i for i, a in enumerate(params["avail"]) if a is not None]
    for i in limited:
        cons.append(U[i] * u[i] <= params["avail"][i] + s_h[i])
        obj += s_h[i] / max(params["avail"][i], 1.0)
    if params["power_cap_kw"] is not None:
        cons.append(kw @ x + idle_kw @ idle <= params["power_cap_kw"] + s_p)
        obj += s_p / params["power_cap_kw"]
    if params["budget"] is not None:
        cons.append(cost @ x + rate @ idle <= params["budget"] + s_b)
        obj += s_b / params["budget"]
    if params["max_gpus"] is not None:
        cons.append(U @ u <= params["max_gpus"] + s_g)
        obj += s_g / params["max_gpus"]
    if isinstance(obj, int):
        return [dict(kind="unknown", message="infeasible for a reason the elastic check cannot locate")]
    prob = cp.Problem(cp.Minimize(obj + 1e-9 * (cost @ x)), cons)
    with quiet_stdout():
        highs_solve(prob, time_limit=30.0, mip_rel_gap=1e-4, **MIP_OPTIONS)
    if x.value is None:
        return [dict(kind="unknown", message=f"elastic relaxation status {prob.status}")]
    out = []
    for i in limited:
        v = float(s_h.value[i])
        if v > 1e-6:
            n = int(np.ceil(v - 1e-6))
            out.append(dict(kind="availability", hardware=prep.hardware[i], shortfall=n,
                            message=f"needs {n} more {prep.hardware[i]} GPUs (available {params['avail'][i]})"))
    if params["power_cap_kw"] is not None and s_p.value > 1e-6:
        mw = float(s_p.value) / 1000.0
        out.append(dict(kind="power", shortfall=mw, message=f"needs {mw:.3f} MW more power "
                        f"(cap {params['power_cap_kw'] / 1000:g} MW)"))
    if params["budget"] is not None and s_b.value > 1e-6:
        b = float(s_b.value)
        out.append(dict(kind="budget", shortfall=b, message=f"needs ${b:,.2f}/h more budget "
                        f"(budget ${params['budget']:,.2f}/h)"))
    if params["max_gpus"] is not None and s_g.value > 1e-6:
        g = int(np.ceil(float(s_g.value) - 1e-6))
        out.append(dict(kind="max_gpus", shortfall=g, message=f"needs {g} more GPUs than max_gpus"))
    return out or [dict(kind="unknown", message="infeasible, but no single limit explains it")]
