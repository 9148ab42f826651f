"""What a plan leaves out is said: served share and unserved demand in every output, full service on
request, and marginal values in the objective's own unit."""

import copy
import csv
import json

import pytest
import yaml

import optimizer
import problems
from optimizer.cli import main
from optimizer.plan import Plan

from conftest import ROOT


def ai_factory_dict() -> dict:
    return yaml.safe_load((ROOT / "problems" / "examples" / "ai-factory.yaml").read_text())


@pytest.fixture(scope="module")
def ai_factory_plan():
    return optimizer.solve(problems.load("ai-factory"), backend="numpy")


def test_max_tokens_plan_reports_each_underserved_workload(ai_factory_plan):
    p = ai_factory_plan
    rows = {w["workload"]: w for w in p.workloads}
    r = rows["reasoning-api"]
    assert r["served"] < r["demand"] and r["served_share"] == pytest.approx(r["served"] / r["demand"])
    assert r["unserved"] == pytest.approx(r["demand"] - r["served"])
    under = [w for w in p.workloads if w["served_share"] < 1 - 1e-6]
    assert len(p.warnings) == len(under) >= 1
    assert any("'reasoning-api'" in w and "unserved" in w for w in p.warnings)


def test_plan_command_shows_served_share_and_warning_on_screen_json_and_csv(tmp_path, capsys):
    js, cdir = tmp_path / "p.json", tmp_path / "csv"
    assert main(["plan", "ai-factory", "-q", "--json", str(js), "--csv", str(cdir)]) == 0
    out = capsys.readouterr().out
    assert "served %" in out and "unserved" in out
    assert "warning: workload 'reasoning-api' served 0.0% of its demand" in out
    d = json.loads(js.read_text())
    assert any("reasoning-api" in w for w in d["warnings"])
    assert {"served", "demand", "served_share", "unserved"} <= set(d["workloads"][0])
    with open(cdir / "workloads.csv") as f:
        rows = {r["workload"]: r for r in csv.DictReader(f)}
    assert float(rows["reasoning-api"]["served_share"]) < 1.0
    assert "unserved" in rows["reasoning-api"]["warning"]


def test_notebook_view_lists_the_warnings(ai_factory_plan):
    assert "2 warning(s)" in ai_factory_plan.summary()
    html = ai_factory_plan._repr_html_()
    assert "warnings:" in html and "reasoning-api" in html and "unserved" in html


def test_json_to_stdout_still_warns_on_stderr(capsys):
    assert main(["plan", "ai-factory", "-q", "--json", "-"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["warnings"]
    assert "warning: workload 'reasoning-api'" in cap.err


def test_fully_served_plan_has_no_warning():
    p = optimizer.solve(problems.load("chat-mixed-fleet"), backend="numpy", marginal_values=False)
    assert p.warnings == [] and all(w["served_share"] == pytest.approx(1.0) for w in p.workloads)


def test_require_full_service_serves_a_workload_max_margin_would_drop():
    d = ai_factory_dict()
    d["objective"] = "max_margin"
    d["workloads"][0]["demand"] = {"output_tok_s": 2e7}
    d["workloads"][1]["demand"] = {"output_tok_s": 2e6}
    d["workloads"][0]["value_usd_per_mtok"] = 1.0
    d["workloads"][1]["value_usd_per_mtok"] = 1e-4     # worth less than it costs to serve
    free = optimizer.solve(problems.problem_from_dict(d), backend="numpy", marginal_values=False)
    assert {w["workload"]: w["served_share"] for w in free.workloads}["reasoning-api"] < 1e-6
    assert any("reasoning-api" in w for w in free.warnings)
    d["constraints"]["require_full_service"] = True
    full = optimizer.solve(problems.problem_from_dict(d), backend="numpy", marginal_values=False)
    assert full.is_feasible and full.warnings == []
    assert all(w["served"] >= w["demand"] * (1 - 1e-6) for w in full.workloads)


def test_require_full_service_flag_names_the_binding_limit(capsys):
    assert main(["plan", "ai-factory", "-q", "--require-full-service"]) == 3
    assert "MW more power" in capsys.readouterr().err


def test_marginal_values_under_max_tokens_are_in_tokens(ai_factory_plan, capsys):
    mv = ai_factory_plan.marginal_values
    assert mv["objective_unit"] == "output_tok_s"
    assert mv["power_output_tok_s_per_mw"] > 0 and "power_usd_per_hour_per_mw" not in mv
    from optimizer.cli import marginal_rows

    rows = dict(marginal_rows(ai_factory_plan))
    assert "output tok/s" in rows["one more MW"] and "$" not in rows["one more MW"]


def test_marginal_values_under_cost_objectives_are_in_dollars():
    p = optimizer.solve(problems.load("enterprise-mix"), backend="numpy")
    assert p.marginal_values["objective_unit"] == "usd_per_hour"
    from optimizer.cli import marginal_rows

    rows = marginal_rows(p)
    assert rows and all("$" in v for _, v in rows)
    d = copy.deepcopy(ai_factory_dict())
    d["objective"] = "max_margin"
    for w in d["workloads"]:
        w["value_usd_per_mtok"] = 0.5
    m = optimizer.solve(problems.problem_from_dict(d), backend="numpy")
    assert m.marginal_values["objective_unit"] == "usd_per_hour"
    assert all("$" in v for _, v in marginal_rows(m))
