"""Bad input gets a clear error naming the file and the field, and nothing else."""

import copy
import subprocess
import sys
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import problems
from optimizer.cli import main
from problems import ProblemError

from conftest import EXAMPLES, ROOT


def write(tmp_path, text, name="p.yaml"):
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def dump(d):
    return yaml.safe_dump(d, sort_keys=False)


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_bundled_example_validates(name):
    p = problems.load(name)
    assert p.schema_version == "tokenfleet/1"
    assert problems.load(ROOT / "problems" / "examples" / f"{name}.yaml") == p


def test_problem_is_frozen(tiny_problem_dict):
    p = problems.problem_from_dict(tiny_problem_dict)
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="frozen"):
        p.name = "other"


def _expect(tmp_path, text, *fragments, capsys=None):
    path = write(tmp_path, text)
    with pytest.raises(ProblemError) as ei:
        problems.load(path)
    msg = str(ei.value)
    assert str(path) in msg
    for f in fragments:
        assert f in msg, msg
    return msg


def test_empty_file(tmp_path):
    _expect(tmp_path, "", "empty")


def test_binary_garbage(tmp_path):
    _expect(tmp_path, b"\x00\xff\xfe\x89PNG\x00\x01", "binary")


def test_invalid_utf8(tmp_path):
    _expect(tmp_path, b"name: \xff\xfe\n", "UTF-8")


def test_non_mapping_top_level(tmp_path):
    _expect(tmp_path, "- a\n- b\n", "top level must be a mapping")


def test_yaml_syntax_error(tmp_path):
    _expect(tmp_path, "name: [unclosed\n", "not valid YAML")


def test_unknown_key_suggests_the_right_one(tmp_path, tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    d["workloads"][0]["output_tokns"] = 5
    _expect(tmp_path, dump(d), "workloads[0].output_tokns: unknown key", "did you mean 'output_tokens'")


def test_key_in_the_wrong_section_says_where_it_belongs(tmp_path, tiny_problem_dict):
    """A valid key in the wrong section: 'engine' at the top level belongs to a workload or to
    search (the hint named the key itself before: "did you mean 'engine'?")."""
    d = copy.deepcopy(tiny_problem_dict)
    d["engine"] = "vllm"
    _expect(tmp_path, dump(d), "engine: unknown key", "'engine' belongs under workloads[] or search")
    d = copy.deepcopy(tiny_problem_dict)
    d["workloads"][0]["ttft_ms"] = 500
    _expect(tmp_path, dump(d), "workloads[0].ttft_ms: unknown key", "belongs under workloads[].sla")

def test_unknown_hardware_id_suggests(tmp_path, tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    d["hardware"][0]["id"] = "h100-sxn"
    _expect(tmp_path, dump(d), "hardware[0].id", "did you mean 'h100-sxm'")


def test_unknown_model_id_suggests(tmp_path, tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    d["workloads"][0]["model"] = "llama-3.3-7b"
    _expect(tmp_path, dump(d), "workloads[0]", "unknown model id 'llama-3.3-7b'", "did you mean")


@pytest.mark.parametrize("value,fragment", [(-5, "greater than 0"), (0, "greater than 0"),
                                            (float("nan"), "finite"), (float("inf"), "finite"),
                                            ("fast", "valid number")])
def test_bad_numbers_name_the_field(tmp_path, tiny_problem_dict, value, fragment):
    d = copy.deepcopy(tiny_problem_dict)
    d["workloads"][0]["sla"]["ttft_ms"] = value
    msg = _expect(tmp_path, dump(d), "workloads[0].sla.ttft_ms")
    assert fragment in msg or "finite" in msg, msg


def test_negative_ttft_message_shows_the_value(tmp_path, tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    d["workloads"][0]["sla"]["ttft_ms"] = -5
    _expect(tmp_path, dump(d), "workloads[0].sla.ttft_ms: Input should be greater than 0, got -5")


def test_string_where_integer_belongs(tmp_path, tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    d["workloads"][0]["input_tokens"] = "2048"
    _expect(tmp_path, dump(d), "workloads[0].input_tokens")


@pytest.mark.parametrize("section", ["hardware", "workloads", "schema_version", "name"])
def test_missing_required_section(tmp_path, tiny_problem_dict, section):
    d = copy.deepcopy(tiny_problem_dict)
    del d[section]
    _expect(tmp_path, dump(d), section)


def test_missing_path():
    with pytest.raises(ProblemError, match="no such file"):
        problems.load("/no/such/problem.yaml")


def test_directory(tmp_path):
    with pytest.raises(ProblemError, match="is a directory"):
        problems.load(tmp_path)


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    t0 = time.perf_counter()
    _expect(tmp_path, "\n".join(lines) + "\n", "alias")
    assert time.perf_counter() - t0 < 2.0


def test_python_tag_never_executes(tmp_path):
    marker = tmp_path / "pwned"
    text = f"name: !!python/object/apply:os.system ['touch {marker}']\n"
    _expect(tmp_path, text, "not valid YAML")
    assert not marker.exists()


def test_rent_without_a_price_is_refused(tmp_path, tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    d["hardware"].append({"id": "tpu-v6e"})
    _expect(tmp_path, dump(d), "tpu-v6e", "price_usd_per_hour")


def test_power_cap_needs_a_known_tdp(tmp_path, tiny_problem_dict):
    d = copy.deepcopy(tiny_problem_dict)
    d["hardware"].append({"id": "tpu-v6e", "price_usd_per_hour": 2.7})
    d["constraints"] = {"power_cap_mw": 1}
    _expect(tmp_path, dump(d), "tpu-v6e", "TDP")


def test_validate_cli_exits_2_with_the_field_path(tmp_path, tiny_problem_dict, capsys):
    d = copy.deepcopy(tiny_problem_dict)
    d["workloads"][0]["sla"]["ttft_ms"] = -5
    path = write(tmp_path, dump(d))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "workloads[0].sla.ttft_ms" in err and "Traceback" not in err


def test_validate_cli_subprocess_shows_no_traceback(tmp_path):
    path = write(tmp_path, b"\x00\x01garbage")
    r = subprocess.run([sys.executable, "-m", "optimizer.cli", "validate", str(path)], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "binary" in r.stderr


# --- property: random mutations of the examples never produce anything but ProblemError ------
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**9), st.floats(allow_nan=True),
                    st.text(max_size=12), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(example=st.sampled_from(EXAMPLES), data=st.data())
def test_fuzzed_examples_never_raise_anything_but_problem_error(example, data):
    d = yaml.safe_load((ROOT / "problems" / "examples" / f"{example}.yaml").read_text())
    paths = [p for p in _paths(d) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        parent = d
        try:
            for k in path[:-1]:
                parent = parent[k]
            action = data.draw(st.sampled_from(["set", "delete", "rename"]))
            if action == "set":
                parent[path[-1]] = data.draw(_VALUES)
            elif action == "delete":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[str(path[-1]) + "x"] = parent.pop(path[-1])
        except (KeyError, IndexError, TypeError):
            continue
    try:
        problems.problem_from_dict(d, "<fuzz>")
    except ProblemError as e:
        assert "<fuzz>" in str(e)
