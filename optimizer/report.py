"""Plan and prediction text for people: number formatting, the service table, marginal values in
the objective's unit, and labelled prediction fields (the CLI prints these)."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from problems.text import literal


def fmt(v, digits=3):
    """A number in a table cell: '-' for missing, thousands separators, ~3 significant digits."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}" if abs(v) < 1 else f"{v:,.{digits - 1}f}" if abs(v) < 100 else f"{v:,.1f}"
    return str(v)


PER_ROW_NOTE = ("$/Mtok per row is one replica at full load; the total is the plan's cost over the tokens it "
                "serves, so it is higher: it pays the max_utilization headroom, whole replicas and the idle "
                "GPUs of whole units.")


def print_service(plan, console: Console) -> None:
    """Each workload's demand, what the plan serves of it, and what it leaves unserved."""
    t = Table(title="service (demand vs served)", title_justify="left")
    for c in ("workload", "unit", "demand", "served", "served %", "unserved"):
        t.add_column(c, justify="left" if c in ("workload", "unit") else "right")
    for w in plan.workloads:
        unit = "output tok/s" if w["capacity_unit"] == "output_tok_s" else "requests/s"
        t.add_row(literal(w["workload"]), unit, fmt(w["demand"]), fmt(w["served"]),
                  f"{100 * w.get('served_share', 1.0):.1f}%", fmt(w.get("unserved", 0.0)))
    console.print(t)


def print_serving_modes(plan, console: Console) -> None:
    """Per workload, the serving mode the plan gave it and each searched mode's best output tok/s
    per GPU at the workload's SLA (printed when more than one mode was searched)."""
    modes = [m for w in plan.workloads for m in (w.get("best_output_tok_s_per_gpu_by_mode") or {})]
    modes = list(dict.fromkeys(modes))
    if len(modes) < 2:
        return
    t = Table(title="serving mode per workload (best output tok/s per GPU at the SLA)", title_justify="left")
    t.add_column("workload")
    t.add_column("plan serves it")
    for m in modes:
        t.add_column(m, justify="right")
    for w in plan.workloads:
        best = w.get("best_output_tok_s_per_gpu_by_mode") or {}
        t.add_row(literal(w["workload"]), w.get("serving") or "-",
                  *[("none meets the SLA" if best.get(m) is None else fmt(best[m])) for m in modes])
    console.print(t)


def marginal_rows(plan) -> list[tuple[str, str]]:
    """(requirement, value) lines of the marginal values, in the objective's unit."""
    mv = plan.marginal_values
    if not mv.get("workloads"):
        return []
    rows = []
    if mv.get("objective_unit") == "output_tok_s":
        for w, d in mv["workloads"].items():
            if d["output_tok_s_per_unit"] > 1e-9:
                rows.append((f"demand of {literal(w)}", f"+{fmt(d['output_tok_s_per_unit'])} output tok/s per extra "
                                               f"unit of demand"))
        for h, d in mv.get("hardware", {}).items():
            if d["output_tok_s_per_gpu"] > 1e-9:
                rows.append((f"one more {literal(h)}", f"+{fmt(d['output_tok_s_per_gpu'])} output tok/s"))
        if mv.get("power_output_tok_s_per_mw"):
            rows.append(("one more MW", f"+{fmt(mv['power_output_tok_s_per_mw'])} output tok/s"))
        if mv.get("budget_output_tok_s_per_usd_per_hour"):
            rows.append(("one more $/h of budget", f"+{fmt(mv['budget_output_tok_s_per_usd_per_hour'])} output tok/s"))
        return rows
    margin = plan.objective == "max_margin"
    for w, d in mv["workloads"].items():
        what = "earns" if margin else "costs"
        rows.append((f"demand of {literal(w)}", f"{what} ${d['marginal_usd_per_mtok']:.4f} per extra Mtok"))
    gain = "adds ${:.3f}/h of margin" if margin else "saves ${:.3f}/h"
    for h, d in mv.get("hardware", {}).items():
        if d["usd_per_hour_per_gpu"] > 1e-9:
            rows.append((f"one more {literal(h)}", gain.format(d["usd_per_hour_per_gpu"])))
    if mv.get("power_usd_per_hour_per_mw"):
        rows.append(("one more MW", gain.format(mv["power_usd_per_hour_per_mw"])))
    if mv.get("budget_per_usd"):
        rows.append(("one more $/h of budget", f"{'adds' if margin else 'saves'} ${mv['budget_per_usd']:.4f}/h"))
    return rows


# field -> (label with its unit, factor from the field's SI unit to the label's)
PREDICT_LABELS = {
    "speculative": ("speculative decoding", None),
    "isl": ("input tokens per request", None),
    "osl": ("output tokens per request", None),
    "ttft_s": ("time to first token (mean), ms", 1e3),
    "tpot_s": ("time per output token, ms", 1e3),
    "output_tok_s_per_user": ("output tokens/s per user", None),
    "output_tok_s_per_gpu": ("output tokens/s per GPU", None),
    "total_tok_s_per_gpu": ("input+output tokens/s per GPU", None),
    "requests_per_s_per_replica": ("requests/s per replica", None),
    "power_w_per_gpu": ("power per GPU, W, all-in (GPU + host overhead, x PUE)", None),
    "cost_usd_per_mtok_output": ("cost, $ per million output tokens", None),
    "cost_usd_per_mtok_blended": ("cost, $ per million input+output tokens", None),
    "tok_per_joule": ("input+output tokens per joule, all-in", None),
    "memory_bytes_per_gpu": ("memory per GPU, GiB", 1.0 / 2**30),
    "fits": ("fits in memory", None),
    "queue_wait_s": ("queueing wait, ms", 1e3),
    "serving": ("serving mode", None),
    "gpus": ("GPUs of the deployment", None),
    "prefill_tp": ("prefill pool TP", None),
    "prefill_ep": ("prefill pool EP", None),
    "prefill_replicas": ("prefill replicas", None),
    "decode_tp": ("decode pool TP", None),
    "decode_ep": ("decode pool EP", None),
    "decode_replicas": ("decode replicas", None),
    "kv_transfer_s": ("KV-cache transfer per request, ms", 1e3),
    "ttft_p90_s": ("time to first token under load, p90, ms", 1e3),
    "ttft_p99_s": ("time to first token under load, p99, ms", 1e3),
    "note": ("note", None),
    "band_regime": ("P10-P90 bands: calibration residuals of the regime", None),
    "engine": ("serving engine (calibration)", None),
}
BAND_FIELDS = ("output_tok_s_per_gpu", "total_tok_s_per_gpu", "tpot_s", "ttft_s")


def predict_table(m, model: str, hardware: str, precision: str) -> Table:
    """One predicted operating point, each field labelled with its unit."""
    from problems import get_hardware  # noqa: PLC0415

    from .candidates import precision_label  # noqa: PLC0415

    plabel = precision_label(precision, get_hardware(hardware))
    mode = f"attention-DP {m.tp} + EP {m.ep}" if m.ep > 1 else f"TP {m.tp}"
    if getattr(m, "pp", 1) > 1:
        mode += f" x PP {m.pp}"
    t = Table(title=f"{literal(model)} on {literal(hardware)}, {literal(plabel)}, {mode}, concurrency {m.concurrency}",
              title_justify="left", show_header=False)
    t.add_column("")
    t.add_column("", justify="right")
    pools = ("prefill_tp", "prefill_ep", "prefill_replicas", "decode_tp", "decode_ep", "decode_replicas",
             "kv_transfer_s")
    d = m.to_dict()
    bands = {f"{b}_{q}" for b in BAND_FIELDS for q in ("p10", "p90")}
    for k, v in d.items():
        if k in ("hardware", "model", "precision", "tp", "pp", "ep", "concurrency") or v in ("", None):
            continue
        if k in bands:
            if k.endswith("_p10") and d.get(k[:-4] + "_p90") not in ("", None):
                label, scale = PREDICT_LABELS[k[:-4]]
                lo, hi = (x * scale if scale is not None else x for x in (v, d[k[:-4] + "_p90"]))
                t.add_row(f"{label}, P10-P90 band", f"{fmt(lo)} - {fmt(hi)}")
            continue
        if m.serving == "aggregated" and k in pools:
            continue                    # one pool: its layout is in the title
        label, scale = PREDICT_LABELS.get(k, (k.replace("_", " "), None))
        if isinstance(v, bool):
            text = "yes" if v else "no"
        elif isinstance(v, str):
            text = literal(v)
        else:
            text = fmt(v * scale if scale is not None and isinstance(v, (int, float)) else v)
        t.add_row(label, text)
    return t


def calibration_table(r) -> Table:
    """Error before and after a refit, per hardware (``optimizer.calibrate.CalibrationResult``)."""
    t = Table(title=f"calibration on {len(r.measurements)} measurements (groups refitted: {', '.join(r.groups)})",
              title_justify="left")
    for c in ("hardware", "rows", "tok/s error before", "after", "TPOT error before", "after ",
              "rms log error before", "after  "):
        t.add_column(c, justify="left" if c == "hardware" else "right")

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    for e in r.errors:
        t.add_row(e["hardware"], str(e["rows"]), pct(e["throughput_before"]), pct(e["throughput_after"]),
                  pct(e["tpot_before"]), pct(e["tpot_after"]), f"{e['rms_log_before']:.3f}",
                  f"{e['rms_log_after']:.3f}")
    return t
