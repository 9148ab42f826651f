"""Small frictions a first-time user meets: model names, chart text, labels, flags, help, warnings."""

import copy
import re

import matplotlib
import matplotlib.pyplot as plt
import pytest
import typer.main

import optimizer
import problems
from optimizer.candidates import precision_label
from optimizer.cli import app, main
from optimizer.plots import plot_compare, plot_frontier, plot_sweep

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")     # pyplot keeps figures until closed; more than 20 open makes it warn


def run(args, capsys):
    code = main(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def unescaped_dollars(text: str) -> int:
    return len(re.findall(r"(?<!\\)\$", text))


@pytest.fixture(scope="module")
def coding_frontier():
    return optimizer.frontier(problems.load("agentic-coding"), backend="numpy")


def test_frontier_legend_names_the_model_when_several_may_serve(coding_frontier):
    w = coding_frontier.series[0]["workload"]
    models = {s["model"] for s in coding_frontier.for_workload(w)}
    assert len(models) > 1
    fig = plot_frontier(coding_frontier, w)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    for m in models:
        assert any(lab.startswith(m + ":") for lab in labels), (m, labels)


def test_frontier_and_compare_tables_carry_model_names(capsys):
    code, out, _ = run(["frontier", "agentic-coding", "-q"], capsys)
    assert code == 0 and "model" in out and "kimi-k2" in out and "gpt-oss-120b" in out
    code, out, _ = run(["compare", "agentic-coding", "--hardware", "h200-sxm,b200", "-q"], capsys)
    assert code == 0 and "h200-sxm model" in out and "gpt-oss-120b" in out


def test_frontier_stars_only_promised_when_drawn(coding_frontier):
    w = coding_frontier.series[0]["workload"]
    plain = plot_frontier(coding_frontier, w)
    assert "stars" not in plain._suptitle.get_text()
    s = coding_frontier.for_workload(w)[0]
    chosen = [dict(hardware=s["hardware"], output_tok_s_per_user=s["tok_s_per_user"][0],
                   output_tok_s_per_gpu=s["output_tok_s_per_gpu"][0],
                   cost_usd_per_mtok_output=s["cost_usd_per_mtok_output"][0])]
    fig = plot_frontier(coding_frontier, w, chosen=chosen)
    assert "stars: chosen" in fig._suptitle.get_text()
    for ax in fig.axes:
        stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
        assert stars and stars[0].get_xdata()[0] == pytest.approx(s["tok_s_per_user"][0])


def test_compare_title_prints_dollar_signs_as_text():
    c = optimizer.compare(problems.load("hopper-vs-blackwell"), ["h200-sxm", "gb300-nvl72"], backend="numpy")
    fig = plot_compare(c)
    title = fig._suptitle.get_text()
    assert "\\$" in title and unescaped_dollars(title) == 0


def test_sweep_legend_writes_numbers_as_people_do():
    rows = [dict(x=1, y=3.9749999999999996, cost_usd_per_mtok_output=0.5, hardware="b200"),
            dict(x=2, y=3.9749999999999996, cost_usd_per_mtok_output=0.4, hardware="b200")]
    fig = plot_sweep(rows, ["x", "y"])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["y=3.975"]


def test_predict_prints_labels_with_units(capsys):
    code, out, _ = run(["predict", "--hardware", "h100-sxm", "--model", "llama-3.3-70b", "--precision", "fp4",
                        "--tp", "2", "--concurrency", "64"], capsys)
    assert code == 0
    assert "time to first token (mean), ms" in out and "memory per GPU, GiB" in out and "all-in" in out
    assert "memory_bytes_per_gpu" not in out and "ttft_s" not in out
    assert "weight-only (W4A16)" in out


def test_fp4_and_fp8_without_tensor_cores_are_labelled_weight_only():
    assert precision_label("fp4", problems.get_hardware("h100-sxm")) == "fp4 weight-only (W4A16)"
    assert precision_label("fp4", problems.get_hardware("mi300x")) == "fp4 weight-only (W4A16)"
    assert precision_label("fp4", problems.get_hardware("b200")) == "fp4"
    assert precision_label("fp8", problems.get_hardware("a100-sxm-80gb")) == "fp8 weight-only (W8A16)"


def test_quiet_is_a_flag_in_help_and_a_value_after_it_is_explained(capsys):
    code, out, _ = run(["plan", "--help"], capsys)
    quiet = [ln for ln in out.splitlines() if "--quiet" in ln]
    assert quiet and "<bool>" not in quiet[0]
    code, out, err = run(["plan", "--quiet", "true"], capsys)
    assert code == 2 and "is a flag" in err


def test_every_option_has_help_text():
    group = typer.main.get_command(app)
    missing = [f"{name} {p.opts[0]}" for name, cmd in group.commands.items() for p in cmd.params
               if p.param_type_name == "option" and p.opts[0] != "--help" and not p.help]
    assert missing == []


def test_version_flag(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and re.match(r"tokenfleet \S+", out.strip())


def test_plan_explains_per_row_versus_total_cost(capsys):
    code, out, _ = run(["plan", "-q"], capsys)
    assert code == 0 and "headroom" in out and "whole" in out


def test_implausible_inputs_warn_naming_field_and_range(tiny_problem_dict, capsys):
    d = copy.deepcopy(tiny_problem_dict)
    d["hardware"][0].update(price_usd_per_hour=195.0, hbm_gb=192000000000.0)
    p = problems.problem_from_dict(d)
    plan = optimizer.solve(p, backend="numpy", marginal_values=False)
    text = "\n".join(plan.warnings)
    assert "hardware[0].price_usd_per_hour = 195" in text and "0.05 to 20" in text
    assert "hardware[0].hbm_gb = 1.92e+11" in text
    ok = optimizer.solve(problems.problem_from_dict(tiny_problem_dict), backend="numpy", marginal_values=False)
    assert ok.warnings == []


def test_sweep_chart_marks_scenarios_without_a_feasible_plan():
    from optimizer.plots import plot_sweep

    rows = [dict(d=1.0, cost_usd_per_mtok_output=0.5, hardware="b200"),
            dict(d=2.0, cost_usd_per_mtok_output=None, hardware=None),
            dict(d=3.0, cost_usd_per_mtok_output=None, hardware=None)]
    fig = plot_sweep(rows, ["d"])
    marks = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "no feasible plan"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [2.0, 3.0]
    assert "no feasible plan" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    import matplotlib.pyplot as plt

    plt.close(fig)
