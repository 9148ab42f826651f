"""Warnings (not errors) for figures a problem file may hold that are valid but implausible.

A price of 195 USD per GPU-hour is probably a price per 8-GPU node; an ``hbm_gb`` of 192000000000
is bytes. Such values pass the schema (they are positive and finite) but would make a plan
meaningless, so the plan and ``tokenfleet validate`` name the field, the value and the range.
"""

from __future__ import annotations

# (path pattern, low, high, unit, why the bounds): bounds are wide on purpose (an order of
# magnitude beyond what the catalogs hold); a value outside them is almost surely a unit mistake.
HARDWARE_RANGES = {
    "price_usd_per_hour": (0.05, 20.0, "USD per GPU-hour",
                           "catalog rental prices are $0.5-$3; a price per 8-GPU node is 8x a GPU's"),
    "capex_usd": (1_000.0, 200_000.0, "USD per GPU",
                  "the catalog's all-in capex is $45k-$50k per GPU; 0 means already paid for"),
    "tdp_w": (50.0, 3_000.0, "W per GPU", "catalog TDPs are 350-1,400 W"),
    "hbm_gb": (8.0, 1_024.0, "GB per GPU", "catalog memory is 48-288 GB; 1e9 times more is bytes"),
}
WORKLOAD_RANGES = {
    "input_tokens": (1, 2_000_000, "tokens per request", "the largest catalog context is 1M tokens"),
    "output_tokens": (1, 200_000, "tokens per request", "long reasoning traces are tens of thousands"),
    "value_usd_per_mtok": (0.0, 1_000.0, "USD per million output tokens", "API list prices are $0.1-$100"),
}
SLA_RANGES = {
    "ttft_ms": (10.0, 600_000.0, "ms", "below 10 ms no prefill finishes; is it in seconds?"),
    "min_output_tok_s_per_user": (1.0, 5_000.0, "output tokens/s per user", "people read ~5-10 tokens/s"),
}
ECONOMICS_RANGES = {
    "electricity_usd_per_kwh": (0.01, 1.0, "USD per kWh", "industrial tariffs are $0.03-$0.30"),
    "years": (1.0, 15.0, "years", "accelerators are depreciated over 3-6 years"),
}
CONSTRAINT_RANGES = {
    "power_cap_mw": (0.001, 10_000.0, "MW", "the largest campuses are a few GW"),
    "budget_usd_per_hour": (0.1, 1e8, "USD per hour", ""),
}


def _check(path: str, value, rng: tuple, out: list[str]) -> None:
    lo, hi, unit, why = rng
    if value is None or value == 0 and path.endswith("capex_usd"):
        return
    if not lo <= value <= hi:
        out.append(f"{path} = {value:g} is outside the plausible range {lo:g} to {hi:g} {unit}"
                   + (f" ({why})" if why else "") + "; check its unit")


def plausibility_warnings(problem) -> list[str]:
    """One line per implausible figure of ``problem``, naming the field path, value and range."""
    out: list[str] = []
    for i, h in enumerate(problem.hardware):
        for k, rng in HARDWARE_RANGES.items():
            _check(f"hardware[{i}].{k}", getattr(h, k), rng, out)
    for i, w in enumerate(problem.workloads):
        for k, rng in WORKLOAD_RANGES.items():
            _check(f"workloads[{i}].{k}", getattr(w, k), rng, out)
        for k, rng in SLA_RANGES.items():
            _check(f"workloads[{i}].sla.{k}", getattr(w.sla, k), rng, out)
    for k, rng in ECONOMICS_RANGES.items():
        _check(f"economics.{k}", getattr(problem.economics, k), rng, out)
    for k, rng in CONSTRAINT_RANGES.items():
        _check(f"constraints.{k}", getattr(problem.constraints, k), rng, out)
    return out
