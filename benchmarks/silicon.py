"""Measured end-to-end serving points from aiconfigurator's silicon sample, mapped to catalog ids.

    python benchmarks/silicon.py --extract   # (re)write benchmarks/data/silicon_sample.csv from the wheel
    python benchmarks/silicon.py             # print how many rows map, and why the others do not

``benchmarks/data/silicon_sample.csv`` is a copy of ``systems/silicon_sample.csv`` from the
``aiconfigurator-core`` 0.12.0 wheel (Apache-2.0; see ``benchmarks/data/README.md``): one row per
measured serving point, TTFT and TPOT in milliseconds at a concurrency, aggregated or disaggregated
prefill/decode. The copy keeps every row, its ``id`` and ``silicon_data_source`` verbatim, and
rounds the two latencies to 6 significant digits. The wheel is fetched by ``fetch_wheel`` (pip
download into ``benchmarks/.cache/``); it is never a dependency of tokenfleet.

``load_silicon_rows`` maps the rows onto tokenfleet's catalog ids and counts the rows it leaves
out, by reason.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from problems import get_model  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "silicon_sample.csv"
CACHE = ROOT / "benchmarks" / ".cache"
AIC_CORE_VERSION = "0.12.0"
WHEEL_GLOB = f"aiconfigurator_core-{AIC_CORE_VERSION}-*.whl"

# aiconfigurator system name -> tokenfleet hardware id (systems outside the catalog map to None)
SYSTEM_TO_HARDWARE = {
    "a100_sxm": "a100-sxm-80gb", "h100_sxm": "h100-sxm", "h200_sxm": "h200-sxm", "b200_sxm": "b200",
    "b300_sxm": "b300", "gb200": "gb200-nvl72", "gb300": "gb300-nvl72", "l40s": "l40s",
    "rtx_pro_6000_server": "rtx-pro-6000",
    "a100_pcie": None, "h100_pcie": None, "a30": None, "l4": None, "b60": None,
}
# Hugging Face repo (owner dropped, lower case, quantisation suffix dropped) -> catalog model id.
# Kimi-K2.5 (its NVFP4 rows; the INT4 weight-only ones have no catalog precision) and
# MiniMax-M2.5 have catalog entries; DeepSeek-V3.1, GLM-5 (sparse attention) and Qwen3.5 (linear
# attention layers) are different checkpoints or architectures from anything in the catalog, so
# they are left out rather than approximated.
MODEL_TO_ID = {
    "deepseek-r1": "deepseek-r1", "deepseek-v3": "deepseek-v3", "gpt-oss-120b": "gpt-oss-120b",
    "gpt-oss-20b": "gpt-oss-20b", "llama-3.1-70b": "llama-3.1-70b", "llama-3.1-8b": "llama-3.1-8b",
    "meta-llama-3.1-8b": "llama-3.1-8b", "meta-llama-3.1-70b": "llama-3.1-70b",
    "llama-3.3-70b": "llama-3.3-70b", "qwen3-32b": "qwen3-32b", "qwen3-8b": "qwen3-8b",
    "qwen3-30b-a3b": "qwen3-30b-a3b", "qwen3-235b-a22b": "qwen3-235b-a22b",
    "kimi-k2.5": "kimi-k2.5", "minimax-m2.5": "minimax-m2.5",
}
_MODEL_SUFFIX = re.compile(r"(-instruct|-fp8|-nvfp4|-static-pertensor)+$")
# GEMM quantisation mode -> catalog precision. An empty mode is the unquantised checkpoint
# (aiconfigurator's BF16 default); int4 weight-only (Kimi-K2.5) has no catalog precision.
QUANT_TO_PRECISION = {"": "bf16", "bf16": "bf16", "fp8": "fp8", "fp8_block": "fp8", "nvfp4": "fp4"}
ENGINES = ("trtllm", "vllm", "sglang")


@dataclass(frozen=True)
class PoolConfig:
    """One prefill or decode pool of a disaggregated deployment (degrees are per worker)."""
    workers: int | None     # replicas in the pool; None where the sample does not record it
    tp: int
    pp: int
    dp: int                 # attention data-parallel ranks
    ep: int                 # MoE expert-parallel degree
    batch: int | None       # batch per attention-DP rank; None where not recorded


@dataclass(frozen=True)
class SiliconRow:
    """One measured serving point. Times in seconds; ``tp``..``batch`` are per replica (worker).

    ``concurrency`` is the benchmark client's concurrency (requests in flight per replica for
    aggregated rows; for the whole deployment for disaggregated rows); ``batch`` is aiconfigurator's
    per-attention-DP-rank batch. Aggregated rows have ``tp``, ``ep``, ``dp``, ``pp``, ``batch``;
    disaggregated rows have ``prefill`` and ``decode`` pools instead.
    """
    id: str
    source: str
    hardware: str
    model: str
    precision: str              # bf16 | fp8 | fp4 (GEMM precision; MoE precision in moe_quant)
    moe_quant: str              # aiconfigurator's MoE quantisation mode, verbatim ("" = none/bf16)
    engine: str                 # trtllm | vllm | sglang
    engine_version: str         # "" where the sample does not say
    mode: str                   # aggregated | disaggregated
    isl: int
    osl: int
    concurrency: int
    ttft_s: float
    tpot_s: float
    tp: int | None = None
    ep: int | None = None
    dp: int | None = None
    pp: int | None = None
    batch: int | None = None
    prefill: PoolConfig | None = None
    decode: PoolConfig | None = None
    throughput_tok_s_per_gpu: float | None = None   # the sample records none

    @property
    def gpus(self) -> int | None:
        """GPUs in one replica (aggregated) or in the whole deployment (disaggregated; None
        where the worker counts are not recorded)."""
        if self.mode == "aggregated":
            return self.tp * self.pp * self.dp
        if self.prefill.workers is None or self.decode.workers is None:
            return None
        return sum(p.workers * p.tp * p.pp * p.dp for p in (self.prefill, self.decode))


def predict_layout(tp: int, dp: int, ep: int, pp: int) -> tuple[int, int] | str:
    """``(tp, ep)`` in ``predict``'s terms for one measured worker, or why it has none.

    Attention tensor-parallel over ``tp`` GPUs -- with dense FFNs, or with the experts split over
    the same GPUs by tensor or expert parallelism (TensorRT-LLM's "TEP": the same expert bytes and
    FLOPs per GPU, the attention's weights and KV split and all-reduced) -- is the tensor-parallel
    layout ``(tp, 1)``. Attention data-parallel with the experts over the same ranks ("DEP") is
    ``(dp, dp)``. The one mapping for the calibration fit, the side-by-side benchmark and the
    serving scorer.
    """
    if pp and pp > 1:
        return "pipeline parallel"
    if dp and dp > 1:
        if tp > 1:
            return "attention TP x DP hybrid"
        if ep != dp:
            return "attention DP without matching EP"
        return dp, dp
    return tp, 1


def fetch_wheel() -> Path:
    """The aiconfigurator-core wheel in ``benchmarks/.cache/``, downloaded by pip if absent."""
    found = sorted(CACHE.glob(WHEEL_GLOB))
    if not found:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                        f"aiconfigurator-core=={AIC_CORE_VERSION}", "-d", str(CACHE)], check=True)
        found = sorted(CACHE.glob(WHEEL_GLOB))
    if not found:
        raise FileNotFoundError(f"no {WHEEL_GLOB} in {CACHE} after pip download")
    return found[-1]


def extract_sample(wheel: Path, out: Path = DATA) -> int:
    """Copy the wheel's silicon sample to ``out`` with latencies rounded; returns the row count."""
    with zipfile.ZipFile(wheel) as z:
        text = z.read("aiconfigurator_core/systems/silicon_sample.csv").decode("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=reader.fieldnames, lineterminator="\n")
        w.writeheader()
        for r in rows:
            for k in ("silicon_ttft_ms", "silicon_tpot_ms"):
                r[k] = f"{float(r[k]):.6g}" if r[k] else ""
            w.writerow(r)
    return len(rows)


def _int(s: str) -> int | None:
    s = (s or "").strip()
    return int(float(s)) if s else None


def map_model(model_path: str) -> str | None:
    """Catalog model id for a Hugging Face repo name, or None when the catalog lacks the model."""
    name = _MODEL_SUFFIX.sub("", model_path.split("/")[-1].lower())
    return MODEL_TO_ID.get(name)


def _pool(r: dict, prefix: str) -> PoolConfig:
    def g(k):
        # aiconfigurator writes 0 or nothing for "not used" (no attention DP, no EP): degree 1
        return _int(r[f"{prefix}_{k}"]) or 1
    return PoolConfig(workers=_int(r[f"{prefix}_num_workers"]), tp=g("tp_size"), pp=g("pp_size"),
                      dp=g("attention_dp_size"), ep=g("moe_ep_size"),
                      batch=_int(r[f"{prefix}_batch_size"]))


def load_silicon_rows(path: Path | str = DATA) -> tuple[list[SiliconRow], dict[str, int]]:
    """Parse the silicon sample and map it onto catalog ids.

    Returns
    -------
    rows : list of SiliconRow
        The rows whose hardware, model, precision and engine are all in tokenfleet's catalog.
    excluded : dict of str to int
        Rows left out, counted by reason.
    """
    rows: list[SiliconRow] = []
    excluded: dict[str, int] = {}

    def skip(reason):
        excluded[reason] = excluded.get(reason, 0) + 1

    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            hw = SYSTEM_TO_HARDWARE.get(r["system"])
            if hw is None:
                skip(f"hardware not in the catalog ({r['system']})"); continue
            model = map_model(r["model_path"])
            if model is None:
                skip(f"model not in the catalog ({r['model_path']})"); continue
            quant = r["gemm_quant_mode"]
            if model.startswith("gpt-oss"):
                prec = "fp4"    # MXFP4 expert weights whatever the activation precision
            elif quant in QUANT_TO_PRECISION:
                prec = QUANT_TO_PRECISION[quant]
            else:
                skip(f"precision not in the catalog ({quant})"); continue
            if r["backend"] not in ENGINES:
                skip(f"engine not known ({r['backend']})"); continue
            ttft_ms, tpot_ms = r["silicon_ttft_ms"], r["silicon_tpot_ms"]
            if not ttft_ms or not tpot_ms or float(ttft_ms) <= 0 or float(tpot_ms) <= 0:
                skip("no positive TTFT and TPOT"); continue
            m = re.search(r"silicon_concurrency=(\d+)", r["silicon_data_source"])
            common = dict(id=r["id"], source=r["silicon_data_source"], hardware=hw, model=model,
                          precision=prec, moe_quant=r["moe_quant_mode"], engine=r["backend"],
                          engine_version=r["backend_version"], isl=int(r["isl"]), osl=int(r["osl"]),
                          ttft_s=float(ttft_ms) * 1e-3, tpot_s=float(tpot_ms) * 1e-3)
            if r["mode"] == "agg":
                tp, dp = _int(r["tp_size"]) or 1, _int(r["attention_dp_size"]) or 1
                moe_tp, ep = _int(r["moe_tp_size"]) or 1, _int(r["moe_ep_size"]) or 1
                if tp & (tp - 1):
                    # tp=20, 28, 52 ... on GB200: a GPU count recorded as tp (DeepSeek's 128 heads
                    # do not split that way), not a layout a model can be run in
                    skip("tensor-parallel degree not a power of two"); continue
                if get_model(model).moe is not None:
                    if moe_tp > 1 and ep > 1:
                        if moe_tp == ep and tp == ep * ep:
                            # rows whose id names the layout (..._tp4_ep4_926) record tp_size=16,
                            # moe_tp=4, moe_ep=4: the dump multiplied the MoE degrees into tp. The
                            # id's layout is N GPUs, attention tp=N, experts over ep=N.
                            tp, moe_tp = ep, 1
                        else:
                            skip("MoE tensor x expert hybrid (attention layout not recorded)"); continue
                    if tp * dp != moe_tp * ep:
                        skip("parallel sizes inconsistent (tp x attention-dp != moe-tp x moe-ep)"); continue
                else:
                    ep = 1
                batch = _int(r["batch_size"])
                if m:
                    conc = int(m.group(1))
                elif batch:
                    conc = batch * dp
                else:
                    skip("no concurrency recorded"); continue
                rows.append(SiliconRow(**common, mode="aggregated", concurrency=conc,
                                       tp=tp, ep=ep, dp=dp,
                                       pp=_int(r["pp_size"]) or 1, batch=batch))
            elif r["mode"] == "disagg":
                pre, dec = _pool(r, "prefill"), _pool(r, "decode")
                if m:
                    conc = int(m.group(1))
                elif dec.batch and dec.workers:
                    conc = dec.batch * dec.dp * dec.workers
                else:
                    skip("no concurrency recorded"); continue
                rows.append(SiliconRow(**common, mode="disaggregated", concurrency=conc,
                                       prefill=pre, decode=dec))
            else:
                skip(f"serving mode not known ({r['mode']})")
    return rows, excluded


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extract", action="store_true", help=f"rewrite {DATA.relative_to(ROOT)} from the wheel")
    a = ap.parse_args(argv)
    if a.extract:
        n = extract_sample(fetch_wheel())
        print(f"wrote {n} rows to {DATA.relative_to(ROOT)}")
    rows, excluded = load_silicon_rows()
    print(f"{len(rows)} rows mapped; {sum(excluded.values())} excluded:")
    for k, v in sorted(excluded.items(), key=lambda kv: -kv[1]):
        print(f"  {v:5d}  {k}")
    from collections import Counter
    for key in ("hardware", "engine", "mode", "model", "precision"):
        c = Counter(getattr(r, key) for r in rows)
        print(f"{key}: " + ", ".join(f"{k} {v}" for k, v in c.most_common()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
