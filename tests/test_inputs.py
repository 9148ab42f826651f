"""Every file tokenfleet reads goes through one bounded reader: a hostile or careless file gets a
clear error naming the file, the line or the field, quickly, and nothing else happens."""

import copy
import os
import resource
import subprocess
import sys
import threading
import tracemalloc

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import problems
from problems import ProblemError
from problems.errors import InputError
from problems.loader import parse_yaml

from conftest import ROOT

EXAMPLE = (ROOT / "problems" / "examples" / "chat-mixed-fleet.yaml").read_text()


def write(tmp_path, text, name="p.yaml"):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def load_error(path) -> str:
    with pytest.raises(ProblemError) as ei:
        problems.load(path)
    return str(ei.value)


def _limit_memory():  # a reader that ignores its limit dies here instead of filling the machine
    resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))


# --- bytes ------------------------------------------------------------------------------------
def test_dev_zero_is_refused_at_the_size_limit_not_read_until_memory_runs_out():
    r = subprocess.run([sys.executable, "-m", "optimizer.cli", "plan", "/dev/zero"], capture_output=True,
                       text=True, cwd=ROOT, timeout=120, preexec_fn=_limit_memory)
    assert r.returncode == 2, r.stderr
    assert "/dev/zero" in r.stderr and "2,000,000" in r.stderr and "Traceback" not in r.stderr


def test_a_piped_50_mb_document_is_refused_after_reading_the_limit():
    rfd, wfd = os.pipe()
    sent = []

    def writer():
        chunk = b"a: " + b"x" * ((1 << 20) - 3)
        try:
            with os.fdopen(wfd, "wb") as w:
                for _ in range(50):
                    w.write(chunk)
                    sent.append(len(chunk))
        except BrokenPipeError:  # the reader stopped at its limit and closed the pipe
            pass

    t = threading.Thread(target=writer)
    t.start()
    try:
        msg = load_error(f"/dev/fd/{rfd}")
    finally:
        os.close(rfd)
        t.join()
    assert "stream" in msg and "more than 2,000,000 bytes" in msg
    assert sum(sent) < 50 * (1 << 20)  # the writer was cut off: the rest was never read


def test_an_oversized_regular_file_is_refused_from_its_size(tmp_path):
    p = write(tmp_path, "# padding\n" * 300_000)
    msg = load_error(p)
    assert str(p) in msg and "3,000,000 bytes" in msg and "limit is 2,000,000" in msg


# --- YAML structure -----------------------------------------------------------------------------
def _laughs(levels=9, width=9):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_a_700_byte_alias_bomb_is_refused_by_its_expanded_size_not_its_alias_count(tmp_path):
    text = _laughs()
    assert len(text) < 700 and text.count("*") < 100   # few aliases: an alias count alone lets it by
    tracemalloc.start()
    try:
        with pytest.raises(ProblemError) as ei:
            problems.read_yaml(write(tmp_path, text))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "values once aliases are expanded" in str(ei.value) and "line " in str(ei.value)
    assert peak < 50 * 2**20


def test_a_recursive_alias_is_refused(tmp_path):
    assert "recursive alias" in load_error(write(tmp_path, "a: &a [1, *a]\n"))


def test_deep_nesting_is_an_input_error_naming_the_line_not_a_recursion_error(tmp_path, capsys):
    from optimizer.cli import main

    p = write(tmp_path, "name: " + "[" * 5000 + "]" * 5000 + "\n")
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "nested more than 64 levels" in err and "line 1" in err
    assert "RecursionError" not in err and "internal" not in err


def test_a_second_hardware_section_is_refused_with_both_line_numbers(tmp_path):
    p = write(tmp_path, EXAMPLE + "hardware: [{id: b200}]\n")
    first = EXAMPLE.splitlines().index("hardware:                                   "
                                       "# prices default to the catalog (SemiAnalysis TCO set)") + 1
    last = len(EXAMPLE.splitlines()) + 1
    msg = load_error(p)
    assert str(p) in msg and "'hardware' appears twice" in msg and f"line {first} and line {last}" in msg


def test_duplicate_keys_deep_inside_are_refused_too(tmp_path):
    p = write(tmp_path, EXAMPLE.replace("sla: {ttft_ms: 1000,", "sla: {ttft_ms: 1000, ttft_ms: 5,"))
    assert "'ttft_ms' appears twice" in load_error(p)


def test_yaml_errors_name_the_line_without_quoting_the_file(tmp_path):
    p = write(tmp_path, "name: x\nsecret: [unclosed SECRET-TOKEN\n")
    msg = load_error(p)
    assert "not valid YAML" in msg and "line " in msg and "SECRET-TOKEN" not in msg


# --- numbers --------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, value", [("1e12", 1e12), ("1.5e3", 1500.0), ("1E3", 1000.0), ("1e+3", 1000.0),
                                         ("010", 10), ("0o17", 15), ("1:30", "1:30")])
def test_numbers_read_as_yaml_1_2_does(text, value):
    """YAML 1.1 reads these as strings, octal eight and sexagesimal ninety."""
    assert parse_yaml(f"v: {text}\n", "<t>") == {"v": value}
    # what YAML 1.1 and 1.2 agree on is unchanged: every bundled example parses as before
    for name in problems.bundled_examples():
        example = (ROOT / "problems" / "examples" / f"{name}.yaml").read_text()
        assert parse_yaml(example, name) == yaml.safe_load(example)


def test_scientific_notation_works_in_problem_files(tmp_path):
    text = EXAMPLE.replace("ttft_ms: 1000,", "ttft_ms: 1e3,").replace("requests_per_s: 400", "requests_per_s: 4e2")
    p = problems.load(write(tmp_path, text))
    assert p.workloads[0].sla.ttft_ms == 1000.0 and p.workloads[0].demand.requests_per_s == 400.0


def test_a_whole_number_in_scientific_notation_fills_an_integer_field(tmp_path):
    p = problems.load(write(tmp_path, EXAMPLE.replace("input_tokens: 2048", "input_tokens: 2.048e3")))
    assert p.workloads[0].input_tokens == 2048 and isinstance(p.workloads[0].input_tokens, int)
    msg = load_error(write(tmp_path, EXAMPLE.replace("input_tokens: 2048", "input_tokens: 2.5e0")))
    assert "workloads[0].input_tokens" in msg and "valid integer" in msg


@pytest.mark.parametrize("field, old", [("input_tokens", "input_tokens: 2048"),
                                        ("demand.requests_per_s", "requests_per_s: 400")])
def test_a_400_digit_integer_is_refused_by_field_name(tmp_path, field, old, capsys):
    from optimizer.cli import main

    key = old.split(":")[0]
    p = write(tmp_path, EXAMPLE.replace(old, f"{key}: 1{'0' * 400}"))
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"workloads[0].{field}" in err and "out of range" in err and "internal" not in err
    assert "0" * 100 not in err   # the number is described, not printed in full


def test_integers_past_the_float64_range_are_refused(tmp_path):
    msg = load_error(write(tmp_path, EXAMPLE.replace("available: 256", f"available: {2**53 + 1}")))
    assert "hardware[0].available" in msg and "9,007,199,254,740,992" in msg


def test_demand_beyond_any_fleet_is_refused_by_name_not_left_to_the_solver(tmp_path):
    msg = load_error(write(tmp_path, EXAMPLE.replace("requests_per_s: 400", "requests_per_s: 1e15")))
    assert "workloads[0].demand.requests_per_s" in msg and "less than or equal to 1000000000" in msg


# --- messages ------------------------------------------------------------------------------------
def test_a_workload_error_is_not_followed_by_a_false_empty_list_line(tmp_path):
    msg = load_error(write(tmp_path, EXAMPLE.replace("input_tokens: 2048", "input_tokens: -1")))
    assert "workloads[0].input_tokens: Input should be greater than 0, got -1" in msg
    assert "at least 1 item" not in msg and len(msg.splitlines()) == 1
    d = yaml.safe_load(EXAMPLE)
    d["workloads"] = []   # where the list really is empty, that is still said
    assert "workloads: Tuple should have at least 1 item" in load_error(write(tmp_path, yaml.safe_dump(d)))


# --- the public reader ---------------------------------------------------------------------------
def test_read_yaml_takes_a_path_only_and_applies_the_same_limits(tmp_path):
    p = write(tmp_path, "axes: [{path: a, values: [1e3, 2]}]\n", "spec.yaml")
    assert problems.read_yaml(p) == {"axes": [{"path": "a", "values": [1000.0, 2]}]}
    with pytest.raises(ProblemError, match="appears twice"):
        problems.read_yaml(write(tmp_path, "a: 1\na: 2\n", "dup.yaml"), "sweep spec")
    with pytest.raises(InputError, match="file name"):
        problems.read_yaml({"a": 1})
    with pytest.raises(ProblemError, match="no such file"):
        problems.read_yaml(tmp_path / "missing.yaml")


def test_read_text_limit_is_a_parameter_for_larger_files(tmp_path):
    p = write(tmp_path, "x" * 5000, "journal.jsonl")
    assert len(problems.read_text(p, max_bytes=5000)) == 5000
    with pytest.raises(ProblemError, match="limit is 4,999"):
        problems.read_text(p, max_bytes=4999)


def test_parse_json_refuses_duplicates_constants_and_depth():
    assert problems.parse_json('{"a": [1, 2.5]}', "j") == {"a": [1, 2.5]}
    for bad, what in [('{"a": 1, "a": 2}', "twice"), ('{"a": NaN}', "NaN"), ("[" * 100_000, "nested"),
                      ('{"a": 1' + "0" * 5000 + "}", "digits")]:
        with pytest.raises(ProblemError, match=what):
            problems.parse_json(bad, "journal line 3")


def test_load_refuses_what_is_not_a_path_naming_the_argument():
    for bad in (None, 3, {"schema_version": "tokenfleet/1"}):
        with pytest.raises(InputError, match="problem file path or a bundled example name"):
            problems.load(bad)


def test_a_name_no_file_can_have_is_an_input_error():
    with pytest.raises(ProblemError):
        problems.load("bad\x00name.yaml")
    with pytest.raises(ProblemError):
        problems.load("x" * 5000 + ".yaml")


# --- property: hostile edits of the example files end as a Problem or an InputError, nothing else ---
_HOSTILE = ["1e400", "1" + "0" * 400, "-1", "0", ".nan", "1e10", "[" * 2000 + "]" * 2000, "&a x", "*a", "*nowhere",
            "!!python/object/apply:os.system ['true']", '"\\x1b[31m"', '"[/bad]"', "{", "~", "yes", "2.5e3", "1:30",
            "0x10", "!!binary aGVsbG8=", "2024-01-01", "[]", "{}", '"=HYPERLINK(1)"', "9007199254740993"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(example=st.sampled_from(sorted(problems.bundled_examples())), data=st.data())
def test_hostile_edits_of_examples_only_ever_give_an_input_error(tmp_path_factory, example, data):
    from optimizer.limits import check_configuration_space

    lines = (ROOT / "problems" / "examples" / f"{example}.yaml").read_text().splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["value", "duplicate", "insert", "delete", "truncate"]))
        token = data.draw(st.sampled_from(_HOSTILE))
        if action == "value" and ": " in lines[i]:
            lines[i] = lines[i].split(": ", 1)[0] + ": " + token
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "insert":
            lines.insert(i, f"{data.draw(st.sampled_from(['search', 'name', 'x']))}: {token}")
        elif action == "delete" and len(lines) > 1:
            del lines[i]
        elif action == "truncate":
            lines[i] = lines[i][: len(lines[i]) // 2]
    path = tmp_path_factory.mktemp("fuzz") / "p.yaml"
    path.write_text("\n".join(lines) + "\n")
    try:
        p = problems.load(path)
    except InputError as e:
        assert str(path) in str(e)
        return
    try:
        check_configuration_space(p)
    except InputError as e:
        assert "search.max_configurations" in str(e) or "GiB" in str(e)


def test_a_huge_unknown_key_is_cut_short_in_the_message(tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    d["k" * 100_000] = 1
    with pytest.raises(ProblemError) as ei:
        problems.problem_from_dict(d, "p.yaml")
    assert "unknown key" in str(ei.value) and len(str(ei.value)) < 200
