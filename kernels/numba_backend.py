"""Numba-CUDA backend: one fused kernel per chunk (decode -> metrics -> SLA mask -> reductions).

Indexing (all 32-bit inside a chunk)::

    chunk  = whole slabs [slab0, slab0 + n_slabs), a slab = one (workload-model, hardware) pair
    thread = a tile of K consecutive local indices j in [0, n_local)
    j  -> slab = slab0 + j / slab_size,  r = j % slab_size
    r  -> (p, t, m, s, b) by mixed radix (batch innermost)
    group  g = j / nb (+ the chunk's first group)       frontier group fg = slab * P + p

Reductions stay on the device and use 64-bit packed atomics (value bits high, index low):

    grp_cost[g]  atomicMin(bits(cost) << 32 | b)              lowest cost, then smallest batch
    grp_tpj[g]   atomicMax(bits(tpj)  << 32 | ~b)             most tokens/J, then smallest batch
    front[fg, bin] atomicMax(bits(tok/s/GPU) << 32 | ~offset)  frontier, then smallest index
    counts[0:2]  fit / meet counts (one atomicAdd per thread)

Positive float32 values compare like their bit patterns, so integer atomics order them. A tile
keeps its running best per group in registers and flushes when it crosses into the next group.
The kernel text is generated from the argument list of ``formulas.evaluate_config`` so that
table layout and formulas cannot drift apart.
"""

from __future__ import annotations

import math
import time

import numpy as np

from . import formulas
from .device import TILE, DeviceOutputs, run_chunks
from .evaluate import N_BINS, Reduction
from .space import CONFIG_ARGS, HW_FIELDS, MTP_DRAFT_TOKENS, WM_FIELDS, ConfigSpace, _HW_EVAL, _WM_EVAL

THREADS = 128
_CACHE: dict = {}
_OUT = {name: i for i, name in enumerate(formulas.OUTPUTS)}


_WM_COL = {f: i for i, f in enumerate(WM_FIELDS)}
_HW_COL = {f: i for i, f in enumerate(HW_FIELDS)}


def _eval_args() -> str:
    """The call arguments of ``evaluate_config`` inside a kernel that has decoded the axis
    indices (wmi, hi, p, t, m, s, b), in the order of the function's signature."""
    cfg = dict(batch="batch_t[b]", tp="tp_t[t]", dep="mode_t[m]", prec="prec_t[p]", draft="spec_t[s] * DRAFT")
    args = ([cfg[a] for a in CONFIG_ARGS] + [f"wm_t[wmi, {_WM_COL[f]}]" for f in _WM_EVAL]
            + [f"hw_t[hi, {_HW_COL[f]}]" for f in _HW_EVAL])
    return ", ".join(args)


def _kernel_source() -> str:
    wm = _WM_COL
    o = _OUT
    return f'''
def flush(grp_cost, grp_tpj, g, best_c, best_cb, best_t, best_tb):
    if best_c < INF:
        kc = (np.uint64(float_bits(best_c)) << np.uint64(32)) | np.uint64(best_cb)
        cuda.atomic.min(grp_cost, g, kc)
        kt = (np.uint64(float_bits(best_t)) << np.uint64(32)) | (np.uint64(MASK32) - np.uint64(best_tb))
        cuda.atomic.max(grp_tpj, g, kt)


def kernel(slab0, n_local, group0, nb, nS, nM, nT, nP, H, prec_t, tp_t, mode_t, spec_t, batch_t,
           wm_t, hw_t, grp_cost, grp_tpj, front, counts):
    tid = cuda.grid(1)
    j0 = tid * TILE
    j1 = min(j0 + TILE, n_local)
    slab_size = nP * nT * nM * nS * nb
    cur_g = -1
    best_c = INF
    best_cb = 0
    best_t = NEG
    best_tb = 0
    nfit = 0
    nmeet = 0
    for j in range(j0, j1):
        q = j // slab_size
        r = j - q * slab_size
        slab = slab0 + q
        b = r % nb
        r2 = r // nb
        s = r2 % nS
        r2 = r2 // nS
        m = r2 % nM
        r2 = r2 // nM
        t = r2 % nT
        p = r2 // nT
        wmi = slab // H
        hi = slab - wmi * H
        g = j // nb
        if g != cur_g:
            if cur_g >= 0:
                flush(grp_cost, grp_tpj, group0 + cur_g, best_c, best_cb, best_t, best_tb)
            cur_g = g
            best_c = INF
            best_t = NEG
        valid = config_valid(prec_t[p], tp_t[t], mode_t[m], spec_t[s], wm_t[wmi, {wm["allow_bf16"]}],
                             wm_t[wmi, {wm["allow_fp8"]}], wm_t[wmi, {wm["allow_fp4"]}],
                             wm_t[wmi, {wm["is_moe"]}], wm_t[wmi, {wm["has_mtp"]}])
        if valid < HALF:
            continue
        res = evaluate_config({_eval_args()})
        status = res[{o["status"]}]
        if status < HALF:
            continue
        nfit += 1
        ub = frontier_bin(res[{o["output_tok_s_per_user"]}], NBINS_F)
        fg = slab * nP + p
        off = (t * nM * nS + m * nS + s) * nb + b
        key = (np.uint64(float_bits(res[{o["output_tok_s_per_gpu"]}])) << np.uint64(32)) | (np.uint64(MASK32) - np.uint64(off))
        slot = fg * NBINS + int(ub)
        if key > front[slot]:
            cuda.atomic.max(front, slot, key)
        if status > ONE_HALF:
            nmeet += 1
            c = res[{o["cost_usd_per_mtok_output"]}]
            if c < best_c:
                best_c = c
                best_cb = b
            e = res[{o["tok_per_joule"]}]
            if e > best_t:
                best_t = e
                best_tb = b
    if cur_g >= 0:
        flush(grp_cost, grp_tpj, group0 + cur_g, best_c, best_cb, best_t, best_tb)
    if nfit > 0:
        cuda.atomic.add(counts, 0, nfit)
    if nmeet > 0:
        cuda.atomic.add(counts, 1, nmeet)
'''


def _points_source() -> str:
    n_out = len(formulas.OUTPUTS)
    stores = "\n".join(f"        out[{i}, k] = res[{i}]" for i in range(n_out))
    return f'''
def points(axes, prec_t, tp_t, mode_t, spec_t, batch_t, wm_t, hw_t, out):
    k = cuda.grid(1)
    if k < axes.shape[0]:
        wmi = axes[k, 0]
        hi = axes[k, 1]
        p = axes[k, 2]
        t = axes[k, 3]
        m = axes[k, 4]
        s = axes[k, 5]
        b = axes[k, 6]
        res = evaluate_config({_eval_args()})
{stores}
'''


# bit pattern of float32(x); for x >= 0 it is monotone in x and fits 31 bits (a module global
# of the generated namespace, so that numba resolves libdevice like any global)
_FLOAT_BITS = """
def float_bits(x):
    return libdevice.float_as_int(numba.float32(x))
"""


def _build(dtype: str = "float32"):
    if dtype in _CACHE:
        return _CACHE[dtype]
    from . import _numba_compat  # noqa: F401
    import numba  # noqa: PLC0415
    from numba import cuda  # noqa: PLC0415

    from .scalar import numba_cuda_namespace  # noqa: PLC0415

    ns = numba_cuda_namespace(dtype)
    ft = getattr(numba, dtype)

    from numba.core import config  # noqa: PLC0415

    glb = dict(ns)
    if config.ENABLE_CUDASIM:
        # the simulator runs Python and has no libdevice
        glb["float_bits"] = cuda.jit(device=True)(_sim_bits)
    else:
        from numba.cuda import libdevice  # noqa: PLC0415

        glb["libdevice"] = libdevice
        exec(compile(_FLOAT_BITS, "<numba-float-bits>", "exec"), glb)  # noqa: S102
        glb["float_bits"] = cuda.jit(device=True)(glb["float_bits"])
    glb.update(cuda=cuda, np=np, numba=numba, TILE=TILE,
               INF=ft(np.inf), NEG=ft(-np.inf), HALF=ft(0.5), ONE_HALF=ft(1.5), MASK32=0xFFFFFFFF,
               NBINS=N_BINS, NBINS_F=ft(N_BINS), DRAFT=ft(MTP_DRAFT_TOKENS))
    exec(compile(_kernel_source(), "<numba-kernel>", "exec"), glb)  # noqa: S102 - generated here
    glb["flush"] = cuda.jit(device=True)(glb["flush"])
    kern = cuda.jit(glb["kernel"])
    exec(compile(_points_source(), "<numba-points>", "exec"), glb)  # noqa: S102
    glb["_points_kernel"] = cuda.jit(glb["points"])
    _CACHE[dtype] = (kern, ft)
    _CACHE[("points", dtype)] = glb["_points_kernel"]
    return _CACHE[dtype]


def _sim_bits(x):
    """Bit pattern of float32(x) (used under the CUDA simulator, where libdevice is absent)."""
    return int(np.array(x, dtype=np.float32).view(np.int32))


def evaluate_numba(space: ConfigSpace, chunk: int | None = None, progress=None, dtype: str = "float32") -> Reduction:
    """Evaluate ``space`` with the Numba-CUDA kernel (or the CUDA simulator in tests)."""
    from . import _numba_compat  # noqa: F401
    from numba import cuda  # noqa: PLC0415
    from numba.core import config  # noqa: PLC0415

    t0 = time.perf_counter()
    kern, _ = _build(dtype)
    npdt = np.float32 if dtype == "float32" else np.float64
    d = {k: cuda.to_device(np.ascontiguousarray(v, dtype=npdt)) for k, v in space.axis_tables().items()}
    out = DeviceOutputs.allocate(space, lambda a: cuda.to_device(a))

    def launch(n_threads, scalars):
        kern[max(1, math.ceil(n_threads / THREADS)), THREADS](
            *scalars, d["prec"], d["tp"], d["mode"], d["spec"], d["batch"], d["wm"], d["hw"], *out.arrays())
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

    _build(dtype)
    kern = _CACHE[("points", dtype)]
    npdt = np.float32 if dtype == "float32" else np.float64
    axes = np.stack(space.decode(np.asarray(idx, dtype=np.int64)), axis=1).astype(np.int32)
    tabs = space.axis_tables()
    d = {k: cuda.to_device(np.ascontiguousarray(v, dtype=npdt)) for k, v in tabs.items()}
    out = cuda.to_device(np.zeros((len(formulas.OUTPUTS), len(axes)), dtype=npdt))
    kern[max(1, math.ceil(len(axes) / THREADS)), THREADS](cuda.to_device(axes), d["prec"], d["tp"], d["mode"],
                                                         d["spec"], d["batch"], d["wm"], d["hw"], out)
    o = out.copy_to_host().astype(np.float64)
    return {name: o[i] for i, name in enumerate(formulas.OUTPUTS)}
