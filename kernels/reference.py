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


def _arguments(space: ConfigSpace, p, t, m, s, batch, wm_value, hw_value):
    """Argument list of ``formulas.evaluate_config`` and the validity mask.

    ``p, t, m, s`` are axis indices (arrays), ``batch`` the batch values, and ``wm_value(field)`` /
    ``hw_value(field)`` return a workload-model / hardware table value (array or scalar).
    """
    tp = space.tps.astype(np.float64)[t]
    dep = space.modes.astype(np.float64)[m]
    spec = space.specs.astype(np.float64)[s]
    prec = space.precisions.astype(np.float64)[p]
    cfg = dict(batch=batch, tp=tp, dep=dep, prec=prec, draft=spec * MTP_DRAFT_TOKENS)
    args = [cfg[a] for a in CONFIG_ARGS]
    args += [wm_value(f) for f in _WM_EVAL]
    args += [hw_value(f) for f in _HW_EVAL]
    valid = formulas.config_valid(prec, tp, dep, spec, wm_value("allow_bf16"), wm_value("allow_fp8"),
                                  wm_value("allow_fp4"), wm_value("is_moe"), wm_value("has_mtp"))
    return args, valid


def gather(space: ConfigSpace, idx: np.ndarray):
    """Argument arrays for ``formulas.evaluate_config`` and the validity of each index."""
    wm, h, p, t, m, s, b = space.decode(idx)
    W = space.wm_table[wm]
    H = space.hw_table[h]
    return _arguments(space, p, t, m, s, space.batches[b],
                      lambda f: W[:, _WM_POS[f]], lambda f: H[:, _HW_POS[f]])


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
    nb = len(space.batches)
    if lo % nb or (hi % nb and hi != lo):
        raise ValueError("slab ranges must hold whole groups (multiples of the batch axis)")
    wm, h = divmod(slab, len(space.hardware))
    # group-level axes as (G, 1) columns and the batch axis as a (1, B) row: every intermediate
    # that does not depend on the batch is computed once per group, then broadcast
    _, _, p, t, m, s, _ = space.decode(slab * space.slab_size + np.arange(lo, hi, nb, dtype=np.int64))
    W = space.wm_table[wm]
    H = space.hw_table[h]
    args, valid = _arguments(space, p[:, None], t[:, None], m[:, None], s[:, None], space.batches[None, :],
                             lambda f: W[_WM_POS[f]], lambda f: H[_HW_POS[f]])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = formulas.evaluate_config(*args)
    shape = (len(p), nb)
    res = {name: np.broadcast_to(np.asarray(v, dtype=np.float64), shape).reshape(-1)
           for name, v in zip(formulas.OUTPUTS, out)}
    res["status"] = np.where(np.broadcast_to(valid, shape).reshape(-1) > 0.5, res["status"], -1.0)
    return res
