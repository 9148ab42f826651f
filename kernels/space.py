"""The configuration space: axes as lookup tables, a configuration as one integer.

The axes, their order and the table fields are defined in :mod:`kernels.layout` (with the
indexing sketch); the rows and axis values come from :mod:`kernels.tables`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from problems import Problem, get_model

from .layout import AXES, FRONTIER_AXES, HW_FIELDS, SLAB_AXES, WM_FIELDS
from .tables import (Calibration, batch_bound, default_calibration, economics_kwargs, hardware_row,
                     load_calibration, model_row, search_axis_values)


@dataclass
class ConfigSpace:
    """Axes and lookup tables of a problem's configuration space.

    ``values`` holds each value axis's floats (what the formulas receive), ``wm_table`` and
    ``hw_table`` the row axes' tables, ``(rows, len(WM_FIELDS))`` and ``(rows, len(HW_FIELDS))``.
    """

    wm_pairs: list            # [(workload name, model id)], one per wm_table row
    hardware: list            # [hardware id], one per hw_table row
    values: dict              # value axis name -> float64 array
    wm_table: np.ndarray
    hw_table: np.ndarray
    hw_families: list = field(default_factory=list)

    @property
    def tables(self) -> dict[str, np.ndarray]:
        return {"wm": self.wm_table, "hw": self.hw_table}

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(self.tables[a.table]) if a.table else len(self.values[a.name]) for a in AXES)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def batches(self) -> np.ndarray:
        """Values of the innermost axis (batch per replica)."""
        return self.values[AXES[-1].name]

    @property
    def precisions(self) -> np.ndarray:
        return self.values["prec"].astype(np.int64)

    @property
    def tps(self) -> np.ndarray:
        return self.values["tp"].astype(np.int64)

    @property
    def pps(self) -> np.ndarray:
        return self.values["pp"].astype(np.int64)

    @property
    def n_groups(self) -> int:
        """Configurations without their batch (runs of ``len(batches)`` consecutive indices)."""
        return self.size // self.shape[-1]

    @property
    def n_slabs(self) -> int:
        """(workload-model, hardware) pairs: the outer ``SLAB_AXES`` axes."""
        return int(np.prod(self.shape[:SLAB_AXES], dtype=np.int64))

    @property
    def slab_size(self) -> int:
        return self.size // max(self.n_slabs, 1)

    @property
    def n_frontier_groups(self) -> int:
        """(workload-model, hardware, precision) triples, one frontier each."""
        return int(np.prod(self.shape[:FRONTIER_AXES], dtype=np.int64))

    @property
    def frontier_group_size(self) -> int:
        return self.size // max(self.n_frontier_groups, 1)

    def kernel_tables(self) -> dict[str, np.ndarray]:
        """What a kernel reads: ``dims`` (int32, axis sizes), ``axv`` (every value axis's values,
        concatenated), ``axo`` (int32, each axis's offset into ``axv``; 0 for row axes) and the
        ``wm`` and ``hw`` tables (float64; a backend casts to its precision)."""
        offs, vals, n = [], [], 0
        for a in AXES:
            offs.append(n)
            if not a.table:
                vals.append(self.values[a.name])
                n += len(self.values[a.name])
        return dict(dims=np.array(self.shape, dtype=np.int32), axv=np.concatenate(vals),
                    axo=np.array(offs, dtype=np.int32), wm=np.ascontiguousarray(self.wm_table),
                    hw=np.ascontiguousarray(self.hw_table))

    def decode(self, idx):
        """Mixed-radix decode of configuration indices -> tuple of axis indices."""
        idx = np.asarray(idx, dtype=np.int64)
        out = []
        for n in reversed(self.shape):
            out.append(idx % n)
            idx = idx // n
        return tuple(reversed(out))

    def describe(self, idx: int) -> dict:
        """Human-readable configuration of one index."""
        ix = [int(x) for x in self.decode(idx)]
        pos = {a.name: i for i, a in enumerate(AXES)}
        d = dict(workload=self.wm_pairs[ix[pos["wm"]]][0], model=self.wm_pairs[ix[pos["wm"]]][1],
                 hardware=self.hardware[ix[pos["hw"]]])
        for i, a in enumerate(AXES):
            if not a.table:
                d[a.key or a.name] = a.label(self.values[a.name][ix[i]])
        d["ep"] = d["tp"] if d["mode"] == "dep" else 1
        d["gpus"] = d["tp"] * d["pp"]
        return d


def build_space(problem: Problem, calib: Calibration | None = None, *, workloads=None,
                hardware=None, batches=None) -> ConfigSpace:
    """The configuration space of ``problem`` (optionally restricted to some workloads/hardware)."""
    calib = calib or (load_calibration(problem.calibration) if problem.calibration else default_calibration())
    wls = [w for w in problem.workloads if workloads is None or w.name in workloads]
    pairs, rows = [], []
    for w in wls:
        for mid in w.candidate_models():
            pairs.append((w.name, mid))
            r = model_row(get_model(mid), w.input_tokens, w.output_tokens, w.cached_input_fraction,
                          w.sla.ttft_s, w.sla.min_output_tok_s_per_user,
                          speculative_data=w.speculative_data)
            rows.append([r[f] for f in WM_FIELDS])
    hws = [h for h in problem.hardware if hardware is None or h.key in hardware]
    hw_rows, fams = [], []
    econ = economics_kwargs(problem.economics)
    for h in hws:
        spec = h.spec()
        r = hardware_row(spec, calib, **dict(econ, pricing=h.pricing_for(problem.economics)),
                         engine=problem.engine)
        hw_rows.append([r[f] for f in HW_FIELDS])
        fams.append(spec.family)
    values = search_axis_values(problem.search, batches)
    # the engine's default batch limit (vLLM max_num_seqs) bounds what each scheduler runs: the
    # axis stops at what the widest dep replica of an MoE model could run
    dep = 1 in values["mode"] and any(get_model(mid).moe for _, mid in pairs)
    bound = batch_bound(calib, problem.engine or calib.default_engine, max(values["tp"]) if dep else 1)
    if batches is None and bound is not None:
        values["batch"] = values["batch"][values["batch"] <= bound]
    return ConfigSpace(
        wm_pairs=pairs, hardware=[h.key for h in hws], values=values,
        wm_table=np.array(rows, dtype=np.float64).reshape(len(rows), len(WM_FIELDS)),
        hw_table=np.array(hw_rows, dtype=np.float64).reshape(len(hw_rows), len(HW_FIELDS)),
        hw_families=fams,
    )
