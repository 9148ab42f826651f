"""Evaluate a whole configuration space and reduce it to what the allocation needs.

Only small results leave a backend (the same for every backend):

* per *group* (a configuration without its batch): the batch with the lowest cost per output token
  that meets the workload's SLA, and the batch with the most tokens per joule meeting it;
* per (workload-model, hardware, precision): the throughput-vs-interactivity frontier, the
  highest output tok/s per GPU in each of ``N_BINS`` log-spaced bins of output tok/s per user
  (1 to 10^4), over every configuration that fits (SLA or not), with the winning index.

Ties go to the smallest configuration index, so every backend picks the same winners.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import formulas
from .backends import resolve_backend
from .layout import Status
from .reference import evaluate_slab_range
from .space import ConfigSpace

N_BINS = 64
DEFAULT_CHUNK = 1 << 16   # measured best on 2 cores (benchmarks/RESULTS.md)


@dataclass
class Reduction:
    """What a backend hands back for a configuration space (host NumPy arrays)."""

    space: ConfigSpace
    best_cost_idx: np.ndarray     # (n_groups,) int64, -1 where no batch meets the SLA
    best_cost: np.ndarray         # (n_groups,) USD per million output tokens, inf where none
    best_tpj_idx: np.ndarray      # (n_groups,) int64
    best_tpj: np.ndarray          # (n_groups,) tokens per joule, -inf where none
    frontier_val: np.ndarray      # (n_wm * n_hw * n_prec, N_BINS) output tok/s per GPU, -inf empty
    frontier_idx: np.ndarray      # same shape, int64, -1 empty
    n_evaluated: int = 0
    n_fit: int = 0
    n_meet: int = 0
    backend: str = "numpy"
    elapsed_s: float = 0.0
    compile_s: float = 0.0
    notes: list = field(default_factory=list)

    @classmethod
    def empty(cls, space: ConfigSpace, backend: str) -> "Reduction":
        ng, nf = space.n_groups, space.n_frontier_groups
        return cls(space=space, best_cost_idx=np.full(ng, -1, np.int64), best_cost=np.full(ng, np.inf),
                   best_tpj_idx=np.full(ng, -1, np.int64), best_tpj=np.full(ng, -np.inf),
                   frontier_val=np.full((nf, N_BINS), -np.inf), frontier_idx=np.full((nf, N_BINS), -1, np.int64),
                   backend=backend)

    def candidate_indices(self) -> np.ndarray:
        """Distinct configuration indices worth handing to the allocation."""
        idx = np.concatenate([self.best_cost_idx, self.best_tpj_idx])
        return np.unique(idx[idx >= 0])


def _reduce_chunk(red: Reduction, start: int, res: dict, nb: int, inner_f: int) -> None:
    """Fold one chunk's metrics (whole groups, starting at ``start``) into ``red``."""
    status = res["status"]
    n = status.size
    g0 = start // nb
    ng = n // nb
    meets = status == Status.MEETS_SLA
    fits = status >= Status.MISSES_SLA
    red.n_evaluated += n
    red.n_fit += int(fits.sum())
    red.n_meet += int(meets.sum())
    cost = np.where(meets, res["cost_usd_per_mtok_output"], np.inf).reshape(ng, nb)
    j = np.argmin(cost, axis=1)
    v = cost[np.arange(ng), j]
    ok = np.isfinite(v)
    gi = np.arange(g0, g0 + ng)
    red.best_cost[gi] = v
    red.best_cost_idx[gi] = np.where(ok, start + np.arange(ng) * nb + j, -1)
    tpj = np.where(meets, res["tok_per_joule"], -np.inf).reshape(ng, nb)
    j = np.argmax(tpj, axis=1)
    v = tpj[np.arange(ng), j]
    ok = np.isfinite(v)
    red.best_tpj[gi] = v
    red.best_tpj_idx[gi] = np.where(ok, start + np.arange(ng) * nb + j, -1)
    # frontier
    sel = np.flatnonzero(fits)
    if sel.size == 0:
        return
    gidx = start + sel
    fg = gidx // inner_f
    b = formulas.frontier_bin(res["output_tok_s_per_user"][sel], float(N_BINS)).astype(np.int64)
    key = fg * N_BINS + b
    val = res["output_tok_s_per_gpu"][sel]
    order = np.lexsort((-gidx, val, key))          # last per key: max value, then smallest index
    key_s = key[order]
    last = np.flatnonzero(np.r_[key_s[1:] != key_s[:-1], True])
    k = key_s[last]
    v = val[order][last]
    i = gidx[order][last]
    fv = red.frontier_val.reshape(-1)
    fi = red.frontier_idx.reshape(-1)
    better = (v > fv[k]) | ((v == fv[k]) & (i < fi[k]))
    fv[k[better]] = v[better]
    fi[k[better]] = i[better]


def evaluate_numpy(space: ConfigSpace, chunk: int = DEFAULT_CHUNK, progress=None) -> Reduction:
    """Reference evaluation in float64, walking the space in chunks of whole groups."""
    red = Reduction.empty(space, "numpy")
    nb = len(space.batches)
    inner_f = space.frontier_group_size
    slab_size = space.slab_size
    step = max(nb, (chunk // nb) * nb)
    t0 = time.perf_counter()
    for slab in range(space.n_slabs):
        for lo in range(0, slab_size, step):
            hi = min(slab_size, lo + step)
            res = evaluate_slab_range(space, slab, lo, hi)
            _reduce_chunk(red, slab * slab_size + lo, res, nb, inner_f)
            if progress is not None:
                progress(hi - lo)
    red.elapsed_s = time.perf_counter() - t0
    return red


def evaluate(space: ConfigSpace, backend: str = "auto", chunk: int | None = None, progress=None) -> Reduction:
    """Evaluate ``space`` on ``backend`` ("auto", "numpy", "numba", "cupy", "numba-cuda").

    The returned :class:`Reduction` records which backend ran and how long evaluation took.
    Raises :class:`kernels.backends.BackendUnavailable` when an explicitly requested backend
    cannot run.
    """
    name = resolve_backend(backend, size=space.size)
    if name == "numpy":
        return evaluate_numpy(space, chunk or DEFAULT_CHUNK, progress)
    if name == "numba":
        from .numba_cpu import evaluate_numba_cpu
        return evaluate_numba_cpu(space, chunk=chunk, progress=progress)
    if name == "numba-cuda":
        from .numba_backend import evaluate_numba
        return evaluate_numba(space, chunk=chunk, progress=progress)
    from .cupy_backend import evaluate_cupy
    return evaluate_cupy(space, chunk=chunk, progress=progress)
