"""Fast calibration: every row's candidate configurations evaluated as one NumPy call.

``kernels.calibration.evaluate_rows`` predicts row by row through ``kernels.predict.predict``
(the reference). A fit evaluates thousands of parameter vectors, so here each row's candidate
configurations are gathered once (memory fit does not depend on the calibration, so configurations
that do not fit are dropped up front), the calibration-dependent arguments are refilled per
parameter vector, and ``formulas.evaluate_config`` runs once over all rows. The chosen point per
row follows ``kernels.predict.choose`` exactly; a test holds the two paths to each other.

Rows come from ``benchmarks/data/calibration.csv`` (published measurements, ``load_rows``) and from
aiconfigurator's silicon sample (``silicon_rows``: measured TPOT and TTFT of aggregated serving at
a concurrency, per engine), each keeping its id and source.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace

import numpy as np

from problems import get_hardware

from . import formulas
from .calibration import FAMILY_GROUPS, CalRow, row_query
from .layout import AXES, EVAL_ARGS, SOURCES, Status
from .predict import PredictError, candidates
from .reference import evaluate_indices
from .tables import PRIOR_KEYS, Calibration, ENGINES, hardware_row


def _gather(space, idx) -> list:
    """evaluate_config's arguments at configuration indices ``idx`` (one array each)."""
    ix = space.decode(idx)
    tables = space.tables
    out = []
    for arg in EVAL_ARGS:
        s = SOURCES[arg]
        a = AXES[s.axis]
        out.append(tables[a.table][ix[s.axis], s.column] if a.table else space.values[a.name][ix[s.axis]])
    return out

# calibration-dependent arguments of evaluate_config (refilled per parameter vector)
CAL_ARGS = ("eff_c16", "eff_c8", "eff_c4", "eff_b", "ovh_layer", "ovh_seq", "ovh_step", "lat", "comm_eff", "eff_wo",
            "a2a_eff", "eff_moe", "eff_attn", "eff_kv", "eff_kv16", "kv_half", "eff_mla", "eff_mla16", "eff_mla_c",
            "mla_half")

# The fitted parameters: (layer, name, key, lower, upper, start). Factors multiply the measured
# kernel efficiencies (1 = the isolated kernel's efficiency is reached end to end); efficiencies
# are fractions of a vendor peak; overheads are seconds >= 0. Curve shapes (alpha of each
# roofline, GEMM/attention/all-reduce efficiencies per format and engine) are not fitted: they
# come from the measured kernel tables (``measured_tables``).
UNMEASURED_GROUPS = ("amd",)   # groups whose hardware has no kernel tables of its own
PARAMS = (
    [("groups", g, "compute_factor", 0.2, 2.0, 1.0) for g in FAMILY_GROUPS]
    + [("groups", g, "bandwidth_factor", 0.2, 1.5, 1.0) for g in FAMILY_GROUPS]
    + [("groups", g, "kv_factor", 0.3, 2.0, 1.0) for g in FAMILY_GROUPS if g not in UNMEASURED_GROUPS]
    + [("groups", g, "overhead_s_per_layer", 0.0, 5e-4, 3e-5) for g in FAMILY_GROUPS]
    + [("global", None, "attn_factor", 0.2, 2.0, 1.0),
       ("global", None, "moe_efficiency", 0.05, 1.0, 0.5),
       ("global", None, "eff_weight_only", 0.05, 1.0, 0.6),

       ("global", None, "comm_factor", 0.2, 2.0, 1.0),
       ("global", None, "a2a_efficiency", 0.02, 1.0, 0.3)]
    + [("engines", e, "overhead_s_per_seq", 0.0, 2e-4, 1e-5) for e in ENGINES]
    + [("engines", e, "overhead_s_per_step", 0.0, 5e-3, 2e-4) for e in ENGINES]
)
PRIOR_SIGMA = 0.3  # spread of the log-normal prior of the factors on measured efficiencies
# groups without tables of their own: their hardware's curves are borrowed and scaled by published
# microbenchmark ratios (kernels/priors.py, hardware); the group's compute and bandwidth factors are
# what the engines lose on top (software) and few rows inform them, so their log-normal prior at 1
# is tighter: one sigma = 15% (a factor of 0.43 would be 5.6 sigma away)
BORROWED_PRIOR_SIGMA = 0.15
F_SCALE = 0.3  # soft-L1 scale in log ratio: residuals beyond ~30% count linearly, not squared
GROUP_KEYS = tuple(dict.fromkeys(p[2] for p in PARAMS if p[0] == "groups"))
PARAM_NAMES = tuple(f"{g}.{k}" if g else k for _, g, k, *_ in PARAMS)

# catalog hardware without measured kernel tables -> the measured hardware whose curve shapes it
# borrows (closest memory bandwidth and tensor generation); its group's fitted factors scale them
NEAREST_MEASURED = {"mi300x": "h200-sxm", "mi325x": "h200-sxm", "mi355x": "b200",
                    "gaudi3": "h100-sxm", "tpu-v5e": "h100-sxm", "tpu-v6e": "h100-sxm",
                    # hardware defined in a problem file: its group's reference hardware
                    "group:hopper": "h100-sxm", "group:blackwell": "b200", "group:amd": "h200-sxm",
                    "group:default": "h100-sxm"}


# an MLA decode curve is used where its roofline fits the kernel times to this median error
MLA_MAX_FIT_ERR = 0.3
# hardware without an MLA decode curve: the GQA decode bandwidth and the prefill attention's compute
MLA_FALLBACK = {"eff_mla": "eff_kv", "eff_mla16": "eff_kv16", "eff_mla_c": "eff_attn", "mla_half": "kv_half_bytes"}


def measured_tables(path) -> dict:
    """Per (hardware, engine) efficiencies from the measured kernel curves.

    From ``kernels/data/measured_efficiency.json`` (aiconfigurator-core 0.12.0 per-operator
    tables): each section's roofline fit ``t = t0 + max(flops / (e_c peak), bytes / (e_b bw))``.

    * GEMM, large weights (class ``l``): ``eff_c16`` / ``eff_c8`` / ``eff_c4`` = e_c of BF16 / FP8
      / NVFP4 (FP8 where NVFP4 was not measured); ``eff_b`` = median e_b of BF16 and FP8.
    * Decode (generation) attention: ``eff_kv`` = e_b with FP8 KV (BF16 where FP8 was not
      measured), ``eff_kv16`` = e_b with BF16 KV (FP8 where BF16 was not measured);
      ``kv_half_bytes`` = t0 * e_b * bw, the KV bytes per kernel at which the fixed cost equals the
      transfer -- the same curve written as a bandwidth fraction saturating in work per kernel.
      A fit with e_b > 1 (more than HBM bandwidth: the kernel did not read the KV the shape
      implies, as in A100's TensorRT-LLM 1.0.0 GQA rows) is not used.
    * MLA decode attention (its own kernel: absorbed latent, compute and bandwidth roofline):
      ``eff_mla`` / ``eff_mla16`` = e_b with FP8 / BF16 KV, ``eff_mla_c`` = e_c of the BF16-KV
      kernel over the BF16 peak (the absorbed MLA math in BF16 MMAs; on Hopper the FP8-KV fit's
      e_c is within 10% of it, on Blackwell TensorRT-LLM's FP8-KV kernel runs FP8 MMAs at ~1.0
      of the BF16 peak, which the end-to-end DeepSeek rows do not reach), ``mla_half`` =
      t0 * e_b * bw of the FP8-KV kernel. An engine whose FP8-KV
      MLA kernel takes longer per cached token than its BF16-KV one (e_b8 < e_b16 / 2: SGLang's
      FlashAttention MLA on Hopper, ~0.07 of HBM bandwidth) runs BF16 KV (its default
      ``kv_cache_dtype=auto``), so the FP8 KV bytes are read at the BF16 time: e_b16 / 2. Fits
      whose median error exceeds MLA_MAX_FIT_ERR are not used; hardware without an MLA curve
      uses its GQA decode and prefill attention values (the model before MLA curves existed).
    * Prefill (context) attention: ``eff_attn`` = e_c over the BF16 peak.
    * The engine's custom all-reduce at the largest GPU count measured: ``t = alpha + bytes/beta``
      -> ``collective_latency_s`` = alpha, ``comm_efficiency`` = beta * 2(n-1)/n / scale-up bw
      (the ring's bus bandwidth as a fraction of the link, the form ``comm_time`` uses).
    """
    import json

    d = json.loads(open(path, encoding="utf-8").read())
    out = {}
    for hw, engines in d["gemm"].items():
        pk = d["peaks"][hw]
        bw = pk["hbm_tb_s"] * 1e12
        for eng, dts in engines.items():
            def roof(dt, cls="l"):
                x = dts.get(dt, {}).get(cls)
                return x["roofline"] if x and x.get("roofline") else None
            r16, r8, r4 = roof("bfloat16"), roof("fp8") or roof("fp8_block"), roof("nvfp4")
            if r16 is None:
                continue
            r8 = r8 or r16
            ga = d["generation_attention"].get(hw, {}).get(eng, {})
            g8, g16 = ((ga.get(dt) or {}).get("roofline") for dt in ("fp8", "bfloat16"))
            g8, g16 = (g if g and g[2] and g[2] <= 1.0 else None for g in (g8, g16))
            g = g8 or g16
            g16 = g16 or g8
            ca = (d["context_attention"].get(hw, {}).get(eng, {}).get("bfloat16") or {}).get("roofline")
            ar = d["all_reduce"].get(hw, {}).get(eng, {})
            ns = sorted(int(k) for k in ar if k.isdigit() and ar[k].get("alpha_beta"))
            su = pk.get("scaleup_gb_s_per_gpu") or 0.0
            row = dict(eff_c16=r16[1], eff_c8=r8[1], eff_c4=(r4 or r8)[1],
                       eff_b=float(np.median([r16[2], r8[2]])))
            if g and g[2]:
                row.update(eff_kv=g[2], kv_half_bytes=g[0] * 1e-6 * g[2] * bw)
            if g16 and g16[2]:
                row["eff_kv16"] = g16[2]
            if ca and ca[1]:
                row["eff_attn"] = ca[1]
            ml = d.get("generation_mla", {}).get(hw, {}).get(eng, {})
            m8, m16 = ((ml.get(dt) or {}).get("roofline") for dt in ("fp8", "bfloat16"))
            m8, m16 = (m if m and m[1] and m[2] and m[3] <= MLA_MAX_FIT_ERR else None for m in (m8, m16))
            if m8 and m16 and m8[2] < 0.5 * m16[2]:
                m8 = [m16[0], m16[1], 0.5 * m16[2]]
            if m8 or m16:
                a, b = m8 or m16, m16 or m8
                row.update(eff_mla=a[2], eff_mla16=b[2], eff_mla_c=b[1], mla_half=a[0] * 1e-6 * a[2] * bw)
            if ns and su > 0:
                n = ns[-1]
                a_us, beta = ar[str(n)]["alpha_beta"][:2]
                row.update(collective_latency_s=a_us * 1e-6,
                           comm_efficiency=beta * 1e9 * 2.0 * (n - 1) / n / (su * 1e9))
            out.setdefault(hw, {})[eng] = row
    # fill what one engine lacks from another engine of the same hardware (then drop incomplete)
    for hw, t in out.items():
        for eng, row in t.items():
            for k in ("eff_kv", "eff_kv16", "kv_half_bytes", "eff_attn", "collective_latency_s", "comm_efficiency",
                      "eff_mla", "eff_mla16", "eff_mla_c", "mla_half"):
                if k not in row:
                    vals = [r[k] for r in t.values() if k in r]
                    if vals:
                        row[k] = float(np.median(vals))
        for row in t.values():
            for k, alt in MLA_FALLBACK.items():
                if k not in row and alt in row:
                    row[k] = row[alt]
        out[hw] = {e: {k: round(float(v), 6) for k, v in r.items()} for e, r in t.items()
                   if all(k in r for k in PRIOR_KEYS)}
    meta = {k: d[k] for k in ("source", "version", "derived", "licence") if k in d}
    return dict(meta, tables={h: t for h, t in out.items() if t})


def get_param(c: Calibration, p) -> float:
    layer, g, k = p[:3]
    if layer == "groups":
        return float(c.groups.get(g, {}).get(k, p[5]))
    if layer == "engines":
        return float(c.engines.get(g, c.engines.get(c.default_engine, {})).get(k, c.global_.get(k, p[5])))
    return float(c.global_.get(k, p[5]))


def to_vector(c: Calibration) -> np.ndarray:
    return np.array([get_param(c, p) for p in PARAMS])


def from_vector(v, base: Calibration, fallback: dict | None = None) -> Calibration:
    """A calibration with the parameters ``v``. Groups and engines listed in ``fallback`` (without
    rows to fit them) take the geometric mean of the fitted groups / the default engine's values."""
    groups = {g: dict(x) for g, x in base.groups.items()}
    engines = {e: dict(x) for e, x in base.engines.items()}
    glob = dict(base.global_)
    for p, x in zip(PARAMS, v):
        layer, g, k = p[:3]
        if layer == "groups":
            groups.setdefault(g, {})[k] = float(x)
        elif layer == "engines":
            engines.setdefault(g, {})[k] = float(x)
        else:
            glob[k] = float(x)
    for k in GROUP_KEYS:
        glob.pop(k, None)       # a per-group parameter has no global value
    fallback = fallback or {}
    fitted = [g for g in FAMILY_GROUPS if g not in fallback.get("groups", ())]
    for k in GROUP_KEYS:
        # groups fitted for this key; the others (no rows, or no own tables for a KV factor)
        # take the geometric mean of those
        have = [g for g in fitted if any(p[1] == g and p[2] == k for p in PARAMS)]
        mean = float(np.exp(np.mean([np.log(groups[g][k]) for g in have])))
        groups.setdefault("default", {})[k] = mean
        for g in FAMILY_GROUPS:
            if g not in have:
                groups.setdefault(g, {})[k] = mean
    for e in fallback.get("engines", ()):
        engines[e] = dict(engines[base.default_engine])
    return replace(base, groups=groups, engines=engines, global_=glob)


def silicon_rows(max_rows: int | None = None) -> tuple[list[CalRow], dict[str, int]]:
    """Aggregated silicon-sample rows as ``at_concurrency`` CalRows (TPOT and TTFT measured).

    Layouts: attention TP with dense or TP/EP experts -> tp mode (ep=1); attention DP with EP over
    the same GPUs -> dep. Pipeline-parallel and attention-DP-without-EP rows are left out.
    ``max_rows`` keeps a deterministic subsample (by a hash of each row's id).
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from silicon import load_silicon_rows, predict_layout  # noqa: PLC0415

    raw, excluded = load_silicon_rows()
    out = []
    for r in raw:
        if r.mode != "aggregated":
            excluded["disaggregated prefill/decode"] = excluded.get("disaggregated prefill/decode", 0) + 1
            continue
        lay = predict_layout(r.tp, r.dp, r.ep, r.pp)
        if isinstance(lay, str):
            excluded[lay] = excluded.get(lay, 0) + 1
            continue
        tp, ep = lay
        gpus = tp
        thr = r.concurrency * r.osl / (r.ttft_s + (r.osl - 1) * r.tpot_s) / gpus
        out.append(CalRow(line=0, hardware=r.hardware, model=r.model, precision=r.precision, metric="output",
                          kind="at_concurrency", isl=r.isl, osl=r.osl, measured=thr, tp=tp, ep=ep,
                          concurrency=r.concurrency, tok_s_user=None, tpot_ms=r.tpot_s * 1e3,
                          ttft_ms=r.ttft_s * 1e3, speculative="off", source=r.source[:80], engine=r.engine,
                          row_id=f"silicon:{r.id}"))
    if max_rows is not None and len(out) > max_rows:
        key = sorted(out, key=lambda x: hashlib.sha1(x.row_id.encode()).hexdigest())
        out = key[:max_rows]
    return out, excluded


class FastRows:
    """Rows with their candidate configurations gathered once; ``evaluate(calib)`` predicts all.

    Returns per row the predicted throughput (in the row's metric), TPOT and TTFT (seconds) at the
    chosen point; NaN where nothing fits.
    """

    def __init__(self, rows: list[CalRow], base: Calibration):
        self.rows = rows
        self.base = base
        keys, key_index = [], {}
        args_parts, seg, row_key, metric_out, min_user = [], [], [], [], []
        for i, r in enumerate(rows):
            kw = row_query(r, base)
            try:
                c = candidates(**kw)
            except PredictError:
                c = None
            idx = np.zeros(0, dtype=np.int64)
            if c is not None:
                res = evaluate_indices(c.space, np.arange(c.space.size))
                ok = res["status"] >= Status.MISSES_SLA
                if c.mode == "concurrency":
                    nb = len(c.space.batches)
                    okm = ok.reshape(-1, nb)
                    last = nb - 1 - np.argmax(okm[:, ::-1], axis=1)
                    idx = (np.arange(okm.shape[0]) * nb + last)[okm.any(axis=1)]
                else:
                    idx = np.flatnonzero(ok)
            if idx.size:
                a = _gather(c.space, idx)
                args_parts.append([np.broadcast_to(np.asarray(x, dtype=float), idx.shape) for x in a])
            seg.append(idx.size)
            k = (r.hardware, base.engine_for(r.engine, get_hardware(r.hardware).family))
            if k not in key_index:
                key_index[k] = len(keys)
                keys.append(k)
            row_key.append(key_index[k])
            metric_out.append(r.metric == "output")
            min_user.append(r.tok_s_user if r.kind == "at_interactivity" else 0.0)
        self.keys = keys
        self.seg = np.array(seg)
        self.starts = np.r_[0, np.cumsum(self.seg)[:-1]]
        self.row_of = np.repeat(np.arange(len(rows)), self.seg)
        self.args = [np.concatenate([p[j] for p in args_parts]) if args_parts else np.zeros(0)
                     for j in range(len(EVAL_ARGS))]
        self.key_of = np.array(row_key)[self.row_of]
        self.metric_out = np.array(metric_out)
        self.min_user = np.array(min_user)[self.row_of]
        self.cal_pos = {a: EVAL_ARGS.index(a) for a in CAL_ARGS}
        self._hw = {k: get_hardware(k[0]) for k in keys}

    def evaluate(self, calib: Calibration):
        args = list(self.args)
        table = np.array([[hardware_row(self._hw[k], calib, engine=k[1])[a] for a in CAL_ARGS] for k in self.keys])
        for j, a in enumerate(CAL_ARGS):
            args[self.cal_pos[a]] = table[self.key_of, j]
        n = len(self.rows)
        thr, tpot, ttft = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        if self.row_of.size == 0:
            return thr, tpot, ttft
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = dict(zip(formulas.OUTPUTS, formulas.evaluate_config(*args)))
        val = np.where(self.metric_out[self.row_of], out["output_tok_s_per_gpu"], out["total_tok_s_per_gpu"])
        val = np.where(out["output_tok_s_per_user"] >= self.min_user, val, -np.inf)
        # first index of the maximum within each row's segment (ties to the first, as choose does)
        order = np.lexsort((np.arange(val.size), -val, self.row_of))
        first = np.r_[True, self.row_of[order][1:] != self.row_of[order][:-1]]
        pick = order[first]
        rows_with = self.row_of[pick]
        ok = np.isfinite(val[pick])
        thr[rows_with[ok]] = val[pick][ok]
        tpot[rows_with[ok]] = out["tpot_s"][pick][ok]
        ttft[rows_with[ok]] = out["ttft_s"][pick][ok]
        return thr, tpot, ttft


def residuals(fr: FastRows, calib: Calibration):
    """log(pred / measured) of throughput, TPOT and TTFT per row (NaN where not measured)."""
    thr, tpot, ttft = fr.evaluate(calib)
    meas = np.array([r.measured for r in fr.rows])
    m_tpot = np.array([r.tpot_ms * 1e-3 if r.tpot_ms else np.nan for r in fr.rows])
    m_ttft = np.array([r.ttft_ms * 1e-3 if r.ttft_ms else np.nan for r in fr.rows])
    with np.errstate(divide="ignore", invalid="ignore"):
        lt = np.where(np.isfinite(thr) & (thr > 0), np.log(thr / meas), math.log(1e-3))
        lp = np.log(tpot / m_tpot)
        lf = np.log(ttft / m_ttft)
    return lt, lp, lf


def fit(fr: FastRows, base: Calibration, weights: np.ndarray, tpot_weights: np.ndarray,
        max_nfev: int = 2000, start=None, fallback: dict | None = None):
    """Minimize a robust (soft-L1, scale 0.3 in log ratio) loss of log ratios over the rows.

    Throughput residuals carry ``weights``; TPOT residuals ``tpot_weights`` (silicon rows, where
    TPOT is what was measured directly). Trust-region least squares with bounds keeps every
    parameter inside its physical range (efficiencies in (0, 1], overheads >= 0); the max over
    discrete batches makes the residuals piecewise smooth, which finite differences tolerate.
    Parameters without rows to inform them (``fallback``) are held at their start and replaced
    after the fit by their group's or engine's fallback.
    """
    from scipy.optimize import least_squares

    lo = np.array([p[3] for p in PARAMS])
    hi = np.array([p[4] for p in PARAMS])
    x0 = np.array(start if start is not None else [p[5] for p in PARAMS], dtype=float)
    x0 = np.clip(x0, lo + 1e-3 * (hi - lo), hi - 1e-3 * (hi - lo))
    fallback = fallback or {}
    free = np.array([not ((p[0] == "groups" and p[1] in fallback.get("groups", ()))
                          or (p[0] == "engines" and p[1] in fallback.get("engines", ()))) for p in PARAMS])
    # work in units of each parameter's range so one finite-difference step suits all
    scale = hi - lo
    sw, stw = np.sqrt(weights), np.sqrt(tpot_weights)

    def full(z):
        x = x0.copy()
        x[free] = lo[free] + z * scale[free]
        return x

    # factors on measured kernel efficiencies have a prior at 1 (the isolated kernel's efficiency
    # is what the engine reaches): log(factor) / PRIOR_SIGMA joins the residuals, so the data move
    # a factor only as far as they consistently ask (without it, compute and KV factors of one
    # group trade against each other to unphysical values)
    # (groups that borrow another GPU's tables, scaled by measured hardware ratios, keep their
    # factors nearer 1: BORROWED_PRIOR_SIGMA)
    is_factor = np.array([p[2].endswith("_factor") for p in PARAMS])[free]
    sigma = np.array([BORROWED_PRIOR_SIGMA if p[1] in UNMEASURED_GROUPS else PRIOR_SIGMA
                      for p in PARAMS])[free][is_factor]

    def resid(z):
        x = full(z)
        lt, lp, _ = residuals(fr, from_vector(x, base, fallback))
        lt = np.clip(lt, -3.0, 3.0)
        lp = np.clip(np.nan_to_num(lp, nan=0.0), -3.0, 3.0)
        return np.r_[sw * lt, stw * lp, np.log(x[free][is_factor]) / sigma]

    z0 = (x0[free] - lo[free]) / scale[free]
    sol = least_squares(resid, z0, bounds=(0.0, 1.0), loss="soft_l1", f_scale=F_SCALE,
                        diff_step=1e-3, max_nfev=max_nfev, x_scale=1.0)
    x = full(sol.x)
    sol.x = x
    return from_vector(x, base, fallback), sol
