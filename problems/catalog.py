"""Hardware and model catalogs: sourced data files shipped inside the package.

The files live in ``problems/data`` and are found through :mod:`importlib.resources`, so an
installed tokenfleet never reads anything outside its own package. Every entry carries a
``source``; figures that are not published are ``null`` and stay so (never guessed).
"""

from __future__ import annotations

import difflib
import functools
from importlib import resources
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from .errors import UnknownNameError

_NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
_Pos = Annotated[float, Field(gt=0, allow_inf_nan=False)]
_PosInt = Annotated[int, Field(gt=0)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HardwareSpec(_Entry):
    """One accelerator type. Units are in the field names (GB = 1e9 bytes, TB/s = 1e12 B/s)."""

    id: str
    name: str
    vendor: Literal["nvidia", "amd", "intel", "google"]
    family: str
    memory_type: str
    hbm_gb: _Pos
    hbm_tb_s: _Pos
    bf16_dense_tflops: _Pos
    fp8_dense_tflops: _Pos | None = None
    fp4_dense_tflops: _Pos | None = None
    tdp_w: _Pos | None = None
    scaleup_domain_gpus: _PosInt
    unit_gpus: _PosInt = 1        # GPUs bought or rented together: an 8-GPU node, a 72-GPU rack, 1 card
    host_gpus: _PosInt = 8        # GPUs per host (one server, or one compute tray of a rack)
    unit_source: str | None = None
    scaleup_gb_s_per_gpu: _Pos | None = None
    scaleout_gb_s_per_gpu: _Pos | None = None
    price_usd_per_hour: _Pos | None = None
    price_date: str | None = None
    price_source: str | None = None
    capex_usd: _Pos | None = None
    capex_source: str | None = None
    allin_kw_per_gpu_inferencex: _Pos | None = None
    launch_year: int | None = None
    source: str

    @property
    def has_fp8(self) -> bool:
        return self.fp8_dense_tflops is not None

    @property
    def has_fp4(self) -> bool:
        return self.fp4_dense_tflops is not None


class MoESpec(_Entry):
    num_experts: _PosInt
    top_k: _PosInt
    shared_experts: Annotated[int, Field(ge=0)] = 0
    expert_intermediate_size: _PosInt
    num_moe_layers: _PosInt


class AttentionSpec(_Entry):
    type: Literal["gqa", "mla"]
    kv_lora_rank: _PosInt | None = None
    qk_rope_head_dim: _PosInt | None = None
    qk_nope_head_dim: _PosInt | None = None
    v_head_dim: _PosInt | None = None
    sliding_window: _PosInt | None = None
    num_sliding_layers: Annotated[int, Field(ge=0)] = 0


class MTPSpec(_Entry):
    """Multi-token-prediction layers and how often their draft token is accepted.

    Acceptance depends on the text: ``acceptance`` is measured on chat data (real prompts);
    ``acceptance_benchmark`` on the synthetic random-token prompts that published throughput
    benchmarks send (``None``: the chat figure). Each has its source."""

    layers: _PosInt
    acceptance: Annotated[float, Field(gt=0, lt=1)]
    source: str
    acceptance_benchmark: Annotated[float, Field(gt=0, lt=1)] | None = None
    benchmark_source: str | None = None

    def acceptance_for(self, data: str) -> float:
        """Per-token draft acceptance on ``data``: "chat" or "benchmark"."""
        if data == "benchmark" and self.acceptance_benchmark is not None:
            return self.acceptance_benchmark
        return self.acceptance


class QualityScore(_Entry):
    benchmark: str
    score: float
    date: str
    source: str


class ModelSpec(_Entry):
    """One LLM architecture. Parameter counts in billions (``_b``)."""

    id: str
    name: str
    hf_repo: str
    family: str
    total_params_b: _Pos
    active_params_b: _Pos
    num_layers: _PosInt
    hidden_size: _PosInt
    num_attention_heads: _PosInt
    num_kv_heads: _PosInt | None = None
    head_dim: _PosInt | None = None
    intermediate_size: _PosInt | None = None
    vocab_size: _PosInt
    max_context: _PosInt
    moe: MoESpec | None = None
    attention: AttentionSpec
    native_precision: Literal["bf16", "fp8", "fp4"]
    fp4_format: Literal["nvfp4", "mxfp4-w4a8"] = "nvfp4"
    nonexpert_precision: Literal["bf16", "fp8"] | None = None
    precisions: tuple[Literal["bf16", "fp8", "fp4"], ...] = ("bf16", "fp8", "fp4")
    mtp: MTPSpec | None = None
    source: str
    quality_scores: tuple[QualityScore, ...] = ()
    quality_gpqa_diamond: float | None = None

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    def expert_params_per_layer_expert(self) -> float:
        """Parameters of one expert in one MoE layer (gate, up and down projections)."""
        if self.moe is None:
            return 0.0
        return 3.0 * self.hidden_size * self.moe.expert_intermediate_size

    def expert_params(self) -> float:
        """All routed-expert parameters (count, not billions)."""
        if self.moe is None:
            return 0.0
        return self.moe.num_moe_layers * self.moe.num_experts * self.expert_params_per_layer_expert()

    def nonexpert_params(self) -> float:
        """Always-active parameters: attention, embeddings, dense FFNs, shared experts."""
        if self.moe is None:
            return self.total_params_b * 1e9
        routed_active = self.moe.num_moe_layers * self.moe.top_k * self.expert_params_per_layer_expert()
        return max(self.active_params_b * 1e9 - routed_active, 0.05 * self.active_params_b * 1e9)


class _HardwareFile(_Entry):
    schema_: Literal["tokenfleet-hardware/1"] = Field(alias="schema")
    price_basis: str
    hardware: tuple[HardwareSpec, ...]


class _ModelFile(_Entry):
    schema_: Literal["tokenfleet-models/1"] = Field(alias="schema")
    models: tuple[ModelSpec, ...]


def _read(name: str) -> dict:
    text = resources.files("problems.data").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@functools.cache
def price_basis() -> str:
    """What the catalog's rental prices mean (one basis for every entry; see hardware.yaml)."""
    return _HardwareFile.model_validate(_read("hardware.yaml")).price_basis


def hardware_catalog() -> dict[str, HardwareSpec]:
    """All catalog hardware by id (validated once, cached)."""
    f = _HardwareFile.model_validate(_read("hardware.yaml"))
    return {h.id: h for h in f.hardware}


@functools.cache
def model_catalog() -> dict[str, ModelSpec]:
    """All catalog models by id (validated once, cached)."""
    f = _ModelFile.model_validate(_read("models.yaml"))
    return {m.id: m for m in f.models}


@functools.cache
def engine_families() -> dict[str, frozenset]:
    """Per serving engine (vllm, sglang, trtllm), the hardware families it runs any precision on
    (the ``support`` tables of engines.yaml, each with its source there)."""
    engines = _read("engines.yaml")["engines"]
    return {name: frozenset(f for fams in e.get("support", {}).values() for f in fams)
            for name, e in engines.items()}


def suggest(name: str, choices) -> str:
    """A 'did you mean' hint for an unknown name, or a list of the valid ones."""
    choices = sorted(choices)
    close = difflib.get_close_matches(str(name), choices, n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "known: " + ", ".join(choices)


def get_hardware(hw_id: str) -> HardwareSpec:
    cat = hardware_catalog()
    if not isinstance(hw_id, str) or hw_id not in cat:  # a list would be unhashable: still a bad id
        raise UnknownNameError(f"unknown hardware {hw_id!r}; {suggest(hw_id, cat)}")
    return cat[hw_id]


def get_model(model_id: str) -> ModelSpec:
    cat = model_catalog()
    if not isinstance(model_id, str) or model_id not in cat:
        raise UnknownNameError(f"unknown model {model_id!r}; {suggest(model_id, cat)}")
    return cat[model_id]
