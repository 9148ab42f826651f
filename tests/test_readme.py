"""Every example in the README runs: the `$ tokenfleet ...` commands and the Python block."""

import re
import shlex

import pytest

from optimizer.cli import main

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


COMMANDS = [line[2:] for b in blocks("console") for line in b.splitlines() if line.startswith("$ tokenfleet")]


def test_readme_starts_with_exactly_the_two_setup_commands():
    first = blocks("bash")[0].strip().splitlines()
    assert first == ['pip install . && tokenfleet plan --plot frontier.png', 'pip install ".[test]" && python -m pytest']


def test_the_first_setup_command_plans_and_draws(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cmd = blocks("bash")[0].strip().splitlines()[0].split("&&")[1].split()
    assert main(cmd[1:]) == 0
    assert "GPUs by type" in capsys.readouterr().out
    assert (tmp_path / "frontier.png").stat().st_size > 20_000


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install ".[test]"' in ci and "python -m pytest" in ci


@pytest.mark.parametrize("cmd", COMMANDS)
def test_readme_command_runs(cmd, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = shlex.split(cmd)[1:]
    assert main(args) == 0, capsys.readouterr().err


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for code in blocks("python"):
        exec(compile(code, "README.md", "exec"), {})   # noqa: S102 - our own README
    assert "tok/s/GPU" in capsys.readouterr().out


def test_readme_problem_reference_validates(tmp_path):
    import yaml

    import problems

    ref = [b for b in blocks("yaml") if "schema_version" in b][0]
    d = yaml.safe_load(ref)
    problems.problem_from_dict(d, "README")
