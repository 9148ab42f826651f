"""Backends: the Numba-CUDA kernel (CUDA simulator here) and the CuPy kernel's C text (compiled
with the host C compiler) are held to the NumPy float64 reference."""

import ctypes
import shutil
import subprocess
import sys

import numpy as np
import pytest

import problems
from kernels import BackendUnavailable, build_space, evaluate, resolve_backend
from kernels import formulas
from kernels.cuda_source import TranslationError, _Translator, device_functions, host_test_source, kernel_source
from kernels.evaluate import evaluate_numpy
from kernels.layout import EVAL_ARGS, default_arguments
from kernels.tables import default_calibration, hardware_row, model_row

from conftest import ROOT

F32_TOL = 64 * float(np.finfo(np.float32).eps)   # a few dozen float32 roundings through the formulas


def _small_space(example, hardware, batches=None, **kw):
    p = problems.load(example)
    return build_space(p, hardware=hardware, batches=batches, **kw)


def _assert_same_reduction(ref, got, space):
    assert got.n_fit == ref.n_fit and got.n_meet == ref.n_meet
    # candidates identical except where two batches tie within float32 rounding
    diff = np.flatnonzero(ref.best_cost_idx != got.best_cost_idx)
    for g in diff:
        a, b = ref.best_cost_idx[g], got.best_cost_idx[g]
        assert a >= 0 and b >= 0
        from kernels.reference import evaluate_indices
        ca = evaluate_indices(space, [a])["cost_usd_per_mtok_output"][0]
        cb = evaluate_indices(space, [b])["cost_usd_per_mtok_output"][0]
        assert cb == pytest.approx(ca, rel=F32_TOL)
    assert len(diff) <= max(1, len(ref.best_cost_idx) // 50)
    ok = np.isfinite(ref.best_cost)
    np.testing.assert_allclose(got.best_cost[ok], ref.best_cost[ok], rtol=F32_TOL)
    fin = ref.frontier_idx >= 0
    assert ((got.frontier_idx >= 0) == fin).mean() > 0.98
    both = fin & (got.frontier_idx >= 0)
    np.testing.assert_allclose(got.frontier_val[both], ref.frontier_val[both], rtol=1e-3)


@pytest.mark.parametrize("example,hardware", [("chat-mixed-fleet", ["h200-sxm", "b200"]),
                                              ("reasoning-tiers", ["gb200-nvl72"])])
def test_numba_cuda_kernel_matches_the_reference_under_the_simulator(example, hardware):
    from kernels.numba_backend import evaluate_numba

    space = _small_space(example, hardware, batches=[1, 8, 64, 256, 1024])
    if example == "reasoning-tiers":
        space = build_space(problems.load(example), hardware=hardware, workloads=["r1-fast"],
                            batches=[1, 16, 128, 1024])
    assert space.size <= 3000
    ref = evaluate_numpy(space)
    got = evaluate_numba(space, chunk=space.size // 2 + 1)
    assert got.backend == "numba-cuda (simulator)"
    _assert_same_reduction(ref, got, space)


def test_reference_reduction_is_chunk_independent():
    space = _small_space("enterprise-mix", ["h100-sxm", "b200"])
    a = evaluate_numpy(space, chunk=space.size)
    b = evaluate_numpy(space, chunk=len(space.batches) * 7)
    np.testing.assert_array_equal(a.best_cost_idx, b.best_cost_idx)
    np.testing.assert_array_equal(a.frontier_idx, b.frontier_idx)
    assert a.n_fit == b.n_fit


@pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None, reason="needs a C compiler")
def test_cuda_c_formulas_compiled_on_the_host_match_the_reference(tmp_path):
    cc = shutil.which("gcc") or shutil.which("cc")
    src = tmp_path / "f.c"
    lib = tmp_path / "f.so"
    src.write_text(host_test_source("double"))
    subprocess.run([cc, "-O1", "-shared", "-fPIC", "-o", str(lib), str(src), "-lm"], check=True)
    so = ctypes.CDLL(str(lib))
    rng = np.random.default_rng(1)
    cal = default_calibration()
    n = 400
    cols = {a: np.empty(n) for a in EVAL_ARGS}
    for k in range(n):
        hw = problems.get_hardware(rng.choice(["h100-sxm", "b200", "mi355x", "a100-sxm-80gb", "gb300-nvl72"]))
        m = problems.get_model(rng.choice(["llama-3.1-70b", "deepseek-r1", "gpt-oss-20b", "llama-4-maverick"]))
        vals = dict(default_arguments(), batch=float(rng.integers(1, 4096)), tp=float(2 ** rng.integers(0, 5)),
                    pp=float(rng.choice([1, 2, 4])), dep=float(rng.integers(0, 2)),
                    prec=float(rng.integers(0, 3)), draft=float(rng.integers(0, 2)),
                    **model_row(m, int(rng.integers(64, 32768)), int(rng.integers(16, 8192)),
                                float(rng.uniform(0, 0.95)), 1.5, 25.0),
                    **hardware_row(hw, cal))
        for a in EVAL_ARGS:
            cols[a][k] = vals[a]
    inp = np.ascontiguousarray(np.stack([cols[a] for a in EVAL_ARGS]))
    out = np.zeros((len(formulas.OUTPUTS), n))
    so.eval_many(inp.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                 out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), ctypes.c_long(n))
    ref = np.array(formulas.evaluate_config(*[cols[a] for a in EVAL_ARGS]))
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_translator_refuses_what_it_cannot_translate():
    import ast

    tr = _Translator("float", {}, set())
    with pytest.raises(TranslationError):
        tr.function(ast.parse("def f(x):\n    if x > 1:\n        return x\n    return 0.0\n").body[0])
    with pytest.raises(TranslationError):
        tr.expr(ast.parse("x ** 2", mode="eval").body)


def test_kernel_source_is_generated_from_the_formulas():
    src = kernel_source("float")
    assert "evaluate_config(" in src and "atomicMin" in src and "__global__" in src
    assert device_functions("float").count("__device__") == len([n for n in dir(formulas) if callable(getattr(formulas, n)) and getattr(getattr(formulas, n), "__module__", "") == "kernels.formulas"])


def test_auto_backend_runs_numpy_on_a_small_space_without_a_gpu():
    from kernels.backends import cuda_driver_present

    if cuda_driver_present():
        pytest.skip("a CUDA driver is present")
    red = evaluate(_small_space("chat-mixed-fleet", ["b200"]), backend="auto")
    assert red.backend == "numpy" and red.elapsed_s >= 0


def test_requested_cupy_without_a_gpu_names_the_extra():
    try:
        import cupy  # noqa: F401
        if cupy.cuda.is_available():
            pytest.skip("a GPU is present")
    except ImportError:
        pass
    with pytest.raises(BackendUnavailable, match=r"tokenfleet\[gpu\]|no CUDA device"):
        resolve_backend("cupy")


def test_unknown_backend_is_an_error():
    with pytest.raises(BackendUnavailable, match="unknown backend"):
        resolve_backend("tpu")


def test_cli_exits_2_for_an_unavailable_backend(capsys):
    from optimizer.cli import main

    try:
        import cupy
        if cupy.cuda.is_available():
            pytest.skip("a GPU is present")
    except ImportError:
        pass
    assert main(["plan", "-q", "--backend", "cupy"]) == 2
    assert "cupy" in capsys.readouterr().err


def test_no_gpu_module_is_imported_at_import_time():
    code = ("import sys, problems, kernels, kernels.layout, kernels.tables, kernels.calibration, optimizer, "
            "optimizer.cli, optimizer.solve;"
            "bad=[m for m in sys.modules if m.split('.')[0] in ('cupy','numba')]; print(bad); assert not bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def _compare_points(ref, got, rel):
    st_ref = ref["status"]
    ok = st_ref >= 0  # valid configurations
    for name in ref:
        if name == "status":
            continue
        a, b = ref[name][ok], got[name][ok]
        fin = np.isfinite(a)
        np.testing.assert_allclose(b[fin], a[fin], rtol=rel, err_msg=name)
    # status may differ only where a float32 rounding moves a value across its threshold
    assert (got["status"][ok] == st_ref[ok]).mean() > 0.99


def test_numba_points_kernel_matches_every_metric_under_the_simulator():
    from kernels.numba_backend import evaluate_points_numba
    from kernels.reference import evaluate_indices

    space = build_space(problems.load("enterprise-mix"))
    idx = np.random.default_rng(3).choice(space.size, 300, replace=False)
    ref = evaluate_indices(space, idx)
    valid = ref["status"] >= 0
    got = evaluate_points_numba(space, idx[valid])
    _compare_points({k: v[valid] for k, v in ref.items()}, got, rel=F32_TOL)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc (the CUDA toolkit), not a GPU")
@pytest.mark.parametrize("real", ["float", "double"])
def test_cupy_kernel_sources_compile_with_nvcc(tmp_path, real):
    src = kernel_source(real)
    cu = tmp_path / "k.cu"
    cu.write_text(src)
    r = subprocess.run(["nvcc", "-ptx", "-arch=sm_90", str(cu), "-o", str(tmp_path / "k.ptx")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
