"""CuPy backend: the fused CUDA C kernel of :mod:`kernels.cuda_source` as a ``cupy.RawKernel``.

Same chunking, indexing and packed-atomic reductions as the Numba-CUDA backend (see the sketch
in :mod:`kernels.numba_backend`); the formulas are the machine translation of
:mod:`kernels.formulas`, held to the NumPy reference by parity tests.
"""

from __future__ import annotations

import math
import time

import numpy as np

from . import formulas
from .cuda_source import kernel_source, points_kernel_source
from .device import DeviceOutputs, run_chunks
from .evaluate import Reduction
from .space import ConfigSpace

THREADS = 256
_CACHE: dict = {}


def _kernel(real: str = "float", fast_math: bool = False):
    key = (real, fast_math)
    if key not in _CACHE:
        import cupy as cp  # noqa: PLC0415

        opts = ("--std=c++14",) + (("-use_fast_math",) if fast_math else ())
        _CACHE[key] = cp.RawKernel(kernel_source(real), "tokenfleet_eval", options=opts)
    return _CACHE[key]


def evaluate_cupy(space: ConfigSpace, chunk: int | None = None, progress=None, real: str = "float",
                  fast_math: bool = False) -> Reduction:
    import cupy as cp  # noqa: PLC0415

    t0 = time.perf_counter()
    k = _kernel(real, fast_math)
    dt = np.float32 if real == "float" else np.float64
    tabs = {n: cp.asarray(np.ascontiguousarray(v, dtype=dt)) for n, v in space.axis_tables().items()}
    out = DeviceOutputs.allocate(space, cp.asarray)

    def launch(n_threads, scalars):
        k((max(1, math.ceil(n_threads / THREADS)),), (THREADS,),
          (*scalars, tabs["prec"], tabs["tp"], tabs["mode"], tabs["spec"], tabs["batch"], tabs["wm"], tabs["hw"],
           *out.arrays()))
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

    key = ("points", real)
    if key not in _CACHE:
        _CACHE[key] = cp.RawKernel(points_kernel_source(real), "tokenfleet_points", options=("--std=c++14",))
    dt = np.float32 if real == "float" else np.float64
    axes = cp.asarray(np.stack(space.decode(np.asarray(idx, dtype=np.int64)), axis=1).astype(np.int32))
    n = axes.shape[0]
    t = {k: cp.asarray(np.ascontiguousarray(v, dtype=dt)) for k, v in space.axis_tables().items()}
    out = cp.zeros((len(formulas.OUTPUTS), n), dtype=dt)
    _CACHE[key](((n + 255) // 256,), (256,), (axes, np.int32(n), t["prec"], t["tp"], t["mode"], t["spec"],
                                                t["batch"], t["wm"], t["hw"], out))
    o = cp.asnumpy(out).astype(np.float64)
    return {name: o[i] for i, name in enumerate(formulas.OUTPUTS)}
