"""Names from input files reach people exactly as written: never as terminal markup, hyperlinks,
control sequences or spreadsheet formulas."""

import copy
import csv
import io

import pytest
import yaml
from rich.console import Console

from optimizer import cli
from problems.errors import InfeasibleError

ESC_NAME = "w\x1b[31mred\x07"
LINK_NAME = "[link=file:///etc/passwd]click[/link]"


@pytest.fixture
def terminal(monkeypatch):
    """The CLI's stdout console as a colour terminal would have it (links and styles on)."""
    buf = io.StringIO()
    monkeypatch.setattr(cli, "out", Console(file=buf, force_terminal=True, color_system="truecolor", width=300,
                                            highlight=False))
    return buf


def problem_file(tmp_path, d, name="p.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(d, allow_unicode=True))
    return p


def with_names(d, problem=None, workloads=()):
    d = copy.deepcopy(d)
    if problem is not None:
        d["name"] = problem
    w0 = d["workloads"][0]
    d["workloads"] = [dict(w0, name=n) for n in workloads] or d["workloads"]
    return d


def test_validate_prints_a_name_with_a_closing_tag_instead_of_crashing(tmp_path, tiny_problem_dict, capsys):
    p = problem_file(tmp_path, with_names(tiny_problem_dict, problem="fleet[/bad]"))
    assert cli.main(["validate", str(p)]) == 0
    out = capsys.readouterr().out
    assert "ok: fleet[/bad]:" in out


def test_plan_tables_show_names_literally_with_no_link_and_no_raw_control_codes(tmp_path, tiny_problem_dict,
                                                                                 terminal, capsys):
    names = ["a[/bad]", LINK_NAME, ESC_NAME]
    p = problem_file(tmp_path, with_names(tiny_problem_dict, problem="[bold]fleet", workloads=names))
    assert cli.main(["plan", str(p), "-q", "--backend", "numpy"]) == 0, capsys.readouterr().err
    text = terminal.getvalue()
    assert "\x1b]8;" not in text                       # no OSC 8 hyperlink
    assert "\x1b[31mred" not in text and "\x07" not in text
    assert "w\\x1b[31mred\\x07" in text and "a[/bad]" in text and "[bold]fleet" in text
    assert "[link=file:///etc/passwd]click[/link]" in text


def test_frontier_and_compare_tables_show_names_literally(tmp_path, tiny_problem_dict, terminal, capsys):
    p = problem_file(tmp_path, with_names(tiny_problem_dict, workloads=[LINK_NAME]))
    assert cli.main(["frontier", str(p), "-q", "--backend", "numpy"]) == 0, capsys.readouterr().err
    assert cli.main(["compare", str(p), "--hardware", "h100-sxm,b200", "-q", "--backend", "numpy"]) == 0
    text = terminal.getvalue()
    assert "\x1b]8;" not in text
    assert text.count("[link=file:///etc/passwd]click[/link]") >= 2   # both tables


def test_a_written_path_with_brackets_is_printed_not_parsed(tmp_path, tiny_problem_dict, capsys):
    p = problem_file(tmp_path, tiny_problem_dict)
    (tmp_path / "chart[").mkdir()
    plot = tmp_path / "chart[" / "bad].png"     # ".../chart[/bad].png": a closing tag to rich
    import matplotlib.pyplot as plt

    try:
        assert cli.main(["plan", str(p), "-q", "--backend", "numpy", "--plot", str(plot)]) == 0, \
            capsys.readouterr().err
    finally:
        plt.close("all")   # figures left open add up across tests to matplotlib's warning
    assert plot.exists() and f"wrote {plot}" in capsys.readouterr().out


def test_plan_csv_cells_never_start_a_formula(tmp_path, tiny_problem_dict, capsys):
    formula = '=HYPERLINK("http://evil.example","x")'
    p = problem_file(tmp_path, with_names(tiny_problem_dict, workloads=[formula, "@SUM(A1)"]))
    assert cli.main(["plan", str(p), "-q", "--backend", "numpy", "--csv", str(tmp_path / "csv")]) == 0, \
        capsys.readouterr().err
    for table in ("allocations", "workloads", "candidates"):
        with open(tmp_path / "csv" / f"{table}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        names = {r["workload"] for r in rows}
        assert names <= {"'" + formula, "'@SUM(A1)"} and names, (table, names)
        cells = [v for r in rows for v in r.values()]
        assert not any(isinstance(v, str) and v[:1] in ("=", "+", "@") for v in cells)


def test_error_messages_show_control_codes_from_a_file_escaped(tmp_path, tiny_problem_dict, capsys):
    d = copy.deepcopy(tiny_problem_dict)
    d["\x1b]8;;http://x\x1b\\evil"] = 1
    p = problem_file(tmp_path, d)
    assert cli.main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b]8;;http://x" in err and "unknown key" in err


def test_plan_infeasible_is_exit_3_through_the_error_family(tmp_path, tiny_problem_dict, capsys, monkeypatch):
    d = copy.deepcopy(tiny_problem_dict)
    d["hardware"] = [dict(h, available=0) for h in d["hardware"]]
    p = problem_file(tmp_path, d)
    raised = []

    orig = InfeasibleError.__init__

    def spy(self, *a, **k):
        raised.append(a[0] if a else "")
        orig(self, *a, **k)

    monkeypatch.setattr(InfeasibleError, "__init__", spy)
    assert cli.main(["plan", str(p), "-q", "--backend", "numpy"]) == 3
    assert raised and "needs" in raised[0] and "more" in raised[0]
    assert "needs" in capsys.readouterr().err
