"""The command line: every command, every exit code, every bundled example through plan and frontier."""

import json
import os
import subprocess
import sys

import matplotlib
import pytest
import yaml

import problems
from optimizer.cli import main
from optimizer.plan import Plan

from conftest import EXAMPLES, ROOT

matplotlib.use("Agg")


def run(args, capsys):
    code = main(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_plan_with_no_argument_solves_the_bundled_default(capsys):
    code, out, err = run(["plan", "-q"], capsys)
    assert code == 0, err
    assert "chat-mixed-fleet" in out and "GPUs by type" in out and "$/Mtok" in out
    assert "evaluated" in out and "numpy" in out


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_runs_through_plan_and_frontier(name, tmp_path, capsys):
    js = tmp_path / "plan.json"
    code, out, err = run(["plan", name, "-q", "--json", str(js), "--csv", str(tmp_path / "csv")], capsys)
    assert code == 0, err
    plan = Plan.from_json(js.read_text())
    assert plan.status == "optimal" and plan.allocations
    assert Plan.from_json(plan.to_json()).to_dict() == plan.to_dict()
    assert (tmp_path / "csv" / "allocations.csv").read_text().count("\n") == len(plan.allocations) + 1
    png = tmp_path / "f.png"
    code, out, err = run(["frontier", name, "-q", "--plot", str(png)], capsys)
    assert code == 0, err
    pngs = list(tmp_path.glob("f*.png"))
    assert len(pngs) == len(problems.load(name).workloads)
    for p in pngs:
        assert p.stat().st_size > 20_000


def test_plan_json_to_stdout_is_pure_json(capsys):
    code, out, err = run(["plan", "-q", "--json", "-"], capsys)
    assert code == 0
    d = json.loads(out)
    assert d["status"] == "optimal" and d["totals"]["total_cost_usd_per_hour"] > 0


def test_plan_json_via_subprocess_has_no_solver_banner():
    r = subprocess.run([sys.executable, "-m", "optimizer.cli", "plan", "-q", "--json", "-"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    json.loads(r.stdout)
    assert "HiGHS" not in r.stdout


def test_frontier_figure_has_one_series_per_hardware_and_precision(tmp_path):
    import optimizer
    from optimizer.plots import plot_frontier

    p = problems.load("chat-mixed-fleet")
    fr = optimizer.frontier(p, backend="numpy")
    fig = plot_frontier(fr, "chat", tmp_path / "x.png")
    ax1, ax2 = fig.axes
    n_series = len(fr.for_workload("chat"))
    assert n_series == len(p.hardware) * len(p.search.precisions)
    assert len([l for l in ax1.get_lines() if not l.get_label().startswith("SLA")]) == n_series
    assert ax1.get_xscale() == "log" and "per user" in ax1.get_xlabel()
    w, h = fig.get_size_inches() * fig.dpi
    assert w > 800 and h > 400


def test_plan_plot_marks_the_chosen_points(tmp_path, capsys):
    png = tmp_path / "plan.png"
    code, out, err = run(["plan", "-q", "--plot", str(png)], capsys)
    assert code == 0, err
    assert png.stat().st_size > 20_000


def test_compare_prints_a_table_and_assumptions(tmp_path, capsys):
    png = tmp_path / "c.png"
    code, out, err = run(["compare", "hopper-vs-blackwell", "--hardware", "h200-sxm,gb300-nvl72", "-q",
                          "--plot", str(png), "--json", str(tmp_path / "c.json")], capsys)
    assert code == 0, err
    assert "assumptions" in out and "prices_usd_per_gpu_hour" in out and "calibration" in out
    d = json.loads((tmp_path / "c.json").read_text())
    assert any(r["cost_ratio"] and r["cost_ratio"] > 1 for r in d["ratios"])
    assert png.stat().st_size > 20_000


def test_compare_rejects_hardware_outside_the_problem(capsys):
    code, out, err = run(["compare", "hopper-vs-blackwell", "--hardware", "h200-sxm,b200", "-q"], capsys)
    assert code == 2 and "b200" in err


def test_predict_prints_metrics_and_json(capsys):
    code, out, err = run(["predict", "--hardware", "h200-sxm", "--model", "llama-3.3-70b", "--precision", "fp8",
                          "--tp", "2", "--concurrency", "64", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["tp"] == 2 and d["concurrency"] == 64 and d["output_tok_s_per_gpu"] > 0


def test_predict_speculative_data_chat_accepts_more_drafts(capsys):
    base = ["predict", "--hardware", "b200", "--model", "deepseek-r1", "--precision", "fp4", "--tp", "8",
            "--ep", "8", "--concurrency", "16", "--speculative", "mtp", "--json"]
    code, out, err = run(base, capsys)
    assert code == 0, err
    code, chat, err = run(base + ["--speculative-data", "chat"], capsys)
    assert code == 0, err
    assert json.loads(chat)["output_tok_s_per_user"] > json.loads(out)["output_tok_s_per_user"]
    code, out, err = run(base + ["--speculative-data", "random"], capsys)
    assert code == 2 and "speculative_data" in err


def test_predict_bad_input_exits_2(capsys):
    code, out, err = run(["predict", "--hardware", "h200", "--model", "llama-3.3-70b"], capsys)
    assert code == 2 and "did you mean" in err


@pytest.mark.parametrize("kind", ["hardware", "models"])
def test_catalog_lists_every_id_with_sources(kind, capsys):
    code, out, err = run(["catalog", kind, "--json"], capsys)
    assert code == 0
    rows = json.loads(out)
    cat = problems.hardware_catalog() if kind == "hardware" else problems.model_catalog()
    assert {r["id"] for r in rows} == set(cat)
    assert all(r["source"] for r in rows)
    code, out, err = run(["catalog", kind], capsys)
    assert code == 0 and "source" in out


def test_catalog_unknown_kind_exits_2(capsys):
    assert run(["catalog", "gpus"], capsys)[0] == 2


def test_validate_ok(capsys):
    code, out, err = run(["validate", "enterprise-mix"], capsys)
    assert code == 0 and "ok" in out and "configurations" in out


def test_infeasible_plan_exits_3_with_the_reason(tmp_path, tiny_problem_dict, capsys):
    tiny_problem_dict["workloads"][0]["demand"]["requests_per_s"] = 5000
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(tiny_problem_dict))
    code, out, err = run(["plan", str(path), "-q"], capsys)
    assert code == 3
    assert "more" in err and "GPUs" in err


def test_unknown_workload_exits_2(capsys):
    code, out, err = run(["frontier", "chat-mixed-fleet", "--workload", "chta", "-q"], capsys)
    assert code == 2 and "did you mean 'chat'" in err


def test_unknown_option_exits_2(capsys):
    assert run(["plan", "--no-such-option"], capsys)[0] == 2


def test_internal_errors_exit_1_without_traceback(monkeypatch, capsys):
    import optimizer

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(optimizer, "solve", boom)
    code, out, err = run(["plan", "-q"], capsys)
    assert code == 1 and "internal error" in err and "kaboom" in err and "Traceback" not in err


def test_progress_count_renders_without_a_known_total():
    from optimizer.cli import _count_text

    assert _count_text(5, None) == "5"
    assert _count_text(1500, 3000) == "1,500/3,000"


# Python >= 3.12 warns about fork() in a process with threads; the child only execs
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_compare_with_a_progress_bar_on_a_terminal(tmp_path):
    """The progress bar only renders on a terminal: run compare under a pseudo-terminal."""
    import pty

    out = []
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.chdir(tmp_path)
        os.execv(sys.executable, [sys.executable, "-m", "optimizer.cli", "compare", "hopper-vs-blackwell",
                                  "--hardware", "h200-sxm,gb300-nvl72"])
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out.append(data)
    _, status = os.waitpid(pid, 0)
    text = b"".join(out).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text[-2000:]
    assert "internal error" not in text and "advantage" in text
