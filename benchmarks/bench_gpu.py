"""GPU benchmark: configurations/s of the fused CuPy and Numba-CUDA kernels, solve() wall time on a
1e8-configuration problem, a parity check against the NumPy reference, and the NumPy and Numba CPU
backends on the same machine.

    python benchmarks/bench_gpu.py --out OUTDIR [--size 5e8] [--repeat 5]

Writes OUTDIR/gpu_bench.json. Timing: after a warm-up (compilation measured separately), the
median of --repeat runs, each ending with a device synchronize (inside the backend).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from spaces import space_of_size  # noqa: E402

import problems  # noqa: E402
from kernels.backends import resolve_backend  # noqa: E402
from kernels.reference import evaluate_indices  # noqa: E402


def bench_backend(name, space, repeat, small, n_parity=200_000):
    if name == "cupy":
        from kernels.cupy_backend import evaluate_cupy as ev, evaluate_points_cupy as pts
    else:
        from kernels.numba_backend import evaluate_numba as ev, evaluate_points_numba as pts
    t0 = time.perf_counter()
    ev(small)                          # compile + first launch
    compile_s = time.perf_counter() - t0
    times = []
    red = None
    for _ in range(repeat):
        t = time.perf_counter()
        red = ev(space)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    idx = np.random.default_rng(5).choice(space.size, min(n_parity, space.size), replace=False)
    ref = evaluate_indices(space, idx)
    ok = ref["status"] >= 0
    got = pts(space, idx[ok])
    worst = {}
    for k in ref:
        if k == "status":
            continue
        a, b = ref[k][ok], got[k]
        fin = np.isfinite(a) & (a != 0)
        worst[k] = float(np.max(np.abs(b[fin] / a[fin] - 1))) if fin.any() else 0.0
    status_agree = float((got["status"] == ref["status"][ok]).mean())
    return dict(backend=name, configurations=space.size, median_s=med, runs_s=times,
                configs_per_s=space.size / med, compile_and_first_s=compile_s, fit=red.n_fit, meet=red.n_meet,
                parity_sample=int(ok.sum()), parity_max_rel_err=worst, parity_status_agreement=status_agree)


def bench_solve(name, size):
    import optimizer

    p = problems.load("enterprise-mix")
    groups = 1152
    batches = np.linspace(1, 4096, int(size // groups))
    optimizer.solve(p, backend=name, marginal_values=False, batches=batches[:64])   # warm-up / compile
    t = time.perf_counter()
    plan = optimizer.solve(p, backend=name, marginal_values=False, batches=batches)
    wall = time.perf_counter() - t
    return dict(backend=name, configurations=plan.backend["configurations"], wall_s=wall,
                evaluate_s=plan.backend["evaluate_s"], solve_s=plan.solver.get("solve_s"), status=plan.status,
                cost_usd_per_hour=plan.total_cost_usd_per_hour)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=float, default=5e8)
    ap.add_argument("--solve-size", type=float, default=1e8)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--parity", type=int, default=200_000, help="random configurations compared with NumPy")
    ap.add_argument("--small", type=float, default=1e5, help="warm-up space size")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    space = space_of_size(a.size)
    small = space_of_size(a.small)
    res = dict(date=dt.datetime.now(dt.timezone.utc).isoformat(), results=[], solve=[], errors=[])
    try:
        import cupy as cp
        res["device"] = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    except Exception as e:  # noqa: BLE001
        res["device"] = f"unknown ({e})"
    for name in ("cupy", "numba-cuda"):
        try:
            resolve_backend(name)
            r = bench_backend(name, space, a.repeat, small, a.parity)
            res["results"].append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "runs_s"}), flush=True)
            s = bench_solve(name, a.solve_size)
            res["solve"].append(s)
            print(json.dumps(s), flush=True)
        except Exception as e:  # noqa: BLE001 - record and go on with the other backend
            res["errors"].append(f"{name}: {type(e).__name__}: {e}")
            print(f"{name}: {type(e).__name__}: {e}", flush=True)
    t = time.perf_counter()
    from kernels.evaluate import evaluate_numpy
    sub = space_of_size(2e6)
    evaluate_numpy(sub)
    res["numpy_same_machine_configs_per_s"] = sub.size / (time.perf_counter() - t)
    try:   # the Numba CPU backend on the box's cores, compiled first on a small space
        from kernels.numba_cpu import evaluate_numba_cpu
        evaluate_numba_cpu(space_of_size(1e5))
        cpu = space_of_size(1e8)
        t = time.perf_counter()
        evaluate_numba_cpu(cpu)
        res["numba_cpu_same_machine_configs_per_s"] = cpu.size / (time.perf_counter() - t)
    except Exception as e:  # noqa: BLE001 - a CPU figure is optional here
        res["errors"].append(f"numba (CPU): {type(e).__name__}: {e}")
    (out / "gpu_bench.json").write_text(json.dumps(res, indent=2))
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
