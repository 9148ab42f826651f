"""Score ``optimizer.predict`` at a stated interactivity and at a stated concurrency, aggregated and
disaggregated rows alike.

    python benchmarks/score_serving.py              # calibration rows, before vs after
    python benchmarks/score_serving.py --rows       # also every row's prediction
    python benchmarks/score_serving.py --silicon    # + TTFT/TPOT on the silicon sample (slow)

Rows are those of ``benchmarks/data/calibration.csv`` that state a tok/s per user (scored at
that interactivity) or a concurrency (scored at that concurrency: throughput, TPOT and TTFT),
including the disaggregated ones, whose prefill and decode pools are read from the notes column
("prefill 4 GPU TP4, decode 32 GPU EP8": "EP8" states the expert-parallel degree, so predict
searches attention tensor-parallel and data-parallel over those 8 GPUs; "DEP8" is attention
data-parallel); rows that cannot be read are counted by reason.

* **before**: the aggregated step model as it was (``kernels.predict.predict``: no serving
  modes, TTFT without queueing, MTP only where the row says so), every row predicted aggregated
  with its layout searched where the row is disaggregated.
* **after**: ``optimizer.predict`` with the row's serving mode and pools; TTFT under load.
* **planner** (interactivity rows only): ``optimizer.predict(tp=None, ep=None, serving=None,
  speculative=None)`` unless the row pins MTP on or off -- the best call.

Error: symmetric ``max(p/m, m/p) - 1``, as in kernels/calibration.py.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import optimizer  # noqa: E402
from problems import get_hardware  # noqa: E402
from kernels.predict import PredictError  # noqa: E402
from kernels.predict import predict as predict_before  # noqa: E402
from kernels.calibration import HW_MAP, MODEL_MAP, CalRow, load_rows, sym_error  # noqa: E402
from silicon import predict_layout  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "calibration.csv"
POOLS = re.compile(r"prefill (\d+) GPU (TP|EP|DEP)(\d+), decode (\d+) GPU (TP|EP|DEP)(\d+)")


@dataclass(frozen=True)
class ServingRow:
    row: CalRow
    serving: str                       # aggregated | disaggregated
    pools: dict                        # prefill_tp ... decode_replicas (disaggregated; may be empty)
    spec_stated: bool                  # the row says whether MTP was on


def _pool(gpus: int, kind: str, deg: int, role: str, domain: int) -> dict:
    if deg > domain:
        # "12 GPU TP12" on 8-GPU B200 nodes: a GPU count written as a degree (no tensor-parallel
        # group spans nodes in these deployments); read as the widest power-of-two TP that
        # divides it within the scale-up domain (TP4 x 3)
        deg = max(d for d in (1, 2, 4, 8, 16, 32, 64) if d <= domain and gpus % d == 0)
    reps = max(gpus // deg, 1)
    if kind == "TP":
        return {f"{role}_tp": deg, f"{role}_ep": 1, f"{role}_replicas": reps}
    if kind == "EP":
        # "EP8" without the D states the expert-parallel degree, not the attention's: TensorRT-LLM
        # runs --tp 8 --ep 8 with attention tensor-parallel ("TEP", its low-concurrency recipes)
        # or attention data-parallel (enable_attention_dp, "DEP", its high-concurrency ones).
        # predict searches both over the replica's GPUs when ep is None: the tensor-parallel
        # layout shards the same expert bytes over the same GPUs (TEP's attention and KV layout),
        # the dep layout is DEP
        return {f"{role}_tp": deg, f"{role}_ep": None, f"{role}_replicas": reps}
    return {f"{role}_tp": 1, f"{role}_ep": deg, f"{role}_replicas": reps}


def load_serving_rows(path=DATA) -> tuple[list[ServingRow], Counter]:
    """Rows at a stated interactivity or concurrency, aggregated and disaggregated, and the
    rows left out by reason."""
    agg, excluded = load_rows(path)
    excluded = Counter(excluded)
    rows = [ServingRow(r, "aggregated", {}, "MTP O" in _notes(path, r.line))
            for r in agg if r.kind != "max_throughput"]
    excluded["max-throughput row (no interactivity or concurrency)"] += sum(r.kind == "max_throughput" for r in agg)
    n_disagg = excluded.pop("disaggregated prefill/decode serving", 0)
    seen = 0
    with open(path, newline="", encoding="utf-8") as f:
        for i, r in enumerate(csv.DictReader(f), start=2):
            notes, fw = r["notes"], r["framework"]
            if not ("disagg" in fw.lower() or "disagg" in notes.lower()):
                continue
            seen += 1
            reason = _disagg_reason(r)
            if reason:
                excluded[reason] += 1
                continue
            hw = HW_MAP[r["hardware"]]
            model = next(mid for pat, mid in MODEL_MAP if re.search(pat, r["model"]))
            prec = "fp4" if "FP4" in r["precision"].upper() else ("fp8" if "FP8" in r["precision"].upper() else "bf16")
            if model.startswith("gpt-oss"):
                prec = "fp4"
            m = POOLS.search(notes)
            pools = {}
            if m:
                domain = get_hardware(hw).scaleup_domain_gpus
                pools.update(_pool(int(m.group(1)), m.group(2), int(m.group(3)), "prefill", domain))
                pools.update(_pool(int(m.group(4)), m.group(5), int(m.group(6)), "decode", domain))
            conc = r["concurrency_or_batch"].strip()
            user = r["output_tok_s_per_user"].strip()
            mtp = "with MTP" in notes or "mtp on" in fw.lower()
            base = CalRow(line=i, hardware=hw, model=model, precision=prec, metric="total",
                          kind="at_concurrency", isl=int(float(r["isl"])), osl=int(float(r["osl"])),
                          measured=float(r["throughput_tok_s_per_gpu"]), tp=None, ep=None,
                          concurrency=int(float(conc)) if conc else None, tok_s_user=None,
                          tpot_ms=float(r["tpot_ms"]) if r["tpot_ms"] else None,
                          ttft_ms=float(r["ttft_ms"]) if r["ttft_ms"] else None,
                          speculative="mtp" if mtp else "off", source=r["source"][:80])
            stated = mtp or "no spec decode" in fw.lower()
            rows.append(ServingRow(base, "disaggregated", pools, stated))
            if user:
                rows.append(ServingRow(replace(base, kind="at_interactivity", tok_s_user=float(user)),
                                       "disaggregated", pools, stated))
    assert seen == n_disagg, "disaggregated rows counted differently from kernels.calibration"
    return rows, excluded


def _notes(path, line, _cache={}):
    if path not in _cache:
        with open(path, newline="", encoding="utf-8") as f:
            _cache[path] = {i: r["notes"] for i, r in enumerate(csv.DictReader(f), start=2)}
    return _cache[path][line]


def _disagg_reason(r) -> str | None:
    notes = r["notes"]
    if r["hardware"] not in HW_MAP or not any(re.search(p, r["model"]) for p, _ in MODEL_MAP):
        return "hardware or model outside the catalog"
    if "[metric: INPUT" in notes or "(decode)" in notes or "decode nodes" in notes:
        return "prefill- or decode-only pool"
    if not ("[metric: TOTAL" in notes):
        return "throughput definition not captured"
    if not r["concurrency_or_batch"].strip() and not r["output_tok_s_per_user"].strip():
        return "no concurrency or interactivity"
    return None


def _kw(sr: ServingRow):
    r = sr.row
    kw = dict(hardware=r.hardware, model=r.model, precision=r.precision, isl=r.isl, osl=r.osl,
              metric="output_tok_s_per_gpu" if r.metric == "output" else "total_tok_s_per_gpu")
    if r.kind == "at_concurrency":
        kw["concurrency"] = r.concurrency
    else:
        kw["min_output_tok_s_per_user"] = r.tok_s_user
    return kw


def arrivals_of(r: CalRow) -> str:
    """How a calibration row's benchmark sent its requests: InferenceX draws ISL/OSL from 80-100%
    of the nominal lengths ("spread"); other sources are taken as fixed-length ("synchronized")."""
    return "spread" if "InferenceX" in r.source else "synchronized"


def predict_row(sr: ServingRow, variant: str):
    r, kw = sr.row, _kw(sr)
    if variant != "before":
        # the benchmark's arrival pattern and the row's engine (its fixed TTFT overhead and wave
        # fraction, kernels/calibration.json)
        kw.update(arrivals=arrivals_of(r), engine=r.engine)
    layout = dict(tp=r.tp, ep=r.ep if r.ep else 1) if r.tp is not None else dict(tp=None, ep=None)
    if variant == "before":
        return predict_before(**kw, **layout, speculative=r.speculative)
    if variant == "after":
        if sr.serving == "disaggregated":
            return optimizer.predict(**kw, serving="disaggregated", speculative=r.speculative, **sr.pools)
        return optimizer.predict(**kw, **layout, serving="aggregated", speculative=r.speculative)
    # planner: the best call
    return optimizer.predict(**kw, tp=None, ep=None, serving=None,
                             speculative=r.speculative if sr.spec_stated else None)


def score(rows, variant):
    out = []
    for sr in rows:
        r = sr.row
        metric = "output_tok_s_per_gpu" if r.metric == "output" else "total_tok_s_per_gpu"
        rec = dict(sr=sr, variant=variant)
        try:
            m = predict_row(sr, variant)
            rec.update(pred=getattr(m, metric), err=sym_error(getattr(m, metric), r.measured), m=m)
            if r.kind == "at_concurrency":
                if r.ttft_ms:
                    rec["ttft_err"] = sym_error(m.ttft_s * 1e3, r.ttft_ms)
                if r.tpot_ms:
                    rec["tpot_err"] = sym_error(m.tpot_s * 1e3, r.tpot_ms)
        except PredictError as e:
            rec.update(pred=math.nan, err=math.inf, error=str(e))
        out.append(rec)
    return out


def _q(vals, q):
    """Percentile ``q`` of the errors; a row the model cannot answer counts as an infinite error."""
    vals = np.array([v for v in vals if v is not None], dtype=float)
    if vals.size == 0:
        return math.nan
    return float(np.percentile(np.where(np.isinf(vals), np.finfo(float).max, vals), q))


def table(results, key) -> list[tuple]:
    """(group, kind, n, median, p90, TPOT median, TTFT median) per value of ``key`` and 'all'."""
    out = []
    groups = sorted({key(x) for x in results})
    for g in groups + ["all"]:
        for kind in ("at_interactivity", "at_concurrency"):
            sel = [x for x in results if (g == "all" or key(x) == g) and x["sr"].row.kind == kind]
            if not sel:
                continue
            errs = [x["err"] for x in sel]
            out.append((g, kind, len(sel), _q(errs, 50), _q(errs, 90),
                        _q([x.get("tpot_err") for x in sel], 50), _q([x.get("ttft_err") for x in sel], 50)))
    return out


def fmt(rows_before, rows_after, title) -> str:
    def p(x):
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "-"
        return "no answer" if x > 1e300 else f"{100 * x:.0f}%"
    idx = {(t[0], t[1]): t for t in rows_before}
    lines = [f"#### {title}", "",
             "| group | kind | n | median before | median after | p90 before | p90 after | TPOT med. before | TPOT med. after | TTFT med. before | TTFT med. after |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in rows_after:
        b = idx.get((t[0], t[1]), (None,) * 7)
        lines.append(f"| {t[0]} | {t[1].replace('at_', '')} | {t[2]} | {p(b[3])} | {p(t[3])} | {p(b[4])} | "
                     f"{p(t[4])} | {p(b[5])} | {p(t[5])} | {p(b[6])} | {p(t[6])} |")
    return "\n".join(lines)


def _silicon_layout(tp, dp, ep, pp):
    """(tp, ep) in predict's terms for one silicon-sample worker, or a reason it has none."""
    lay = predict_layout(tp, dp, ep, pp)
    return f"{lay} (not modelled)" if isinstance(lay, str) else lay


def silicon_kwargs(r, variant):
    """predict keyword arguments for one silicon row, or a string saying why it is left out."""
    kw = dict(hardware=r.hardware, model=r.model, precision=r.precision, isl=r.isl, osl=r.osl,
              concurrency=r.concurrency, engine=r.engine)
    if r.mode == "aggregated":
        lay = _silicon_layout(r.tp, r.dp, r.ep, r.pp)
        if isinstance(lay, str):
            return lay
        tp, ep = lay
        return dict(kw, tp=tp, ep=ep)
    if variant == "before":
        return dict(kw, tp=None, ep=None)
    pools = {}
    for role, pc in (("prefill", r.prefill), ("decode", r.decode)):
        lay = _silicon_layout(pc.tp, pc.dp, pc.ep, pc.pp)
        if isinstance(lay, str):
            return f"{role} {lay}"
        pools[f"{role}_tp"], pools[f"{role}_ep"] = lay
    pools["prefill_replicas"] = r.prefill.workers
    n_d = r.decode.workers
    if n_d is None and r.decode.batch:
        n_d = max(1, round(r.concurrency / (r.decode.batch * r.decode.dp)))
    if n_d is None:
        # the decode batch per replica (and so TPOT) depends on it
        return "decode workers and batch not recorded"
    pools["decode_replicas"] = n_d
    return dict(kw, serving="disaggregated", **pools)


def score_silicon(every=1) -> str:
    """TPOT and TTFT errors on the silicon sample at each row's concurrency, per mode and engine."""
    from silicon import load_silicon_rows  # noqa: PLC0415

    rows, _ = load_silicon_rows()
    rows = rows[::every]
    left = Counter()
    acc = {}
    for r in rows:
        errs = {}
        for variant in ("before", "after"):
            kw = silicon_kwargs(r, variant)
            if isinstance(kw, str):
                left[kw] += 1
                break
            try:
                if variant == "before":
                    kw.pop("engine", None) if "engine" not in predict_before.__code__.co_varnames else None
                    m = predict_before(**kw, speculative="off")
                else:
                    m = optimizer.predict(**kw, speculative="off")
            except PredictError as e:
                left[f"{variant}: {str(e)[:60]}"] += 1
                break
            errs[variant] = (sym_error(m.tpot_s, r.tpot_s), sym_error(m.ttft_s, r.ttft_s))
        else:
            acc.setdefault((r.mode, r.engine), []).append(errs)
    lines = [f"#### silicon sample (every {every}. row), TPOT and TTFT at the measured concurrency", "",
             "| mode | engine | n | TPOT median before | TPOT median after | TTFT median before | TTFT median after |",
             "|---|---|---|---|---|---|---|"]
    keys = sorted(acc) + [("all", "all")]
    for k in keys:
        sel = [e for kk, v in acc.items() for e in v if k == ("all", "all") or kk == k]
        med = lambda v, i: f"{100 * _q([e[v][i] for e in sel], 50):.0f}%"  # noqa: E731
        lines.append(f"| {k[0]} | {k[1]} | {len(sel)} | {med('before', 0)} | {med('after', 0)} | "
                     f"{med('before', 1)} | {med('after', 1)} |")
    lines.append("")
    lines.append("left out: " + ", ".join(f"{k} {v}" for k, v in left.most_common()))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", action="store_true", help="print every row's prediction")
    ap.add_argument("--silicon", action="store_true", help="also score TTFT/TPOT on the silicon sample")
    ap.add_argument("--silicon-limit", type=int, default=0, help="score every n-th silicon row only")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows, excluded = load_serving_rows()
    n_agg = sum(sr.serving == "aggregated" for sr in rows)
    print(f"{len(rows)} scored rows ({n_agg} aggregated, {len(rows) - n_agg} disaggregated); "
          f"left out: " + ", ".join(f"{k} {v}" for k, v in excluded.most_common()))
    res = {v: score(rows, v) for v in ("before", "after", "planner")}
    by_hw = lambda x: x["sr"].row.hardware  # noqa: E731
    by_mode = lambda x: x["sr"].serving  # noqa: E731
    print(fmt(table(res["before"], by_hw), table(res["after"], by_hw), "per hardware (before -> after)"))
    print()
    print(fmt(table(res["before"], by_mode), table(res["after"], by_mode), "per serving mode (before -> after)"))
    print()
    inter = [x for x in res["planner"] if x["sr"].row.kind == "at_interactivity"]
    inter_b = [x for x in res["before"] if x["sr"].row.kind == "at_interactivity"]
    print(fmt(table(inter_b, by_mode), table(inter, by_mode), "interactivity rows, the best call "
              "(serving=None, speculative=None unless the row states MTP)"))
    if a.rows:
        print()
        for xb, xa, xp in zip(res["before"], res["after"], res["planner"]):
            r = xb["sr"].row
            ma = xa.get("m")
            print(f"line {r.line:3d} {r.hardware:12s} {r.model:14s} {xb['sr'].serving[:5]} {r.kind[3:7]} "
                  f"meas {r.measured:8.1f} before {xb['pred']:8.1f} after {xa['pred']:8.1f} "
                  f"planner {xp['pred']:8.1f} | TTFT meas {r.ttft_ms or float('nan'):8.1f} "
                  f"after {(ma.ttft_s * 1e3 if ma else float('nan')):8.1f} | TPOT meas "
                  f"{r.tpot_ms or float('nan'):6.2f} after {(ma.tpot_s * 1e3 if ma else float('nan')):6.2f}"
                  f"{'  ' + ma.note if ma is not None and ma.note else ''}{'  ERR ' + xa['error'] if 'error' in xa else ''}")
    if a.silicon:
        print()
        print(score_silicon(every=max(a.silicon_limit, 1)))
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
