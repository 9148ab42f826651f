"""The layout of a configuration space, in one place: axes, table fields, where every formula
argument comes from, the kernels' outputs and status codes.

A configuration is one integer, decoded by mixed radix over the axes (outermost first)::

    index = (((((((wm * H + hw) * P + prec) * Q + pp) * T + tp) * M + mode) * S + spec) * B + batch)
                   |        |         |           |         |         |           |           +-- batch per replica
                   |        |         |           |         |         |           +-- draft tokens: 0 (off) | MTP
                   |        |         |           |         |         +-- 0 TP | 1 attention-DP + EP
                   |        |         |           |         +-- tensor-parallel degree (GPUs per pipeline stage)
                   |        |         |           +-- pipeline stages (a replica: tp x pp GPUs)
                   |        |         +-- precision code: 0 bf16 | 1 fp8 | 2 fp4
                   |        +-- hardware type: a row of the hardware table
                   +-- (workload, model) pair: a row of the workload-model table

The innermost axis runs fastest: a run of ``B`` consecutive indices is a *group* (a configuration
without its batch). The first ``SLAB_AXES`` axes form a *slab* (the unit of a GPU chunk) and the
first ``FRONTIER_AXES`` a *frontier group* (one throughput-vs-interactivity frontier each).

Adding an axis: one ``Axis`` line here (where it sits, which formula arguments take its value,
its default) and the argument in :mod:`kernels.formulas`; the axis has its default as its only
value until :func:`kernels.tables.axis_values` gives it more. Adding a table field: one name in
``WM_FIELDS`` or ``HW_FIELDS``, its value in :mod:`kernels.tables`, and the argument in the
formulas. Kernels, the reference backend and the generated adapters follow from this module.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from enum import IntEnum
from typing import Callable

from . import formulas


class Status(IntEnum):
    """What a configuration's ``status`` output means (the formulas return it as a float)."""

    INVALID = -1      # does not exist: precision not offered, dep on a dense model, MTP without MTP layers
    NO_FIT = 0        # memory does not hold it, no link for a replica this wide, or the engine
                      # does not schedule that many sequences (vLLM max_num_seqs)
    MISSES_SLA = 1    # fits, misses the workload's SLA
    MEETS_SLA = 2     # fits and meets the SLA


PREC_NAMES = ("bf16", "fp8", "fp4")
PREC_CODES = {name: code for code, name in enumerate(PREC_NAMES)}
MODE_NAMES = ("tp", "dep")
SPEC_NAMES = ("off", "mtp")
MTP_DRAFT_TOKENS = 1.0    # MTP layers draft one token per step (DeepSeek-V3 report)


@dataclass(frozen=True)
class Axis:
    """One axis of the space.

    A *row axis* (``table`` set) selects a row of a table; the row's fields are formula arguments.
    A *value axis* holds a small array of floats; each of ``args`` receives the selected value.
    ``default`` is its only value where a problem or caller does not vary it. ``key`` and ``label``
    say how :meth:`kernels.space.ConfigSpace.describe` shows it.
    """

    name: str
    args: tuple[str, ...] = ()
    table: str | None = None
    default: float = 0.0
    key: str = ""
    label: Callable = int


AXES = (
    Axis("wm", table="wm"),
    Axis("hw", table="hw"),
    Axis("prec", ("prec",), key="precision", label=lambda v: PREC_NAMES[int(v)]),
    # pipeline stages outside tensor parallelism: at equal cost or throughput the smaller index
    # wins every tie (reductions, frontier, dominance), so fewer stages do
    Axis("pp", ("pp",), default=1.0, key="pp"),
    Axis("tp", ("tp",), default=1.0, key="tp"),
    Axis("mode", ("dep",), key="mode", label=lambda v: MODE_NAMES[int(v)]),
    Axis("spec", ("draft", "spec"), key="speculative", label=lambda v: SPEC_NAMES[int(v > 0.0)]),
    Axis("batch", ("batch",), default=1.0, key="concurrency"),
)
AXIS_NAMES = tuple(a.name for a in AXES)
AXIS_POS = {a.name: i for i, a in enumerate(AXES)}
N_AXES = len(AXES)
SLAB_AXES = 2        # (workload-model, hardware)
FRONTIER_AXES = 3    # (workload-model, hardware, precision)

# columns of the per-(workload, model) table
WM_FIELDS = (
    "isl", "osl", "cached_frac", "sla_ttft_s", "sla_min_tok_s_user",
    "p_nonexpert", "p_expert_one", "n_moe_layers", "n_experts", "top_k", "n_layers", "hidden",
    "kv_elems_per_layer", "n_full", "n_win", "window", "is_mla", "kv_heads",
    "attn_dec_flops", "attn_pf_flops", "w4a8", "ne_bytes_fp4", "mtp_accept", "p_vocab",
    "allow_bf16", "allow_fp8", "allow_fp4", "is_moe", "has_mtp",
)
# columns of the per-hardware table (SI units, calibration folded in)
HW_FIELDS = (
    "peak_bf16", "peak_fp8", "peak_fp4", "hbm_bytes", "hbm_bw", "su_domain", "su_bw", "so_bw",
    "tdp_w", "cost_usd_per_gpu_hour", "elec_usd_per_kwh", "power_factor", "idle_frac",
    "eff_c16", "eff_c8", "eff_c4", "eff_b", "ovh_layer", "ovh_seq", "ovh_step", "lat", "comm_eff", "eff_wo", "a2a_eff",
    "eff_moe", "eff_attn", "eff_kv", "eff_kv16", "kv_half", "mem_of_free", "swa_full", "max_batch",
    "eff_mla", "eff_mla16", "eff_mla_c", "mla_half",
)
TABLE_FIELDS = {"wm": WM_FIELDS, "hw": HW_FIELDS}

# the formulas a kernel calls with table and axis arguments (the generated adapters' targets)
KERNEL_FORMULAS = ("evaluate_config", "config_valid")
OUTPUTS = formulas.OUTPUTS
OUT = {name: i for i, name in enumerate(OUTPUTS)}
EVAL_ARGS = tuple(inspect.signature(formulas.evaluate_config).parameters)


@dataclass(frozen=True)
class Source:
    """Where one formula argument comes from: a value axis, or a column of a row axis's table."""

    axis: int              # position in AXES
    column: int = -1       # column in the axis's table (row axes)
    field: str = ""


def _sources() -> dict[str, Source]:
    src: dict[str, Source] = {}
    for i, a in enumerate(AXES):
        found = [(arg, Source(i)) for arg in a.args]
        if a.table:
            found = [(f, Source(i, c, f)) for c, f in enumerate(TABLE_FIELDS[a.table])]
        for name, s in found:
            if name in src:
                raise ValueError(f"kernels/layout.py: argument {name!r} has two sources")
            src[name] = s
    return src


SOURCES = _sources()


def default_arguments() -> dict[str, float]:
    """Every value axis's arguments at the axis's default (what a formula call that does not vary
    that axis passes)."""
    return {arg: a.default for a in AXES for arg in a.args}


def formula_args(name: str) -> tuple[str, ...]:
    """Parameter names of formula ``name``, each checked to have a source in this layout."""
    fn = getattr(formulas, name)
    params = tuple(inspect.signature(fn).parameters)
    missing = [p for p in params if p not in SOURCES]
    if missing:
        line = fn.__code__.co_firstlineno
        raise ValueError(f"kernels/formulas.py:{line}: {name} takes {', '.join(missing)}, which "
                         "kernels/layout.py gives no source: add an Axis argument or a table field")
    return params


for _f in KERNEL_FORMULAS:
    formula_args(_f)
