"""``optimizer.sweep`` from Python: values used as given, paths by index or by id, sizes refused
before any work, and files that are not problem files never echoed."""

import time

import pytest
import yaml

import optimizer
from optimizer.cli import main
from problems.errors import InputError

from conftest import ROOT


def parquet_rows(path):
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def test_optimizer_sweep_is_the_function_even_after_its_package_is_imported(base_file, tmp_path):
    import optimizer.sweeps  # noqa: F401 - the package must not shadow the function

    assert callable(optimizer.sweep)
    s = optimizer.sweep(base_file, vary={"workloads.0.demand.requests_per_s": [10, 20]}, out=tmp_path / "o.csv")
    assert s["done"] == 2 and s["failed"] == 0


def test_python_values_are_used_as_given_not_reparsed_as_text(base_file, tmp_path):
    out = tmp_path / "o.parquet"
    s = optimizer.sweep(base_file, vary={"workloads.0.name": ["a, b", "123"]}, out=out)
    assert s["done"] == 2                              # "a, b" is one value, not two
    names = [r["workloads.0.name"] for r in parquet_rows(out)]
    assert names == ["a, b", "123"]                    # "123" stays a string
    assert all(r["status"] == "optimal" for r in parquet_rows(out))


def test_a_loaded_problem_or_a_mapping_can_be_the_base(tiny_problem_dict, tmp_path):
    import problems

    prob = problems.load("chat-mixed-fleet")
    s = optimizer.sweep(prob, vary={"constraints.power_cap_mw": [5.0]}, out=tmp_path / "a.csv")
    assert s["done"] == 1
    s = optimizer.sweep(tiny_problem_dict, vary={"workloads.0.demand.requests_per_s": [5]}, out=tmp_path / "b.csv")
    assert s["done"] == 1


@pytest.mark.parametrize("vary, fragment", [
    ({"workloads.0.demand.requests_per_s": "10,20"}, "expected a list of values"),
    ({"workloads.0.demand.requests_per_s": 10}, "expected a list of values"),
    ({"no such path!": [1]}, "is not a dotted path"),
    ({}, "expected a mapping"),
    ({"workloads.0.demand.requests_per_s": []}, "no values"),
])
def test_bad_python_arguments_are_input_errors_naming_the_argument(base_file, tmp_path, vary, fragment):
    with pytest.raises(InputError, match=fragment):
        optimizer.sweep(base_file, vary=vary, out=tmp_path / "o.csv")
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("kw, fragment", [
    (dict(out=5), "out: expected a file path"),
    (dict(out="o.csv", resume="yes"), "resume: expected True or False"),
    (dict(out="o.csv", workers=-1), "workers: expected an integer"),
    (dict(out="o.csv", mip_rel_gap="0.01"), "mip_rel_gap: expected a number"),
    (dict(out="o.csv", max_scenarios="10"), "max_scenarios: expected an integer"),
    (dict(out="o.csv", mode="zipp"), "mode must be grid or zip"),
])
def test_bad_keyword_arguments_are_named(base_file, tmp_path, monkeypatch, kw, fragment):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=fragment):
        optimizer.sweep(base_file, vary={"workloads.0.demand.requests_per_s": [5]}, **kw)
    assert not (tmp_path / "o.csv").exists()


def test_list_entries_may_be_named_by_id(base_file, tmp_path):
    by_index, by_id = tmp_path / "i.parquet", tmp_path / "n.parquet"
    optimizer.sweep(base_file, vary={"hardware.1.price_usd_per_hour": [2.0, 6.0],
                                     "workloads.0.demand.requests_per_s": [5, 40]}, out=by_index)
    optimizer.sweep(base_file, vary={"hardware.b200.price_usd_per_hour": [2.0, 6.0],
                                     "workloads.chat.demand.requests_per_s": [5, 40]}, out=by_id)
    a, b = parquet_rows(by_index), parquet_rows(by_id)
    for x, y in zip(a, b):
        assert x["total_cost_usd_per_hour"] == y["total_cost_usd_per_hour"]
        assert x["method"] == y["method"]                # the same price brackets apply
    assert {r["hardware.1.price_usd_per_hour"] for r in a} == {r["hardware.b200.price_usd_per_hour"] for r in b}
    assert optimizer.sweeps.is_parameter_path("hardware.b200.price_usd_per_hour", {})


def test_two_axes_on_one_field_are_refused(base_file, tmp_path, capsys):
    assert main(["sweep", str(base_file), "-q", "--out", str(tmp_path / "o.csv"),
                 "--vary", "hardware.1.price_usd_per_hour=1,2", "--vary", "hardware.b200.price_usd_per_hour=3,4"]) == 2
    assert "set the same field" in capsys.readouterr().err


def test_an_unknown_id_in_a_path_names_the_entries(base_file, tmp_path, capsys):
    assert main(["sweep", str(base_file), "-q", "--out", str(tmp_path / "o.csv"),
                 "--vary", "hardware.h200-sxm.price_usd_per_hour=1,2"]) == 2
    err = capsys.readouterr().err
    assert "hardware.h200-sxm does not exist" in err and "h100-sxm, b200" in err


def test_a_huge_grid_is_refused_before_any_work_with_the_size_the_limit_and_the_option(base_file, tmp_path,
                                                                                       capsys, monkeypatch):
    def no_validation(*a, **k):
        raise AssertionError("validated scenarios of a refused sweep")

    monkeypatch.setattr("optimizer.sweeps.spec.problem_from_dict", no_validation)
    t0 = time.perf_counter()
    assert main(["sweep", str(base_file), "-q", "--out", str(tmp_path / "o.csv"),
                 "--vary", "workloads.0.demand.requests_per_s=1:100:3000",
                 "--vary", "hardware.0.price_usd_per_hour=1:4:3000",
                 "--vary", "hardware.1.price_usd_per_hour=1:4:3000"]) == 2
    err = capsys.readouterr().err
    assert "27,000,000,000 scenarios" in err and "1,000,000" in err and "--max-scenarios" in err
    assert time.perf_counter() - t0 < 30      # generous: the point is no MemoryError after minutes
    with pytest.raises(InputError, match="max_scenarios="):
        optimizer.sweep(base_file, vary={"workloads.0.demand.requests_per_s": range(3000),
                                         "hardware.0.price_usd_per_hour": range(3000),
                                         "hardware.1.price_usd_per_hour": range(3000)}, out=tmp_path / "o.csv")


def test_an_endless_python_axis_is_refused_without_materializing_it(base_file, tmp_path):
    import itertools

    with pytest.raises(InputError, match="more than 1,000,000 values"):
        optimizer.sweep(base_file, vary={"workloads.0.demand.requests_per_s": itertools.count(1)},
                        out=tmp_path / "o.csv")
    with pytest.raises(InputError, match="more than 1,000,000 values"):
        optimizer.sweep(base_file, vary={"workloads.0.demand.requests_per_s": range(10 ** 15)},
                        out=tmp_path / "o.csv")


def test_max_scenarios_moves_the_limit(base_file, tmp_path, capsys):
    args = ["sweep", str(base_file), "-q", "--vary", "workloads.0.demand.requests_per_s=5,10,20"]
    assert main(args + ["--out", str(tmp_path / "a.csv"), "--max-scenarios", "2"]) == 2
    assert "3 scenarios" in capsys.readouterr().err
    assert main(args + ["--out", str(tmp_path / "b.csv"), "--max-scenarios", "3"]) == 0


SECRET = "root:x:0:0:TOPSECRET-hunter2:/root:/bin/bash\n"


@pytest.mark.parametrize("name", ["passwd", "notes.txt", "private.yaml", "secret.yaml"])
def test_a_spec_problem_that_is_not_a_problem_file_is_not_echoed(tmp_path, capsys, name):
    # secret.yaml: a YAML mapping, but not a problem (its keys and values are not listed either)
    (tmp_path / name).write_text(SECRET if name != "secret.yaml" else "api_key: TOPSECRET-hunter2\n")
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump({"problem": name, "axes": [
        {"path": "workloads.0.demand.requests_per_s", "values": [5]}]}))
    assert main(["sweep", "-q", "--spec", str(spec), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "not a problem file" in err and name in err
    assert "TOPSECRET" not in err and "hunter2" not in err and "root:x" not in err
    with pytest.raises(InputError) as e:
        optimizer.sweep(tmp_path / name, vary={"workloads.0.demand.requests_per_s": [5]}, out=tmp_path / "p.csv")
    assert "not a problem file" in str(e.value) and "TOPSECRET" not in str(e.value)


def test_a_yaml_syntax_error_names_the_line_without_quoting_it(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nTOPSECRET: [unclosed\n")
    assert main(["sweep", str(bad), "-q", "--out", str(tmp_path / "o.csv"),
                 "--vary", "workloads.0.demand.requests_per_s=5"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "line" in err and "TOPSECRET" not in err


def test_bundled_example_names_still_work_as_the_base(tmp_path):
    s = optimizer.sweep("chat-mixed-fleet", vary={"constraints.power_cap_mw": [5.0]}, out=tmp_path / "o.csv")
    assert s["done"] == 1 and (ROOT / "problems" / "examples" / "chat-mixed-fleet.yaml").exists()


def test_a_column_mixing_numbers_and_text_still_writes_parquet(tmp_path):
    from optimizer.sweeps import write_table

    out = tmp_path / "o.parquet"
    write_table([{"scenario": 0, "x": 5, "y": 1}, {"scenario": 1, "x": "all", "y": 2.5},
                 {"scenario": 2, "x": None, "y": None}], out)
    rows = parquet_rows(out)
    assert [r["x"] for r in rows] == ["5", "all", None] and [r["y"] for r in rows] == [1.0, 2.5, None]
