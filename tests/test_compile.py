"""The GPU kernels through the real CUDA compilers (NVVM via numba-cuda, NVRTC, ptxas), in a
separate process because this suite runs with the CUDA simulator on. Needs the ``compile`` extra
(``pip install '.[compile]'``), which CI installs; skipped where it is missing."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

HAVE_COMPILERS = all(importlib.util.find_spec(m) is not None for m in ("numba_cuda", "cuda.bindings"))
needs_compilers = pytest.mark.skipif(not HAVE_COMPILERS, reason="needs the 'compile' extra (numba-cuda[cu12])")
SCRIPT = ROOT / "tests" / "compile_kernels.py"


def _run(args, code=None):
    cmd = [sys.executable, "-c", code] if code else [sys.executable, str(SCRIPT), *args]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT), "NUMBA_ENABLE_CUDASIM": "0"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


@needs_compilers
def test_every_gpu_kernel_compiles_without_spills_with_the_real_compilers():
    r = _run([])
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    lines = [ln.split() for ln in r.stdout.splitlines()[1:]]
    # 2 compilers x 2 kernels x 2 float types x 2 architectures, each with its register count
    assert len(lines) == 16 and all(int(ln[4]) > 0 for ln in lines)


def test_the_simulator_runs_a_kernel_with_an_untyped_global():
    from numba import cuda

    from kernel_samples import scale_kernel

    out = np.zeros(4)
    cuda.jit(scale_kernel)[1, 4](out)
    assert out.tolist() == [1.0] * 4


@needs_compilers
def test_the_compile_check_refuses_a_kernel_with_an_untyped_global():
    code = ("import sys; sys.path.insert(0, 'tests')\n"
            "import compile_kernels as ck\n"
            "from numba import types\n"
            "from kernel_samples import scale_kernel\n"
            "try:\n"
            "    ck.compile_numba(scale_kernel, types.void(types.float64[::1]), (9, 0))\n"
            "except ck.CompileError as e:\n"
            "    print('refused:', e); raise SystemExit(3)\n")
    r = _run([], code=code)
    assert r.returncode == 3, r.stdout + r.stderr[-3000:]
    assert "SCALES" in r.stdout
