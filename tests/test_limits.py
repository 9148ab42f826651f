"""A configuration space too large to evaluate is refused from the problem alone, before anything
is allocated, with its size, the estimated time and the option that raises the limit."""

import copy
import importlib
import tracemalloc

import numpy as np
import pytest
import yaml

import kernels
import optimizer
import problems
from kernels import build_space
from optimizer.cli import main
from problems.errors import InputError

from conftest import EXAMPLES, ROOT


def limits():
    return importlib.import_module("optimizer.limits")

BASE = yaml.safe_load((ROOT / "problems" / "examples" / "chat-mixed-fleet.yaml").read_text())
# chat-mixed-fleet with one pipeline stage has 192 configuration groups (1 x 4 x 3 x 4 x 1 x 2 x 2);
# every batch size up to 88,541,667 makes 1.7e10 configurations
HUGE_CONCURRENCY = 88_541_667


def huge(**search):
    d = copy.deepcopy(BASE)
    d["search"].update(dict(batch_grid="all", max_concurrency=HUGE_CONCURRENCY, pipeline_parallel=[1]), **search)
    return d


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_count_from_the_problem_equals_the_built_space(name):
    p = problems.load(name)
    assert limits().configuration_count(p) == build_space(p).size
    w = p.workloads[-1].name
    assert limits().configuration_count(p, workloads=[w]) == build_space(p, workloads=[w]).size
    assert limits().configuration_count(p, batches=[1, 7, 9]) == build_space(p, batches=[1, 7, 9]).size


@pytest.mark.parametrize("search", [dict(expert_parallel=False), dict(speculative=["mtp"]), dict(speculative=["off"]),
                                    dict(batch_grid="all", max_concurrency=50), dict(max_concurrency=1),
                                    dict(precisions=["fp8"], tensor_parallel=[1, 2, 4, 8, 16, 32, 64])])
def test_the_count_follows_every_search_option(tiny_problem_dict, search):
    d = copy.deepcopy(tiny_problem_dict)
    d["search"].update(search)
    p = problems.problem_from_dict(d)
    assert limits().configuration_count(p) == build_space(p).size


def test_validate_refuses_a_1_7e10_space_with_its_size_time_and_option_before_allocating(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(huge()))
    tracemalloc.start()
    try:
        code = main(["validate", str(path)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 2, err
    assert "17,000,000,064 configurations" in err and "88,541,667 batch sizes" in err
    assert "on numpy" in err and "min" in err            # about 44 minutes on NumPy
    assert "search.max_configurations = 1,000,000,000" in err and "Traceback" not in err
    assert peak < 64 * 2**20   # the batch-size axis alone would be 0.7 GB


def test_max_concurrency_1e10_is_refused_not_a_75_gib_allocation(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(huge()).replace(f"max_concurrency: {HUGE_CONCURRENCY}", "max_concurrency: 1e10"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "10,000,000,000 batch sizes" in err and "Unable to allocate" not in err


def test_solve_frontier_and_compare_refuse_before_building_the_space(monkeypatch):
    p = problems.problem_from_dict(huge(), "huge")

    def never(*a, **k):
        raise AssertionError("the space was built")

    monkeypatch.setattr(importlib.import_module("optimizer.solve"), "build_space", never)
    monkeypatch.setattr(importlib.import_module("optimizer.analysis"), "build_space", never)
    with pytest.raises(InputError, match="search.max_configurations") as ei:
        optimizer.solve(p, backend="numpy")
    assert "on numpy" in str(ei.value) and "on cupy" not in str(ei.value)   # the backend that would run
    with pytest.raises(InputError, match="17,000,000,064 configurations"):
        optimizer.frontier(p, backend="numpy")
    with pytest.raises(InputError, match="search.max_configurations"):
        optimizer.compare(p, ["h100-sxm", "b200"], backend="numpy")


def test_search_max_configurations_moves_the_limit(tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    n = limits().configuration_count(problems.problem_from_dict(d))
    d["search"]["max_configurations"] = n - 1
    with pytest.raises(InputError, match=f"{n:,} configurations"):
        optimizer.solve(problems.problem_from_dict(d), backend="numpy")
    d["search"]["max_configurations"] = n
    assert optimizer.solve(problems.problem_from_dict(d), backend="numpy").backend["configurations"] == n


def test_a_sweep_scenario_over_the_limit_is_refused_too(tiny_problem_dict):
    from optimizer.solve import prepare

    d = copy.deepcopy(tiny_problem_dict)
    d["search"]["max_configurations"] = 10
    with pytest.raises(InputError, match="search.max_configurations = 10"):
        prepare(problems.problem_from_dict(d), "numpy")


def test_memory_for_the_results_is_bounded_too(tiny_problem_dict, monkeypatch):
    p = problems.problem_from_dict(tiny_problem_dict)
    groups = build_space(p).n_groups
    monkeypatch.setattr(limits(), "MAX_REDUCTION_BYTES", groups * limits().BYTES_PER_GROUP - 1)
    with pytest.raises(InputError, match=f"{groups:,} configuration groups"):
        optimizer.solve(p, backend="numpy")


def test_batches_given_to_solve_are_counted(tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    p = problems.problem_from_dict(d)
    groups = build_space(p).n_groups
    d["search"]["max_configurations"] = groups * 3
    p = problems.problem_from_dict(d)
    with pytest.raises(InputError, match="4 batch sizes"):
        optimizer.solve(p, backend="numpy", batches=np.array([1.0, 2.0, 4.0, 8.0]))
    assert optimizer.solve(p, backend="numpy", batches=[1, 2, 4]).backend["configurations"] == groups * 3


def test_the_estimate_uses_measured_rates():
    assert limits().RATES_PER_S["numpy"] == 6.5e6 and limits().RATES_PER_S["cupy"] == 1e11
    assert "about 43.6 min on numpy" in limits().estimate_text(17_000_000_064, "numpy")
    assert kernels.BACKENDS[1:] == tuple(limits().RATES_PER_S)
