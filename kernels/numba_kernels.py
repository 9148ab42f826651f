"""The Numba-CUDA kernels: ordinary Python, compiled once per float type.

Imported only by the Numba-CUDA backend and the compile check (it imports ``numba.cuda``).

Indexing of the fused kernel (unsigned 32-bit inside a chunk; a chunk is whole slabs, so every
local index and count fits 31 bits, see :func:`kernels.device.chunks_of`)::

    thread t: local indices j in [t * TILE, min((t + 1) * TILE, n_local))

      first j:  ix[N-1 .. SLAB_AXES]  <- mixed-radix digits of j       (innermost axis first)
                ix[SLAB_AXES-1 .. 0]  <- digits of slab0 + j / slab_size
      next j:   ix[N-1] += 1, carrying into ix[N-2], ... like an odometer; the outermost axis
                that changed says what starts:   any carry             -> a new group
                                                 carry into an axis < FRONTIER_AXES -> a new frontier group

    group    = group0 + j / nb            (nb = size of the innermost axis, the batch)
    frontier = fg0 + j / fgs, offset j % fgs   (fgs = configurations per frontier group)

Reductions stay on the device as 64-bit packed atomics (value bits high, index bits low)::

    grp_cost[g]   atomicMin(bits(cost) << 32 | b)              lowest cost, then smallest batch
    grp_tpj[g]    atomicMax(bits(tpj)  << 32 | ~b)             most tokens/J, then smallest batch
    front[fg,bin] atomicMax(bits(tok/s/GPU) << 32 | ~offset)   frontier, then smallest index
    counts[0:2]   fit / meet counts (one atomicAdd per thread)

Positive float32 values compare like their bit patterns, so integer atomics order them. A tile
keeps its running best per group in registers and flushes when a new group starts.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from . import _numba_compat  # noqa: F401 - before numba.cuda
import numba  # noqa: E402
from numba import cuda  # noqa: E402
from numba.core import config  # noqa: E402

from .device import TILE  # noqa: E402
from .evaluate import N_BINS  # noqa: E402
from .layout import FRONTIER_AXES, N_AXES, OUT, OUTPUTS, SLAB_AXES, Status  # noqa: E402
from .scalar import numba_namespace  # noqa: E402


THREADS = 128  # threads per block

if config.ENABLE_CUDASIM:
    @cuda.jit(device=True)
    def float_bits(x):
        """Bit pattern of float32(x) (the simulator runs Python and has no libdevice)."""
        return int(np.array(x, dtype=np.float32).view(np.int32))
else:
    from numba.cuda import libdevice

    @cuda.jit(device=True)
    def float_bits(x):
        """Bit pattern of float32(x); for x >= 0 it is monotone in x and fits 31 bits."""
        return libdevice.float_as_int(numba.float32(x))


@cache
def eval_kernel(dtype: str = "float32"):
    """The fused evaluate-and-reduce kernel computing in ``dtype``."""
    ns = numba_namespace("cuda", dtype)
    evaluate_at, valid_at, frontier_bin = ns["evaluate_config_at"], ns["config_valid_at"], ns["frontier_bin"]
    ft = getattr(numba, dtype)
    u32, u64, i32 = numba.uint32, numba.uint64, numba.int32
    INF, NEG, HALF, NBINS_F = ft(np.inf), ft(-np.inf), ft(0.5), ft(N_BINS)
    ONE, ZERO, TILE_U = u32(1), u32(0), u32(TILE)
    MASK32, SHIFT = u64(0xFFFFFFFF), u64(32)
    MEETS, FITS = i32(Status.MEETS_SLA), i32(Status.MISSES_SLA)
    O_STATUS, O_USER, O_GPU = OUT["status"], OUT["output_tok_s_per_user"], OUT["output_tok_s_per_gpu"]
    O_COST, O_TPJ = OUT["cost_usd_per_mtok_output"], OUT["tok_per_joule"]
    LAST, FIRST_INNER, N_FRONT = N_AXES - 1, SLAB_AXES, FRONTIER_AXES

    @cuda.jit(device=True)
    def flush(grp_cost, grp_tpj, g, best_c, best_cb, best_t, best_tb):
        if best_c < INF:
            cuda.atomic.min(grp_cost, g, (u64(float_bits(best_c)) << SHIFT) | u64(best_cb))
            cuda.atomic.max(grp_tpj, g, (u64(float_bits(best_t)) << SHIFT) | (MASK32 - u64(best_tb)))

    @cuda.jit(device=True)
    def decode(j, slab0, dims, ix):
        x = j
        for a in range(LAST, FIRST_INNER - 1, -1):
            d = u32(dims[a])
            q = u32(x // d)
            ix[a] = u32(x - q * d)
            x = q
        x = u32(x + slab0)
        for a in range(FIRST_INNER - 1, -1, -1):
            d = u32(dims[a])
            q = u32(x // d)
            ix[a] = u32(x - q * d)
            x = q

    @cuda.jit(device=True)
    def advance(dims, ix):
        """Odometer step; returns the outermost axis that changed."""
        a = LAST
        ix[a] = u32(ix[a] + ONE)
        while a > 0 and ix[a] == u32(dims[a]):
            ix[a] = ZERO
            a -= 1
            ix[a] = u32(ix[a] + ONE)
        return a

    def kernel(slab0, n_local, group0, fg0, fgs, dims, axv, axo, wm_t, hw_t, grp_cost, grp_tpj, front, counts):
        ix = cuda.local.array(N_AXES, numba.uint32)
        j = u32(cuda.grid(1)) * TILE_U
        if j >= n_local:
            return
        j1 = u32(j + TILE_U)
        if j1 > n_local:
            j1 = n_local
        decode(j, slab0, dims, ix)
        nb = u32(dims[LAST])
        g = u32(j // nb)
        fg = u32(j // fgs)
        off = u32(j - fg * fgs)
        best_c, best_t = INF, NEG
        best_cb, best_tb = ZERO, ZERO
        nfit, nmeet = ZERO, ZERO
        while j < j1:
            if valid_at(ix, axv, axo, wm_t, hw_t) > HALF:
                res = evaluate_at(ix, axv, axo, wm_t, hw_t)
                status = i32(res[O_STATUS])
                if status >= FITS:
                    nfit += ONE
                    slot = (fg0 + fg) * N_BINS + i32(frontier_bin(res[O_USER], NBINS_F))
                    key = (u64(float_bits(res[O_GPU])) << SHIFT) | (MASK32 - u64(off))
                    if key > front[slot]:
                        cuda.atomic.max(front, slot, key)
                    if status >= MEETS:
                        nmeet += ONE
                        if res[O_COST] < best_c:
                            best_c = res[O_COST]
                            best_cb = ix[LAST]
                        if res[O_TPJ] > best_t:
                            best_t = res[O_TPJ]
                            best_tb = ix[LAST]
            j = u32(j + ONE)
            if j < j1:
                changed = advance(dims, ix)
                off = u32(off + ONE)
                if changed < LAST:       # a new group starts
                    flush(grp_cost, grp_tpj, group0 + g, best_c, best_cb, best_t, best_tb)
                    g = u32(g + ONE)
                    best_c, best_t = INF, NEG
                    if changed < N_FRONT:
                        fg = u32(fg + ONE)
                        off = ZERO
        flush(grp_cost, grp_tpj, group0 + g, best_c, best_cb, best_t, best_tb)
        if nfit > ZERO:
            cuda.atomic.add(counts, 0, u64(nfit))
        if nmeet > ZERO:
            cuda.atomic.add(counts, 1, u64(nmeet))

    return cuda.jit(kernel)


@cache
def points_kernel(dtype: str = "float32"):
    """A kernel writing every metric of a list of decoded configurations (parity checks)."""
    ns = numba_namespace("cuda", dtype)
    evaluate_at, valid_at = ns["evaluate_config_at"], ns["config_valid_at"]
    ft = getattr(numba, dtype)
    N_OUT, O_STATUS, HALF, INVALID = len(OUTPUTS), OUT["status"], ft(0.5), ft(Status.INVALID)

    def points(axes, axv, axo, wm_t, hw_t, out):
        k = cuda.grid(1)
        if k < axes.shape[0]:
            ix = axes[k]
            res = evaluate_at(ix, axv, axo, wm_t, hw_t)
            for i in range(N_OUT):
                out[i, k] = res[i]
            if valid_at(ix, axv, axo, wm_t, hw_t) < HALF:
                out[O_STATUS, k] = INVALID

    return cuda.jit(points)
