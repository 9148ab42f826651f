#!/usr/bin/env bash
# Download the wheels the GPU box lacks (it has no network) into .gpu-wheels/, for CPython 3.12
# on manylinux x86-64; carry .gpu-wheels along to the box and run benchmarks/gpu_check.sh there.
# (scs, 42 MB, is left out: tokenfleet always names HiGHS, and the carry limit is 64 MiB.)
set -euo pipefail
mkdir -p .gpu-wheels
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  -d .gpu-wheels \
  cvxpy highspy osqp clarabel qdldl "sparsediffpy<0.7" pydantic pydantic-core annotated-types \
  typing-inspection typing-extensions PyYAML typer rich shellingham markdown-it-py mdurl pygments
du -sh .gpu-wheels
