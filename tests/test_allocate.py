"""Allocation: known optima, agreement with scipy's MILP, feasibility of every plan, diagnoses."""

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optimizer
import problems
from optimizer.allocate import Allocator
from optimizer.candidates import prune_dominated
from optimizer.plan import Plan

from conftest import EXAMPLES


def cand(w, hw, cap, cost, kw=1.0, gpus=1, idx=0):
    return dict(candidate=-1, workload=w, hardware=hw, capacity_per_replica=cap, cost_usd_per_hour_per_replica=cost,
                power_kw_per_replica=kw, gpus_per_replica=gpus, config_index=idx, capacity_unit="requests_per_s")


def wl(name, unit="requests_per_s", osl=100):
    return dict(workload=name, capacity_unit=unit, output_tokens=osl,
                output_tok_per_unit=1.0 if unit == "output_tok_s" else float(osl))


def solve_small(cands, demand, avail=None, power=None, budget=None, hw=("a", "b"), objective="min_cost", value=None):
    names = sorted({c["workload"] for c in cands})
    al = Allocator(cands, [wl(n) for n in names], list(hw), objective)
    al.set_params(demand=demand, cost=[c["cost_usd_per_hour_per_replica"] for c in cands], power_cap_kw=power,
                  budget=budget, avail=avail, value=value)
    return al.solve()


def test_hand_solvable_mix_of_replica_sizes():
    # demand 12: 2 x big = $10, big + small = $7, 4 x small = $8 -> optimum $7
    r = solve_small([cand("A", "a", 10, 5), cand("A", "a", 3, 2)], [12.0])
    assert r.status == "optimal"
    assert r.objective == pytest.approx(7.0)
    assert list(r.x) == [1, 1]


def test_availability_forces_the_expensive_hardware():
    cs = [cand("A", "a", 10, 5, gpus=8), cand("A", "b", 10, 9, gpus=8)]
    r = solve_small(cs, [30.0], avail=[16, None])
    assert list(r.x) == [2, 1] and r.objective == pytest.approx(19.0)


def test_power_cap_binds():
    cs = [cand("A", "a", 10, 5, kw=10.0), cand("A", "b", 10, 7, kw=4.0)]
    r = solve_small(cs, [20.0], power=15.0)   # 2 x a would need 20 kW; a + b = 14 kW, $12
    assert list(r.x) == [1, 1] and r.objective == pytest.approx(12.0)
    assert solve_small(cs, [40.0], power=15.0).status == "infeasible"


def test_max_margin_serves_only_profitable_demand():
    cs = [cand("A", "a", 10, 5), cand("B", "a", 10, 50)]
    names = ["A", "B"]
    al = Allocator(cs, [wl(n) for n in names], ["a"], "max_margin")
    al.set_params(demand=[20.0, 20.0], cost=[5.0, 50.0], value=[1.0, 1.0])  # $1/h per unit served
    r = al.solve()
    assert list(r.x) == [2, 0]
    assert r.objective == pytest.approx(20 - 10)


def test_dominated_candidates_are_pruned_exactly():
    cs = [cand("A", "a", 10, 5, idx=1), cand("A", "a", 9, 6, idx=2), cand("A", "a", 3, 2, idx=3),
          cand("A", "b", 9, 6, idx=4)]
    kept = prune_dominated(copy.deepcopy(cs))
    assert sorted(c["config_index"] for c in kept) == [1, 3, 4]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_instances_match_scipy_milp(data):
    from scipy.optimize import LinearConstraint, milp, Bounds

    n_w = data.draw(st.integers(1, 3))
    n = data.draw(st.integers(2, 8))
    rng_cands = []
    for j in range(n):
        rng_cands.append(cand(f"W{data.draw(st.integers(0, n_w - 1))}", data.draw(st.sampled_from(["a", "b"])),
                              data.draw(st.integers(1, 20)), data.draw(st.integers(1, 30)),
                              kw=data.draw(st.integers(1, 10)), gpus=data.draw(st.sampled_from([1, 2, 4, 8])), idx=j))
    names = sorted({c["workload"] for c in rng_cands})
    demand = [float(data.draw(st.integers(1, 60))) for _ in names]
    avail = [data.draw(st.one_of(st.none(), st.integers(0, 64))) for _ in ("a", "b")]
    power = data.draw(st.one_of(st.none(), st.integers(5, 200)))
    r = solve_small(rng_cands, demand, avail=avail, power=power)
    # the same MILP in scipy
    c = np.array([x["cost_usd_per_hour_per_replica"] for x in rng_cands], float)
    A, lb, ub = [], [], []
    for i, w in enumerate(names):
        A.append([x["capacity_per_replica"] if x["workload"] == w else 0 for x in rng_cands]); lb.append(demand[i]); ub.append(np.inf)
    for h, a in zip(("a", "b"), avail):
        if a is not None:
            A.append([x["gpus_per_replica"] if x["hardware"] == h else 0 for x in rng_cands]); lb.append(-np.inf); ub.append(a)
    if power is not None:
        A.append([x["power_kw_per_replica"] for x in rng_cands]); lb.append(-np.inf); ub.append(power)
    ref = milp(c, constraints=LinearConstraint(np.array(A, float), lb, ub), integrality=np.ones(n),
               bounds=Bounds(0, np.inf), options=dict(time_limit=10))
    if ref.status == 2:  # infeasible
        assert r.status == "infeasible"
    else:
        assert ref.status == 0
        assert r.status == "optimal"
        assert r.objective == pytest.approx(ref.fun, rel=1e-6, abs=1e-6)


def _check_constraints(p, plan):
    used = plan.totals["gpus_by_type"]
    for h in p.hardware:
        if h.available is not None:
            assert used.get(h.id, 0) <= h.available
    if p.constraints.power_cap_mw:
        assert plan.totals["power_mw"] <= p.constraints.power_cap_mw * (1 + 1e-9)
    if p.constraints.budget_usd_per_hour:
        assert plan.totals["total_cost_usd_per_hour"] <= p.constraints.budget_usd_per_hour * (1 + 1e-9)
    for w in plan.workloads:
        if p.objective == "min_cost":
            assert w["capacity"] >= w["demand"] * (1 - 1e-9)
        assert w["served"] <= w["demand"] * (1 + 1e-9)
    for a in plan.allocations:
        c = plan.candidates[a["candidate"]]
        wk = p.workload(a["workload"])
        if wk.sla.ttft_ms:
            assert c["ttft_s"] * 1e3 <= wk.sla.ttft_ms
        if wk.sla.min_output_tok_s_per_user:
            assert c["output_tok_s_per_user"] >= wk.sla.min_output_tok_s_per_user


@pytest.mark.parametrize("name", EXAMPLES)
def test_bundled_examples_solve_and_respect_every_constraint(name):
    p = problems.load(name)
    plan = optimizer.solve(p, backend="numpy")
    assert plan.status == "optimal", plan.message
    assert plan.backend["name"] == "numpy"
    _check_constraints(p, plan)
    assert Plan.from_json(plan.to_json()).to_dict() == plan.to_dict()


def test_enterprise_example_reports_marginal_values():
    plan = optimizer.solve(problems.load("enterprise-mix"), backend="numpy")
    mv = plan.marginal_values
    assert mv["status"] == "optimal"
    assert set(mv["workloads"]) == {"chat", "rag-summarize", "reasoning", "code-assist"}
    assert all(v["marginal_usd_per_mtok"] > 0 for v in mv["workloads"].values())
    # a scarce GPU type (its whole inventory used) has a positive shadow price
    used = plan.totals["gpus_by_type"]
    scarce = [h for h, n in used.items() if n == problems.load("enterprise-mix").hardware[[x.id for x in problems.load("enterprise-mix").hardware].index(h)].available]
    assert scarce and any(mv["hardware"][h]["usd_per_hour_per_gpu"] > 0 for h in scarce)


def test_unreachable_sla_names_the_workload_and_the_best_reachable(tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    d["workloads"][0]["sla"]["min_output_tok_s_per_user"] = 5000
    plan = optimizer.solve(problems.problem_from_dict(d), backend="numpy")
    assert plan.status == "infeasible"
    assert "workload 'chat'" in plan.message and "best tok/s per user" in plan.message
    assert plan.infeasibility[0]["best_output_tok_s_per_user"] < 5000


def test_inventory_shortfall_is_quantified(tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    d["workloads"][0]["demand"]["requests_per_s"] = 2000
    plan = optimizer.solve(problems.problem_from_dict(d), backend="numpy")
    assert plan.status == "infeasible"
    assert any(i["kind"] == "availability" and i["shortfall"] > 0 for i in plan.infeasibility)
    assert "more" in plan.message and "GPUs" in plan.message


def test_power_shortfall_is_quantified(tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    d["hardware"] = [{"id": "h100-sxm"}]
    d["constraints"] = {"power_cap_mw": 0.001}
    plan = optimizer.solve(problems.problem_from_dict(d), backend="numpy")
    assert plan.status == "infeasible"
    power = [i for i in plan.infeasibility if i["kind"] == "power"]
    assert power and power[0]["shortfall"] > 0 and "MW more power" in plan.message


@settings(max_examples=8, deadline=None)
@given(lo=st.sampled_from([10, 20, 30]), extra=st.sampled_from([5, 15, 30]))
def test_a_tighter_sla_never_lowers_cost(lo, extra):
    base = dict(schema_version="tokenfleet/1", name="sla", hardware=[{"id": "h100-sxm"}, {"id": "b200"}],
                workloads=[dict(name="w", model="llama-3.1-8b", input_tokens=1024, output_tokens=256,
                                demand={"requests_per_s": 50}, sla={"min_output_tok_s_per_user": lo})],
                search={"precisions": ["fp8"], "tensor_parallel": [1, 2]})
    tight = copy.deepcopy(base)
    tight["workloads"][0]["sla"]["min_output_tok_s_per_user"] = lo + extra
    a = optimizer.solve(problems.problem_from_dict(base), backend="numpy", marginal_values=False)
    b = optimizer.solve(problems.problem_from_dict(tight), backend="numpy", marginal_values=False)
    assert b.total_cost_usd_per_hour >= a.total_cost_usd_per_hour - 1e-9


def test_results_do_not_depend_on_the_order_of_hardware(tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    a = optimizer.solve(problems.problem_from_dict(d), backend="numpy")
    d["hardware"] = list(reversed(d["hardware"]))
    b = optimizer.solve(problems.problem_from_dict(d), backend="numpy")
    assert a.total_cost_usd_per_hour == pytest.approx(b.total_cost_usd_per_hour)
    assert a.gpus_by_type == b.gpus_by_type


def test_resolve_with_new_parameter_values_matches_a_fresh_build():
    from optimizer.solve import parameter_values, prepare, solve_prepared

    p = problems.load("enterprise-mix")
    prep = prepare(p, "numpy")
    al = Allocator(prep.candidates, prep.workloads, prep.hardware, p.objective)
    d = p.to_dict()
    d["workloads"][0]["demand"] = {"requests_per_s": 120.0}
    p2 = problems.problem_from_dict(d)
    re = solve_prepared(prep, p2, al, base_problem=p, marginal_values=False)
    fresh = optimizer.solve(p2, backend="numpy", marginal_values=False)
    assert re.total_cost_usd_per_hour == pytest.approx(fresh.total_cost_usd_per_hour, rel=1e-6)
    assert parameter_values(p2, prep.candidates, p)["demand"][0] == 120.0


def test_hardware_without_a_published_tdp_plans_on_price_alone(tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    d["hardware"] = [{"id": "tpu-v6e", "price_usd_per_hour": 2.7}]
    d["search"] = {"precisions": ["bf16"], "tensor_parallel": [1, 2, 4]}
    plan = optimizer.solve(problems.problem_from_dict(d), backend="numpy")
    assert plan.status == "optimal"
    assert plan.total_cost_usd_per_hour > 0
    assert plan.totals["power_mw"] is None and plan.totals["tok_per_joule"] is None


def test_a_time_limit_returns_the_best_plan_found_and_says_so():
    p = problems.load("enterprise-mix")
    plan = optimizer.solve(p, backend="numpy", time_limit_s=1e-3, marginal_values=False)
    assert plan.status in ("optimal", "time_limit", "time_limit_no_plan")
    if plan.status == "time_limit":
        assert "time limit" in plan.message and plan.allocations
        _check_constraints(p, plan)


def test_solves_after_a_highs_run_with_another_thread_count():
    """HiGHS refuses threads=1 once its process-wide scheduler runs 2 threads; the solve must
    recover (fresh process: the scheduler is global)."""
    import subprocess
    import sys

    from conftest import ROOT

    code = """
import cvxpy as cp, numpy as np, problems, optimizer
x = cp.Variable(2)
cp.Problem(cp.Minimize(cp.sum(x)), [x >= 1]).solve(solver=cp.HIGHS, threads=2)
plan = optimizer.solve(problems.load("chat-mixed-fleet"), backend="numpy")
print(plan.status)
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "optimal"


def test_milp_reports_a_dual_bound_within_its_gap():
    """Price brackets interpolate this bound: it must bound the optimum from below."""
    from optimizer.solve import parameter_values, prepare

    p = problems.load("enterprise-mix")
    prep = prepare(p, "numpy")
    al = Allocator(prep.candidates, prep.workloads, prep.hardware, p.objective)
    al.set_params(**parameter_values(p, prep.candidates))
    r = al.solve(mip_rel_gap=1e-4)
    assert r.status == "optimal" and r.dual_bound is not None
    assert r.dual_bound <= r.objective + 1e-9
    assert (r.objective - r.dual_bound) / r.objective <= 1e-4
    # the LP relaxation is a weaker bound than the one HiGHS proves
    lp = Allocator(prep.candidates, prep.workloads, prep.hardware, p.objective, integer=False)
    lp.set_params(**parameter_values(p, prep.candidates))
    assert lp.solve().objective <= r.dual_bound + 1e-9
    assert lp.solve().dual_bound is None
