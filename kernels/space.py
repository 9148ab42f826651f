"""The configuration space: axes as lookup tables, a configuration as one integer.

::

    index = ((((((wm * H + h) * P + p) * T + t) * M + m) * S + s) * B + b)
             |      |        |        |        |        |        +-- batch (concurrency) per replica
             |      |        |        |        |        +-- speculative decoding: off | mtp
             |      |        |        |        +-- mode: tp | dep (attention data-parallel + EP)
             |      |        |        +-- tensor-parallel degree (GPUs per replica)
             |      |        +-- precision: bf16 | fp8 | fp4
             |      +-- hardware type
             +-- (workload, model) pair

Decoding is mixed radix; batch is the innermost axis, so every run of ``B`` consecutive indices is
one *group* (a configuration without its batch), which the reductions exploit.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np

from problems import Problem, get_model
from problems.catalog import HardwareSpec, ModelSpec

from . import formulas

PREC_CODES = {"bf16": 0, "fp8": 1, "fp4": 2}
PREC_NAMES = ("bf16", "fp8", "fp4")
MODE_NAMES = ("tp", "dep")
SPEC_NAMES = ("off", "mtp")

CONFIG_ARGS = ("batch", "tp", "dep", "prec", "draft")
WM_FIELDS = (
    "isl", "osl", "cached_frac", "sla_ttft_s", "sla_min_tok_s_user",
    "p_nonexpert", "p_expert_one", "n_moe_layers", "n_experts", "top_k", "n_layers", "hidden",
    "kv_elems_per_layer", "n_full", "n_win", "window", "is_mla", "kv_heads",
    "attn_dec_flops", "attn_pf_flops", "w4a8", "ne_bytes_fp4", "mtp_accept",
    # not arguments of evaluate_config: validity masks
    "allow_bf16", "allow_fp8", "allow_fp4", "is_moe", "has_mtp",
)
HW_FIELDS = (
    "peak_bf16", "peak_fp8", "peak_fp4", "hbm_bytes", "hbm_bw", "su_domain", "su_bw", "so_bw",
    "tdp_w", "cost_usd_per_gpu_hour", "elec_usd_per_kwh", "power_factor", "idle_frac",
    "eff_c", "eff_b", "ovh_layer", "ovh_seq", "lat", "comm_eff", "eff_wo", "a2a_eff",
)
EVAL_ARGS = tuple(inspect.signature(formulas.evaluate_config).parameters)
_WM_EVAL = tuple(f for f in WM_FIELDS if f in EVAL_ARGS)
_HW_EVAL = tuple(f for f in HW_FIELDS if f in EVAL_ARGS)
assert EVAL_ARGS == CONFIG_ARGS + _WM_EVAL + _HW_EVAL, "table layout out of step with evaluate_config"

MTP_DRAFT_TOKENS = 1.0
# memory capacities are quoted in binary units (an "80 GB" H100 has 80 GiB of HBM3)
GIB = float(1 << 30)


def batch_grid(max_concurrency: int) -> np.ndarray:
    """1, 2, 3, 4, 6, 8, 12, 16, ... up to ``max_concurrency`` (steps of x1.5 and x1.33)."""
    vals, v = [], 1
    while v <= max_concurrency:
        vals.append(v)
        if v >= 2 and v * 1.5 <= max_concurrency and (v & (v - 1)) == 0:
            vals.append(int(v * 1.5))
        v *= 2
    return np.array(sorted(set(vals)), dtype=np.float64)


@dataclass(frozen=True)
class Calibration:
    """Efficiency factors fitted to published measurements (kernels/calibration.json)."""

    groups: dict
    global_: dict
    family_to_group: dict
    meta: dict = field(default_factory=dict)

    def for_family(self, family: str) -> dict:
        g = self.family_to_group.get(family, "default")
        return {**self.groups.get(g, self.groups["default"]), **self.global_}

    def group_of(self, family: str) -> str:
        return self.family_to_group.get(family, "default")


@cache
def default_calibration() -> Calibration:
    return load_calibration()


def load_calibration(path=None) -> Calibration:
    if path is None:
        text = resources.files("kernels").joinpath("calibration.json").read_text(encoding="utf-8")
    else:
        text = open(path, encoding="utf-8").read()
    d = json.loads(text)
    return Calibration(groups=d["groups"], global_=d["global"], family_to_group=d["family_to_group"],
                       meta={k: v for k, v in d.items() if k not in ("groups", "global", "family_to_group")})


def model_row(model: ModelSpec, isl: float, osl: float, cached_frac: float = 0.0,
              sla_ttft_s: float | None = None, sla_min_tok_s_user: float | None = None) -> dict:
    """Per (workload, model) table row."""
    a = model.attention
    n_win = float(a.num_sliding_layers if a.sliding_window else 0)
    n_full = model.num_layers - n_win
    if a.type == "mla":
        kv_elems = a.kv_lora_rank + a.qk_rope_head_dim
        # absorbed MLA decode: scores over (rank + rope) dims, values over rank, per head
        attn_dec = 2.0 * model.num_attention_heads * (2 * a.kv_lora_rank + a.qk_rope_head_dim)
        attn_pf = 2.0 * model.num_attention_heads * (a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim)
        kv_heads = 1.0
    else:
        hd = model.head_dim or model.hidden_size // model.num_attention_heads
        kv_elems = 2.0 * model.num_kv_heads * hd
        attn_dec = attn_pf = 4.0 * model.num_attention_heads * hd
        kv_heads = float(model.num_kv_heads)
    moe = model.moe
    ne_fp4 = {"bf16": 2.0, "fp8": 1.0}.get(model.nonexpert_precision or "", 1.0 if moe else 0.5625)
    return dict(
        isl=float(isl), osl=float(osl), cached_frac=float(cached_frac),
        sla_ttft_s=float(sla_ttft_s) if sla_ttft_s else np.inf,
        sla_min_tok_s_user=float(sla_min_tok_s_user) if sla_min_tok_s_user else 0.0,
        p_nonexpert=model.nonexpert_params(), p_expert_one=model.expert_params_per_layer_expert(),
        n_moe_layers=float(moe.num_moe_layers if moe else 0), n_experts=float(moe.num_experts if moe else 1),
        top_k=float(moe.top_k if moe else 1), n_layers=float(model.num_layers), hidden=float(model.hidden_size),
        kv_elems_per_layer=float(kv_elems), n_full=float(n_full), n_win=n_win,
        window=float(a.sliding_window or 1), is_mla=1.0 if a.type == "mla" else 0.0, kv_heads=kv_heads,
        attn_dec_flops=attn_dec, attn_pf_flops=attn_pf,
        w4a8=1.0 if model.fp4_format == "mxfp4-w4a8" else 0.0, ne_bytes_fp4=ne_fp4,
        mtp_accept=float(model.mtp.acceptance) if model.mtp else 0.5,
        allow_bf16=1.0 if "bf16" in model.precisions else 0.0,
        allow_fp8=1.0 if "fp8" in model.precisions else 0.0,
        allow_fp4=1.0 if "fp4" in model.precisions else 0.0,
        is_moe=1.0 if moe else 0.0, has_mtp=1.0 if model.mtp else 0.0,
    )


def hardware_row(hw: HardwareSpec, calib: Calibration, *, pricing: str = "rent",
                 electricity_usd_per_kwh: float = 0.08, pue: float = 1.3, years: float = 5.0,
                 electricity_included_in_rent: bool = True, idle_power_fraction: float = 0.3,
                 host_overhead_fraction: float = 0.25) -> dict:
    """Per hardware table row (figures in SI units, calibration folded in)."""
    c = calib.for_family(hw.family)
    if pricing == "own":
        base = (hw.capex_usd or np.nan) / (years * 8760.0)
        elec = electricity_usd_per_kwh
    else:
        base = hw.price_usd_per_hour if hw.price_usd_per_hour is not None else np.nan
        elec = 0.0 if electricity_included_in_rent else electricity_usd_per_kwh
    return dict(
        peak_bf16=hw.bf16_dense_tflops * 1e12, peak_fp8=(hw.fp8_dense_tflops or 0.0) * 1e12,
        peak_fp4=(hw.fp4_dense_tflops or 0.0) * 1e12, hbm_bytes=hw.hbm_gb * GIB, hbm_bw=hw.hbm_tb_s * 1e12,
        su_domain=float(hw.scaleup_domain_gpus), su_bw=(hw.scaleup_gb_s_per_gpu or 0.0) * 1e9,
        so_bw=(hw.scaleout_gb_s_per_gpu or 0.0) * 1e9,
        tdp_w=hw.tdp_w if hw.tdp_w is not None else np.nan, cost_usd_per_gpu_hour=base,
        elec_usd_per_kwh=elec, power_factor=(1.0 + host_overhead_fraction) * pue,
        idle_frac=idle_power_fraction,
        eff_c=c["eff_compute"], eff_b=c["eff_bandwidth"], ovh_layer=c["overhead_s_per_layer"],
        ovh_seq=c["overhead_s_per_seq"],
        lat=c["collective_latency_s"], comm_eff=c["comm_efficiency"],
        eff_wo=c["eff_weight_only"], a2a_eff=c["a2a_efficiency"],
    )


@dataclass
class ConfigSpace:
    """Axes and lookup tables of a problem's configuration space."""

    wm_pairs: list            # [(workload name, model id)]
    hardware: list            # [hardware id]
    precisions: np.ndarray    # precision codes
    tps: np.ndarray
    modes: np.ndarray         # 0 tp, 1 dep
    specs: np.ndarray         # 0 off, 1 mtp
    batches: np.ndarray
    wm_table: np.ndarray      # (n_wm, len(WM_FIELDS))
    hw_table: np.ndarray      # (n_hw, len(HW_FIELDS))
    hw_families: list = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.wm_pairs), len(self.hardware), len(self.precisions), len(self.tps),
                len(self.modes), len(self.specs), len(self.batches))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def n_groups(self) -> int:
        """Configurations without their batch (runs of ``len(batches)`` consecutive indices)."""
        return self.size // len(self.batches)

    @property
    def n_slabs(self) -> int:
        """(workload-model, hardware) pairs: the outer two axes."""
        return len(self.wm_pairs) * len(self.hardware)

    @property
    def slab_size(self) -> int:
        return self.size // max(self.n_slabs, 1)

    @property
    def n_frontier_groups(self) -> int:
        """(workload-model, hardware, precision) triples, one frontier each."""
        return self.n_slabs * len(self.precisions)

    @property
    def frontier_group_size(self) -> int:
        return self.size // max(self.n_frontier_groups, 1)

    def axis_tables(self) -> dict[str, np.ndarray]:
        """The small arrays a kernel needs (float64)."""
        return dict(prec=self.precisions.astype(np.float64), tp=self.tps.astype(np.float64),
                    mode=self.modes.astype(np.float64), spec=self.specs.astype(np.float64),
                    batch=self.batches.astype(np.float64),
                    wm=np.ascontiguousarray(self.wm_table), hw=np.ascontiguousarray(self.hw_table))

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
        wm, h, p, t, m, s, b = (int(x) for x in self.decode(idx))
        return dict(workload=self.wm_pairs[wm][0], model=self.wm_pairs[wm][1], hardware=self.hardware[h],
                    precision=PREC_NAMES[int(self.precisions[p])], tp=int(self.tps[t]),
                    mode=MODE_NAMES[int(self.modes[m])], ep=int(self.tps[t]) if self.modes[m] else 1,
                    speculative=SPEC_NAMES[int(self.specs[s])], concurrency=int(self.batches[b]))


def build_space(problem: Problem, calib: Calibration | None = None, *, workloads=None,
                hardware=None, batches=None) -> ConfigSpace:
    """The configuration space of ``problem`` (optionally restricted to some workloads/hardware)."""
    calib = calib or default_calibration()
    e = problem.economics
    wls = [w for w in problem.workloads if workloads is None or w.name in workloads]
    pairs, rows = [], []
    for w in wls:
        for mid in w.candidate_models():
            pairs.append((w.name, mid))
            r = model_row(get_model(mid), w.input_tokens, w.output_tokens, w.cached_input_fraction,
                          w.sla.ttft_s, w.sla.min_output_tok_s_per_user)
            rows.append([r[f] for f in WM_FIELDS])
    hws = [h for h in problem.hardware if hardware is None or h.id in hardware]
    hw_rows, fams = [], []
    for h in hws:
        spec = h.spec()
        r = hardware_row(spec, calib, pricing=e.pricing, electricity_usd_per_kwh=e.electricity_usd_per_kwh,
                         pue=e.pue, years=e.years, electricity_included_in_rent=e.electricity_included_in_rent,
                         idle_power_fraction=e.idle_power_fraction, host_overhead_fraction=e.host_overhead_fraction)
        hw_rows.append([r[f] for f in HW_FIELDS])
        fams.append(spec.family)
    s = problem.search
    modes = [0, 1] if s.expert_parallel else [0]
    specs = [0, 1] if "mtp" in s.speculative else [0]
    if "off" not in s.speculative:
        specs = [1]
    return ConfigSpace(
        wm_pairs=pairs, hardware=[h.id for h in hws],
        precisions=np.array([PREC_CODES[p] for p in s.precisions], dtype=np.int64),
        tps=np.array(s.tensor_parallel, dtype=np.int64), modes=np.array(modes, dtype=np.int64),
        specs=np.array(specs, dtype=np.int64),
        batches=(np.asarray(batches, dtype=np.float64) if batches is not None
                 else np.arange(1.0, s.max_concurrency + 1.0) if s.batch_grid == "all"
                 else batch_grid(s.max_concurrency)),
        wm_table=np.array(rows, dtype=np.float64).reshape(len(rows), len(WM_FIELDS)),
        hw_table=np.array(hw_rows, dtype=np.float64).reshape(len(hw_rows), len(HW_FIELDS)),
        hw_families=fams,
    )
