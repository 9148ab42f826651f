"""CuPy backend: the kernels of ``kernels/fused.cu`` (with the translated formulas and the
generated adapters, :func:`kernels.cuda_source.kernel_source`) as a ``cupy.RawModule``.

Same chunking, indexing and packed-atomic reductions as the Numba-CUDA backend (see the sketch
in :mod:`kernels.numba_kernels`); the formulas are the machine translation of
:mod:`kernels.formulas`, held to the NumPy reference by parity tests.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .cuda_source import kernel_source
from .device import DeviceOutputs, kernel_arrays, run_chunks
from .evaluate import Reduction
from .layout import OUTPUTS
from .space import ConfigSpace

# 128 threads per block: the same resident warps as 256 for the float32 kernels (register-bound at
# 24 warps per SM), more for the float64 ones (18.8% instead of 12.5% theoretical occupancy on
# sm_90; tests/compile_kernels.py prints the figures)
THREADS = 128
_CACHE: dict = {}


def _module(real: str = "float", fast_math: bool = False):
    key = (real, fast_math)
    if key not in _CACHE:
        import cupy as cp  # noqa: PLC0415

        opts = ("--std=c++14",) + (("-use_fast_math",) if fast_math else ())
        _CACHE[key] = cp.RawModule(code=kernel_source(real), options=opts)
    return _CACHE[key]


def evaluate_cupy(space: ConfigSpace, chunk: int | None = None, progress=None, real: str = "float",
                  fast_math: bool = False) -> Reduction:
    import cupy as cp  # noqa: PLC0415

    t0 = time.perf_counter()
    k = _module(real, fast_math).get_function("tokenfleet_eval")
    tabs = kernel_arrays(space, np.float32 if real == "float" else np.float64, cp.asarray)
    out = DeviceOutputs.allocate(space, cp.asarray)

    def launch(n_threads, scalars):
        k((max(1, math.ceil(n_threads / THREADS)),), (THREADS,), (*scalars, *tabs, *out.arrays()))
        cp.cuda.Device().synchronize()

    compile_s = run_chunks(space, chunk, launch, progress)
    red = Reduction.empty(space, "cupy")
    out.decode_into(space, red, cp.asnumpy)
    red.elapsed_s = time.perf_counter() - t0
    red.compile_s = compile_s
    return red


def evaluate_points_cupy(space: ConfigSpace, idx, real: str = "float") -> dict[str, np.ndarray]:
    """All metrics of the given configuration indices on the device (for parity checks)."""
    import cupy as cp  # noqa: PLC0415

    k = _module(real).get_function("tokenfleet_points")
    dt = np.float32 if real == "float" else np.float64
    axes = cp.asarray(np.stack(space.decode(np.asarray(idx, dtype=np.int64)), axis=1).astype(np.int32))
    n = axes.shape[0]
    tabs = kernel_arrays(space, dt, cp.asarray)
    out = cp.zeros((len(OUTPUTS), n), dtype=dt)
    k((max(1, math.ceil(n / THREADS)),), (THREADS,), (axes, np.int32(n), *tabs[1:], out))
    o = cp.asnumpy(out).astype(np.float64)
    return {name: o[i] for i, name in enumerate(OUTPUTS)}
