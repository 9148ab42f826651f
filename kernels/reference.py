"""NumPy backend: the float64 reference every other backend is held to.

The space is walked in chunks of whole groups (runs of consecutive indices that differ only in
batch), so memory stays bounded whatever the space size. Formula arguments are gathered by name
through :data:`kernels.layout.SOURCES`, the same map the kernels' generated adapters follow.
"""

from __future__ import annotations

import numpy as np

from . import formulas
from .layout import AXES, KERNEL_FORMULAS, OUTPUTS, SOURCES, Status, formula_args
from .space import ConfigSpace

_ARGS = {name: formula_args(name) for name in KERNEL_FORMULAS}


def _call(space: ConfigSpace, name: str, ix):
    """Formula ``name`` on axis indices ``ix`` (one int or int array per axis, broadcastable)."""
    tables = space.tables
    args = []
    for arg in _ARGS[name]:
        s = SOURCES[arg]
        a = AXES[s.axis]
        args.append(tables[a.table][ix[s.axis], s.column] if a.table else space.values[a.name][ix[s.axis]])
    return getattr(formulas, name)(*args)


def _metrics(space: ConfigSpace, ix, shape) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = _call(space, "evaluate_config", ix)
        valid = _call(space, "config_valid", ix)
    res = {n: np.broadcast_to(np.asarray(v, dtype=np.float64), shape).reshape(-1) for n, v in zip(OUTPUTS, out)}
    ok = np.broadcast_to(valid, shape).reshape(-1) > 0.5
    res["status"] = np.where(ok, res["status"], float(Status.INVALID)).astype(np.int8)
    return res


def evaluate_indices(space: ConfigSpace, idx) -> dict[str, np.ndarray]:
    """All metrics for the given configuration indices (float64; ``status`` as int8
    :class:`kernels.layout.Status` codes, ``INVALID`` where the configuration does not exist)."""
    idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
    return _metrics(space, space.decode(idx), idx.shape)


def evaluate_slab_range(space: ConfigSpace, slab: int, lo: int, hi: int) -> dict[str, np.ndarray]:
    """Metrics of local indices [lo, hi) of one slab (a fixed workload-model and hardware pair).

    Row values are scalars here and broadcast, which is several times faster than gathering them
    per configuration; the result equals ``evaluate_indices`` on the same global indices.
    """
    nb = len(space.batches)
    if lo % nb or (hi % nb and hi != lo):
        raise ValueError("slab ranges must hold whole groups (multiples of the batch axis)")
    # group-level axes as (G, 1) columns and the innermost axis as a (1, B) row: every
    # intermediate that does not depend on the batch is computed once per group, then broadcast
    starts = slab * space.slab_size + np.arange(lo, hi, nb, dtype=np.int64)
    ix = [col[:, None] for col in space.decode(starts)]
    ix[-1] = np.arange(nb)[None, :]
    for i, a in enumerate(AXES):
        if a.table:
            ix[i] = int(ix[i][0, 0])   # constant within a slab
    return _metrics(space, ix, (len(starts), nb))
