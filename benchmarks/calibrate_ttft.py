"""Fit two TTFT parameters per engine -- the fixed per-request overhead (client + engine:
tokenization, scheduling, HTTP) and the fraction of a synchronized wave's queueing a fixed-length
benchmark sees -- and report leave-one-engine-out and leave-one-hardware-out errors.

    python benchmarks/calibrate_ttft.py           # fit and report
    python benchmarks/calibrate_ttft.py --write   # also store engines.<engine>.ttft_overhead_s,
                                                  # engines.<engine>.ttft_wave_fraction and the
                                                  # TTFT error bands (bands.<regime>.ttft)

Rows: aiconfigurator's silicon sample (TTFT at a stated concurrency, fixed lengths: synchronized
waves; aggregated and disaggregated rows ``benchmarks/score_serving.py`` can describe) and the
calibration rows at a stated concurrency with a TTFT (InferenceX: spread lengths). Each row is
predicted twice through ``kernels.serving.predict`` with every overhead at zero, with wave
fraction 0 (``p0``: the first prompt's TTFT) and 1 (``p1``: the whole wave); the model's TTFT is
then ``p0 + f (p1 - p0) + o`` (linear in both; exact for aggregated rows), and ``(o, f)`` per
engine minimise the sum of ``|log(TTFT / measured)|`` (robust to the rows the model misses) over a
grid (o: 0-1 s by 5 ms; f: 0-1 by 0.02). Rows at spread lengths (InferenceX) have no wave and
carry ``p1 = p0``.

Held-out errors: leave-one-engine-out (the engine's rows predicted with one overhead fitted on the
other engines' rows), leave-one-hardware-out (each hardware type's rows with the per-engine
overheads fitted on the other hardware types). Error: symmetric ``max(p/m, m/p) - 1``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from kernels.calibration import bands, merge_bands  # noqa: E402
from kernels.predict import PredictError  # noqa: E402
from kernels.serving import predict  # noqa: E402
from kernels.tables import ENGINES, default_calibration  # noqa: E402
from problems import get_hardware  # noqa: E402

CALIBRATION_JSON = ROOT / "kernels" / "calibration.json"
GRID_S = np.arange(0.0, 1.0005, 0.005)
GRID_F = np.linspace(0.0, 1.0, 51)


def zero_overhead_calibration(wave_fraction=1.0):
    """The default calibration with every engine's ``ttft_overhead_s`` at 0 and its
    ``ttft_wave_fraction`` at ``wave_fraction``."""
    c = default_calibration()
    engines = copy.deepcopy(c.engines)
    for e in ENGINES:
        engines.setdefault(e, {}).update(ttft_overhead_s=0.0, ttft_wave_fraction=wave_fraction)
    return replace(c, engines=engines)


def collect_both() -> list[dict]:
    """Records with ``p0`` (wave fraction 0) and ``p1`` (wave fraction 1), zero overhead."""
    r0, r1 = collect(zero_overhead_calibration(0.0)), collect(zero_overhead_calibration(1.0))
    assert len(r0) == len(r1)
    return [dict(a, p1=b["p0"]) for a, b in zip(r0, r1)]


def collect(calib) -> list[dict]:
    """One record per scorable row: source, engine, hardware, mode, measured and zero-overhead
    predicted TTFT (seconds)."""
    from score_serving import arrivals_of, load_serving_rows, silicon_kwargs  # noqa: PLC0415
    from silicon import load_silicon_rows  # noqa: PLC0415

    out = []
    for r in load_silicon_rows()[0]:
        kw = silicon_kwargs(r, "after")
        if isinstance(kw, str):
            continue
        try:
            m = predict(**kw, speculative="off", calibration=calib)
        except PredictError:
            continue
        out.append(dict(source="silicon", engine=r.engine, hardware=r.hardware, mode=r.mode,
                        measured=r.ttft_s, p0=m.ttft_s))
    for sr in load_serving_rows()[0]:
        r = sr.row
        if r.kind != "at_concurrency" or not r.ttft_ms:
            continue
        kw = dict(hardware=r.hardware, model=r.model, precision=r.precision, isl=r.isl, osl=r.osl,
                  concurrency=r.concurrency, speculative=r.speculative, arrivals=arrivals_of(r),
                  engine=r.engine, calibration=calib)
        if sr.serving == "disaggregated":
            kw.update(serving="disaggregated", **sr.pools)
        else:
            kw.update(tp=r.tp, ep=r.ep if r.ep else 1) if r.tp is not None else kw.update(tp=None, ep=None)
        try:
            m = predict(**kw)
        except PredictError:
            continue
        out.append(dict(source="calibration", engine=r.engine or calib.default_engine,
                        hardware=r.hardware, mode=sr.serving, measured=r.ttft_ms / 1e3, p0=m.ttft_s))
    return out


def fit_overhead(recs) -> tuple[float, float]:
    """``(o, f)``: the overhead (seconds) and wave fraction minimising the summed absolute log
    error of ``p0 + f (p1 - p0) + o``; ``(0, 1)`` without rows."""
    if not recs:
        return 0.0, 1.0
    p0 = np.array([r["p0"] for r in recs])[:, None, None]
    p1 = np.array([r["p1"] for r in recs])[:, None, None]
    meas = np.array([r["measured"] for r in recs])[:, None, None]
    pred = p0 + GRID_F[None, None, :] * (p1 - p0) + GRID_S[None, :, None]
    loss = np.abs(np.log(pred / meas)).sum(axis=0)
    i, j = np.unravel_index(int(np.argmin(loss)), loss.shape)
    return float(GRID_S[i]), float(GRID_F[j])


def sym(p, m):
    return max(p / m, m / p) - 1.0


def median_err(recs, params) -> float:
    """Median symmetric error with ``params(rec) = (o, f)`` applied to each prediction."""
    if not recs:
        return math.nan
    errs = []
    for r in recs:
        o, f = params(r)
        errs.append(sym(r["p0"] + f * (r["p1"] - r["p0"]) + o, r["measured"]))
    return float(np.median(errs))


def report(recs) -> tuple[dict, str]:
    fitted = {e: fit_overhead([r for r in recs if r["engine"] == e]) for e in ENGINES}
    lines = ["| engine | rows | overhead (ms) | wave fraction | TTFT median, neither | in-sample | leave-one-engine-out |",
             "|---|---|---|---|---|---|---|"]
    for e in ENGINES:
        sel = [r for r in recs if r["engine"] == e]
        other = fit_overhead([r for r in recs if r["engine"] != e])
        lines.append(f"| {e} | {len(sel)} | {1e3 * fitted[e][0]:.0f} | {fitted[e][1]:.2f} | "
                     f"{100 * median_err(sel, lambda r: (0.0, 1.0)):.0f}% | "
                     f"{100 * median_err(sel, lambda r: fitted[r['engine']]):.0f}% | "
                     f"{100 * median_err(sel, lambda r, o=other: o):.0f}% |")
    lines += ["", "| hardware | rows | TTFT median, neither | in-sample | leave-one-hardware-out |", "|---|---|---|---|---|"]
    for h in sorted({r["hardware"] for r in recs}):
        sel = [r for r in recs if r["hardware"] == h]
        rest = [r for r in recs if r["hardware"] != h]
        held = {e: fit_overhead([r for r in rest if r["engine"] == e]) for e in ENGINES}
        lines.append(f"| {h} | {len(sel)} | {100 * median_err(sel, lambda r: (0.0, 1.0)):.0f}% | "
                     f"{100 * median_err(sel, lambda r: fitted[r['engine']]):.0f}% | "
                     f"{100 * median_err(sel, lambda r, o=held: o[r['engine']]):.0f}% |")
    lines += ["", "| source | mode | rows | TTFT median, neither | in-sample |", "|---|---|---|---|---|"]
    for src in ("silicon", "calibration"):
        for mode in ("aggregated", "disaggregated"):
            sel = [r for r in recs if r["source"] == src and r["mode"] == mode]
            if sel:
                lines.append(f"| {src} | {mode} | {len(sel)} | {100 * median_err(sel, lambda r: (0.0, 1.0)):.0f}% | "
                             f"{100 * median_err(sel, lambda r: fitted[r['engine']]):.0f}% |")
    return fitted, "\n".join(lines)


def ttft_bands(recs, fitted: dict) -> dict:
    """P10/P90 of log(TTFT / measured) per regime (hardware group, engine; every row is at a
    stated concurrency: the interactivity kind), with the fitted overheads applied: the bands
    ``optimizer.predict`` puts on the TTFT it reports."""
    calib = default_calibration()
    out = []
    for r in recs:
        o, f = fitted[r["engine"]]
        pred = r["p0"] + f * (r["p1"] - r["p0"]) + o
        out.append(dict(kind="at_concurrency", engine=r["engine"], ttft=math.log(pred / r["measured"]),
                        throughput=math.nan, tpot=math.nan,
                        group=calib.group_of(get_hardware(r["hardware"]).family)))
    return bands(out)


def write(fitted: dict, band_table: dict, path=CALIBRATION_JSON) -> None:
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    for e, (o, f) in fitted.items():
        d.setdefault("engines", {}).setdefault(e, {}).update(ttft_overhead_s=o, ttft_wave_fraction=f)
    d["bands"] = merge_bands(d.get("bands", {}), band_table, ("ttft",))
    Path(path).write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="store the fitted overheads in kernels/calibration.json")
    a = ap.parse_args(argv)
    recs = collect_both()
    fitted, text = report(recs)
    print(text)
    band_table = ttft_bands(recs, fitted)
    print("\n| regime | rows | TTFT band: P10 / P90 of predicted / measured |\n|---|---|---|")
    for key, b in band_table.items():
        lo, hi = b["ttft"]
        print(f"| {key} | {b['n']['ttft']} | {math.exp(lo):.2f} / {math.exp(hi):.2f} |")
    if a.write:
        write(fitted, band_table)
        print(f"\nwrote engines.*.ttft_overhead_s, ttft_wave_fraction and the TTFT bands to "
              f"{CALIBRATION_JSON.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
