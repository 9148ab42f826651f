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
