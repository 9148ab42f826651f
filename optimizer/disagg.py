"""Disaggregated prefill/decode candidates for the allocation, and the per-workload mode comparison.

A disaggregated candidate is one deployment: a prefill pool and a decode pool
(:func:`kernels.serving.disaggregated_pools`), on one hardware type or on two of the problem's
hardware entries. One "replica" of the candidate is the whole deployment, so it spends
``prefill_replicas x prefill GPUs`` of the prefill hardware and ``decode_replicas x decode GPUs``
of the decode hardware; its ``pools`` list says so to the allocation (inventory, buyable units,
idle GPUs), and its cost and power are the sum over both pools.
"""

from __future__ import annotations

import numpy as np

from kernels import default_calibration, load_calibration
from kernels.serving import disaggregated_pools
from kernels.tables import economics_kwargs, hardware_row
from problems import Problem

from .allocate import gpus_by_hardware, pools  # noqa: F401 - re-exported for callers
from .candidates import idle_kw_per_gpu, precision_label

# decode pool sizes tried per (workload, model, precision, prefill hardware, decode hardware): the
# best deployment for each, so the allocation can size a workload in steps smaller than the largest
DECODE_REPLICAS = (1, 2, 4)
# config_index of disaggregated rows starts here: they are not points of the configuration space,
# and on an exact tie in pruning the aggregated candidate (smaller index) is kept
DISAGG_INDEX_BASE = 10**15
# the all-in power of kernels.tables.hardware_row's default economics: (1 + host overhead) x PUE
# and the idle fraction of TDP, used to restate pool power under the problem's economics
_DEFAULT_POWER_FACTOR, _DEFAULT_IDLE = 1.25 * 1.3, 0.3


def _restated_power_w(p_default: float, tdp_w, e) -> float:
    """All-in W per GPU under economics ``e`` from the figure at the default economics."""
    if tdp_w is None or not np.isfinite(p_default):
        return float("nan")
    util = (p_default / _DEFAULT_POWER_FACTOR / tdp_w - _DEFAULT_IDLE) / (1.0 - _DEFAULT_IDLE)
    return tdp_w * (e.idle_power_fraction + (1.0 - e.idle_power_fraction) * util) \
        * (1.0 + e.host_overhead_fraction) * e.pue


def _layout_words(gpus: int, dep: bool) -> str:
    return f"attention-DP {gpus} + EP {gpus}" if dep else f"TP {gpus}"


def disaggregated_rows(problem: Problem, *, workload: str | None = None, same_type: bool = False,
                       min_output_tok_s_per_user: float | None = None) -> list[dict]:
    """Candidate rows of every disaggregated deployment the problem allows (``search.serving``).

    Columns as :func:`optimizer.candidates.candidate_rows`, plus the pools. ``hardware`` is the
    decode pool's entry; ``capacity_per_replica`` is the deployment's output at its SLA times
    ``max_utilization``. ``workload`` keeps one workload, ``same_type`` only pools on one
    hardware entry, and ``min_output_tok_s_per_user`` replaces the SLA's interactivity (frontiers).
    """
    if "disaggregated" not in problem.search.serving:
        return []
    calib = load_calibration(problem.calibration) if problem.calibration else default_calibration()
    e = problem.economics
    econ = economics_kwargs(e)
    engine = problem.engine
    spec_axis = problem.search.speculative
    speculative = None if len(spec_axis) > 1 else spec_axis[0]
    entries = list(problem.hardware)
    info = {}
    for h in entries:
        s = h.spec()
        hr = hardware_row(s, calib, **dict(econ, pricing=h.pricing_for(e)))
        info[h.key] = dict(spec=s, id=h.id, rate=hr["cost_usd_per_gpu_hour"], elec=hr["elec_usd_per_kwh"],
                           unit=s.unit_gpus, idle=idle_kw_per_gpu(problem, h.key), pricing=h.pricing_for(e))
    u = e.max_utilization
    rows = []
    for w in problem.workloads:
        if workload is not None and w.name != workload:
            continue
        min_user = w.sla.min_output_tok_s_per_user if min_output_tok_s_per_user is None else min_output_tok_s_per_user
        for mid in w.candidate_models():
            for prec in problem.search.precisions:
                for hp in entries:
                    for hd in entries:
                        if same_type and hd.key != hp.key:
                            continue
                        try:
                            found = disaggregated_pools(
                                hp.id, hd.id, mid, prec, isl=w.input_tokens, osl=w.output_tokens,
                                min_output_tok_s_per_user=min_user,
                                ttft_s=w.sla.ttft_s, ttft_percentile=w.sla.ttft_percentile,
                                decode_replicas=DECODE_REPLICAS, speculative=speculative,
                                cached_input_fraction=w.cached_input_fraction, engine=engine,
                                speculative_data=w.speculative_data,
                                calibration=calib, max_concurrency=problem.search.max_concurrency,
                                # two entries of one type (e.g. rented and owned) are separate units
                                same_units=hp.key == hd.key)
                        except Exception as err:   # noqa: BLE001 - a model the pair cannot run
                            if type(err).__name__ != "PredictError":
                                raise
                            continue
                        for d in found:
                            rows.append(_row(problem, w, mid, prec, hp.key, hd.key, d, info, u, len(rows)))
    return rows


def _row(problem, w, model, prec, kp, kd, d, info, u, k) -> dict:
    ip, idd = info[kp], info[kd]
    e = problem.economics
    pw_p = _restated_power_w(d["prefill_power_w_per_gpu"], ip["spec"].tdp_w, e)
    pw_d = _restated_power_w(d["decode_power_w_per_gpu"], idd["spec"].tdp_w, e)
    g_p = d["prefill_replicas"] * d["prefill_gpus"]
    g_d = d["decode_replicas"] * d["decode_gpus"]
    gpus = g_p + g_d
    elec = lambda i, pw: i["elec"] * pw / 1000.0 if i["elec"] > 0 else 0.0   # noqa: E731
    cost_h = g_p * (ip["rate"] + elec(ip, pw_p)) + g_d * (idd["rate"] + elec(idd, pw_d))
    power_kw = (g_p * pw_p + g_d * pw_d) / 1000.0
    out_dep = d["requests_s"] * w.output_tokens                 # output tok/s of the deployment
    tot_dep = d["requests_s"] * (w.input_tokens + w.output_tokens)
    label = precision_label(prec, idd["spec"])
    pct = w.sla.ttft_percentile
    ttft = {"mean": d["ttft_s"], "p90": d["ttft_p90_s"], "p99": d["ttft_p99_s"]}[pct]
    p_tp, p_ep = (1, d["prefill_gpus"]) if d["prefill_dep"] else (d["prefill_gpus"], 1)
    d_tp, d_ep = (1, d["decode_gpus"]) if d["decode_dep"] else (d["decode_gpus"], 1)
    where = "" if kp == kd else f" on {kp}"
    words = (f"{label}, disaggregated: prefill {d['prefill_replicas']} x {_layout_words(d['prefill_gpus'], d['prefill_dep'])}"
             f"{where}, decode {d['decode_replicas']} x {_layout_words(d['decode_gpus'], d['decode_dep'])}"
             f"{'' if kp == kd else ' on ' + kd}, batch {int(d['decode_batch'])}"
             f"{', MTP' if d['speculative'] == 'mtp' else ''}; KV over {'scale-up' if d['in_domain'] else 'scale-out'}")
    return dict(
        candidate=-1, workload=w.name, model=model, hardware=kd, hardware_id=idd["id"], pricing=idd["pricing"],
        configuration=words, precision=prec, precision_label=label, tp=d["decode_gpus"], pp=1,
        ep=d["decode_gpus"] if d["decode_dep"] else 1, mode="dep" if d["decode_dep"] else "tp",
        speculative=d["speculative"], concurrency=int(d["decode_batch"]), gpus_per_replica=gpus,
        capacity_per_replica=out_dep / w.output_tok_per_unit * u, capacity_unit=w.capacity_unit,
        cost_usd_per_hour_per_replica=cost_h, power_kw_per_replica=power_kw,
        ttft_s=ttft, tpot_s=d["tpot_s"], output_tok_s_per_user=d["output_tok_s_per_user"],
        output_tok_s_per_gpu=out_dep / gpus, total_tok_s_per_gpu=tot_dep / gpus,
        requests_per_s_per_replica=d["requests_s"],
        cost_usd_per_mtok_output=cost_h / (out_dep * 3600.0) * 1e6,
        cost_usd_per_mtok_blended=cost_h / (tot_dep * 3600.0) * 1e6,
        tok_per_joule=tot_dep / (power_kw * 1000.0) if power_kw > 0 else float("nan"),
        memory_gb_per_gpu=max(d["prefill_memory_bytes_per_gpu"], d["decode_memory_bytes_per_gpu"]) / 1e9,
        output_tok_s_per_replica=out_dep, unit_gpus=idd["unit"], idle_kw_per_gpu=idd["idle"],
        config_index=DISAGG_INDEX_BASE + k, serving="disaggregated",
        prefill_hardware=kp, decode_hardware=kd, prefill_tp=p_tp, prefill_ep=p_ep,
        prefill_replicas=d["prefill_replicas"], decode_tp=d_tp, decode_ep=d_ep,
        decode_replicas=d["decode_replicas"], kv_transfer_s=d["kv_transfer_s"],
        pools=[dict(role="prefill", hardware=kp, hardware_id=ip["id"], replicas=d["prefill_replicas"], gpus_per_replica=d["prefill_gpus"],
                    unit_gpus=ip["unit"], idle_kw_per_gpu=ip["idle"]),
               dict(role="decode", hardware=kd, hardware_id=idd["id"], replicas=d["decode_replicas"], gpus_per_replica=d["decode_gpus"],
                    unit_gpus=idd["unit"], idle_kw_per_gpu=idd["idle"])])


def mode_comparison(problem: Problem, rows: list[dict]) -> dict:
    """Per workload and serving mode, the best output tokens/s per GPU among candidates meeting
    the SLA (None where the mode has none or is not searched)."""
    out = {}
    for w in problem.workloads:
        best = {m: None for m in problem.search.serving}
        for r in rows:
            if r["workload"] != w.name:
                continue
            m = r.get("serving", "aggregated")
            v = r["output_tok_s_per_gpu"]
            if m in best and (best[m] is None or v > best[m]["output_tok_s_per_gpu"]):
                best[m] = dict(output_tok_s_per_gpu=v, hardware=r["hardware"], configuration=r["configuration"],
                               cost_usd_per_mtok_output=r["cost_usd_per_mtok_output"])
        out[w.name] = best
    return out


# interactivity levels (output tok/s per user) of a disaggregated frontier
FRONTIER_LEVELS = (10.0, 20.0, 35.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0)


def disaggregated_series(problem: Problem, workload: str, levels=FRONTIER_LEVELS) -> list[dict]:
    """Frontier series of disaggregated deployments, one per (model, hardware, precision) with
    both pools on that hardware: at each interactivity level the deployment with the most output
    tok/s per GPU reaching it (TTFT SLA kept), then only the Pareto points. Keys as
    :class:`optimizer.analysis.Frontier` series, with ``serving`` = "disaggregated"."""
    best: dict = {}
    for lvl in levels:
        for r in disaggregated_rows(problem, workload=workload, same_type=True, min_output_tok_s_per_user=lvl):
            k = (r["model"], r["hardware"], r["precision"])
            cur = best.setdefault(k, {})
            key = round(r["output_tok_s_per_user"], 6)
            if key not in cur or r["output_tok_s_per_gpu"] > cur[key]["output_tok_s_per_gpu"]:
                cur[key] = r
    out = []
    for (model, hw, prec), pts in best.items():
        rows = sorted(pts.values(), key=lambda r: r["output_tok_s_per_user"])
        keep, top = [], -np.inf
        for r in reversed(rows):             # nothing faster per user has more throughput
            if r["output_tok_s_per_gpu"] > top:
                keep.append(r)
                top = r["output_tok_s_per_gpu"]
        keep.reverse()
        out.append(dict(
            workload=workload, model=model, hardware=hw, precision=prec, serving="disaggregated",
            precision_label=keep[0]["precision_label"],
            tok_s_per_user=[r["output_tok_s_per_user"] for r in keep],
            output_tok_s_per_gpu=[r["output_tok_s_per_gpu"] for r in keep],
            total_tok_s_per_gpu=[r["total_tok_s_per_gpu"] for r in keep],
            cost_usd_per_mtok_output=[r["cost_usd_per_mtok_output"] for r in keep],
            tok_per_joule=[r["tok_per_joule"] for r in keep], ttft_s=[r["ttft_s"] for r in keep],
            configs=[dict(configuration=r["configuration"], serving="disaggregated",
                          prefill_tp=r["prefill_tp"], prefill_ep=r["prefill_ep"], prefill_replicas=r["prefill_replicas"],
                          decode_tp=r["decode_tp"], decode_ep=r["decode_ep"], decode_replicas=r["decode_replicas"],
                          speculative=r["speculative"], concurrency=r["concurrency"]) for r in keep]))
    return out
