"""One table row per scenario: the swept values, then the plan's totals and how it was solved."""

from __future__ import annotations


def plan_row(sc: dict, plan, elapsed_s: float) -> dict:
    """The row of scenario ``sc`` (``{"scenario": i, "values": {path: value}}``) solved as ``plan``.

    Columns: ``scenario``, one per swept path, ``status``, totals (USD/hour, USD per Mtok, GPUs,
    MW), the solver's status, MIP gap and method, the bracket corners, ``gpus.<hardware>``,
    ``hardware.<workload>`` (the hardware serving it) and ``elapsed_s`` (wall time, s).
    """
    t = plan.totals or {}
    row = dict(scenario=sc["scenario"])
    row.update({k: v for k, v in sc["values"].items()})
    row.update(status=plan.status, total_cost_usd_per_hour=t.get("total_cost_usd_per_hour"),
               cost_usd_per_mtok_output=t.get("cost_usd_per_mtok_output"),
               cost_usd_per_mtok_blended=t.get("cost_usd_per_mtok_blended"),
               total_gpus=t.get("total_gpus"), power_mw=t.get("power_mw"),
               solver_status=plan.solver.get("status"), mip_gap=plan.solver.get("mip_gap"),
               method=plan.solver.get("method"),
               bracket=" ".join(map(str, plan.solver.get("bracket", []))) or None,
               message=plan.message[:300])
    gpus = t.get("gpus_by_type") or {}
    for h, n in gpus.items():
        row[f"gpus.{h}"] = n
    by_w: dict = {}
    for a in plan.allocations:
        by_w.setdefault(a["workload"], set()).add(a["hardware"])
    for w, hs in by_w.items():
        row[f"hardware.{w}"] = "+".join(sorted(hs))
    row["hardware"] = max(gpus, key=gpus.get) if gpus else None
    row["elapsed_s"] = elapsed_s
    return row
