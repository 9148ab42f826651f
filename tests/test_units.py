"""Buyable units: the plan buys whole nodes and racks, and every replica sits inside one unit (or
spans whole units); idle GPUs of a bought unit are paid for and draw idle power."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optimizer
import problems
from optimizer.allocate import Allocator

from conftest import EXAMPLES


def pack(sizes: list[int], unit: int, units: int) -> bool:
    """First-fit decreasing of replica sizes into ``units`` units of ``unit`` GPUs; replicas larger
    than a unit take whole units of their own. True when every replica finds room, none split."""
    free = [unit] * units
    for g in sorted(sizes, reverse=True):
        if g > unit:
            need = -(-g // unit)
            whole = [i for i, f in enumerate(free) if f == unit][:need]
            if len(whole) < need:
                return False
            for i in whole:
                free[i] = 0
            continue
        i = next((i for i, f in enumerate(free) if f >= g), None)
        if i is None:
            return False
        free[i] -= g
    return True


def tiny(hw: list[tuple[str, int]], sizes: list[int]):
    """Hand-built candidates: one workload, replicas of the given sizes on hardware ``hw[0]``."""
    cands = [dict(candidate=j, workload="w", hardware=hw[0][0], gpus_per_replica=g, capacity_per_replica=float(g),
                  cost_usd_per_hour_per_replica=float(g), power_kw_per_replica=1.0 * g, unit_gpus=hw[0][1],
                  idle_kw_per_gpu=0.3) for j, g in enumerate(sizes)]
    return cands, [dict(workload="w", output_tok_per_unit=1.0)], [h for h, _ in hw]


@settings(max_examples=60, deadline=None)
@given(unit=st.sampled_from([8, 72]), counts=st.lists(st.integers(0, 12), min_size=7, max_size=7))
def test_units_for_a_plan_always_hold_its_replicas_without_splitting_one(unit, counts):
    sizes = [1, 2, 4, 8, 16, 32, 64]
    cands, wl, hw = tiny([("a", unit)], sizes)
    al = Allocator(cands, wl, hw, "min_cost", integer=True)
    x = np.array(counts, dtype=float)
    n_units = int(al.units_for(x)[0])
    replicas = [g for g, n in zip(sizes, counts) for _ in range(n)]
    assert pack(replicas, unit, n_units)
    assert n_units >= -(-sum(replicas) // unit)       # never fewer GPUs than the replicas use


def test_nine_tp16_replicas_need_three_racks_not_two():
    cands, wl, hw = tiny([("rack", 72)], [16])
    al = Allocator(cands, wl, hw, "min_cost")
    assert al.units_for(np.array([9.0]))[0] == 3      # 144 GPUs would be two racks by count
    al.set_params(demand=[9 * 16.0], cost=[16.0], avail=[144], gpu_rate=[1.0])
    assert al.solve().status == "infeasible"
    al.set_params(demand=[9 * 16.0], cost=[16.0], avail=[216], gpu_rate=[1.0])
    r = al.solve()
    assert r.status == "optimal" and r.x[0] == 9
    # 9 replicas at $16/h, and 216 - 144 = 72 idle GPUs at $1/h
    assert r.objective == pytest.approx(9 * 16 + 72)


def test_tp8_replica_is_never_split_across_two_8_gpu_nodes():
    # a TP8 and a TP4 replica: 12 GPUs would do by count (one and a half nodes), but the TP8
    # replica fills a node and the TP4 one needs a second
    cands, wl, hw = tiny([("hgx", 8)], [8, 4])
    al = Allocator(cands, wl, hw, "min_cost")
    al.set_params(demand=[12.0], cost=[8.0, 4.0], avail=[12], gpu_rate=[1.0])
    assert al.solve().status == "infeasible"
    al.set_params(demand=[12.0], cost=[8.0, 4.0], avail=[16], gpu_rate=[1.0])
    r = al.solve()
    assert r.status == "optimal" and al.units_for(r.x)[0] == 2
    assert pack([8] * int(r.x[0]) + [4] * int(r.x[1]), 8, 2)


def nvl72_problem(tiny_problem_dict, **hw):
    d = dict(tiny_problem_dict)
    d["hardware"] = [dict(id="gb200-nvl72", **hw)]
    d["search"] = {"precisions": ["fp8"], "tensor_parallel": [1, 2, 4, 8]}
    return problems.problem_from_dict(d)


def test_nvl72_workload_is_bought_in_racks(tiny_problem_dict):
    plan = optimizer.solve(nvl72_problem(tiny_problem_dict), backend="numpy", marginal_values=False)
    t = plan.totals
    u = t["units_by_type"]["gb200-nvl72"]
    assert u["unit"] == "rack" and u["gpus_per_unit"] == 72 and u["units"] >= 1
    assert t["gpus_by_type"]["gb200-nvl72"] == 72 * u["units"]
    assert u["gpus_idle"] == 72 * u["units"] - sum(a["gpus"] for a in plan.allocations) > 0
    # idle GPUs of the rack are paid: the plan costs more than its replicas
    assert t["total_cost_usd_per_hour"] > sum(a["cost_usd_per_hour"] for a in plan.allocations)


def test_unit_size_can_be_overridden_per_problem(tiny_problem_dict):
    plan = optimizer.solve(nvl72_problem(tiny_problem_dict, unit_gpus=1), backend="numpy", marginal_values=False)
    u = plan.totals["units_by_type"]["gb200-nvl72"]
    assert u["gpus_per_unit"] == 1 and u["gpus_idle"] == 0


@pytest.mark.parametrize("name", EXAMPLES)
def test_no_bundled_plan_buys_a_fraction_of_a_node_or_rack(name):
    plan = optimizer.solve(problems.load(name), backend="numpy", marginal_values=False)
    assert plan.is_feasible
    for h, u in plan.totals["units_by_type"].items():
        assert u["gpus_per_unit"] == problems.get_hardware(h).unit_gpus
        assert plan.totals["gpus_by_type"][h] == u["units"] * u["gpus_per_unit"]
        # servers of each pool on this hardware (a disaggregated deployment has two pools)
        sizes = [p["gpus_per_replica"] for a in plan.allocations
                 for p in (a.get("pools") or [dict(hardware=a["hardware"], replicas=1,
                                                   gpus_per_replica=a["gpus"] // a["replicas"])])
                 if p["hardware"] == h for _ in range(a["replicas"] * p["replicas"])]
        assert pack(sizes, u["gpus_per_unit"], u["units"]), (name, h)
