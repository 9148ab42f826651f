"""What goes into a configuration space's tables: model rows, hardware rows (calibration folded
in), the axes' values, and the one place prices are computed and converted.

Row dicts are keyed by the field names of :mod:`kernels.layout` (``WM_FIELDS``, ``HW_FIELDS``);
adding a field is one entry there and one value here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np

from problems.catalog import HardwareSpec, ModelSpec, engine_families

from .layout import AXES, MTP_DRAFT_TOKENS, PREC_CODES

# memory capacities are quoted in binary units (an "80 GB" H100 has 80 GiB of HBM3)
GIB = float(1 << 30)
HOURS_PER_YEAR = 8760.0
SECONDS_PER_HOUR = 3600.0
TOKENS_PER_MTOK = 1.0e6
NO_BATCH_LIMIT = 1.0e30   # an engine without a batch limit (finite in float32 too)


# --- prices -------------------------------------------------------------------------------------

def gpu_hour_price_usd(hw: HardwareSpec, pricing: str = "rent", years: float = 5.0,
                       missing: float = np.nan) -> float:
    """Hardware cost per GPU-hour in USD, electricity excluded.

    ``pricing="rent"``: the catalog's rental price; ``"own"``: capital cost amortized linearly over
    ``years`` of continuous use. ``missing`` where the catalog has no figure.
    """
    if pricing == "own":
        return hw.capex_usd / (years * HOURS_PER_YEAR) if hw.capex_usd is not None else missing
    return hw.price_usd_per_hour if hw.price_usd_per_hour is not None else missing


def usd_per_mtok(usd_per_hour, tok_per_s):
    """USD per million tokens of a resource costing ``usd_per_hour`` that makes ``tok_per_s``."""
    return usd_per_hour * TOKENS_PER_MTOK / (SECONDS_PER_HOUR * tok_per_s)


def usd_per_hour(usd_per_mtok_, tok_per_s):
    """USD per hour of ``tok_per_s`` tokens/s valued at ``usd_per_mtok_`` per million tokens."""
    return usd_per_mtok_ * tok_per_s * SECONDS_PER_HOUR / TOKENS_PER_MTOK


# --- calibration --------------------------------------------------------------------------------

ENGINES = ("trtllm", "vllm", "sglang")
ENGINE_ALIASES = {"tensorrt-llm": "trtllm", "trt": "trtllm", "trt-llm": "trtllm", "dynamo-trt": "trtllm"}


def engine_name(engine: str | None) -> str | None:
    """Canonical engine name (trtllm, vllm, sglang) or None, from how sources write it
    ("TensorRT-LLM", "dynamo-trt", "vLLM 0.10", "SGLang + Dynamo"...); raises ValueError naming
    the choices for an engine without calibration."""
    if engine is None:
        return None
    e = engine.strip().lower()
    e = ENGINE_ALIASES.get(e, e)
    if e in ENGINES:
        return e
    for name, marks in (("sglang", ("sglang",)), ("vllm", ("vllm",)), ("trtllm", ("tensorrt", "trt"))):
        if any(m in e for m in marks):
            return name
    raise ValueError(f"unknown engine {engine!r}; calibrated engines: {', '.join(ENGINES)}")


# efficiencies a calibration resolves per hardware from measured kernel tables x fitted factors
PRIOR_KEYS = ("eff_c16", "eff_c8", "eff_c4", "eff_b", "eff_kv", "eff_kv16", "kv_half_bytes", "eff_attn",
              "eff_mla", "eff_mla16", "eff_mla_c", "mla_half",
              "comm_efficiency", "collective_latency_s")


@dataclass(frozen=True)
class Calibration:
    """Efficiency factors fitted to published measurements (kernels/calibration.json; the fit is
    :mod:`kernels.calibration_fit`).

    Values resolve in layers: ``global_`` (every hardware and engine), then the hardware group's
    (``groups``: fitted factors per family group), then the engine's (``engines``: host overhead,
    KV sizing policy, batch limit per serving engine). Efficiencies per operator class come from
    measured kernel tables (``measured``: per hardware and engine, derived from aiconfigurator's
    per-operator latency tables) times the group's fitted factors; hardware without tables takes
    the tables of the measured hardware named in ``nearest``, scaled by its published
    microbenchmark ratios to that hardware (``hw_priors``: compute, bandwidth, all-reduce; see
    :mod:`kernels.priors`) before the group's fitted factors.
    """

    groups: dict
    global_: dict
    family_to_group: dict
    meta: dict = field(default_factory=dict)
    engines: dict = field(default_factory=dict)
    default_engine: str = "trtllm"
    measured: dict = field(default_factory=dict)
    nearest: dict = field(default_factory=dict)
    hw_priors: dict = field(default_factory=dict)

    def engine_for(self, engine: str | None, family: str = "") -> str:
        """The calibrated engine a prediction uses: ``engine`` when given, else the default
        engine when it runs on ``family``, else the first calibrated engine that does
        (TensorRT-LLM runs on NVIDIA GPUs only, so AMD hardware defaults to vLLM; engines.yaml's
        support tables say which families each engine runs on)."""
        e = engine_name(engine)
        if e is not None:
            return e
        runs_on = engine_families()
        if not family or family in runs_on.get(self.default_engine, ()):
            return self.default_engine
        return next((n for n in ENGINES if family in runs_on.get(n, ()) and n in self.engines),
                    self.default_engine)

    def for_family(self, family: str, engine: str | None = None) -> dict:
        g = self.family_to_group.get(family, "default")
        e = self.engine_for(engine, family)
        return {**self.global_, **self.groups.get(g, self.groups["default"]), **self.engines.get(e, {})}

    def tables_of(self, hw_id: str, family: str = "") -> str | None:
        """The measured hardware whose kernel tables ``hw_id`` uses: itself when measured, else
        the one named for it in ``nearest``, else the one named for its group (hardware defined
        in a problem file)."""
        if hw_id in self.measured:
            return hw_id
        return self.nearest.get(hw_id) or self.nearest.get("group:" + self.group_of(family))

    def for_hardware(self, hw_id: str, family: str, engine: str | None = None) -> dict:
        """Every calibration value for one hardware type and engine, efficiencies resolved."""
        c = self.for_family(family, engine)
        e = self.engine_for(engine, family)
        src = self.tables_of(hw_id, family)
        if src is None:
            raise ValueError(f"no measured kernel tables for {hw_id!r} (family {family!r}) and no "
                             "nearest measured hardware in the calibration's 'nearest' map")
        t = self.measured[src]
        p = t.get(e) or t.get(self.default_engine) or next(iter(t.values()))
        fc, fb = c.get("compute_factor", 1.0), c.get("bandwidth_factor", 1.0)
        fcomm = 1.0
        hp = self.hw_priors.get(hw_id) if src != hw_id else None
        if hp:
            # borrowed curves: the hardware ratios measured by published microbenchmarks (same
            # method on both GPUs) carry the silicon difference; the group factors the software's
            fc, fb, fcomm = fc * hp["compute"], fb * hp["bandwidth"], hp["comm"]
        c.update(eff_c16=min(1.0, p["eff_c16"] * fc), eff_c8=min(1.0, p["eff_c8"] * fc),
                 eff_c4=min(1.0, p["eff_c4"] * fc), eff_b=min(1.0, p["eff_b"] * fb),
                 eff_kv=min(1.0, p["eff_kv"] * fb * c.get("kv_factor", 1.0)),
                 eff_kv16=min(1.0, p.get("eff_kv16", p["eff_kv"]) * fb * c.get("kv_factor", 1.0)),
                 eff_attn=min(1.0, p["eff_attn"] * fc * c.get("attn_factor", 1.0)),
                 kv_half_bytes=p["kv_half_bytes"],
                 # MLA decode attention: its own kernel's curve (GQA decode / prefill values for
                 # tables without one), under the same end-to-end factors as the GQA KV read
                 eff_mla=min(1.0, p.get("eff_mla", p["eff_kv"]) * fb * c.get("kv_factor", 1.0)),
                 eff_mla16=min(1.0, p.get("eff_mla16", p.get("eff_kv16", p["eff_kv"])) * fb
                               * c.get("kv_factor", 1.0)),
                 eff_mla_c=min(1.0, p.get("eff_mla_c", p["eff_attn"]) * fc * c.get("attn_factor", 1.0)),
                 mla_half_bytes=p.get("mla_half", p["kv_half_bytes"]),
                 comm_efficiency=min(1.0, p["comm_efficiency"] * c.get("comm_factor", 1.0) * fcomm),
                 collective_latency_s=p["collective_latency_s"], tables=src,
                 borrowed=(dict(tables=src, **{k: hp[k] for k in ("compute", "bandwidth", "comm")})
                           if hp else ({"tables": src} if src != hw_id else None)))
        return c

    def group_of(self, family: str) -> str:
        return self.family_to_group.get(family, "default")


@cache
def default_calibration() -> Calibration:
    return load_calibration()


def load_calibration(path=None) -> Calibration:
    if path is None:
        text = resources.files("kernels").joinpath("calibration.json").read_text(encoding="utf-8")
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    d = json.loads(text)
    own = ("groups", "global", "family_to_group", "engines", "default_engine", "measured", "nearest",
           "hardware_priors")
    return Calibration(groups=d["groups"], global_=d["global"], family_to_group=d["family_to_group"],
                       engines=d.get("engines", {}), default_engine=d.get("default_engine", "trtllm"),
                       measured=d.get("measured", {}).get("tables", {}), nearest=d.get("nearest", {}),
                       hw_priors=d.get("hardware_priors", {}),
                       meta={**{k: v for k, v in d.items() if k not in own},
                             "measured_source": {k: v for k, v in d.get("measured", {}).items() if k != "tables"}})


# --- rows ---------------------------------------------------------------------------------------

SPECULATIVE_DATA = ("chat", "benchmark")


def model_row(model: ModelSpec, isl: float, osl: float, cached_frac: float = 0.0,
              sla_ttft_s: float | None = None, sla_min_tok_s_user: float | None = None,
              speculative_data: str = "chat") -> dict:
    """Per (workload, model) table row. ``speculative_data`` ("chat" | "benchmark") selects the
    model's MTP draft acceptance on that kind of text."""
    if speculative_data not in SPECULATIVE_DATA:
        raise ValueError(f"speculative_data must be 'chat' or 'benchmark', got {speculative_data!r}")
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
        mtp_accept=float(model.mtp.acceptance_for(speculative_data)) if model.mtp else 0.5,
        p_vocab=float(model.vocab_size) * float(model.hidden_size),
        allow_bf16=1.0 if "bf16" in model.precisions else 0.0,
        allow_fp8=1.0 if "fp8" in model.precisions else 0.0,
        allow_fp4=1.0 if "fp4" in model.precisions else 0.0,
        is_moe=1.0 if moe else 0.0, has_mtp=1.0 if model.mtp else 0.0,
    )


def hardware_row(hw: HardwareSpec, calib: Calibration, *, pricing: str = "rent",
                 electricity_usd_per_kwh: float = 0.08, pue: float = 1.3, years: float = 5.0,
                 electricity_included_in_rent: bool = True, idle_power_fraction: float = 0.3,
                 host_overhead_fraction: float = 0.25, engine: str | None = None) -> dict:
    """Per hardware table row (figures in SI units, calibration folded in for ``engine``,
    the calibration's default engine when None)."""
    c = calib.for_hardware(hw.id, hw.family, engine)
    billed = pricing == "own" or not electricity_included_in_rent
    return dict(
        peak_bf16=hw.bf16_dense_tflops * 1e12, peak_fp8=(hw.fp8_dense_tflops or 0.0) * 1e12,
        peak_fp4=(hw.fp4_dense_tflops or 0.0) * 1e12, hbm_bytes=hw.hbm_gb * GIB, hbm_bw=hw.hbm_tb_s * 1e12,
        su_domain=float(hw.scaleup_domain_gpus), su_bw=(hw.scaleup_gb_s_per_gpu or 0.0) * 1e9,
        so_bw=(hw.scaleout_gb_s_per_gpu or 0.0) * 1e9,
        tdp_w=hw.tdp_w if hw.tdp_w is not None else np.nan,
        cost_usd_per_gpu_hour=gpu_hour_price_usd(hw, pricing, years),
        elec_usd_per_kwh=electricity_usd_per_kwh if billed else 0.0,
        power_factor=(1.0 + host_overhead_fraction) * pue, idle_frac=idle_power_fraction,
        eff_c16=c["eff_c16"], eff_c8=c["eff_c8"], eff_c4=c["eff_c4"], eff_b=c["eff_b"],
        ovh_layer=c["overhead_s_per_layer"], ovh_seq=c["overhead_s_per_seq"],
        ovh_step=c.get("overhead_s_per_step", 0.0),
        lat=c["collective_latency_s"], comm_eff=c["comm_efficiency"],
        eff_wo=c["eff_weight_only"], a2a_eff=c["a2a_efficiency"],
        eff_moe=c["moe_efficiency"], eff_attn=c["eff_attn"], eff_kv=c["eff_kv"],
        eff_kv16=c["eff_kv16"], kv_half=c["kv_half_bytes"],
        eff_mla=c["eff_mla"], eff_mla16=c["eff_mla16"], eff_mla_c=c["eff_mla_c"], mla_half=c["mla_half_bytes"],
        mem_of_free=float(c.get("kv_of_free_memory", 0.0)),
        swa_full=float(c.get("windowed_kv_full_length", 0.0)),
        max_batch=float(c.get("max_batch", NO_BATCH_LIMIT)),
    )


def economics_kwargs(e) -> dict:
    """``hardware_row`` keyword arguments of a problem's ``economics`` section."""
    return dict(pricing=e.pricing, electricity_usd_per_kwh=e.electricity_usd_per_kwh, pue=e.pue, years=e.years,
                electricity_included_in_rent=e.electricity_included_in_rent,
                idle_power_fraction=e.idle_power_fraction, host_overhead_fraction=e.host_overhead_fraction)


# --- axis values ------------------------------------------------------------------------------

def batch_bound(calib: Calibration, engine: str | None, widest_dep: int = 1) -> float | None:
    """The largest replica batch ``engine``'s batch limit (vLLM ``max_num_seqs``) lets any layout
    run: the limit per scheduler times the widest attention-DP degree searched (1: none); None
    without a limit. Bounds the batch grids; the formulas refuse each configuration above it."""
    cap = calib.engines.get(engine, {}).get("max_batch")
    return None if cap is None else float(cap) * widest_dep


def batch_grid(max_concurrency: int) -> np.ndarray:
    """1, 2, 3, 4, 6, 8, 12, 16, ... up to ``max_concurrency`` (steps of x1.5 and x1.33)."""
    vals, v = [], 1
    while v <= max_concurrency:
        vals.append(v)
        if v >= 2 and v * 1.5 <= max_concurrency and (v & (v - 1)) == 0:
            vals.append(int(v * 1.5))
        v *= 2
    return np.array(sorted(set(vals)), dtype=np.float64)


def axis_values(*, precisions=("bf16", "fp8", "fp4"), tensor_parallel=(1, 2, 4, 8), pipeline_parallel=(1,),
                expert_parallel=True, speculative=("off", "mtp"), batches=None, max_concurrency=4096,
                batch_grid_kind="geometric") -> dict[str, np.ndarray]:
    """The value axes' values (float64), keyed by :data:`kernels.layout.AXES` names; an axis not
    named here has its one default value."""
    specs = [0.0] * ("off" in speculative) + [MTP_DRAFT_TOKENS] * ("mtp" in speculative) or [0.0]
    if batches is None:
        batches = (np.arange(1.0, max_concurrency + 1.0) if batch_grid_kind == "all"
                   else batch_grid(max_concurrency))
    defaults = {a.name: np.array([a.default]) for a in AXES if not a.table}
    return defaults | dict(prec=np.array([PREC_CODES[p] for p in precisions], dtype=np.float64),
                tp=np.array(tensor_parallel, dtype=np.float64),
                pp=np.array(pipeline_parallel, dtype=np.float64),
                mode=np.array([0.0, 1.0] if expert_parallel else [0.0]),
                spec=np.array(specs, dtype=np.float64),
                batch=np.asarray(batches, dtype=np.float64))


def search_axis_values(search, batches=None) -> dict[str, np.ndarray]:
    """:func:`axis_values` of a problem's ``search`` section."""
    return axis_values(precisions=search.precisions, tensor_parallel=search.tensor_parallel,
                       pipeline_parallel=search.pipeline_parallel, expert_parallel=search.expert_parallel, speculative=search.speculative,
                       batches=batches, max_concurrency=search.max_concurrency,
                       batch_grid_kind=search.batch_grid)
