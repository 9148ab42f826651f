"""Numba-CUDA backend: the host side of the kernels in :mod:`kernels.numba_kernels` (one fused
launch per chunk: decode -> metrics -> SLA mask -> reductions; see the sketch there)."""

from __future__ import annotations

import math
import time

import numpy as np

from .device import DeviceOutputs, kernel_arrays, run_chunks
from .evaluate import Reduction
from .layout import OUTPUTS
from .space import ConfigSpace


def evaluate_numba(space: ConfigSpace, chunk: int | None = None, progress=None, dtype: str = "float32") -> Reduction:
    """Evaluate ``space`` with the Numba-CUDA kernel (or the CUDA simulator in tests)."""
    from numba import cuda  # noqa: PLC0415
    from numba.core import config  # noqa: PLC0415

    from .numba_kernels import THREADS, eval_kernel  # noqa: PLC0415

    t0 = time.perf_counter()
    kern = eval_kernel(dtype)
    tabs = kernel_arrays(space, np.dtype(dtype), cuda.to_device)
    out = DeviceOutputs.allocate(space, cuda.to_device)

    def launch(n_threads, scalars):
        kern[max(1, math.ceil(n_threads / THREADS)), THREADS](*scalars, *tabs, *out.arrays())
        cuda.synchronize()

    compile_s = run_chunks(space, chunk, launch, progress)
    red = Reduction.empty(space, "numba-cuda (simulator)" if config.ENABLE_CUDASIM else "numba-cuda")
    out.decode_into(space, red, lambda a: a.copy_to_host())
    red.elapsed_s = time.perf_counter() - t0
    red.compile_s = compile_s
    return red


def evaluate_points_numba(space: ConfigSpace, idx, dtype: str = "float32") -> dict[str, np.ndarray]:
    """All metrics of the given configuration indices, computed on the device (no reduction):
    what parity tests compare, metric by metric, with the NumPy reference."""
    from numba import cuda  # noqa: PLC0415

    from .numba_kernels import THREADS, points_kernel  # noqa: PLC0415

    kern = points_kernel(dtype)
    axes = np.stack(space.decode(np.asarray(idx, dtype=np.int64)), axis=1).astype(np.int32)
    tabs = kernel_arrays(space, np.dtype(dtype), cuda.to_device)
    out = cuda.to_device(np.zeros((len(OUTPUTS), len(axes)), dtype=dtype))
    kern[max(1, math.ceil(len(axes) / THREADS)), THREADS](cuda.to_device(axes), *tabs[1:], out)
    o = out.copy_to_host().astype(np.float64)
    return {name: o[i] for i, name in enumerate(OUTPUTS)}
