#!/usr/bin/env bash
# The device check, run once on a GPU box from the repository root:
#     OUT=/path/to/out bash benchmarks/gpu_check.sh
# 1. versions of the GPU and the Python stack; 2. the gpu-marked tests, where any skip is a
# failure; 3. benchmarks/bench_gpu.py (figures to $OUT/gpu_bench.json).
# Packages the box lacks are installed from wheels in .gpu-wheels/ (made here beforehand by
# benchmarks/fetch_gpu_wheels.sh and carried along) into a local target directory.
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if [ -d .gpu-wheels ]; then
  "$PY" -m pip install --quiet --no-index --no-deps --target .gpu-pydeps .gpu-wheels/*.whl 2>&1 | tail -3
  export PYTHONPATH="$PWD/.gpu-pydeps:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export NUMBA_ENABLE_CUDASIM=0
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$PY" -c "import sys, numpy, cupy, numba; print(sys.version.split()[0], 'numpy', numpy.__version__, 'cupy', cupy.__version__, 'numba', numba.__version__)"
  "$PY" -c "import numba.cuda; print('numba-cuda', getattr(numba.cuda, 'implementation', '?'))"
} 2>&1 | tee "$OUT/versions.txt"
status=0
"$PY" -m pytest -m gpu -rs -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$OUT/pytest_gpu.txt"
test "${PIPESTATUS[0]}" -eq 0 || status=1
if grep -qiE "[0-9]+ skipped" "$OUT/pytest_gpu.txt"; then
  echo "gpu_check: a GPU test was skipped: that is a failure here" | tee -a "$OUT/pytest_gpu.txt"
  status=1
fi
"$PY" benchmarks/bench_gpu.py --out "$OUT" "$@" 2>&1 | tee "$OUT/bench.txt"
test "${PIPESTATUS[0]}" -eq 0 || status=1
# SLA sweep: every scenario changes the candidate set and re-evaluates the space (GPU vs CPU)
for b in cupy numpy; do
  "$PY" benchmarks/bench_sweep.py --axes sla --n 8 --backend $b 2>&1 | tee -a "$OUT/bench_sweep_sla.txt"
done
exit $status
