"""The Python API checks what it is given: a wrong type or range is an InputError that names the
argument and what is allowed, never a bare TypeError, NumPy error, KeyError or a silent truncation."""

import math

import pytest

import optimizer
import problems
from problems.errors import InputError

POINT = dict(hardware="h200-sxm", model="llama-3.3-70b", precision="fp8")


@pytest.mark.parametrize("bad", [None, "chat-mixed-fleet", {"name": "x"}, 3])
def test_solve_refuses_what_is_not_a_problem_naming_the_argument(bad):
    with pytest.raises(InputError, match=r"solve: problem must be a problems.Problem .*got "):
        optimizer.solve(bad)


@pytest.mark.parametrize("kw, fragment", [
    (dict(backend=3), "backend must be"),
    (dict(time_limit_s=-1), "time_limit_s must be a finite number > 0"),
    (dict(time_limit_s=math.inf), "time_limit_s"),
    (dict(mip_rel_gap="0.01"), "mip_rel_gap must be a finite number in [0, 1)"),
    (dict(progress=5), "progress must be a callable"),
    (dict(batches=[]), "batches must be a non-empty"),
    (dict(batches=[0.5, 2]), "batches must be"),
])
def test_solve_checks_its_options(kw, fragment):
    p = problems.load("hopper-vs-blackwell")
    with pytest.raises(InputError) as ei:
        optimizer.solve(p, **kw)
    assert fragment in str(ei.value)


@pytest.mark.parametrize("kw, fragment", [
    (dict(tp="4"), "predict: tp must be a whole number in [1, 1,024] or None, got '4' (str)"),
    (dict(tp=True), "tp must be a whole number"),
    (dict(tp=4.5), "tp must be a whole number"),
    (dict(min_output_tok_s_per_user="30"), "min_output_tok_s_per_user must be a finite number > 0"),
    (dict(min_output_tok_s_per_user=-5), "min_output_tok_s_per_user must be a finite number > 0"),
    (dict(min_output_tok_s_per_user=math.nan), "min_output_tok_s_per_user"),
    (dict(metric="nope"), "metric must be one of 'output_tok_s_per_gpu'"),
    (dict(metric="cost_usd_per_mtok_output"), "metric must be one of"),   # lower is better: never argmax'd
    (dict(concurrency=8.5), "concurrency must be a whole number in [1, 9,007,199,254,740,992] (a fraction is "
                            "not rounded), got 8.5"),
    (dict(concurrency=0), "concurrency must be a whole number"),
    (dict(concurrency=math.inf), "concurrency must be a whole number"),
    (dict(cached_input_fraction=1.5), "cached_input_fraction must be a finite number in [0, 1), got 1.5"),
    (dict(cached_input_fraction=-0.1), "cached_input_fraction"),
    (dict(isl=0), "isl must be a whole number"),
    (dict(osl=10**400), "osl must be a whole number"),
    (dict(isl=False), "isl must be a whole number"),
    (dict(ep=-1), "ep must be a whole number"),
    (dict(max_concurrency=0), "max_concurrency must be a whole number"),
    (dict(engine="tgi"), "engine must be one of 'trtllm', 'vllm', 'sglang' or None"),
    (dict(speculative=True), "speculative must be"),
    (dict(precision=None), "precision must be one of 'bf16', 'fp8', 'fp4'"),
    (dict(hardware=["h200-sxm"]), "hardware must be a non-empty string"),
    (dict(model=None), "model must be a non-empty string"),
    (dict(calibration="default"), "calibration must be a kernels.Calibration"),
])
def test_predict_names_the_argument_and_the_allowed_range(kw, fragment):
    with pytest.raises(InputError) as ei:
        optimizer.predict(**{**POINT, **kw})
    assert fragment in str(ei.value)
    assert isinstance(ei.value, optimizer.PredictError) and isinstance(ei.value, ValueError)


def test_a_fractional_concurrency_is_refused_and_a_whole_float_is_the_same_point():
    with pytest.raises(InputError, match="concurrency"):
        optimizer.predict(**POINT, tp=8, concurrency=8.5)   # once run silently as 8
    assert optimizer.predict(**POINT, tp=8, concurrency=8.0) == optimizer.predict(**POINT, tp=8, concurrency=8)


def test_frontier_and_compare_refuse_what_is_not_a_problem():
    with pytest.raises(InputError, match="frontier: problem must be a problems.Problem"):
        optimizer.frontier(None)
    with pytest.raises(InputError, match="compare: problem must be a problems.Problem"):
        optimizer.compare("hopper-vs-blackwell", ["h200-sxm", "b200"])
    with pytest.raises(InputError, match="compare: hardware must be a list of hardware ids"):
        optimizer.compare(problems.load("hopper-vs-blackwell"), "h200-sxm,b200")


@pytest.mark.parametrize("bad", [["h200-sxm"], {"id": 1}])
def test_catalog_lookups_of_a_non_string_are_unknown_names(bad):
    with pytest.raises(problems.UnknownNameError, match="unknown hardware"):
        problems.get_hardware(bad)
    with pytest.raises(problems.UnknownNameError, match="unknown model"):
        problems.get_model(bad)


@pytest.mark.parametrize("value", ["-1", "nan", "0"])
def test_a_bad_time_limit_on_the_command_line_is_exit_2_naming_it(value, capsys):
    from optimizer.cli import main

    assert main(["plan", "hopper-vs-blackwell", "-q", "--backend", "numpy", "--time-limit", value]) == 2
    err = capsys.readouterr().err
    assert "time_limit_s must be a finite number > 0" in err and "internal" not in err


@pytest.mark.parametrize("kw, fragment", [
    (dict(serving="disaggregated", decode_tp="4"), "decode_tp must be a whole number"),
    (dict(serving="disaggregated", prefill_replicas=1.5), "prefill_replicas must be a whole number"),
    (dict(serving="both"), "serving must be 'aggregated', 'disaggregated' or None"),
    (dict(serving=None, model=None), "model must be a non-empty string"),
])
def test_serving_arguments_are_checked_before_anything_is_looked_up(kw, fragment):
    with pytest.raises(optimizer.PredictError) as ei:
        optimizer.predict(**{**POINT, **kw})
    assert fragment in str(ei.value)
