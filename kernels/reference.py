"""NumPy backend: the float64 reference every other backend is held to.

The space is walked in chunks of whole groups (runs of consecutive indices that differ only in
batch), so memory stays bounded whatever the space size.
"""

from __future__ import annotations

import numpy as np

from . import formulas
from .space import CONFIG_ARGS, HW_FIELDS, WM_FIELDS, ConfigSpace, MTP_DRAFT_TOKENS, _HW_EVAL, _WM_EVAL

_WM_POS = {f: i for i, f in enumerate(WM_FIELDS)}
_HW_POS = {f: i for i, f in enumerate(HW_FIELDS)}


def gather(space: ConfigSpace, idx: np.ndarray):
    """Argument arrays for ``formulas.evaluate_config`` and the validity of each index."""
    wm, h, p, t, m, s, b = space.decode(idx)
    tp = space.tps[t].astype(np.float64)
    dep = space.modes[m].astype(np.float64)
    spec = space.specs[s].astype(np.float64)
    prec = space.precisions[p].astype(np.float64)
    cfg = dict(batch=space.batches[b], tp=tp, dep=dep, prec=prec, draft=spec * MTP_DRAFT_TOKENS)
    W = space.wm_table[wm]
    H = space.hw_table[h]
    args = [cfg[a] for a in CONFIG_ARGS]
    args += [W[:, _WM_POS[f]] for f in _WM_EVAL]
    args += [H[:, _HW_POS[f]] for f in _HW_EVAL]
    valid = formulas.config_valid(prec, tp, dep, spec, W[:, _WM_POS["allow_bf16"]],
                                  W[:, _WM_POS["allow_fp8"]], W[:, _WM_POS["allow_fp4"]],
                                  W[:, _WM_POS["is_moe"]], W[:, _WM_POS["has_mtp"]])
    return args, valid


def evaluate_indices(space: ConfigSpace, idx) -> dict[str, np.ndarray]:
    """All metrics for the given configuration indices (float64). Invalid ones get status -1."""
    idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
    args, valid = gather(space, idx)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = formulas.evaluate_config(*args)
    res = {name: np.asarray(v, dtype=np.float64) for name, v in zip(formulas.OUTPUTS, out)}
    res["status"] = np.where(valid > 0.5, res["status"], -1.0)
    return res


def evaluate_slab_range(space: ConfigSpace, slab: int, lo: int, hi: int) -> dict[str, np.ndarray]:
    """Metrics of local indices [lo, hi) of one slab (a fixed workload-model and hardware pair).

    Workload, model and hardware values are scalars here and broadcast, which is several times
    faster than gathering them per configuration; the result equals ``evaluate_indices`` on the
    same global indices.
    """
    n_hw = len(space.hardware)
    wm, h = divmod(slab, n_hw)
    nb, nS, nM, nT = len(space.batches), len(space.specs), len(space.modes), len(space.tps)
    if lo % nb or (hi % nb and hi != lo):
        raise ValueError("slab ranges must hold whole groups (multiples of the batch axis)")
    # group-level axes as (G, 1) columns and the batch axis as a (1, B) row: every intermediate
    # that does not depend on the batch is computed once per group, then broadcast
    r = np.arange(lo // nb, hi // nb, dtype=np.int32)
    s = r % nS
    r = r // nS
    m = r % nM
    r = r // nM
    t = r % nT
    p = r // nT
    tp = space.tps.astype(np.float64)[t][:, None]
    dep = space.modes.astype(np.float64)[m][:, None]
    spec = space.specs.astype(np.float64)[s][:, None]
    prec = space.precisions.astype(np.float64)[p][:, None]
    batch = space.batches[None, :]
    cfg = dict(batch=batch, tp=tp, dep=dep, prec=prec, draft=spec * MTP_DRAFT_TOKENS)
    W = space.wm_table[wm]
    H = space.hw_table[h]
    args = [cfg[a] for a in CONFIG_ARGS]
    args += [W[_WM_POS[f]] for f in _WM_EVAL]
    args += [H[_HW_POS[f]] for f in _HW_EVAL]
    valid = formulas.config_valid(prec, tp, dep, spec, W[_WM_POS["allow_bf16"]], W[_WM_POS["allow_fp8"]],
                                  W[_WM_POS["allow_fp4"]], W[_WM_POS["is_moe"]], W[_WM_POS["has_mtp"]])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = formulas.evaluate_config(*args)
    shape = (len(p), nb)
    res = {name: np.broadcast_to(np.asarray(v, dtype=np.float64), shape).reshape(-1)
           for name, v in zip(formulas.OUTPUTS, out)}
    res["status"] = np.where(np.broadcast_to(valid, shape).reshape(-1) > 0.5, res["status"], -1.0)
    return res
