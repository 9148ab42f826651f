"""Owned and rented GPUs in one fleet, sunk GPUs at zero capex, and demand as concurrent users."""

import copy

import pytest

import optimizer
import problems
from problems.loader import ProblemError


def mixed(tiny_problem_dict, capex=0.0) -> dict:
    d = copy.deepcopy(tiny_problem_dict)
    d["hardware"] = [
        dict(id="h100-sxm", name="h100-owned", pricing="own", capex_usd=capex, available=8),
        dict(id="h100-sxm", name="h100-rented", pricing="rent", price_usd_per_hour=2.0),
    ]
    d["workloads"][0]["demand"] = {"requests_per_s": 2000}
    d["economics"] = dict(pricing="rent", electricity_usd_per_kwh=0.10, pue=1.3)
    return d


IDLE_KW = 700 * 0.3 * 1.25 * 1.3 / 1000        # H100 TDP x idle fraction x host overhead x PUE
ELEC, RENT = 0.10, 2.0


def expected_cost(plan, capex_rate: float) -> float:
    """Worked by hand: owned GPUs cost their electricity plus capex amortization per bought GPU,
    rented ones their rent (electricity included); idle GPUs of bought units count too."""
    units = plan.totals["units_by_type"]
    total = 0.0
    for a in plan.allocations:
        if a["pricing"] == "own":
            assert a["cost_usd_per_hour"] == pytest.approx(a["power_kw"] * ELEC + a["gpus"] * capex_rate, rel=1e-9)
        else:
            assert a["cost_usd_per_hour"] == pytest.approx(a["gpus"] * RENT, rel=1e-9)
        total += a["cost_usd_per_hour"]
    total += units["h100-rented"]["gpus_idle"] * RENT
    total += units["h100-owned"]["gpus_idle"] * (IDLE_KW * ELEC + capex_rate)
    return total


def test_owned_sunk_and_rented_gpus_of_one_type_cost_only_power_and_rent(tiny_problem_dict):
    plan = optimizer.solve(problems.problem_from_dict(mixed(tiny_problem_dict)), backend="numpy",
                           marginal_values=False)
    assert plan.is_feasible
    assert {a["hardware"] for a in plan.allocations} == {"h100-owned", "h100-rented"}
    assert plan.totals["units_by_type"]["h100-owned"]["gpus_bought"] == 8     # the free GPUs are all used
    assert plan.total_cost_usd_per_hour == pytest.approx(expected_cost(plan, 0.0), rel=1e-9)


def test_owned_gpus_with_capex_also_cost_their_amortization(tiny_problem_dict):
    capex = 50_000.0
    paid = optimizer.solve(problems.problem_from_dict(mixed(tiny_problem_dict, capex=capex)), backend="numpy",
                           marginal_values=False)
    sunk = optimizer.solve(problems.problem_from_dict(mixed(tiny_problem_dict)), backend="numpy",
                           marginal_values=False)
    assert paid.total_cost_usd_per_hour == pytest.approx(expected_cost(paid, capex / (5 * 8760.0)), rel=1e-9)
    assert paid.total_cost_usd_per_hour > sunk.total_cost_usd_per_hour


def test_one_type_twice_needs_distinct_names(tiny_problem_dict):
    d = mixed(tiny_problem_dict)
    del d["hardware"][0]["name"], d["hardware"][1]["name"]
    with pytest.raises(ProblemError, match="distinct names"):
        problems.problem_from_dict(d)


def test_demand_as_concurrent_users_follows_littles_law(tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    d["workloads"][0]["demand"] = {"concurrent_users": 3000}
    p = problems.problem_from_dict(d)
    w = p.workloads[0]
    # a request lasts TTFT 1 s + 256 tokens at 30 tok/s; 3000 users each keep one in flight
    assert w.request_duration_s == pytest.approx(1.0 + 256 / 30)
    assert w.requests_per_s == pytest.approx(3000 / (1.0 + 256 / 30))
    plan = optimizer.solve(p, backend="numpy", marginal_values=False)
    assert plan.is_feasible and plan.workloads[0]["demand"] == pytest.approx(w.requests_per_s)


def test_concurrent_users_without_a_pace_is_refused(tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    d["workloads"][0]["demand"] = {"concurrent_users": 3000}
    d["workloads"][0]["sla"] = {"ttft_ms": 1000}
    with pytest.raises(ProblemError, match="min_output_tok_s_per_user"):
        problems.problem_from_dict(d)
