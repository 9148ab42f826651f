"""tokenfleet and NVIDIA's aiconfigurator scored side by side on the same measured rows.

    python benchmarks/vs_aiconfigurator.py              # score both from the cached predictions
    python benchmarks/vs_aiconfigurator.py --predict    # (re)compute aiconfigurator's predictions first
    python benchmarks/vs_aiconfigurator.py --markdown out.md

Rows: (a) the max-throughput rows of ``benchmarks/data/calibration.csv`` (output tokens/s per GPU;
``max_throughput`` kind of ``kernels/calibration.py``), (b) the aggregated rows of the silicon
sample (``benchmarks/silicon.py``; TTFT and TPOT at the measured concurrency), per engine. Both
models are scored with the symmetric error max(p/m, m/p) - 1 of ``kernels.calibration``.

aiconfigurator runs only for ``--predict``: ``aiconfigurator`` and ``aiconfigurator-core`` 0.12.0
are installed into a throwaway virtual environment under ``benchmarks/.cache/`` (never a
tokenfleet dependency), and its predictions are cached in
``benchmarks/data/aiconfigurator_predictions.csv`` so the comparison reruns without it. Its calls:
``aiconfigurator.cli.api.cli_estimate`` (the Python form of ``aiconfigurator cli estimate``), mode
``agg``, default database mode (SILICON) and engine version; a silicon row at its recorded batch
per attention-DP rank and parallel layout; a max-throughput row at the largest batch on a 1.5x grid
that neither runs out of memory nor exceeds the estimated KV-cache capacity (the engine's batch
limit), taking the best output tokens/s per GPU among it and the two grid batches below it.
Precisions as deployed: FP8 checkpoints of DeepSeek and Qwen3 MoE models block-scaled (``fp8_block``),
FP4 as NVFP4; gpt-oss experts MXFP4 x MXFP8 on Blackwell (aiconfigurator's default where it has no
such table for the shape), MXFP4 weight-only elsewhere; for the
max-throughput rows (TensorRT-LLM runs of FP8 and FP4 checkpoints) an FP8 KV cache. Silicon rows use
the GEMM and MoE modes the sample records and aiconfigurator's default KV cache.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
VENV = CACHE / "aic-venv"
PRED = ROOT / "benchmarks" / "data" / "aiconfigurator_predictions.csv"
AIC_VERSION = "0.12.0"
PRED_FIELDS = ("set", "row_id", "model_path", "system", "backend", "backend_version", "aiconfigurator_version",
               "batch_size", "ttft_ms", "tpot_ms", "output_tok_s_per_gpu", "kv_cache_warning", "error")
# catalog id -> aiconfigurator model config (its bundled configs; Llama 3.3 70B shares 3.1 70B's architecture)
MODEL_PATH = {
    "deepseek-r1": "deepseek-ai/DeepSeek-R1", "deepseek-v3": "deepseek-ai/DeepSeek-V3",
    "gpt-oss-120b": "openai/gpt-oss-120b", "gpt-oss-20b": "openai/gpt-oss-20b",
    "llama-3.1-8b": "meta-llama/Meta-Llama-3.1-8B", "llama-3.1-70b": "meta-llama/Meta-Llama-3.1-70B",
    "llama-3.3-70b": "meta-llama/Meta-Llama-3.1-70B", "llama-3.1-405b": "meta-llama/Meta-Llama-3.1-405B",
    "llama-4-scout": "meta-llama/Llama-4-Scout-17B-16E-Instruct",
    "llama-4-maverick": "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
    "qwen3-8b": "Qwen/Qwen3-8B", "qwen3-32b": "Qwen/Qwen3-32B", "qwen3-30b-a3b": "Qwen/Qwen3-30B-A3B",
    "qwen3-235b-a22b": "Qwen/Qwen3-235B-A22B", "mixtral-8x7b": "mistralai/Mixtral-8x7B-v0.1",
    "mixtral-8x22b": "mistralai/Mixtral-8x22B-v0.1", "kimi-k2": "moonshotai/Kimi-K2-Instruct",
    "kimi-k2.5": "moonshotai/Kimi-K2.5", "minimax-m2.5": "MiniMaxAI/MiniMax-M2.5",
}
HARDWARE_SYSTEM = {"h100-sxm": "h100_sxm", "h200-sxm": "h200_sxm", "b200": "b200_sxm", "b300": "b300_sxm",
                   "gb200-nvl72": "gb200", "gb300-nvl72": "gb300", "a100-sxm-80gb": "a100_sxm",
                   "l40s": "l40s", "rtx-pro-6000": "rtx_pro_6000_server"}
BATCH_GRID = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)


# ---------------------------------------------------------------------------------------------
# aiconfigurator side: runs inside the throwaway venv (stdlib + aiconfigurator only)
# ---------------------------------------------------------------------------------------------

def _aic_call(job: dict, batch: int):
    from aiconfigurator.cli.api import cli_estimate

    kw = {k: job[k] for k in ("model_path", "system_name", "backend_name", "isl", "osl", "tp_size", "pp_size",
                              "attention_dp_size", "moe_tp_size", "moe_ep_size", "gemm_quant_mode",
                              "moe_quant_mode", "kvcache_quant_mode") if job.get(k) is not None}
    return cli_estimate(mode="agg", batch_size=batch, **kw)


def _memoize_yaml() -> None:
    """Parse each YAML document once per process.

    aiconfigurator 0.12.0 re-reads its ~1,500 table metadata files (collection_meta.yaml) with
    the pure-Python YAML parser on every ``cli_estimate`` call: 95% of a call's time. The files do
    not change during a run, so parsed documents are cached by content (deep-copied on return,
    since callers may modify them).
    """
    import copy

    import yaml

    if getattr(yaml.safe_load, "_memo", False):
        return
    original, memo = yaml.safe_load, {}

    def safe_load(stream):
        text = stream if isinstance(stream, (str, bytes)) else stream.read()
        if text not in memo:
            memo[text] = original(text)
        return copy.deepcopy(memo[text])

    safe_load._memo = True
    yaml.safe_load = safe_load


def _aic_job(job: dict) -> dict:
    import logging
    import warnings

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    _memoize_yaml()
    out = {"set": job["set"], "row_id": job["row_id"], "model_path": job["model_path"],
           "system": job["system_name"], "backend": job["backend_name"], "aiconfigurator_version": AIC_VERSION}
    try:
        if job["set"] == "silicon":
            r = _aic_call(job, job["batch_size"])
            best = (r, job["batch_size"])
        else:
            ok = {}

            def fits(i):
                if i not in ok:
                    try:
                        r = _aic_call(job, BATCH_GRID[i])
                        ok[i] = r if r.kv_cache_warning is None else None
                    except RuntimeError as e:        # OOM: weights alone do not fit
                        if "OOM" not in str(e):
                            raise
                        ok[i] = None
                return ok[i] is not None

            lo, hi = -1, len(BATCH_GRID)             # bisection: largest grid batch that fits
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if fits(mid) else (lo, mid)
            if lo < 0:
                raise RuntimeError("OOM or KV capacity below batch 1")
            cands = [i for i in range(max(lo - 2, 0), lo + 1) if fits(i)]
            i = max(cands, key=lambda i: ok[i].tokens_per_second_per_gpu)
            best = (ok[i], BATCH_GRID[i])
        r, b = best
        out.update(backend_version=r.backend_version, batch_size=b, ttft_ms=f"{float(r.ttft):.6g}",
                   tpot_ms=f"{float(r.tpot):.6g}", output_tok_s_per_gpu=f"{float(r.tokens_per_second_per_gpu):.6g}",
                   kv_cache_warning=int(r.kv_cache_warning is not None), error="")
    except Exception as e:  # noqa: BLE001 - every failure is recorded and counted by reason
        if job.get("moe_quant_mode") and job["model_path"].startswith("openai/gpt-oss") and "MoE data missing" in str(e):
            # no table for the native MXFP4 x MXFP8 kernels at this shape: aiconfigurator's own default
            return _aic_job({**job, "moe_quant_mode": None})
        out["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}" if str(e) else type(e).__name__
    return out


def worker_main(jobs_file: str, out_file: str, procs: int) -> int:
    """Run the jobs (JSON list) with aiconfigurator, appending one CSV row per job as it finishes."""
    import multiprocessing as mp

    jobs = json.loads(Path(jobs_file).read_text())
    new = not Path(out_file).exists()
    with open(out_file, "a", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=PRED_FIELDS, lineterminator="\n")
        if new:
            w.writeheader()
        t0 = time.time()
        with mp.get_context("fork").Pool(procs) as pool:
            for i, rec in enumerate(pool.imap(_aic_job, jobs, chunksize=4), 1):
                w.writerow(rec)
                f.flush()
                if i % 50 == 0:
                    print(f"  {i}/{len(jobs)} in {time.time() - t0:.0f} s", flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# tokenfleet side
# ---------------------------------------------------------------------------------------------

def ensure_venv() -> Path:
    """The throwaway venv with aiconfigurator 0.12.0 (created on first use)."""
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", f"aiconfigurator=={AIC_VERSION}",
                        f"aiconfigurator-core=={AIC_VERSION}"], check=True)
    return py


BLACKWELL = ("b200_sxm", "b300_sxm", "gb200", "gb300")


def _gpt_oss_moe(system: str) -> str | None:
    """gpt-oss's MXFP4 experts: MXFP4 x MXFP8 natively on Blackwell (TensorRT-LLM's path there);
    elsewhere aiconfigurator's model-config default (MXFP4 weight-only, W4A16)."""
    return "w4a8_mxfp4_mxfp8" if system in BLACKWELL else None


def _quant(precision: str, model: str) -> tuple[str | None, str | None]:
    if model.startswith("gpt-oss"):
        return None, None               # non-expert GEMMs from the model config; experts: _gpt_oss_moe
    if precision == "fp8" and model.startswith(("deepseek", "qwen3-235b", "qwen3-30b")):
        return "fp8_block", "fp8_block"    # the published FP8 checkpoints are block-scaled
    return {"bf16": ("bfloat16", "bfloat16"), "fp8": ("fp8", "fp8"), "fp4": ("nvfp4", "nvfp4")}[precision]


def _layout(model: str, tp: int, ep: int | None) -> dict:
    """tokenfleet (tp = GPUs per replica, ep == tp: attention-DP + EP) -> aiconfigurator sizes."""
    from problems import get_model

    moe = get_model(model).moe is not None
    if moe and ep and ep == tp and tp > 1:
        return dict(tp_size=1, attention_dp_size=tp, moe_tp_size=1, moe_ep_size=tp)
    return dict(tp_size=tp, attention_dp_size=1, moe_tp_size=tp if moe else None, moe_ep_size=1 if moe else None)


def calibration_rows():
    from kernels.calibration import load_rows

    rows, _ = load_rows(ROOT / "benchmarks" / "data" / "calibration.csv")
    return [r for r in rows if r.kind == "max_throughput"]


def silicon_rows():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from silicon import load_silicon_rows

    rows, _ = load_silicon_rows()
    return [r for r in rows if r.mode == "aggregated"]


def build_jobs() -> list[dict]:
    from problems import get_model

    jobs = []
    for r in calibration_rows():
        g, m = _quant(r.precision, r.model)
        system = HARDWARE_SYSTEM[r.hardware]
        if r.model.startswith("gpt-oss"):
            m = _gpt_oss_moe(system)
        # TensorRT-LLM's max-throughput runs of FP8 and FP4 checkpoints keep the KV cache in FP8
        kv = "fp8" if r.precision in ("fp8", "fp4") else None
        jobs.append(dict(set="calibration", row_id=f"line {r.line}", model_path=MODEL_PATH[r.model],
                         system_name=system, backend_name="trtllm", isl=r.isl, osl=r.osl, pp_size=1,
                         gemm_quant_mode=g, moe_quant_mode=m, kvcache_quant_mode=kv,
                         **_layout(r.model, r.tp or 1, r.ep)))
    with open(ROOT / "benchmarks" / "data" / "silicon_sample.csv", newline="", encoding="utf-8") as f:
        raw = {x["id"]: x for x in csv.DictReader(f)}
    for r in silicon_rows():
        x = raw[r.id]
        moe = get_model(r.model).moe is not None
        jobs.append(dict(set="silicon", row_id=r.id, model_path=MODEL_PATH[r.model],
                         system_name=HARDWARE_SYSTEM[r.hardware], backend_name=r.engine, isl=r.isl, osl=r.osl,
                         batch_size=r.batch, tp_size=r.tp, pp_size=r.pp, attention_dp_size=r.dp,
                         moe_tp_size=(r.tp * r.dp // r.ep) if moe else None, moe_ep_size=r.ep if moe else None,
                         # gpt-oss: as for the calibration rows (the sample records nvfp4 for MXFP4)
                         gemm_quant_mode=None if r.model.startswith("gpt-oss") else x["gemm_quant_mode"] or None,
                         moe_quant_mode=_gpt_oss_moe(HARDWARE_SYSTEM[r.hardware]) if r.model.startswith("gpt-oss")
                         else x["moe_quant_mode"] or None))
    # one system and engine after another: each worker loads a perf database once
    return sorted(jobs, key=lambda j: (j["system_name"], j["backend_name"], j["model_path"]))


def predict_aiconfigurator(procs: int) -> None:
    py = ensure_venv()
    done = set()
    if PRED.exists():
        with open(PRED, newline="", encoding="utf-8") as f:
            done = {(r["set"], r["row_id"]) for r in csv.DictReader(f)}
    jobs = [j for j in build_jobs() if (j["set"], j["row_id"]) not in done]
    print(f"aiconfigurator: {len(jobs)} rows to predict ({len(done)} cached)", flush=True)
    if not jobs:
        return
    jobs_file = CACHE / "aic_jobs.json"
    jobs_file.write_text(json.dumps(jobs))
    subprocess.run([str(py), __file__, "--worker", str(jobs_file), str(PRED), "--procs", str(procs)], check=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--predict", action="store_true", help="run aiconfigurator for rows not yet cached")
    ap.add_argument("--procs", type=int, default=2, help="aiconfigurator worker processes")
    ap.add_argument("--markdown", help="also write the tables to this markdown file")
    ap.add_argument("--worker", nargs=2, metavar=("JOBS", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        return worker_main(a.worker[0], a.worker[1], a.procs)
    sys.path.insert(0, str(ROOT))
    if a.predict:
        predict_aiconfigurator(a.procs)
    from vs_tables import report  # noqa: E402 - tokenfleet imports only outside the worker

    text = report(calibration_rows(), silicon_rows(), PRED)
    print(text)
    if a.markdown:
        Path(a.markdown).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
