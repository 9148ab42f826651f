"""Numba CPU backend: the scalar formulas under ``numba.njit(parallel=True)``, in float64.

Work is split by frontier group (a (workload-model, hardware, precision) triple): each parallel
iteration owns one frontier row and the groups inside it, so no two threads write the same
result and no atomics are needed::

    prange over frontier groups f:          (the first FRONTIER_AXES axes)
        for each group g in f:              (decode its first index once, read its arguments once)
            for each batch b:               (the innermost axis: only its value changes)
                metrics = formula(arguments, batch value)
                fits  -> frontier[f, bin(tok/s per user)] = max tok/s per GPU, then smallest index
                meets -> lowest cost / most tokens per joule of the group, then smallest batch

Ties go to the smallest index, as in the NumPy reference. Imported only when this backend runs.
"""

from __future__ import annotations

import time
from functools import cache

import numpy as np

import numba

from .evaluate import N_BINS, Reduction
from .layout import N_AXES, OUT, Status
from .scalar import numba_namespace
from .space import ConfigSpace

CHUNK = 1 << 22    # configurations per call (progress granularity); whole frontier groups


@cache
def cpu_kernel(dtype: str = "float64"):
    """The parallel evaluate-and-reduce function computing in ``dtype``."""
    ns = numba_namespace("cpu", dtype)
    ev_row, ev_inner = ns["evaluate_config_row"], ns["evaluate_config_inner"]
    va_row, va_inner = ns["config_valid_row"], ns["config_valid_inner"]
    frontier_bin = ns["frontier_bin"]
    ft = getattr(numba, dtype)
    INF, NEG, HALF, NBINS_F = ft(np.inf), ft(-np.inf), ft(0.5), ft(N_BINS)
    MEETS, FITS = int(Status.MEETS_SLA), int(Status.MISSES_SLA)
    O_STATUS, O_USER, O_GPU = OUT["status"], OUT["output_tok_s_per_user"], OUT["output_tok_s_per_gpu"]
    O_COST, O_TPJ = OUT["cost_usd_per_mtok_output"], OUT["tok_per_joule"]
    LAST = N_AXES - 1

    @numba.njit(parallel=True, cache=False)
    def run(fg_lo, fg_hi, fgs, dims, axv, axo, wm_t, hw_t,
            best_cost, best_cost_idx, best_tpj, best_tpj_idx, front_val, front_idx, fit, meet):
        nb = dims[LAST]
        per_fg = fgs // nb
        vo = axo[LAST]
        for f in numba.prange(fg_lo, fg_hi):
            ix = np.zeros(N_AXES, np.int64)
            nfit = 0
            nmeet = 0
            for gl in range(per_fg):
                g = f * per_fg + gl
                start = g * nb
                x = start
                for a in range(LAST, -1, -1):
                    ix[a] = x % dims[a]
                    x //= dims[a]
                eargs = ev_row(ix, axv, axo, wm_t, hw_t)
                vargs = va_row(ix, axv, axo, wm_t, hw_t)
                bc, bt = INF, NEG
                bci, bti = -1, -1
                for b in range(nb):
                    v = axv[vo + b]
                    if va_inner(vargs, v) < HALF:
                        continue
                    res = ev_inner(eargs, v)
                    st = int(res[O_STATUS])
                    if st < FITS:
                        continue
                    nfit += 1
                    k = int(frontier_bin(res[O_USER], NBINS_F))
                    if res[O_GPU] > front_val[f, k]:
                        front_val[f, k] = res[O_GPU]
                        front_idx[f, k] = start + b
                    if st >= MEETS:
                        nmeet += 1
                        if res[O_COST] < bc:
                            bc = res[O_COST]
                            bci = start + b
                        if res[O_TPJ] > bt:
                            bt = res[O_TPJ]
                            bti = start + b
                best_cost[g] = bc
                best_cost_idx[g] = bci
                best_tpj[g] = bt
                best_tpj_idx[g] = bti
            fit[f] = nfit
            meet[f] = nmeet

    return run


def evaluate_numba_cpu(space: ConfigSpace, chunk: int | None = None, progress=None) -> Reduction:
    """Evaluate ``space`` on the CPU with Numba (float64, all cores)."""
    t0 = time.perf_counter()
    run = cpu_kernel("float64")
    red = Reduction.empty(space, "numba")
    t = space.kernel_tables()
    nf, fgs = space.n_frontier_groups, space.frontier_group_size
    fit = np.zeros(nf, np.int64)
    meet = np.zeros(nf, np.int64)
    per = max(1, (chunk or CHUNK) // max(fgs, 1))
    compile_s = None
    for lo in range(0, nf, per):
        hi = min(nf, lo + per)
        ts = time.perf_counter()
        run(lo, hi, fgs, t["dims"].astype(np.int64), t["axv"], t["axo"].astype(np.int64), t["wm"], t["hw"],
            red.best_cost, red.best_cost_idx, red.best_tpj, red.best_tpj_idx, red.frontier_val, red.frontier_idx,
            fit, meet)
        if compile_s is None:
            compile_s = time.perf_counter() - ts
        if progress is not None:
            progress((hi - lo) * fgs)
    red.n_evaluated = space.size
    red.n_fit = int(fit.sum())
    red.n_meet = int(meet.sum())
    red.elapsed_s = time.perf_counter() - t0
    red.compile_s = compile_s or 0.0
    return red
