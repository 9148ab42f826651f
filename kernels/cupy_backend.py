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
from .evaluate import N_BINS, Reduction
from .numba_backend import TILE, chunks_of, decode_device_results
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
    nf = len(space.wm_pairs) * len(space.hardware) * len(space.precisions)
    grp_cost = cp.full(space.n_groups, np.uint64(0xFFFFFFFFFFFFFFFF), dtype=cp.uint64)
    grp_tpj = cp.zeros(space.n_groups, dtype=cp.uint64)
    front = cp.zeros(nf * N_BINS, dtype=cp.uint64)
    counts = cp.zeros(2, dtype=cp.uint64)
    nb, H = len(space.batches), len(space.hardware)
    slab_size = space.size // (len(space.wm_pairs) * H)
    compile_s, first = 0.0, True
    for slab0, n_slabs in chunks_of(space, chunk or (1 << 30)):
        n_local = n_slabs * slab_size
        blocks = max(1, math.ceil(math.ceil(n_local / TILE) / THREADS))
        tk = time.perf_counter()
        k((blocks,), (THREADS,), (np.int32(slab0), np.int32(n_local), np.int64(slab0 * (slab_size // nb)),
                                  np.int32(nb), np.int32(len(space.specs)), np.int32(len(space.modes)),
                                  np.int32(len(space.tps)), np.int32(len(space.precisions)), np.int32(H),
                                  tabs["prec"], tabs["tp"], tabs["mode"], tabs["spec"], tabs["batch"],
                                  tabs["wm"], tabs["hw"], grp_cost, grp_tpj, front, counts))
        cp.cuda.Device().synchronize()
        if first:
            compile_s, first = time.perf_counter() - tk, False
        if progress is not None:
            progress(n_local)
    red = Reduction.empty(space, "cupy")
    decode_device_results(space, red, cp.asnumpy(grp_cost), cp.asnumpy(grp_tpj), cp.asnumpy(front), cp.asnumpy(counts))
    red.n_evaluated = space.size
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
