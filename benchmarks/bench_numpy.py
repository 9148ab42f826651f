"""CPU backends' throughput (configurations/s) and peak memory on a ~1e8-configuration space.

    python benchmarks/bench_numpy.py [--size 1e8] [--chunk 65536] [--backend numpy|numba]

``--backend numba``: the Numba CPU backend on all cores, compiled first on a small space (the
compile time is reported apart from the throughput). ``cpu_s`` counts every thread's CPU time. Prints one JSON line; the figures are
recorded in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from spaces import space_of_size  # noqa: E402

from kernels.evaluate import evaluate_numpy  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=float, default=1e8)
    ap.add_argument("--chunk", type=int, default=None)
    ap.add_argument("--backend", choices=("numpy", "numba"), default="numpy")
    a = ap.parse_args()
    space = space_of_size(a.size)
    compile_s = None
    if a.backend == "numba":
        from kernels.numba_cpu import evaluate_numba_cpu

        t0 = time.perf_counter()
        evaluate_numba_cpu(space_of_size(1e5))
        compile_s = round(time.perf_counter() - t0, 2)

        def run():
            return evaluate_numba_cpu(space, chunk=a.chunk)
    else:
        def run():
            return evaluate_numpy(space, chunk=a.chunk or (1 << 16))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    red = run()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(dict(
        backend=red.backend, compile_s=compile_s, configurations=space.size, seconds=round(dt, 2), configs_per_s=round(space.size / dt),
        # CPU seconds of all threads: on a loaded machine, configurations per CPU-second times the
        # cores the backend uses bounds what an idle machine gives
        cpu_s=round(cpu, 2), configs_per_cpu_s=round(space.size / cpu),
        peak_rss_gib=round(rss1 / 2**20, 3), rss_before_gib=round(rss0 / 2**20, 3), fit=red.n_fit,
        meet=red.n_meet, groups=space.n_groups, chunk=a.chunk, cpus=os.cpu_count(), load_avg_1min=os.getloadavg()[0],
        machine=platform.processor() or platform.machine(), python=platform.python_version())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
