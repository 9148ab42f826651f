"""Nothing lost, nothing mixed: one sweep per output at a time, and a journal that is resumed only
with lines it can vouch for (this sweep's identity, a scenario it has, once each)."""

import builtins
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from optimizer.cli import main

from conftest import ROOT

VARY = ["workloads.0.demand.requests_per_s=5,10,20"]
OTHER = ["workloads.0.demand.requests_per_s=6,12,24"]


def sweep(base, out, vary, *extra):
    args = ["sweep", str(base), "-q", "--out", str(out), *extra]
    for v in vary:
        args += ["--vary", v]
    return main(args)


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def journal_lines(out):
    return (out.parent / (out.name + ".journal")).read_text().splitlines()


def write_journal(out, lines):
    (out.parent / (out.name + ".journal")).write_text("\n".join(lines) + "\n")


def test_a_second_sweep_on_the_same_out_is_refused_naming_the_holder(base_file, tmp_path, capsys):
    vary = ["workloads.0.demand.requests_per_s=2:80:8", "hardware.1.price_usd_per_hour=1.5,2.5,3.5"]
    out = tmp_path / "o.csv"
    cmd = [sys.executable, "-m", "optimizer.cli", "sweep", str(base_file), "-q", "--out", str(out), "--no-brackets"]
    for v in vary:
        cmd += ["--vary", v]
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    journal = tmp_path / "o.csv.journal"
    deadline = time.time() + 60
    while time.time() < deadline and first.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 3:
            break
        time.sleep(0.005)
    assert first.poll() is None, "the first sweep ended before the second could start"
    os.kill(first.pid, signal.SIGSTOP)   # frozen mid-run, holding the output
    try:
        # the same sweep resumed, and a different one, while the first still runs
        assert sweep(base_file, out, vary, "--no-brackets", "--resume") == 2
        err = capsys.readouterr().err
        assert f"pid {first.pid}" in err and "in use by another sweep" in err and "--out" in err
        assert sweep(base_file, out, OTHER, "--resume") == 2
        assert f"pid {first.pid}" in capsys.readouterr().err
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert first.wait(120) == 0, first.stderr.read()
    ids = [int(r["scenario"]) for r in rows(out)]
    assert ids == list(range(24))
    lines = journal_lines(out)
    assert len(lines) == 25 and len({json.loads(ln)["sweep"] for ln in lines}) == 1
    assert not (tmp_path / "o.csv.lock").exists()


def test_a_lock_left_by_a_dead_sweep_is_taken_over(base_file, tmp_path):
    out = tmp_path / "o.csv"
    (tmp_path / "o.csv.lock").write_text(json.dumps(dict(pid=2 ** 22 + 1, host="gone", started="yesterday")))
    assert sweep(base_file, out, VARY) == 0
    assert len(rows(out)) == 3 and not (tmp_path / "o.csv.lock").exists()


def test_another_sweeps_journal_with_a_damaged_first_line_is_refused(base_file, tmp_path, capsys):
    out = tmp_path / "o.csv"
    assert sweep(base_file, out, OTHER) == 0
    lines = journal_lines(out)
    write_journal(out, ["#damaged"] + lines[1:])
    out.unlink()
    assert sweep(base_file, out, VARY, "--resume") == 2
    err = capsys.readouterr().err
    assert "o.csv.journal, line 1" in err and "not a journal record" in err
    assert not out.exists()
    assert journal_lines(out)[1:] == lines[1:]      # refused, not rewritten


def test_lines_of_another_sweep_are_refused_naming_the_line(base_file, tmp_path, capsys):
    mine, other = tmp_path / "mine.csv", tmp_path / "other.csv"
    assert sweep(base_file, mine, VARY) == 0
    assert sweep(base_file, other, OTHER) == 0
    write_journal(mine, journal_lines(mine) + journal_lines(other)[1:])
    before = mine.read_bytes()
    assert sweep(base_file, mine, VARY, "--resume") == 2
    err = capsys.readouterr().err
    assert "mine.csv.journal, line 5" in err and "different sweep" in err
    assert mine.read_bytes() == before


def test_a_line_with_an_unknown_scenario_id_is_refused(base_file, tmp_path, capsys):
    out = tmp_path / "o.csv"
    assert sweep(base_file, out, VARY) == 0
    lines = journal_lines(out)
    rec = json.loads(lines[-1])
    rec["scenario"] = rec["row"]["scenario"] = 99
    write_journal(out, lines + [json.dumps(rec)])
    assert sweep(base_file, out, VARY, "--resume") == 2
    err = capsys.readouterr().err
    assert "line 5" in err and "unknown scenario id 99" in err
    assert len(rows(out)) == 3


def test_a_duplicate_line_is_refused_not_merged(base_file, tmp_path, capsys):
    out = tmp_path / "o.csv"
    assert sweep(base_file, out, VARY) == 0
    lines = journal_lines(out)
    rec = json.loads(lines[1])
    rec["row"]["total_cost_usd_per_hour"] = 0.01
    write_journal(out, lines + [json.dumps(rec)])
    assert sweep(base_file, out, VARY, "--resume") == 2
    err = capsys.readouterr().err
    assert "line 5" in err and "scenario 0 again (first on line 2)" in err
    assert float(rows(out)[0]["total_cost_usd_per_hour"]) != 0.01


def test_a_row_whose_values_are_not_the_scenarios_is_refused(base_file, tmp_path, capsys):
    out = tmp_path / "o.csv"
    assert sweep(base_file, out, VARY) == 0
    lines = journal_lines(out)
    rec = json.loads(lines[2])
    rec["row"]["workloads.0.demand.requests_per_s"] = 7
    write_journal(out, [lines[0], lines[1], json.dumps(rec), lines[3]])
    assert sweep(base_file, out, VARY, "--resume") == 2
    assert "line 3" in capsys.readouterr().err


def test_a_kill_while_repairing_a_torn_journal_loses_nothing(base_file, tmp_path, monkeypatch, capsys):
    out = tmp_path / "o.csv"
    assert sweep(base_file, out, VARY) == 0
    journal = tmp_path / "o.csv.journal"
    torn = journal.read_bytes() + b'{"sweep": "cut mid-li'
    journal.write_bytes(torn)
    real_open = builtins.open

    class Killed(BaseException):
        pass

    def open_then_die(file, mode="r", *a, **k):
        f = real_open(file, mode, *a, **k)
        if "journal" in str(file) and "w" in mode:
            f.close()
            raise Killed(f"killed while writing {file}")
        return f

    monkeypatch.setattr(builtins, "open", open_then_die)
    with pytest.raises(Killed):
        sweep(base_file, out, VARY, "--resume")
    monkeypatch.undo()
    assert journal.read_bytes() == torn                                 # nothing lost
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []
    capsys.readouterr()
    assert sweep(base_file, out, VARY, "--resume") == 0
    assert "3 scenarios solved (3 resumed" in capsys.readouterr().out
    assert journal.read_bytes() == torn[:torn.rindex(b"\n") + 1]         # repaired by a rename


def test_a_lock_file_that_is_a_symlink_is_never_followed(base_file, tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "o.csv.lock").symlink_to(victim)
    assert sweep(base_file, tmp_path / "o.csv", VARY) == 2
    assert "lock file" in capsys.readouterr().err
    assert victim.read_text() == "precious"


def test_resuming_with_other_options_is_refused(base_file, tmp_path, capsys):
    out = tmp_path / "o.csv"
    assert sweep(base_file, out, VARY) == 0
    assert sweep(base_file, out, VARY, "--resume", "--mip-gap", "0.01") == 2
    err = capsys.readouterr().err
    assert "line 1" in err and "different sweep" in err and "options" in err


def test_a_line_with_a_repeated_key_is_refused(base_file, tmp_path, capsys):
    # JSON readers disagree on which of two equal keys wins: such a line is not trusted at all
    out = tmp_path / "o.csv"
    assert sweep(base_file, out, VARY) == 0
    lines = journal_lines(out)
    write_journal(out, lines[:3] + [lines[3][:-1] + ', "scenario": 0}'])
    assert sweep(base_file, out, VARY, "--resume") == 2
    assert "line 4: not a journal record" in capsys.readouterr().err
