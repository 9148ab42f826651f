"""Outputs: paths checked before any solving (exit 2 naming the option), files written whole or
not at all (a failed write keeps the previous file), CSV cells never spreadsheet formulas."""

import builtins
import errno
import io
import json
import os

import pytest
import yaml

import optimizer
from optimizer.cli import main

from conftest import ROOT

EXAMPLE = ROOT / "problems" / "examples" / "chat-mixed-fleet.yaml"
VARY = ["--vary", "workloads.0.demand.requests_per_s=5,10"]


@pytest.fixture
def no_solving(monkeypatch):
    """Any solving or evaluation fails the test: output mistakes must be found before."""
    def solved(*a, **k):
        raise AssertionError("solved before checking the outputs")

    import kernels
    for mod, name in ((optimizer, "solve"), (optimizer, "frontier"), (optimizer, "compare"),
                      (kernels, "evaluate")):
        monkeypatch.setattr(mod, name, solved, raising=False)


def test_plan_json_onto_the_problem_file_is_refused_and_the_file_kept(base_file, capsys, no_solving):
    before = base_file.read_bytes()
    assert main(["plan", str(base_file), "-q", "--json", str(base_file)]) == 2
    err = capsys.readouterr().err
    assert "--json" in err and "input" in err
    assert base_file.read_bytes() == before


def test_sweep_out_onto_the_problem_file_is_refused_and_the_file_kept(base_file, capsys):
    before = base_file.read_bytes()
    assert main(["sweep", str(base_file), "-q", "--resume", "--out", str(base_file)] + VARY) == 2
    assert "--out" in capsys.readouterr().err
    assert base_file.read_bytes() == before


def test_sweep_out_onto_its_spec_file_is_refused(base_file, tmp_path, capsys):
    spec = tmp_path / "spec.csv"     # an odd name, but it is the spec: never overwritten
    spec.write_text(yaml.safe_dump({"problem": "base.yaml", "axes": [
        {"path": "workloads.0.demand.requests_per_s", "values": [5, 10]}]}))
    before = spec.read_bytes()
    assert main(["sweep", str(base_file), "-q", "--spec", str(spec), "--resume", "--out", str(spec)]) == 2
    assert "--out" in capsys.readouterr().err and spec.read_bytes() == before


def test_sweep_out_extension_must_match_the_format(base_file, tmp_path, capsys):
    assert main(["sweep", str(base_file), "-q", "--out", str(tmp_path / "x.json")] + VARY) == 2
    err = capsys.readouterr().err
    assert "--out" in err and ".csv or .parquet" in err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("args, option", [
    (["plan", "{ex}", "--json", "{tmp}/missing/p.json"], "--json"),
    (["plan", "{ex}", "--json", "{tmp}"], "--json"),
    (["plan", "{ex}", "--json", "{tmp}/p.yaml"], "--json"),
    (["plan", "{ex}", "--csv", "{tmp}/afile"], "--csv"),
    (["plan", "{ex}", "--csv", "{tmp}/missing/deeper"], "--csv"),
    (["plan", "{ex}", "--plot", "{tmp}/missing/p.png"], "--plot"),
    (["plan", "{ex}", "--plot", "{tmp}/p.csv"], "--plot"),
    (["frontier", "{ex}", "--json", "{tmp}/missing/f.json"], "--json"),
    (["compare", "{ex}", "--hardware", "h100-sxm,b200", "--plot", "{tmp}"], "--plot"),
    (["sweep", "{ex}", "--out", "{tmp}/missing/s.csv"] + VARY, "--out"),
    (["sweep", "{ex}", "--out", "{tmp}/adir.csv"] + VARY, "--out"),
    (["sweep", "{ex}", "--out", "{tmp}/s.csv", "--plans", "{tmp}/missing/p.jsonl"] + VARY, "--plans"),
    (["sweep", "{ex}", "--out", "{tmp}/s.csv", "--plot", "{tmp}/s.csv"] + VARY, "--plot"),
])
def test_output_path_mistakes_exit_2_naming_the_option_before_solving(tmp_path, capsys, no_solving, args, option):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.csv").mkdir()
    argv = [a.format(ex=EXAMPLE, tmp=tmp_path) for a in args] + ["-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {option} ") and "Traceback" not in err
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_folder_is_refused_before_solving(tmp_path, capsys, no_solving):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    assert main(["plan", str(EXAMPLE), "-q", "--json", str(ro / "p.json")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_an_unwritable_folder_is_refused_even_for_root(tmp_path, capsys, monkeypatch, no_solving):
    # root writes anywhere, so the folder is made to look read-only to the permission check
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p) == str(tmp_path) else real(p, mode, **k))
    assert main(["plan", str(EXAMPLE), "-q", "--json", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --json ") and "is not writable" in err


class _DiskFull:
    """A file whose writes stop half way with ENOSPC, as on a full disk."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        self._f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.fixture
def disk_full(monkeypatch):
    """Writes to files whose name contains one of the given fragments fail half way."""
    real = io.open

    def arm(*fragments):
        def fake_open(file, mode="r", *a, **k):
            f = real(file, mode, *a, **k)
            if any(c in mode for c in "wax") and any(s in str(file) for s in fragments):
                return _DiskFull(f)
            return f

        monkeypatch.setattr(builtins, "open", fake_open)
        monkeypatch.setattr(io, "open", fake_open)
    return arm


def test_a_failed_write_leaves_the_previous_plan_files_intact(tmp_path, capsys, disk_full):
    js, csvs, png = tmp_path / "p.json", tmp_path / "csv", tmp_path / "f.png"
    assert main(["plan", str(EXAMPLE), "-q", "--json", str(js), "--csv", str(csvs), "--plot", str(png)]) == 0
    files = [js, png, *csvs.iterdir()]
    for fragments, option, target in ((("p.json", ".p.tmp"), "--json", js),
                                      (("allocations",), "--csv", csvs / "allocations.csv"),
                                      (("f.png", ".f.tmp"), "--plot", png)):
        good = target.read_bytes()
        disk_full(*fragments)
        assert main(["plan", str(EXAMPLE), "-q", "--json", str(js), "--csv", str(csvs), "--plot", str(png)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {option} ") and "No space left" in err and "unchanged" in err
        assert target.read_bytes() == good and all(p.stat().st_size > 0 for p in files)
        assert json.loads(js.read_text())["allocations"]
        assert sorted(p.name for p in tmp_path.rglob("*") if ".tmp-" in p.name) == []


def test_a_failed_write_leaves_the_previous_sweep_table_intact(base_file, tmp_path, capsys, disk_full):
    out = tmp_path / "s.csv"
    assert main(["sweep", str(base_file), "-q", "--out", str(out)] + VARY) == 0
    good = out.read_bytes()
    disk_full(".csv")   # the table (the journal's name does not end in it)
    assert main(["sweep", str(base_file), "-q", "--out", str(out), "--resume"] + VARY) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out ") and "No space left" in err
    assert out.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_csv_cells_never_start_a_formula(tmp_path, tiny_problem_dict, capsys):
    tiny_problem_dict["workloads"][0]["name"] = '=HYPERLINK("http://x","y")'
    prob = tmp_path / "f.yaml"
    prob.write_text(yaml.safe_dump(tiny_problem_dict))
    assert main(["plan", str(prob), "-q", "--csv", str(tmp_path / "csv")]) == 0
    text = (tmp_path / "csv" / "allocations.csv").read_text()
    assert "'=HYPERLINK" in text and ',"=HYPERLINK' not in text and ",=HYPERLINK" not in text
    out = tmp_path / "s.csv"
    assert main(["sweep", str(prob), "-q", "--out", str(out), "--vary", "workloads.0.name=@SUM(1),+cmd"]) == 0
    cells = [c for line in out.read_text().splitlines() for c in line.split(",")]
    assert "'@SUM(1)" in cells and "'+cmd" in cells
    assert not any(c.lstrip('"').startswith(("=", "+", "@")) for c in cells)


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    from optimizer.outputs import write_text
    target = tmp_path / "plan.json"
    dead = tmp_path / f".plan.tmp-{_dead_pid()}.json"
    alive = tmp_path / f".plan.tmp-{os.getppid()}.json"      # a running process: its write goes on
    other = tmp_path / f".other.tmp-{_dead_pid()}.json"       # another file's leftover: not ours
    for p in (dead, alive, other):
        p.write_text("{partial")
    write_text(target, "{}")
    assert target.read_text() == "{}"
    assert not dead.exists() and alive.exists() and other.exists()


def test_a_writer_killed_mid_write_keeps_the_old_file_and_its_leftover_goes_next_time(tmp_path):
    import subprocess
    import sys
    target = tmp_path / "t.csv"
    target.write_text("old\n")
    # a writer that dies (SIGKILL) after writing half its temporary file, before the rename
    code = ("import os, signal, sys; from optimizer.outputs import replacing\n"
            f"with replacing({str(target)!r}) as tmp:\n"
            "    open(tmp, 'w').write('half')\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True)
    assert r.returncode == -9
    left = [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert len(left) == 1 and target.read_text() == "old\n"
    from optimizer.outputs import write_text
    write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_journal_lines_are_synced_to_disk_one_by_one(base_file, tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    out = tmp_path / "s.csv"
    assert main(["sweep", str(base_file), "-q", "--out", str(out)] + VARY) == 0
    # one fsync per scenario line at least (plus the table's and the header's)
    assert len(synced) >= 2 + 2
