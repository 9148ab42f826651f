"""Real-GPU checks (``pytest -m gpu -rs``; run by benchmarks/gpu_check.sh, where a skip is a failure).

Both GPU backends are held to the NumPy float64 reference: identical candidate sets (up to float32
ties), every metric within a float32 tolerance on >= 1e5 random configurations, equal plans.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import optimizer
import problems
from kernels import BackendUnavailable, build_space, resolve_backend
from kernels.evaluate import evaluate_numpy
from kernels.reference import evaluate_indices

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

pytestmark = pytest.mark.gpu
F32_TOL = 64 * float(np.finfo(np.float32).eps)


def need(backend):
    if backend == "numba-cuda" and os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("NUMBA_ENABLE_CUDASIM=1: run with NUMBA_ENABLE_CUDASIM=0 on a GPU machine")
    try:
        if resolve_backend(backend) != backend:
            pytest.skip(f"{backend} did not resolve")
    except BackendUnavailable as e:
        pytest.skip(str(e))


def run(backend, space):
    if backend == "cupy":
        from kernels.cupy_backend import evaluate_cupy
        return evaluate_cupy(space)
    from kernels.numba_backend import evaluate_numba
    return evaluate_numba(space)


def points(backend, space, idx):
    if backend == "cupy":
        from kernels.cupy_backend import evaluate_points_cupy
        return evaluate_points_cupy(space, idx)
    from kernels.numba_backend import evaluate_points_numba
    return evaluate_points_numba(space, idx)


@pytest.mark.parametrize("backend", ["cupy", "numba-cuda"])
def test_gpu_reduction_matches_the_reference(backend):
    need(backend)
    from test_kernels import _assert_same_reduction

    space = build_space(problems.load("enterprise-mix"))
    _assert_same_reduction(evaluate_numpy(space), run(backend, space), space)


@pytest.mark.parametrize("backend", ["cupy", "numba-cuda"])
def test_gpu_metrics_match_the_reference_on_1e5_random_configurations(backend):
    need(backend)
    from spaces import space_of_size
    from test_kernels import _compare_points

    space = space_of_size(2e7)
    idx = np.random.default_rng(11).choice(space.size, 150_000, replace=False)
    ref = evaluate_indices(space, idx)
    valid = ref["status"] >= 0
    assert valid.sum() >= 100_000
    got = points(backend, space, idx[valid])
    _compare_points({k: v[valid] for k, v in ref.items()}, got, rel=F32_TOL)


@pytest.mark.parametrize("backend", ["cupy", "numba-cuda"])
def test_gpu_plan_equals_the_numpy_plan(backend):
    need(backend)
    p = problems.load("enterprise-mix")
    a = optimizer.solve(p, backend="numpy", marginal_values=False)
    b = optimizer.solve(p, backend=backend, marginal_values=False)
    assert b.backend["name"].startswith(backend)
    assert b.total_cost_usd_per_hour == pytest.approx(a.total_cost_usd_per_hour, rel=1e-5)
