"""Sweeps: same results serially and on Dask, kill-and-resume equals an uninterrupted run,
invalid specifications are refused with the path named."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import yaml

from optimizer.cli import main
from optimizer.sweeps import SweepError, SweepSpec, is_parameter_path, parse_vary, read_table, run_sweep

from conftest import ROOT

VARY = ["workloads.0.demand.requests_per_s=5,10,20,40,80", "hardware.0.price_usd_per_hour=1.0,2.0,3.0"]


def table(path):
    rows = read_table(path)
    for r in rows:
        r.pop("elapsed_s", None)       # wall time is the one column no two runs share
    return rows


def test_vary_parsing():
    a = parse_vary("constraints.power_cap_mw=1:3:3")
    assert a.values == [1.0, 2.0, 3.0]
    assert parse_vary("workloads.0.model=llama-3.1-8b,qwen3-8b").values == ["llama-3.1-8b", "qwen3-8b"]
    with pytest.raises(SweepError):
        parse_vary("no-equals-sign")
    with pytest.raises(SweepError):
        parse_vary("bad path!=1")
    with pytest.raises(SweepError, match="1 <= num <= 1,000,000, got 99,999,999,999"):
        parse_vary("constraints.power_cap_mw=1:2:99999999999")
    with pytest.raises(SweepError, match="finite start and stop"):
        parse_vary("constraints.power_cap_mw=1e400:2:3")


def test_grid_and_zip(base_file):
    g = SweepSpec.from_cli(base_file, VARY)
    assert g.n_scenarios == 15 and len(g.scenarios()) == 15
    z = SweepSpec.from_cli(base_file, ["workloads.0.demand.requests_per_s=5,10", "hardware.0.available=8,16"],
                           zip_axes=True)
    assert [s["values"] for s in z.scenarios()] == [
        {"workloads.0.demand.requests_per_s": 5, "hardware.0.available": 8},
        {"workloads.0.demand.requests_per_s": 10, "hardware.0.available": 16}]


def test_parameter_paths_share_one_evaluation(base_file):
    sp = SweepSpec.from_cli(base_file, VARY)
    assert all(is_parameter_path(a.path, sp.base) for a in sp.axes)
    assert not is_parameter_path("workloads.0.sla.ttft_ms", sp.base)


@pytest.mark.parametrize("vary,fragment", [
    (["workloads.5.demand.requests_per_s=1,2"], "workloads.5 does not exist"),
    (["workloads.0.sla.ttft_ms=-1,100"], "workloads[0].sla.ttft_ms"),
    (["hardware.0.id=h100-sxn"], "did you mean"),
    (["workloads.0.nonsense=1"], "unknown key"),
])
def test_invalid_specs_exit_2_naming_the_path(base_file, tmp_path, capsys, vary, fragment):
    args = ["sweep", str(base_file), "-q", "--out", str(tmp_path / "o.csv")]
    for v in vary:
        args += ["--vary", v]
    assert main(args) == 2
    assert fragment in capsys.readouterr().err


def test_spec_file(base_file, tmp_path):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump({"mode": "grid", "axes": [
        {"path": "workloads.0.demand.requests_per_s", "values": [5, 50]},
        {"path": "constraints.power_cap_mw", "range": {"start": 0.5, "stop": 1.0, "num": 2}}]}))
    out = tmp_path / "o.csv"
    assert main(["sweep", str(base_file), "--spec", str(spec), "--out", str(out), "-q"]) == 0
    assert len(read_table(out)) == 4


def test_existing_output_needs_resume(base_file, tmp_path):
    sp = SweepSpec.from_cli(base_file, VARY[:1])
    out = tmp_path / "o.csv"
    run_sweep(sp, out)
    with pytest.raises(SweepError, match="--resume"):
        run_sweep(sp, out)
    s = run_sweep(sp, out, resume=True)
    assert s["skipped"] == 5 and s["done"] == 5


def test_serial_and_two_dask_workers_give_the_same_table(base_file, tmp_path):
    sp = SweepSpec.from_cli(base_file, VARY)
    a, b = tmp_path / "serial.csv", tmp_path / "dask.csv"
    run_sweep(sp, a)
    run_sweep(sp, b, workers=2)
    assert table(a) == table(b)
    assert len(table(a)) == 15


def test_plans_jsonl_and_plot(base_file, tmp_path):
    out, plans, png = tmp_path / "o.parquet", tmp_path / "plans.jsonl", tmp_path / "s.png"
    assert main(["sweep", str(base_file), "-q", "--out", str(out), "--plans", str(plans), "--plot", str(png)]
                + sum([["--vary", v] for v in VARY], [])) == 0
    lines = plans.read_text().splitlines()
    assert len(lines) == 15 and '"plan"' in lines[0]
    assert png.stat().st_size > 10_000
    assert {r["status"] for r in read_table(out)} == {"optimal"}


def test_sigkill_then_resume_equals_an_uninterrupted_run(base_file, tmp_path):
    vary = ["workloads.0.demand.requests_per_s=2:80:8", "hardware.1.price_usd_per_hour=1.5,2.5,3.5"]
    ref = tmp_path / "ref.csv"
    run_sweep(SweepSpec.from_cli(base_file, vary), ref)
    out = tmp_path / "killed.csv"
    journal = tmp_path / "killed.csv.journal"
    cmd = [sys.executable, "-m", "optimizer.cli", "sweep", str(base_file), "-q", "--out", str(out), "--resume"]
    for v in vary:
        cmd += ["--vary", v]
    rng = random.Random(7)
    for attempt in range(3):
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        target = rng.randint(1, 12) + 8 * attempt
        while time.time() < deadline and proc.poll() is None:
            if journal.exists() and journal.read_text().count("\n") >= target:
                break
            time.sleep(0.01)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # finish
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert table(out) == table(ref)
    ids = [r["scenario"] for r in table(out)]
    assert ids == sorted(set(ids)) and len(ids) == 24


def test_price_brackets_give_the_plans_of_solving_every_scenario(base_file, tmp_path):
    vary = ["workloads.0.demand.requests_per_s=10,40,90", "hardware.0.price_usd_per_hour=0.8:4.0:9"]
    sp = SweepSpec.from_cli(base_file, vary)
    a, b = tmp_path / "brackets.csv", tmp_path / "every.csv"
    sa = run_sweep(sp, a)
    assert main(["sweep", str(base_file), "-q", "--no-brackets", "--out", str(b)] + sum([["--vary", v] for v in vary], [])) == 0
    ra, rb = table(a), table(b)
    assert {r["method"] for r in rb} == {"milp"}
    bracketed = [r for r in ra if r["method"] == "bracket"]
    assert sa["bracketed"] == len(bracketed) > 0
    for x, y in zip(ra, rb):
        assert x["scenario"] == y["scenario"] and x["status"] == y["status"] == "optimal"
        assert x["total_cost_usd_per_hour"] == pytest.approx(y["total_cost_usd_per_hour"], rel=2e-4)
        assert x["mip_gap"] <= 1e-4
    for r in bracketed:
        corners = [int(s) for s in str(r["bracket"]).split()]
        assert len(corners) == 2 and all(ra[c]["method"] == "milp" for c in corners)
