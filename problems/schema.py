"""The fleet problem: a frozen, strict schema (unknown keys are errors, numbers are finite).

Files for people use friendly units (``ttft_ms``, ``power_cap_mw``); the properties on these
classes convert them once to SI (seconds, watts) for the rest of the pipeline.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .catalog import HardwareSpec, get_hardware, get_model, hardware_catalog, model_catalog, suggest
from .errors import UnknownNameError

SCHEMA_VERSION = "tokenfleet/1"

# Integers are held to 2**53, the largest range float64 (the performance model's arithmetic)
# represents exactly; a file's 10**400 is refused by field name instead of overflowing later.
MAX_INT = 2**53
# Configurations one solve may evaluate unless search.max_configurations says otherwise: about
# 2.5 minutes on NumPy on 2 cores (6.5e6 configurations/s, benchmarks/RESULTS.md), well under a
# second on a GPU.
DEFAULT_MAX_CONFIGURATIONS = 1_000_000_000


def _whole(v):
    """A whole float (YAML 1.2 reads ``1e3`` as a float) stands for the integer it equals."""
    if isinstance(v, float) and math.isfinite(v) and v.is_integer() and abs(v) <= MAX_INT:
        return int(v)
    return v


PosFloat = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
# The allocation MILP loses its footing (HiGHS fails) when demand needs ~1e14 replicas or a limit
# is ~1e-300 of what one replica uses; these ranges are far beyond any real fleet either way.
DemandRate = Annotated[float, Field(strict=True, gt=0, le=1e9, allow_inf_nan=False)]   # per second
TokenRate = Annotated[float, Field(strict=True, gt=0, le=1e12, allow_inf_nan=False)]   # tokens per second
NonNegFloat = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
PosInt = Annotated[int, BeforeValidator(_whole), Field(strict=True, gt=0, le=MAX_INT)]
NonNegInt = Annotated[int, BeforeValidator(_whole), Field(strict=True, ge=0, le=MAX_INT)]
Fraction = Annotated[float, Field(strict=True, ge=0, lt=1, allow_inf_nan=False)]
Name = Annotated[str, Field(strict=True, min_length=1, max_length=200)]
Precision = Literal["bf16", "fp8", "fp4"]
Engine = Literal["trtllm", "vllm", "sglang"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HardwareChoice(_Strict):
    """A hardware type that may be used, with per-problem overrides of catalog figures."""

    id: Name
    name: Name | None = Field(default=None, description="label of this entry (default: the id); lets one "
                              "hardware type appear twice, e.g. owned and rented")
    pricing: Literal["rent", "own"] | None = Field(default=None, description="this entry's pricing; "
                                                   "null = economics.pricing")
    price_usd_per_hour: PosFloat | None = None
    available: NonNegInt | None = Field(default=None, description="GPUs available; null = unlimited")
    capex_usd: NonNegFloat | None = Field(default=None, description="purchase price per GPU; 0 = already "
                                          "paid for (sunk): only power is counted")
    tdp_w: PosFloat | None = None
    hbm_gb: PosFloat | None = None
    unit_gpus: PosInt | None = Field(default=None, description="GPUs bought or rented together; "
                                     "null = the catalog's (8 for an HGX node, 72 for an NVL72 rack)")

    @field_validator("id")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in hardware_catalog():
            raise ValueError(f"unknown hardware id {v!r}; {suggest(v, hardware_catalog())}")
        return v

    @property
    def key(self) -> str:
        """How plans name this entry: its ``name``, else its catalog ``id``."""
        return self.name or self.id

    def pricing_for(self, economics: "Economics") -> str:
        """``rent`` or ``own``: this entry's pricing, else the problem's."""
        return self.pricing or economics.pricing

    def spec(self) -> HardwareSpec:
        """The catalog entry with this choice's overrides applied."""
        base = get_hardware(self.id)
        upd = {k: getattr(self, k) for k in ("price_usd_per_hour", "capex_usd", "tdp_w", "hbm_gb", "unit_gpus")
               if getattr(self, k) is not None}
        return base.model_copy(update=upd) if upd else base


class Demand(_Strict):
    """Exactly one of requests per second, tasks per second, output tokens per second, or
    concurrent users (converted to requests per second with Little's law, see ``Workload``)."""

    requests_per_s: DemandRate | None = None
    tasks_per_s: DemandRate | None = None
    output_tok_s: TokenRate | None = None
    concurrent_users: DemandRate | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        keys = ("requests_per_s", "tasks_per_s", "output_tok_s", "concurrent_users")
        given = [k for k in keys if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(keys)}"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self


class SLA(_Strict):
    ttft_ms: PosFloat | None = None
    min_output_tok_s_per_user: PosFloat | None = None
    # which TTFT ``ttft_ms`` bounds: the mean or a percentile under the planned load (queueing
    # of prompts for prefill, kernels/queueing.py); planners write SLAs on P90 or P99
    ttft_percentile: Literal["mean", "p90", "p99"] = "p90"

    @property
    def ttft_s(self) -> float | None:
        return None if self.ttft_ms is None else self.ttft_ms / 1000.0


class Workload(_Strict):
    name: Name
    model: Name | None = None
    min_quality: Annotated[float, Field(strict=True, gt=0, le=100, allow_inf_nan=False)] | None = None
    models: tuple[Name, ...] | None = Field(default=None, description="allowed models with min_quality")
    input_tokens: PosInt
    output_tokens: PosInt
    demand: Demand
    sla: SLA = SLA()
    value_usd_per_mtok: NonNegFloat | None = None
    calls_per_task: Annotated[float, Field(strict=True, ge=1, allow_inf_nan=False)] = 1.0
    cached_input_fraction: Fraction = 0.0
    engine: Engine | None = None
    # what the prompts look like to a speculative draft head: real chat traffic (the default for
    # a plan) or a synthetic random-token benchmark, whose drafts are accepted less often
    speculative_data: Literal["chat", "benchmark"] = "chat"

    @model_validator(mode="after")
    def _users_need_a_pace(self):
        if self.demand.concurrent_users is not None and self.sla.min_output_tok_s_per_user is None:
            raise ValueError("demand.concurrent_users needs sla.min_output_tok_s_per_user: a request's "
                             "duration (Little's law) is TTFT + output_tokens / that rate")
        return self

    @property
    def request_duration_s(self) -> float | None:
        """Seconds one request lasts at the SLA's pace: TTFT limit + output_tokens / min tok/s per user."""
        if self.sla.min_output_tok_s_per_user is None:
            return None
        return (self.sla.ttft_s or 0.0) + self.output_tokens / self.sla.min_output_tok_s_per_user

    @model_validator(mode="after")
    def _model_or_quality(self):
        if (self.model is None) == (self.min_quality is None):
            raise ValueError("give either model or min_quality (not both)")
        cat = model_catalog()
        if self.model is not None and self.model not in cat:
            raise ValueError(f"unknown model id {self.model!r}; {suggest(self.model, cat)}")
        for m in self.models or ():
            if m not in cat:
                raise ValueError(f"unknown model id {m!r} in models; {suggest(m, cat)}")
        if self.min_quality is not None and not self.candidate_models():
            raise ValueError(f"no catalog model has a quality score >= {self.min_quality}")
        return self

    def candidate_models(self) -> tuple[str, ...]:
        """Models that may serve this workload (one, or all meeting ``min_quality``)."""
        if self.model is not None:
            return (self.model,)
        pool = self.models if self.models else tuple(model_catalog())
        return tuple(m for m in pool
                     if (q := get_model(m).quality_gpqa_diamond) is not None and q >= self.min_quality)

    @property
    def requests_per_s(self) -> float:
        d = self.demand
        if d.requests_per_s is not None:
            return d.requests_per_s
        if d.tasks_per_s is not None:
            return d.tasks_per_s * self.calls_per_task
        if d.concurrent_users is not None:   # Little's law: L = lambda W, one request in flight per user
            return d.concurrent_users / self.request_duration_s
        return d.output_tok_s / self.output_tokens

    @property
    def capacity_unit(self) -> str:
        return "output_tok_s" if self.demand.output_tok_s is not None else "requests_per_s"

    @property
    def output_tok_per_unit(self) -> float:
        """Output tokens/s carried by one unit of ``capacity_unit`` (1, or tokens per request)."""
        return 1.0 if self.capacity_unit == "output_tok_s" else float(self.output_tokens)

    @property
    def demand_value(self) -> float:
        """Demand in ``capacity_unit``."""
        return self.demand.output_tok_s if self.demand.output_tok_s is not None else self.requests_per_s


class Economics(_Strict):
    pricing: Literal["rent", "own"] = "rent"
    electricity_usd_per_kwh: NonNegFloat = 0.08
    pue: Annotated[float, Field(strict=True, ge=1, le=3, allow_inf_nan=False)] = 1.3
    years: PosFloat = 5.0
    electricity_included_in_rent: bool = True
    idle_power_fraction: Fraction = 0.3
    host_overhead_fraction: NonNegFloat = 0.25
    max_utilization: Annotated[float, Field(strict=True, gt=0, le=1, allow_inf_nan=False)] = 0.8


class Constraints(_Strict):
    power_cap_mw: Annotated[float, Field(strict=True, ge=1e-6, le=1e6, allow_inf_nan=False)] | None = None
    budget_usd_per_hour: Annotated[float, Field(strict=True, ge=1e-6, le=1e12, allow_inf_nan=False)] | None = None
    max_gpus: PosInt | None = None
    # serve every workload's whole demand under max_margin / max_tokens_per_watt too (min_cost
    # always does); the plan is then infeasible, with the binding limit named, when it cannot
    require_full_service: bool = False


PIPELINE_DEGREES = (1, 2, 4)


class Search(_Strict):
    precisions: tuple[Precision, ...] = ("bf16", "fp8", "fp4")
    tensor_parallel: tuple[PosInt, ...] = (1, 2, 4, 8)
    # pipeline stages per replica (a replica spans tp x pp GPUs); 4 where a model needs it
    pipeline_parallel: tuple[PosInt, ...] = (1, 2)
    expert_parallel: bool = True
    speculative: tuple[Literal["off", "mtp"], ...] = ("off", "mtp")
    max_concurrency: PosInt = 4096
    batch_grid: Literal["geometric", "all"] = "geometric"   # 1,2,3,4,6,8,... or every integer
    engine: Engine | None = None
    # serving modes a plan may choose from; disaggregated adds prefill/decode pool candidates
    # (same hardware type, or prefill and decode on two of the problem's hardware entries)
    serving: tuple[Literal["aggregated", "disaggregated"], ...] = ("aggregated",)
    max_configurations: PosInt = Field(
        default=DEFAULT_MAX_CONFIGURATIONS,
        description="refuse to evaluate a larger configuration space (time and memory grow with it)")

    @field_validator("speculative", mode="before")
    @classmethod
    def _yaml_off(cls, v):
        # YAML 1.1 reads a bare `off` as false: accept it as the word that was written
        if isinstance(v, (list, tuple)):
            return tuple("off" if x is False else x for x in v)
        return v

    @field_validator("tensor_parallel")
    @classmethod
    def _pow2(cls, v):
        bad = [t for t in v if t & (t - 1) or t > 128]
        if bad:
            raise ValueError(f"tensor_parallel degrees must be powers of two <= 128, got {bad}")
        if not v:
            raise ValueError("tensor_parallel must not be empty")
        return tuple(sorted(set(v)))

    @field_validator("pipeline_parallel")
    @classmethod
    def _pp(cls, v):
        bad = [p for p in v if p not in PIPELINE_DEGREES]
        if bad:
            raise ValueError(f"pipeline_parallel degrees must be among {list(PIPELINE_DEGREES)}, got {bad}")
        if not v:
            raise ValueError("pipeline_parallel must not be empty (write [1] for no pipeline parallelism)")
        return tuple(sorted(set(v)))

    @field_validator("serving")
    @classmethod
    def _serving(cls, v):
        if not v:
            raise ValueError("serving must name aggregated, disaggregated or both")
        return tuple(dict.fromkeys(v))

    @field_validator("precisions")
    @classmethod
    def _nonempty(cls, v):
        if not v:
            raise ValueError("precisions must not be empty")
        return tuple(dict.fromkeys(v))


class Problem(_Strict):
    schema_version: Literal["tokenfleet/1"]
    name: Name
    description: str | None = None
    hardware: Annotated[tuple[HardwareChoice, ...], Field(min_length=1)]
    workloads: Annotated[tuple[Workload, ...], Field(min_length=1)]
    economics: Economics = Economics()
    constraints: Constraints = Constraints()
    objective: Literal["min_cost", "max_margin", "max_tokens_per_watt"] = "min_cost"
    search: Search = Search()
    calibration: Annotated[str, Field(strict=True, min_length=1, max_length=4096)] | None = Field(
        default=None, description="calibration file from `tokenfleet calibrate` (relative to this file); "
                                  "null = the shipped calibration")

    @model_validator(mode="after")
    def _consistent(self):
        ids = [h.key for h in self.hardware]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"hardware listed twice: {sorted(dup)}; to use one type twice (owned and "
                             "rented), give the entries distinct names (name: h100-owned)")
        names = [w.name for w in self.workloads]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"workload names must be unique: {sorted(dup)}")
        for h in self.hardware:
            s = h.spec()
            if h.pricing_for(self.economics) == "rent" and s.price_usd_per_hour is None:
                raise ValueError(f"hardware {h.key!r} has no catalog price: set price_usd_per_hour "
                                 "or use pricing: own with capex_usd")
            if h.pricing_for(self.economics) == "own" and s.capex_usd is None:
                raise ValueError(f"hardware {h.key!r} has no catalog capex: set capex_usd for pricing: own "
                                 "(0 for GPUs already paid for)")
        needs_power = self.objective == "max_tokens_per_watt" or self.constraints.power_cap_mw is not None
        for h in self.hardware:
            if needs_power or h.pricing_for(self.economics) == "own":
                if h.spec().tdp_w is None:
                    raise ValueError(f"hardware {h.id!r} has no published TDP; power is needed here "
                                     "(power cap, tokens-per-watt objective or owned electricity): set tdp_w")
        if self.objective == "max_margin":
            miss = [w.name for w in self.workloads if w.value_usd_per_mtok is None]
            if miss:
                raise ValueError(f"objective max_margin needs value_usd_per_mtok on workloads {miss}")
        if self.objective == "max_tokens_per_watt" and self.constraints.power_cap_mw is None:
            raise ValueError("objective max_tokens_per_watt needs constraints.power_cap_mw")
        named = {w.engine for w in self.workloads if w.engine is not None}
        if self.search.engine is not None:
            other = sorted(w.name for w in self.workloads if w.engine not in (None, self.search.engine))
            if other:
                raise ValueError(f"workloads {other} name another engine than search.engine "
                                 f"{self.search.engine!r}; a plan is evaluated with one engine's calibration")
        elif len(named) > 1:
            by = {e: sorted(w.name for w in self.workloads if w.engine == e) for e in sorted(named)}
            raise ValueError(f"workloads name different engines ({by}); a plan is evaluated with one "
                             "engine's calibration: set search.engine, or plan each engine's workloads "
                             "as their own problem")
        return self

    @property
    def engine(self) -> str | None:
        """The engine whose calibration evaluates this problem: ``search.engine``, else the one the
        workloads name, else None (the calibration's default engine)."""
        if self.search.engine is not None:
            return self.search.engine
        return next((w.engine for w in self.workloads if w.engine is not None), None)

    def workload(self, name: str) -> Workload:
        for w in self.workloads:
            if w.name == name:
                return w
        raise UnknownNameError(f"no workload {name!r}; {suggest(name, [w.name for w in self.workloads])}")

    def to_dict(self) -> dict:
        return self.model_dump(mode="json", exclude_defaults=False)


# where each section's keys live in a problem file (for "belongs under" hints)
SECTIONS = (("hardware[]", HardwareChoice), ("workloads[].demand", Demand), ("workloads[].sla", SLA),
            ("workloads[]", Workload), ("economics", Economics), ("constraints", Constraints),
            ("search", Search), ("the top level", Problem))


def sections_of(key: str) -> list[str]:
    """The sections of a problem file where ``key`` is a valid key."""
    return [where for where, cls in SECTIONS if key in cls.model_fields]


def all_field_names() -> set[str]:
    """Every key a problem file may contain (for 'did you mean' on unknown keys)."""
    names: set[str] = set()
    for _, cls in SECTIONS:
        names.update(cls.model_fields)
    return names
