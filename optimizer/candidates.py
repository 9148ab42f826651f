"""From a reduced configuration space to the candidate table the allocation chooses from."""

from __future__ import annotations

import numpy as np

from kernels import ConfigSpace, evaluate_indices
from kernels.serving import ttft_headroom, ttft_under_load
from problems import Problem

from .deploy import configuration_words

CANDIDATE_COLUMNS = (
    "candidate", "workload", "model", "hardware", "hardware_id", "pricing", "configuration", "precision", "precision_label", "tp", "pp", "ep", "mode", "speculative",
    "concurrency", "gpus_per_replica", "capacity_per_replica", "capacity_unit",
    "cost_usd_per_hour_per_replica", "power_kw_per_replica", "ttft_s", "tpot_s",
    "output_tok_s_per_user", "output_tok_s_per_gpu", "total_tok_s_per_gpu",
    "requests_per_s_per_replica", "cost_usd_per_mtok_output", "cost_usd_per_mtok_blended",
    "tok_per_joule", "memory_gb_per_gpu", "output_tok_s_per_replica", "unit_gpus", "idle_kw_per_gpu",
    "config_index",
)


def precision_label(precision: str, spec) -> str:
    """The precision as the hardware runs it: FP8/FP4 weights on hardware without tensor cores for
    them are weight-only (dequantized to BF16 for the math), e.g. ``fp4 weight-only (W4A16)``."""
    if precision == "fp8" and not spec.has_fp8:
        return "fp8 weight-only (W8A16)"
    if precision == "fp4" and not spec.has_fp4:
        return "fp4 weight-only (W4A16)"
    return precision


def idle_kw_per_gpu(problem: Problem, hw_id: str) -> float:
    """All-in kW one idle GPU draws (idle fraction of TDP, host overhead, PUE); 0 without a TDP."""
    s = next(h for h in problem.hardware if h.key == hw_id).spec()
    e = problem.economics
    if s.tdp_w is None:
        return 0.0
    return s.tdp_w * e.idle_power_fraction * (1.0 + e.host_overhead_fraction) * e.pue / 1000.0


def candidate_rows(problem: Problem, space: ConfigSpace, indices) -> list[dict]:
    """Rows for configuration ``indices`` (re-evaluated on the host in float64).

    ``capacity_per_replica`` is the replica's throughput at its SLA operating point times its
    headroom, in the workload's demand unit: the largest utilization, at most the economics'
    ``max_utilization``, at which the steady-state prefill queue keeps the TTFT at the workload's
    ``sla.ttft_percentile`` within ``sla.ttft_ms`` (:func:`kernels.serving.ttft_headroom`).
    ``ttft_s`` is the TTFT at that load; a configuration that misses the SLA even idle is dropped.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0:
        return []
    res = evaluate_indices(space, indices)
    wls = [problem.workload(space.describe(int(i))["workload"]) for i in indices]
    pct = [w.sla.ttft_percentile for w in wls]
    util = ttft_headroom(space, indices, res, problem.economics.max_utilization, pct, [w.sla.ttft_s for w in wls])
    ttft = ttft_under_load(space, indices, res, util, pct)
    units = {h.key: h.spec().unit_gpus for h in problem.hardware}
    idle = {h.key: idle_kw_per_gpu(problem, h.key) for h in problem.hardware}
    ids = {h.key: h.id for h in problem.hardware}
    pricing = {h.key: h.pricing_for(problem.economics) for h in problem.hardware}
    specs = {h.key: h.spec() for h in problem.hardware}
    rows = []
    for k, idx in enumerate(indices):
        d = space.describe(int(idx))
        d["precision_label"] = precision_label(d["precision"], specs[d["hardware"]])
        w = wls[k]
        u = float(util[k])
        if w.sla.ttft_s is not None and not (u > 0 and ttft[k] <= w.sla.ttft_s * (1 + 1e-9)):
            continue
        gpus = d["gpus"]         # tp x pp
        out_gpu = float(res["output_tok_s_per_gpu"][k])
        out_rep = out_gpu * gpus
        req_rep = float(res["requests_per_s_per_replica"][k])
        unit = w.capacity_unit
        cap = out_rep / w.output_tok_per_unit * u       # = requests/s per replica when unit is requests
        cost_gpu_h = float(res["cost_usd_per_gpu_hour"][k])
        rows.append(dict(
            candidate=-1, workload=w.name, model=d["model"], hardware=d["hardware"],
            hardware_id=ids[d["hardware"]], pricing=pricing[d["hardware"]],
            configuration=configuration_words(d), precision=d["precision"], precision_label=d["precision_label"], tp=d["tp"], pp=d["pp"], ep=d["ep"], mode=d["mode"],
            speculative=d["speculative"],
            concurrency=d["concurrency"], gpus_per_replica=gpus, capacity_per_replica=cap,
            capacity_unit=unit, cost_usd_per_hour_per_replica=cost_gpu_h * gpus,
            power_kw_per_replica=float(res["power_w_per_gpu"][k]) * gpus / 1000.0,
            ttft_s=float(ttft[k]), tpot_s=float(res["tpot_s"][k]),
            output_tok_s_per_user=float(res["output_tok_s_per_user"][k]),
            output_tok_s_per_gpu=out_gpu, total_tok_s_per_gpu=float(res["total_tok_s_per_gpu"][k]),
            requests_per_s_per_replica=req_rep,
            cost_usd_per_mtok_output=float(res["cost_usd_per_mtok_output"][k]),
            cost_usd_per_mtok_blended=float(res["cost_usd_per_mtok_blended"][k]),
            tok_per_joule=float(res["tok_per_joule"][k]), serving="aggregated",
            memory_gb_per_gpu=float(res["memory_bytes_per_gpu"][k]) / 1e9,
            output_tok_s_per_replica=out_rep, unit_gpus=units[d["hardware"]],
            idle_kw_per_gpu=idle[d["hardware"]], config_index=int(idx)))
    return rows


def prune_dominated(rows: list[dict]) -> list[dict]:
    """Drop candidates that another candidate of the same workload dominates exactly.

    Candidate j dominates i when k = ceil(cap_i / cap_j) replicas of j give at least i's
    capacity with no more cost, power and GPUs *of each hardware type* than one replica of i.
    Every replica of i in a plan can then be swapped for k replicas of j without breaking a
    constraint or raising the cost, so the integer optimum is unchanged (k = 1 is ordinary
    dominance; ties keep the smaller index). A disaggregated candidate using two GPU types is
    only dominated by one using no more of either; candidates on different single types never
    dominate each other.
    """
    from .allocate import gpus_by_hardware  # noqa: PLC0415

    keep = []
    groups: dict = {}
    for r in rows:
        groups.setdefault(r["workload"], []).append(r)
    for grp in groups.values():
        cap = np.array([r["capacity_per_replica"] for r in grp])
        cost = np.array([r["cost_usd_per_hour_per_replica"] for r in grp])
        pw = np.array([r["power_kw_per_replica"] for r in grp], dtype=float)
        use = [gpus_by_hardware(r) for r in grp]
        types = sorted({h for u in use for h in u})
        gpu = np.array([[u.get(h, 0) for h in types] for u in use], dtype=float)    # (n, types)
        idx = np.array([r["config_index"] for r in grp])
        # row i, column j: k = ceil(cap_i / cap_j) replicas of candidate j replace one of i when
        # they cost, draw and occupy no more (k = 1 is plain dominance)
        k = np.maximum(np.ceil(cap[:, None] / cap[None, :] - 1e-12), 1.0)
        kc, kp = k * cost[None, :], k * pw[None, :]
        ci, pi = cost[:, None], pw[:, None]
        g_le = np.ones_like(k, dtype=bool)
        g_lt = np.zeros_like(k, dtype=bool)
        for t in range(len(types)):
            kg, gi = k * gpu[None, :, t], gpu[:, None, t]
            g_le &= kg <= gi
            g_lt |= kg < gi
        dom = ((kc <= ci) & (kp <= pi) & g_le
               & ((kc < ci) | (kp < pi) | g_lt | (cap[None, :] > cap[:, None] * k) | (idx[None, :] < idx[:, None])))
        np.fill_diagonal(dom, False)
        keep.extend(grp[i] for i in np.flatnonzero(~dom.any(axis=1)))
    keep.sort(key=lambda r: (r["workload"], r["hardware"], r["cost_usd_per_hour_per_replica"] / max(r["capacity_per_replica"], 1e-30)))
    for i, r in enumerate(keep):
        r["candidate"] = i
    return keep
