"""The Numba CPU backend against the NumPy reference; backend choice without the GPU stack; the
layout's checks and the generated adapters' error locations."""

import json
import os
import subprocess
import sys
import traceback

import numpy as np
import pytest

import problems
from kernels import Status, build_space, evaluate, resolve_backend
from kernels.backends import AUTO_NUMBA_MIN_CONFIGS, cuda_driver_present
from kernels.evaluate import evaluate_numpy
from kernels.reference import evaluate_indices

from conftest import ROOT

numba = pytest.importorskip("numba")


def _same(ref, got):
    """Float64 on both sides: identical winners, values equal to a few roundings."""
    assert (got.n_fit, got.n_meet) == (ref.n_fit, ref.n_meet)
    np.testing.assert_array_equal(got.best_cost_idx, ref.best_cost_idx)
    np.testing.assert_array_equal(got.best_tpj_idx, ref.best_tpj_idx)
    np.testing.assert_array_equal(got.frontier_idx, ref.frontier_idx)
    for a, b in ((got.best_cost, ref.best_cost), (got.best_tpj, ref.best_tpj), (got.frontier_val, ref.frontier_val)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("example", ["enterprise-mix", "reasoning-tiers"])
def test_numba_cpu_backend_matches_the_numpy_reference(example):
    from kernels.numba_cpu import evaluate_numba_cpu

    space = build_space(problems.load(example))
    ref = evaluate_numpy(space)
    got = evaluate_numba_cpu(space, chunk=space.frontier_group_size * 5)   # several calls
    assert got.backend == "numba"
    assert got.n_meet > 0
    _same(ref, got)


def test_requested_numba_backend_runs_and_says_so():
    space = build_space(problems.load("chat-mixed-fleet"), hardware=["b200"])
    red = evaluate(space, backend="numba")
    assert red.backend == "numba"
    _same(evaluate_numpy(space), red)


@pytest.mark.skipif(cuda_driver_present(), reason="a CUDA driver is present")
def test_auto_order_without_a_gpu_is_numba_for_large_spaces_and_numpy_for_small_ones():
    assert resolve_backend("auto", size=AUTO_NUMBA_MIN_CONFIGS) == "numba"
    assert resolve_backend("auto", size=AUTO_NUMBA_MIN_CONFIGS - 1) == "numpy"


@pytest.mark.skipif(cuda_driver_present(), reason="a CUDA driver is present: GPU modules may load")
def test_plan_on_the_default_problem_imports_no_gpu_module():
    # (a bare ``cuda`` namespace package may be loaded at start-up by an installed .pth file)
    code = ("import sys, json\n"
            "from optimizer.cli import main\n"
            "rc = main(['plan', '-q'])\n"
            "gpu = sorted(m for m in sys.modules if m.split('.')[0] in ('cupy', 'numba_cuda')"
            " or m.startswith(('numba.cuda', 'cuda.bindings', 'cuda.core')))\n"
            "sys.stderr.write(json.dumps(dict(rc=rc, gpu=gpu)))\n")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    rep = json.loads(r.stderr.strip().splitlines()[-1])
    assert rep["rc"] == 0, r.stderr[-2000:]
    assert rep["gpu"] == []


def test_status_codes_are_named_integers():
    space = build_space(problems.load("enterprise-mix"))
    st = evaluate_indices(space, np.arange(space.size))["status"]
    assert st.dtype == np.int8
    assert set(np.unique(st).tolist()) == {int(s) for s in Status}


def test_a_formula_argument_without_a_source_is_named_with_its_line(monkeypatch):
    from kernels import formulas, layout

    def config_valid(prec, tp, dep, spec, allow_bf16, allow_fp8, allow_fp4, is_moe, has_mtp, pp_degree):
        return prec

    monkeypatch.setattr(formulas, "config_valid", config_valid)
    with pytest.raises(ValueError, match=r"kernels/formulas.py:\d+: config_valid takes pp_degree.*kernels/layout.py"):
        layout.formula_args("config_valid")


def test_an_error_in_a_generated_adapter_names_the_formula_and_its_line():
    from kernels import formulas
    from kernels.adapter import python_adapters
    from kernels.scalar import python_namespace

    ns = python_namespace()
    python_adapters(ns)
    space = build_space(problems.load("chat-mixed-fleet"), hardware=["b200"])
    t = space.kernel_tables()
    ix = np.zeros(len(t["dims"]), np.int64)
    line = formulas.evaluate_config.__code__.co_firstlineno
    with pytest.raises(IndexError) as e:
        ns["evaluate_config_at"](ix, t["axv"], t["axo"], t["wm"][:, :3], t["hw"])   # a table too narrow
    frames = traceback.extract_tb(e.value.__traceback__)
    assert f"formulas.evaluate_config (kernels/formulas.py:{line})" in frames[-1].filename
    assert "wm table column" in frames[-1].line or "wm_t[" in frames[-1].line


def test_numba_cuda_on_a_device_needs_the_numba_cuda_package_not_plain_numba(monkeypatch):
    import importlib.util

    from kernels import backends

    real = importlib.util.find_spec
    monkeypatch.setattr(backends.importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba_cuda" else real(name, *a))
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    ok, why = backends.numba_cuda_status()
    assert not ok and "numba-cuda package" in why
    with pytest.raises(backends.BackendUnavailable, match=r"tokenfleet\[gpu\]"):
        resolve_backend("numba-cuda")
