"""Host-side driver shared by the GPU backends (Numba-CUDA and CuPy).

Both run the same fused kernel design (see the indexing sketch in :mod:`kernels.numba_kernels`):
the space is cut into chunks of whole (workload-model, hardware) slabs so that every index inside a
chunk fits 32 bits, each chunk is one launch, and the reductions come back as packed 64-bit keys
(value bits high, index bits low) that :class:`DeviceOutputs` turns into a
:class:`kernels.evaluate.Reduction`. Nothing here imports a GPU library.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .evaluate import N_BINS, Reduction
from .space import ConfigSpace

TILE = 16                      # consecutive configurations per thread
MASK32 = np.uint64(0xFFFFFFFF)
EMPTY_MIN = np.uint64(0xFFFFFFFFFFFFFFFF)


def chunks_of(space: ConfigSpace, max_local: int):
    """(slab0, n_slabs) ranges of whole slabs with fewer than ``max_local`` configurations."""
    if space.slab_size >= 2**31:
        raise ValueError("a (workload, hardware) slab exceeds 2^31 configurations; reduce the batch grid")
    per = max(1, max_local // max(space.slab_size, 1))
    for s0 in range(0, space.n_slabs, per):
        yield s0, min(per, space.n_slabs - s0)


def run_chunks(space: ConfigSpace, chunk: int | None, launch, progress=None) -> float:
    """Launch the fused kernel once per chunk; returns the first launch's seconds (compilation).

    ``launch(n_threads, scalars)`` runs one chunk and synchronizes; ``scalars`` are the kernel's
    leading arguments: ``slab0, n_local`` (uint32), ``group0, fg0`` (int64: the chunk's first
    group and frontier group) and ``fgs`` (uint32: configurations per frontier group).
    """
    nb = len(space.batches)
    fgs = space.frontier_group_size
    compile_s = None
    for slab0, n_slabs in chunks_of(space, chunk or (1 << 30)):
        n_local = n_slabs * space.slab_size
        start = slab0 * space.slab_size
        scalars = (np.uint32(slab0), np.uint32(n_local), np.int64(start // nb), np.int64(start // fgs),
                   np.uint32(fgs))
        t = time.perf_counter()
        launch(math.ceil(n_local / TILE), scalars)
        if compile_s is None:
            compile_s = time.perf_counter() - t
        if progress is not None:
            progress(n_local)
    return compile_s or 0.0


def kernel_arrays(space: ConfigSpace, dtype, to_device) -> tuple:
    """The kernels' table arguments on the device, in order: dims, axv, axo, wm_t, hw_t."""
    t = space.kernel_tables()
    return (to_device(t["dims"]), to_device(t["axv"].astype(dtype)), to_device(t["axo"]),
            to_device(np.ascontiguousarray(t["wm"], dtype=dtype)), to_device(np.ascontiguousarray(t["hw"], dtype=dtype)))


def _bits_to_float(k: np.ndarray) -> np.ndarray:
    return (k >> np.uint64(32)).astype(np.uint32).view(np.float32).astype(np.float64)


@dataclass
class DeviceOutputs:
    """The kernel's output arrays, on whichever device library allocated them."""

    grp_cost: object
    grp_tpj: object
    front: object
    counts: object

    @classmethod
    def allocate(cls, space: ConfigSpace, to_device) -> "DeviceOutputs":
        return cls(grp_cost=to_device(np.full(space.n_groups, EMPTY_MIN, dtype=np.uint64)),
                   grp_tpj=to_device(np.zeros(space.n_groups, dtype=np.uint64)),
                   front=to_device(np.zeros(space.n_frontier_groups * N_BINS, dtype=np.uint64)),
                   counts=to_device(np.zeros(2, dtype=np.uint64)))

    def arrays(self) -> tuple:
        return self.grp_cost, self.grp_tpj, self.front, self.counts

    def decode_into(self, space: ConfigSpace, red: Reduction, to_host) -> None:
        """Unpack the keys into ``red`` (host side, small)."""
        grp_cost, grp_tpj, front, counts = (to_host(a) for a in self.arrays())
        nb = len(space.batches)
        g = np.arange(grp_cost.size, dtype=np.int64)
        ok = grp_cost != EMPTY_MIN
        red.best_cost_idx = np.where(ok, g * nb + (grp_cost & MASK32).astype(np.int64), -1)
        red.best_cost = np.where(ok, _bits_to_float(grp_cost), np.inf)
        okt = grp_tpj != np.uint64(0)
        red.best_tpj_idx = np.where(okt, g * nb + (MASK32 - (grp_tpj & MASK32)).astype(np.int64), -1)
        red.best_tpj = np.where(okt, _bits_to_float(grp_tpj), -np.inf)
        f = front.reshape(-1, N_BINS)
        okf = f != np.uint64(0)
        fg = np.arange(f.shape[0], dtype=np.int64)[:, None]
        off = (MASK32 - (f & MASK32)).astype(np.int64)
        red.frontier_idx = np.where(okf, fg * space.frontier_group_size + off, -1)
        red.frontier_val = np.where(okf, _bits_to_float(f), -np.inf)
        red.n_fit = int(counts[0])
        red.n_meet = int(counts[1])
        red.n_evaluated = space.size
