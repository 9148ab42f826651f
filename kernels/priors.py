"""Hardware priors for catalog GPUs without measured kernel tables, from published microbenchmarks.

A GPU without kernel tables of its own (AMD MI300X / MI325X / MI355X) borrows the curve shapes of
the nearest measured GPU (``nearest`` in the calibration). What makes the borrowed curves fit the
other silicon is a hardware question: what fraction of its own peak does the GPU reach in a
large GEMM, a streaming HBM test, an 8-GPU all-reduce, compared with the GPU it borrows from,
measured the same way. ``kernels/data/amd_microbenchmarks.csv`` holds those published figures
(hardware, quantity, value, unit, message size, method, source URL, date); this module turns them
into three ratios per GPU:

* ``compute``: (achieved GEMM FLOP/s / its peak) / (the same for the reference GPU), geometric mean
  over the methods that measured both (BF16 MAMF, FP8 hipBLASLt vs cuBLASLt);
* ``bandwidth``: (achieved STREAM-like HBM bandwidth / its peak) / (the same for the reference);
* ``comm``: (all-reduce bus bandwidth / its scale-up link) / (the same for the reference), geometric
  mean over the message sizes both report.

Peaks are the catalog's (``problems`` hardware: dense BF16/FP8 FLOP/s, HBM TB/s, scale-up GB/s
per direction), the same peaks the model multiplies the efficiencies by. A quantity with no
published pair for a GPU takes the geometric mean of that quantity's ratio over the GPUs that have
one (listed in ``assumed``). The ratios are hardware; what the engines on that hardware lose on top
(ROCm kernels of attention and MoE, host overheads) is the calibration group's fitted factors,
held near 1 by a log-normal prior (``kernels.calibration_fit.BORROWED_PRIOR_SIGMA``).
"""

from __future__ import annotations

import csv
import math
from functools import cache
from importlib import resources

QUANTITIES = {"gemm_bf16": "compute", "gemm_fp8": "compute", "hbm_bandwidth": "bandwidth",
              "allreduce_busbw": "comm"}
RATIO_KEYS = ("compute", "bandwidth", "comm")


def load_microbenchmarks(path=None) -> list[dict]:
    """Rows of the microbenchmark CSV (value as float, message_bytes as int or None)."""
    if path is None:
        text = resources.files("kernels").joinpath("data/amd_microbenchmarks.csv").read_text(encoding="utf-8")
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    rows = []
    for r in csv.DictReader(text.splitlines()):
        rows.append(dict(r, value=float(r["value"]),
                         message_bytes=int(r["message_bytes"]) if r.get("message_bytes") else None))
    return rows


def _peak(hw, quantity: str) -> float:
    """The catalog peak a measured quantity is a fraction of (same units as the CSV's)."""
    if quantity == "gemm_bf16":
        return hw.bf16_dense_tflops
    if quantity == "gemm_fp8":
        return hw.fp8_dense_tflops or float("nan")
    if quantity == "hbm_bandwidth":
        return hw.hbm_tb_s
    if quantity == "allreduce_busbw":
        return hw.scaleup_gb_s_per_gpu or float("nan")
    raise ValueError(f"no peak for quantity {quantity!r}")


def fractions(rows) -> dict:
    """{(hardware, quantity, method, message_bytes): achieved fraction of the catalog peak}."""
    from problems import get_hardware  # noqa: PLC0415

    out = {}
    for r in rows:
        if r["quantity"] not in QUANTITIES:
            continue
        out[(r["hardware"], r["quantity"], r["method"], r["message_bytes"])] = \
            r["value"] / _peak(get_hardware(r["hardware"]), r["quantity"])
    return out


def hardware_ratios(nearest: dict, rows=None) -> dict:
    """Per GPU named in ``nearest`` (catalog id -> the measured GPU it borrows curves from) with at
    least one published pair: ``{compute, bandwidth, comm}`` ratios to the reference GPU, the
    reference, the methods used per ratio and the ratios filled by the fallback (``assumed``)."""
    rows = load_microbenchmarks() if rows is None else rows
    frac = fractions(rows)
    measured = {h for h, *_ in frac}
    out: dict = {}
    for hw, ref in nearest.items():
        if hw.startswith("group:") or hw not in measured:
            continue
        rec = {"reference": ref, "methods": {}, "assumed": []}
        for key in RATIO_KEYS:
            logs, methods = [], []
            for (h, q, m, size), f in frac.items():
                if h != hw or QUANTITIES[q] != key:
                    continue
                g = frac.get((ref, q, m, size))
                if g and math.isfinite(f) and math.isfinite(g) and g > 0:
                    logs.append(math.log(f / g))
                    methods.append(f"{q}/{m}" + (f"@{size}B" if size else ""))
            if logs:
                rec[key] = round(math.exp(sum(logs) / len(logs)), 4)
                rec["methods"][key] = methods
        out[hw] = rec
    # a ratio without a published pair: the geometric mean of the GPUs that have one
    for key in RATIO_KEYS:
        have = [r[key] for r in out.values() if key in r]
        if not have:
            continue
        mean = round(math.exp(sum(math.log(v) for v in have) / len(have)), 4)
        for r in out.values():
            if key not in r:
                r[key] = mean
                r["assumed"].append(key)
    return out


@cache
def default_hardware_ratios() -> dict:
    """Ratios for the shipped ``nearest`` map (kernels.calibration_fit.NEAREST_MEASURED)."""
    from .calibration_fit import NEAREST_MEASURED  # noqa: PLC0415

    return hardware_ratios(dict(NEAREST_MEASURED))
