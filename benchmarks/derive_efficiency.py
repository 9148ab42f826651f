"""Measured kernel efficiency curves from aiconfigurator's per-operator latency tables.

    python benchmarks/derive_efficiency.py       # writes kernels/data/measured_efficiency.json

Reads the Parquet tables of the ``aiconfigurator-core`` 0.12.0 wheel (Apache-2.0; fetched into
``benchmarks/.cache/`` by ``silicon.fetch_wheel``, never a dependency of tokenfleet) and derives,
per (hardware, engine, dtype), achieved fractions of the catalog peaks in
``problems/data/hardware.yaml``:

* GEMM: FLOP/s over the dense peak of the GEMM's dtype, against M, by weight shape class;
* context (prefill) attention: FLOP/s over the BF16 dense peak, against FLOPs per kernel;
* generation (decode) attention: KV bytes/s over HBM bandwidth, against KV bytes per kernel;
* all-reduce (engine kernels) and all-to-all (NCCL): time against message bytes and GPU count;
* MoE GEMMs (balanced routing): FLOP/s over the dense peak, against tokens per expert.

Every curve ships a few log-spaced points (medians over the measured shapes) and a fitted physical
form with its error (median and p90 of the symmetric error max(p/m, m/p) - 1 on kernel time):

* roofline with a fixed launch cost: t = t0 + max(flops / (e_c * peak), bytes / (e_b * bw));
* saturating efficiency: e(x) = e_max * x / (x + x_half), fitted to the points;
* alpha-beta for collectives: t = alpha + bytes / beta.

Table versions: each (system, engine) uses aiconfigurator's ``current`` version from
``systems/query_versions.yaml``; a table missing there comes from the newest older version that has
it, else the newest available (the version used is recorded with each curve).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import yaml
from packaging.version import InvalidVersion, Version
from scipy.optimize import least_squares

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from problems import get_hardware  # noqa: E402
from silicon import AIC_CORE_VERSION, SYSTEM_TO_HARDWARE, fetch_wheel  # noqa: E402

OUT = ROOT / "kernels" / "data" / "measured_efficiency.json"
PKG = "aiconfigurator_core/systems/"
ENGINES = ("trtllm", "vllm", "sglang")
LICENCE = ("Derived from aiconfigurator-core 0.12.0 (NVIDIA Corporation), Apache License 2.0, "
           "https://www.apache.org/licenses/LICENSE-2.0 ; the wheel ships no NOTICE file. "
           "Changes: medians and fitted parameters computed from the per-operator latency tables.")
# bytes per element of a GEMM operand / KV entry; nvfp4 counts its 1-byte scale per 16 values
DTYPE_BYTES = {"bfloat16": 2.0, "float16": 2.0, "half": 2.0, "fp8": 1.0, "fp8_block": 1.0,
               "nvfp4": 0.5 + 1 / 16}
# the tensor-core peak each dtype runs at (catalog key)
DTYPE_PEAK = {"bfloat16": "bf16", "fp8": "fp8", "fp8_block": "fp8", "nvfp4": "fp4"}
GEMM_M = (1, 8, 32, 128, 256, 1024, 4096, 16384)
# weight-matrix size classes (elements N*K): small < 16.8M (e.g. 2048x4096), medium < 134M, large
GEMM_CLASSES = (("s", 0, 2 ** 24), ("m", 2 ** 24, 2 ** 27), ("l", 2 ** 27, math.inf))
# point grids (decades) and the smallest kernel each fit uses: below these, launch and tiling
# costs that a step of a served LLM does not reach dominate the tables
CTX_FLOPS = tuple(10.0 ** e for e in range(8, 15))
CTX_FIT_MIN_FLOPS = 1e9
GEN_BYTES = tuple(10.0 ** e for e in range(4, 11))
GEN_FIT_MIN_BYTES = 1e6
# the GQA head layouts of the catalog's models on one GPU: query heads per KV head, head_dim, and
# KV heads (8 KV heads at TP1 down to 1 from TP8 on)
GQA_RATIO = (4, 16)
GQA_HEAD_DIM = 128
GQA_MAX_KV_HEADS = 8
# MLA latent per cached token (kv_lora_rank 512 + rope 64, DeepSeek-V3 and Kimi K2) and the absorbed
# decode kernel's FLOPs per head per cached token: scores over 576 dims, values over 512
MLA_KV_VALUES = 512 + 64
MLA_FLOPS_PER_HEAD_TOKEN = 2.0 * (2 * 512 + 64)
MOE_TPE = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
COMM_BYTES = tuple(10.0 ** e for e in range(3, 10))


def _version_key(v: str):
    try:
        return (1, Version(v))
    except InvalidVersion:
        return (0, v)


class Tables:
    """The wheel's Parquet tables, indexed by (system, op, framework) -> {version: [file names]}."""

    def __init__(self, wheel: Path):
        self.z = zipfile.ZipFile(wheel)
        self.index: dict[tuple, dict[str, list[str]]] = {}
        pat = re.compile(re.escape(PKG) + r"data/([^/]+)/([^/]+)/([^/]+)/([^/]+)/([^/]+\.parquet)$")
        for n in self.z.namelist():
            m = pat.match(n)
            if m:
                sysname, op, fw, ver, fname = m.groups()
                self.index.setdefault((sysname, op, fw), {}).setdefault(ver, []).append(fname)
        qv = yaml.safe_load(self.z.read(PKG + "query_versions.yaml"))
        self.current = {fw: d["current"] for fw, d in qv["defaults"].items()}
        self.overrides = {s: {fw: d["current"] for fw, d in o.items()} for s, o in qv.get("overrides", {}).items()}

    def pick(self, system: str, op: str, fw: str, fname: str) -> str | None:
        """The version of ``fname`` aiconfigurator would serve for (system, fw), or None."""
        versions = [v for v, files in self.index.get((system, op, fw), {}).items() if fname in files]
        if not versions:
            return None
        cur = self.overrides.get(system, {}).get(fw, self.current.get(fw))
        if cur in versions:
            return cur
        older = [v for v in versions if cur and _version_key(v) <= _version_key(cur)]
        return max(older or versions, key=_version_key)

    def read(self, system, op, fw, ver, fname, columns=None) -> dict[str, np.ndarray]:
        data = self.z.read(f"{PKG}data/{system}/{op}/{fw}/{ver}/{fname}")
        f = pq.ParquetFile(io.BytesIO(data))
        have = set(f.schema_arrow.names)
        t = f.read(columns=[c for c in columns if c in have] if columns else None)
        out = {c: np.asarray(t.column(c).to_pylist()) for c in t.column_names}
        # older tables have no sliding-window column: every row is full attention
        if columns and "window_size" in columns and "window_size" not in out:
            out["window_size"] = np.zeros(t.num_rows, dtype=int)
        return out


def sym_err(pred, meas) -> np.ndarray:
    pred, meas = np.asarray(pred, float), np.asarray(meas, float)
    return np.maximum(pred / meas, meas / pred) - 1.0


def _err(pred, meas) -> list:
    e = sym_err(pred, meas)
    return [_r(np.median(e), 2), _r(np.percentile(e, 90), 2)]


def _r(x, sig=3):
    x = float(x)
    return 0.0 if x == 0 or not math.isfinite(x) else float(f"{x:.{sig}g}")


def _sigmoid(u):
    return 1.0 / (1.0 + np.exp(-u))


def fit_roofline(t, flops, nbytes, peak, bw, *, compute=True, memory=True) -> list:
    """Fit t = t0 + max(flops/(e_c*peak), bytes/(e_b*bw)) to kernel times t (seconds), in log space.

    Efficiencies are kept in (0, 1.2] (a table's dtype may beat the catalog's dense figure
    slightly); t0 >= 0. Returns [t0 in microseconds, e_c, e_b, error median, error p90]; an
    efficiency the form does not use is None.
    """
    t, flops, nbytes = (np.asarray(a, float) for a in (t, flops, nbytes))

    def model(p):
        tc = flops / (1.2 * _sigmoid(p[1]) * peak) if compute else 0.0
        tb = nbytes / (1.2 * _sigmoid(p[2]) * bw) if memory else 0.0
        return np.exp(p[0]) + np.maximum(tc, tb)

    p0 = np.array([math.log(max(np.min(t) * 0.5, 1e-7)), 0.0, 0.0])
    sol = least_squares(lambda p: np.log(model(p) / t), p0, loss="soft_l1", f_scale=0.1)
    return [_r(np.exp(sol.x[0]) * 1e6), _r(1.2 * _sigmoid(sol.x[1])) if compute else None,
            _r(1.2 * _sigmoid(sol.x[2])) if memory else None] + _err(model(sol.x), t)


def fit_roofline_per_item(t, nbytes, items, bw) -> list:
    """Fit t = t0 + items * t_item + bytes / (e_b * bw) in log space.

    A decode-attention kernel runs one thread block per (sequence, query head): below the
    bandwidth limit its time grows with that count, not with the bytes. Returns [t0 in
    microseconds, t_item in nanoseconds, e_b, error median, error p90].
    """
    t, nbytes, items = (np.asarray(a, float) for a in (t, nbytes, items))

    def model(p):
        return np.exp(p[0]) + items * np.exp(p[1]) + nbytes / (1.2 * _sigmoid(p[2]) * bw)

    p0 = np.array([math.log(max(np.min(t) * 0.5, 1e-7)), math.log(1e-9), 0.0])
    sol = least_squares(lambda p: np.log(model(p) / t), p0, loss="soft_l1", f_scale=0.1)
    return [_r(np.exp(sol.x[0]) * 1e6), _r(np.exp(sol.x[1]) * 1e9), _r(1.2 * _sigmoid(sol.x[2]))] + _err(model(sol.x), t)


def fit_saturating(x, e) -> list | None:
    """Fit e(x) = e_max * x / (x + x_half) to efficiency points, in log space.

    Returns [e_max, x_half, error median, error p90] (errors on the points' efficiencies).
    """
    x, e = np.asarray(x, float), np.asarray([np.nan if v is None else v for v in e], float)
    ok = (x > 0) & (e > 0)
    x, e = x[ok], e[ok]
    if len(x) < 3:
        return None

    def model(p):
        return 1.5 * _sigmoid(p[0]) * x / (x + np.exp(p[1]))

    p0 = np.array([0.0, math.log(float(np.median(x)))])
    sol = least_squares(lambda p: np.log(model(p) / e), p0)
    return [_r(1.5 * _sigmoid(sol.x[0])), _r(np.exp(sol.x[1])), *_err(model(sol.x), e)]


def fit_alpha_beta(nbytes, t) -> list:
    """Fit t = alpha + bytes / beta (seconds, bytes) in log space.

    Returns [alpha in microseconds, beta in GB/s, error median, error p90].
    """
    nbytes, t = np.asarray(nbytes, float), np.asarray(t, float)

    def model(p):
        return np.exp(p[0]) + nbytes / np.exp(p[1])

    p0 = np.array([math.log(np.min(t)), math.log(np.max(nbytes) / np.max(t))])
    sol = least_squares(lambda p: np.log(model(p) / t), p0)
    return [_r(np.exp(sol.x[0]) * 1e6), _r(np.exp(sol.x[1]) / 1e9), *_err(model(sol.x), t)]


def binned(x, y, grid) -> list:
    """Medians of y over x within a factor sqrt(10) of each grid value (None: fewer than 3 rows)."""
    lx, y = np.log10(np.asarray(x, float)), np.asarray(y, float)
    out = []
    for g in grid:
        sel = np.abs(lx - math.log10(g)) < 0.5
        out.append(_r(np.median(y[sel]), 2) if sel.sum() >= 3 else None)
    return out


def peaks(hw: str) -> dict:
    s = get_hardware(hw)
    return {"bf16": s.bf16_dense_tflops, "fp8": s.fp8_dense_tflops, "fp4": s.fp4_dense_tflops,
            "hbm_tb_s": s.hbm_tb_s, "scaleup_gb_s_per_gpu": s.scaleup_gb_s_per_gpu}


def gemm_curves(tb: Tables, system: str, hw: str, fw: str) -> dict:
    ver = tb.pick(system, "gemm", fw, "gemm_perf.parquet")
    if ver is None:
        return {}
    d = tb.read(system, "gemm", fw, ver, "gemm_perf.parquet", ["gemm_dtype", "m", "n", "k", "latency"])
    pk, out = peaks(hw), {}
    for dtype, key in DTYPE_PEAK.items():
        if not pk[key]:
            continue    # no tensor cores for this dtype in the catalog: nothing to be a fraction of
        sel = (d["gemm_dtype"] == dtype) & (np.minimum(d["n"], d["k"]) >= 512)
        if sel.sum() < 50:
            continue
        m, n, k = (d[c][sel].astype(float) for c in ("m", "n", "k"))
        t = d["latency"][sel].astype(float) * 1e-3      # table latencies are milliseconds
        flops, b = 2 * m * n * k, DTYPE_BYTES[dtype]
        nbytes = (m * k + n * k) * b + m * n * 2         # inputs in dtype, BF16 output
        peak, bw = pk[key] * 1e12, pk["hbm_tb_s"] * 1e12
        eff = flops / t / peak
        cur = {"v": ver}
        for name, lo, hi in GEMM_CLASSES:
            c = (n * k >= lo) & (n * k < hi)
            if c.sum() < 30:
                continue
            es = [_r(np.median(eff[c & (m == mm)]), 2) if (c & (m == mm)).sum() >= 3 else None for mm in GEMM_M]
            cur[name] = {"eff": es, "roofline": fit_roofline(t[c], flops[c], nbytes[c], peak, bw),
                         "saturating": fit_saturating(GEMM_M, es)}
        out[dtype] = cur
    return out


def context_attention(tb, system, hw, fw) -> dict:
    ver = tb.pick(system, "attention", fw, "context_attention_perf.parquet")
    if ver is None:
        return {}
    d = tb.read(system, "attention", fw, ver, "context_attention_perf.parquet",
                ["batch_size", "isl", "num_heads", "head_dim", "window_size", "attn_dtype", "latency"])
    pk, out = peaks(hw), {}
    for dtype in ("bfloat16", "fp8"):
        sel = (d["attn_dtype"] == dtype) & (d["window_size"] == 0)
        if sel.sum() < 50:
            continue
        b, s, h, hd = (d[c][sel].astype(float) for c in ("batch_size", "isl", "num_heads", "head_dim"))
        t = d["latency"][sel].astype(float) * 1e-3
        flops = 2.0 * b * h * s * s * hd                  # QK^T and PV, causal half: 2*2*s^2*d/2 per head
        peak = pk["bf16"] * 1e12
        es = binned(flops, flops / t / peak, CTX_FLOPS)
        f = flops >= CTX_FIT_MIN_FLOPS
        out[dtype] = {"v": ver, "eff": es,
                      "roofline": fit_roofline(t[f], flops[f], flops[f] * 0, peak, 1.0, memory=False),
                      "saturating": fit_saturating(CTX_FLOPS, es)}
    return out


def generation_attention(tb, system, hw, fw) -> dict:
    """Decode attention of GQA models: KV bytes/s over HBM bandwidth against KV bytes per kernel.

    Only the head layouts the catalog's GQA models run on one GPU (``gqa_shapes``): fewer KV heads
    than query heads (GQA_RATIO query heads per KV head), head_dim 128, at most 8 KV heads. The
    tables also hold MHA and odd layouts (q = kv heads, head_dim 64-512) whose kernels reach other
    bandwidth fractions (an MHA kernel re-reads no KV across heads; FP8 KV MHA on Hopper runs ~25%
    below GQA): mixing them biased the curve for the models that use it. ``check`` is the fit's
    error on the rows of one served shape (8 query heads over 1 KV head: a 64-query-head, 8-KV-head
    model at TP8), to show the curve is the bandwidth such a model gets.
    """
    ver = tb.pick(system, "attention", fw, "generation_attention_perf.parquet")
    if ver is None:
        return {}
    d = tb.read(system, "attention", fw, ver, "generation_attention_perf.parquet",
                ["batch_size", "isl", "step", "num_heads", "num_key_value_heads", "head_dim", "window_size",
                 "kv_cache_dtype", "latency"])
    pk, out = peaks(hw), {}
    qh_all, kvh_all = d["num_heads"].astype(float), d["num_key_value_heads"].astype(float)
    ratio = qh_all / np.maximum(kvh_all, 1.0)
    gqa = ((kvh_all < qh_all) & (ratio >= GQA_RATIO[0]) & (ratio <= GQA_RATIO[1])
           & (d["head_dim"] == GQA_HEAD_DIM) & (kvh_all <= GQA_MAX_KV_HEADS))
    for dtype in ("bfloat16", "fp8"):
        sel = (d["kv_cache_dtype"] == dtype) & (d["window_size"] == 0) & gqa
        if sel.sum() < 50:
            continue
        b, qh, kvh, hd = (d[c][sel].astype(float) for c in ("batch_size", "num_heads", "num_key_value_heads",
                                                            "head_dim"))
        kv_len = (d["isl"][sel] + d["step"][sel]).astype(float)   # prompt plus generated tokens
        t = d["latency"][sel].astype(float) * 1e-3
        nbytes = b * kv_len * 2 * kvh * hd * DTYPE_BYTES[dtype]   # K and V of every cached token
        bw = pk["hbm_tb_s"] * 1e12
        es = binned(nbytes, nbytes / t / bw, GEN_BYTES)
        f = nbytes >= GEN_FIT_MIN_BYTES
        roof = fit_roofline(t[f], nbytes[f] * 0, nbytes[f], 1.0, bw, compute=False)
        shape = f & (qh == 8) & (kvh == 1)
        check = (_err(roof[0] * 1e-6 + nbytes[shape] / (roof[2] * bw), t[shape]) if shape.sum() >= 10
                 else None)
        out[dtype] = {"v": ver, "eff": es, "roofline": roof,
                      "roofline_per_item": fit_roofline_per_item(t[f], nbytes[f], (b * qh)[f], bw),
                      "saturating": fit_saturating(GEN_BYTES, es), "check": check}
    return out


def generation_mla(tb, system, hw, fw) -> dict:
    """Decode attention of MLA models (DeepSeek-V3/R1, Kimi K2): the absorbed-latent kernel
    (TensorRT-LLM MLA generation, FlashMLA / FlashAttention MLA in SGLang).

    Each cached token is one latent vector of MLA_KV_VALUES = kv_lora_rank + rope dims (512 + 64)
    shared by every query head, so a kernel reads batch * kv_len * 576 * dtype bytes and computes,
    per head and cached token, scores over 576 dims and values over 512: 2 * (2 * 512 + 64) FLOPs.
    With 128 heads on one GPU that is ~240 FLOP per BF16 KV byte, above the H100/H200 BF16 ridge
    (~200-300 FLOP/B): unlike GQA decode the kernel turns compute-bound, so the curve is the full
    roofline (compute over the BF16 dense peak, KV bytes over HBM bandwidth). Tables with the
    plain kernel only (``generation_mla_perf``; the module tables include the projections).
    """
    ver = tb.pick(system, "mla", fw, "generation_mla_perf.parquet")
    if ver is None:
        return {}
    d = tb.read(system, "mla", fw, ver, "generation_mla_perf.parquet",
                ["batch_size", "isl", "step", "num_heads", "kv_cache_dtype", "latency"])
    pk, out = peaks(hw), {}
    for dtype in ("bfloat16", "fp8"):
        sel = d["kv_cache_dtype"] == dtype
        if sel.sum() < 50:
            continue
        b, h = d["batch_size"][sel].astype(float), d["num_heads"][sel].astype(float)
        kv_len = (d["isl"][sel] + d["step"][sel]).astype(float)
        t = d["latency"][sel].astype(float) * 1e-3
        nbytes = b * kv_len * MLA_KV_VALUES * DTYPE_BYTES[dtype]
        flops = b * h * kv_len * MLA_FLOPS_PER_HEAD_TOKEN
        peak, bw = pk["bf16"] * 1e12, pk["hbm_tb_s"] * 1e12
        es = binned(nbytes, nbytes / t / bw, GEN_BYTES)
        f = nbytes >= GEN_FIT_MIN_BYTES
        out[dtype] = {"v": ver, "eff": es, "roofline": fit_roofline(t[f], flops[f], nbytes[f], peak, bw),
                      "saturating": fit_saturating(GEN_BYTES, es)}
    return out


def _collective(nb, t, gpus, link_gb_s, op="all_reduce") -> dict:
    """Alpha-beta fit per GPU count, with bus bandwidth as a fraction of the scale-up link."""
    out = {}
    for g in sorted(set(gpus.tolist())):
        s = gpus == g
        # bus bandwidth (nccl-tests convention): each GPU moves 2(n-1)/n bytes per byte all-reduced,
        # (n-1)/n per byte of an all-to-all
        busbw = nb[s] / t[s] * (2 if op == "all_reduce" else 1) * (g - 1) / g
        out[str(int(g))] = {"alpha_beta": fit_alpha_beta(nb[s], t[s]),
                            "busbw_frac": binned(nb[s], busbw / (link_gb_s * 1e9), COMM_BYTES)}
    return out


def all_reduce(tb, system, hw, fw) -> dict:
    ver = tb.pick(system, "comm", fw, "custom_allreduce_perf.parquet")
    if ver is None:
        return {}
    d = tb.read(system, "comm", fw, ver, "custom_allreduce_perf.parquet",
                ["kernel_source", "allreduce_dtype", "num_gpus", "message_size", "latency"])
    bf16 = d["allreduce_dtype"] == "bfloat16"
    ks = [k for k in sorted(set(d["kernel_source"][bf16].tolist())) if "eager" not in k and "MNNVL" not in k]
    if not ks:
        return {}
    # CUDA-graph kernels where an engine records both (serving runs captured graphs)
    kernel = next((k for k in ks if "graph" in k), ks[0])
    s = (d["kernel_source"] == kernel) & bf16
    # message_size counts BF16 elements (tokens x hidden): the collector all-reduces a tensor of
    # that many elements (collector/collect_all_reduce.py, get_input_shape_and_comm_size)
    nb = d["message_size"][s].astype(float) * 2
    t = d["latency"][s].astype(float) * 1e-3
    return {"v": ver, "kernel": kernel,
            **_collective(nb, t, d["num_gpus"][s], peaks(hw)["scaleup_gb_s_per_gpu"])}


def nccl(tb, system, hw) -> dict:
    vers = [v for v, f in tb.index.get((system, "comm", "nccl"), {}).items() if "nccl_perf.parquet" in f]
    out = {}
    for ver in sorted(vers, key=_version_key, reverse=True):
        d = tb.read(system, "comm", "nccl", ver, "nccl_perf.parquet",
                    ["op_name", "nccl_dtype", "num_gpus", "message_size", "latency"])
        for op in ("all_reduce", "alltoall"):
            # the collector records message_size = nccl-tests bytes / element size; the int8 rows
            # (1-byte elements) duplicate the half rows' byte sizes, so the half rows suffice
            s = (d["op_name"] == op) & (d["nccl_dtype"] == "half")
            if op in out or not s.any():
                continue
            nb = d["message_size"][s].astype(float) * 2
            t = d["latency"][s].astype(float) * 1e-3
            out[op] = {"v": ver, **_collective(nb, t, d["num_gpus"][s], peaks(hw)["scaleup_gb_s_per_gpu"], op)}
    return out


def moe(tb, system, hw, fw) -> dict:
    ver = tb.pick(system, "moe", fw, "moe_perf.parquet")
    if ver is None:
        return {}
    d = tb.read(system, "moe", fw, ver, "moe_perf.parquet",
                ["kernel_source", "moe_dtype", "num_tokens", "hidden_size", "inter_size", "topk", "num_experts",
                 "moe_tp_size", "moe_ep_size", "distribution", "latency"])
    pk, out = peaks(hw), {}
    for dtype, key in DTYPE_PEAK.items():
        if not pk[key]:
            continue
        sel = ((d["moe_dtype"] == dtype) & (d["distribution"] == "balanced")
               & np.array(["nongated" not in k for k in d["kernel_source"]]))
        if sel.sum() < 50:
            continue
        cols = ("num_tokens", "hidden_size", "inter_size", "topk", "num_experts", "moe_tp_size", "moe_ep_size")
        # the engine runs the fastest of its MoE kernels for a shape (TensorRT-LLM's min-latency
        # kernel at a few tokens, its CUTLASS grouped GEMM at many): one time per shape, the least
        shapes = np.stack([d[c][sel].astype(float) for c in cols], axis=1)
        keys, inv = np.unique(shapes, axis=0, return_inverse=True)
        t = np.full(len(keys), np.inf)
        np.minimum.at(t, inv.ravel(), d["latency"][sel].astype(float) * 1e-3)
        tok, h, inter, topk, ne, mtp, mep = keys.T
        # num_tokens enter the layer on every rank; each GPU computes its local experts' share
        # (gate, up and down projections: 3 matrices of hidden x inter/moe_tp)
        routed = tok * topk / mep
        flops = 2 * 3 * h * (inter / mtp) * routed
        touched = np.minimum(ne / mep, routed)
        nbytes = touched * 3 * h * (inter / mtp) * DTYPE_BYTES[dtype] + routed * h * 4
        peak, bw = pk[key] * 1e12, pk["hbm_tb_s"] * 1e12
        es = binned(tok * topk / ne, flops / t / peak, MOE_TPE)
        out[dtype] = {"v": ver, "eff": es, "roofline": fit_roofline(t, flops, nbytes, peak, bw),
                      "saturating": fit_saturating(MOE_TPE, es)}
    return out


DEFINITIONS = {
    "eff": "achieved fraction, median over the measured shapes near each grid value (within a factor "
           "sqrt(10)): FLOP/s over the catalog dense peak of the dtype (gemm, moe), over the BF16 dense "
           "peak (context_attention), KV bytes/s over HBM bandwidth (generation_attention); null: no data",
    "roofline": "[t0_us, e_compute, e_bandwidth, err_median, err_p90] of t = t0 + max(flops/(e_compute*peak), "
                "bytes/(e_bandwidth*bw)) fitted to the kernel times (null: term not in the form)",
    "saturating": "[e_max, x_half, err_median, err_p90] of e(x) = e_max * x / (x + x_half) fitted to the eff "
                  "points, x in the section's grid unit",
    "roofline_per_item": "[t0_us, t_item_ns, e_bandwidth, err_median, err_p90] of t = t0 + items * t_item + "
                         "bytes/(e_bandwidth*bw), items = sequences x query heads (generation_attention)",
    "alpha_beta": "[alpha_us, beta_gb_s, err_median, err_p90] of t = alpha + bytes/beta (beta in 1e9 B/s)",
    "busbw_frac": "bus bandwidth (nccl-tests convention: bytes/t * 2(n-1)/n for all-reduce, * (n-1)/n for "
                  "alltoall) over the catalog scale-up GB/s per GPU per direction, at comm_bytes",
    "err": "symmetric error max(p/m, m/p) - 1 of the fit (median, p90)",
    "gemm": "flops 2MNK; bytes (MK + NK) * dtype bytes + MN * 2; classes by weight N*K elements: s < 2^24, "
            "m < 2^27, l >= 2^27, min(N, K) >= 512; points at gemm_m",
    "context_attention": "flops 2 * batch * heads * isl^2 * head_dim (causal), full attention only; "
                         f"points at ctx_flops; roofline fitted on kernels >= {CTX_FIT_MIN_FLOPS:.0e} FLOPs",
    "generation_attention": "GQA layouts only (kv_heads < q_heads, q/kv in "
                            f"{GQA_RATIO[0]}-{GQA_RATIO[1]}, head_dim {GQA_HEAD_DIM}, kv_heads <= {GQA_MAX_KV_HEADS}); "
                            "bytes batch * kv_len * 2 * kv_heads * head_dim * kv dtype bytes, full attention "
                            f"only; points at gen_kv_bytes; roofline fitted on kernels >= {GEN_FIT_MIN_BYTES:.0e} B; "
                            "check: [err_median, err_p90] of the roofline on the 8-query-head, 1-KV-head rows",
    "generation_mla": "MLA decode kernel (absorbed latent): bytes batch * kv_len * 576 * kv dtype bytes, flops "
                      "batch * heads * kv_len * 2 * (2 * 512 + 64) over the BF16 dense peak; points at "
                      f"gen_kv_bytes; roofline fitted on kernels >= {GEN_FIT_MIN_BYTES:.0e} B",
    "moe": "balanced routing, gated experts, the fastest kernel per shape; per GPU flops 2 * 3 * hidden * inter/moe_tp * tokens * topk / "
           "moe_ep; bytes: touched local experts' weights + token activations; x = tokens * topk / experts",
    "all_reduce": "the engine's custom all-reduce kernel (CUDA-graph variant where recorded); message bytes = "
                  "BF16 elements * 2; keyed by GPU count",
    "nccl": "NCCL all_reduce and alltoall (nccl-tests, half precision) of the newest NCCL version in the wheel",
    "v": "the aiconfigurator table version the curve was derived from",
}


def derive(wheel: Path) -> dict:
    tb = Tables(wheel)
    systems = sorted({s for (s, _, _) in tb.index if SYSTEM_TO_HARDWARE.get(s)})
    doc = {
        "source": f"aiconfigurator-core {AIC_CORE_VERSION} wheel (PyPI), aiconfigurator_core/systems/data/*/*.parquet",
        "version": AIC_CORE_VERSION,
        "derived": dt.date.today().isoformat(),
        "script": "benchmarks/derive_efficiency.py",
        "licence": LICENCE,
        "definitions": DEFINITIONS,
        "grids": {"gemm_m": list(GEMM_M), "ctx_flops": list(CTX_FLOPS), "gen_kv_bytes": list(GEN_BYTES),
                  "moe_tokens_per_expert": list(MOE_TPE), "comm_bytes": list(COMM_BYTES)},
        "peaks": {},
        "gemm": {}, "context_attention": {}, "generation_attention": {}, "generation_mla": {}, "moe": {}, "all_reduce": {}, "nccl": {},
    }
    for system in systems:
        hw = SYSTEM_TO_HARDWARE[system]
        doc["peaks"][hw] = peaks(hw)
        for section, fn in (("gemm", gemm_curves), ("context_attention", context_attention),
                            ("generation_attention", generation_attention), ("generation_mla", generation_mla),
                            ("all_reduce", all_reduce),
                            ("moe", moe)):
            for fw in ENGINES:
                r = fn(tb, system, hw, fw)
                if r:
                    doc[section].setdefault(hw, {})[fw] = r
        r = nccl(tb, system, hw)
        if r:
            doc["nccl"][hw] = r
    return doc


def dumps(doc: dict) -> str:
    """Compact JSON with one curve per line (diffable, tens of KB)."""
    def enc(o, depth):
        if isinstance(o, dict) and depth < 4 and not (o and all(isinstance(v, (list, str, int, float)) or v is None
                                                              for v in o.values()) and depth >= 2):
            inner = ",\n".join(" " * (depth + 1) + json.dumps(k) + ": " + enc(v, depth + 1) for k, v in o.items())
            return "{\n" + inner + "\n" + " " * depth + "}"
        return json.dumps(o, separators=(",", ":"))
    return enc(doc, 0) + "\n"


def summary(doc: dict) -> str:
    g = doc["grids"]
    lines = ["| hardware | engine | GEMM fp8 class l: eff at M=256 / M=4096, fit e_c | GEMM bf16 l M=4096 | "
             "decode attn bf16: eff at 1e5 / 1e7 / 1e9 KV B, fit e_b | prefill attn bf16 at 1e12 FLOPs, fit e_c | "
             "all-reduce 8 GPUs: alpha us, beta GB/s |",
             "|---|---|---|---|---|---|---|"]

    def at(c, grid, x):
        return c["eff"][grid.index(x)] if c else "-"

    for hw, engines in doc["gemm"].items():
        for fw, gm in engines.items():
            f8, b16 = gm.get("fp8", {}).get("l"), gm.get("bfloat16", {}).get("l")
            ga = doc["generation_attention"].get(hw, {}).get(fw, {}).get("bfloat16")
            ca = doc["context_attention"].get(hw, {}).get(fw, {}).get("bfloat16")
            ar = doc["all_reduce"].get(hw, {}).get(fw, {}).get("8")
            lines.append(
                f"| {hw} | {fw} | " + (f"{at(f8, g['gemm_m'], 256)} / {at(f8, g['gemm_m'], 4096)}, "
                                       f"{f8['roofline'][1]}" if f8 else "-")
                + f" | {at(b16, g['gemm_m'], 4096)} | "
                + (" / ".join(str(at(ga, g['gen_kv_bytes'], x)) for x in (1e5, 1e7, 1e9))
                   + f", {ga['roofline'][2]}" if ga else "-")
                + " | " + (f"{at(ca, g['ctx_flops'], 1e12)}, {ca['roofline'][1]}" if ca else "-") + " | "
                + (f"{ar['alpha_beta'][0]}, {ar['alpha_beta'][1]}" if ar else "-") + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    doc = derive(fetch_wheel())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    text = dumps(doc)
    OUT.write_text(text, encoding="utf-8")
    print(summary(doc))
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text.encode()) / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
