"""How much work a problem asks for, known before any of it is done.

The configuration space is the product of its axes (see ``kernels.space``); its size is computed
here from the problem alone, without building the space, so that a space too large to evaluate in
reasonable time or memory is refused in a fraction of a second, with its size, the estimated time
on the backend that would run it, and the option that raises the limit.
"""

from __future__ import annotations

import math

from problems import Problem
from problems.errors import InputError

# Configurations per second, measured: NumPy and the Numba CPU backend on the 2-core development
# machine (a 1e8 space, benchmarks/RESULTS.md); the GPU figures from a probe of the kernels on one H200 (CuPy
# ElementwiseKernel 1.3e11/s, Numba-CUDA 5.3e10/s; benchmarks/RESULTS.md), rounded down.
RATES_PER_S = {"numpy": 6.5e6, "numba": 3e7, "cupy": 1e11, "numba-cuda": 5e10}
# Host memory held per configuration group (a configuration without its batch) by the reduction:
# best cost and tokens per joule, each a float64 and an int64 index (kernels.evaluate.Reduction).
BYTES_PER_GROUP = 32
MAX_REDUCTION_BYTES = 4 * 2**30


def space_axes(problem: Problem, batches=None, workloads=None) -> dict[str, int]:
    """Length of each axis of ``problem``'s configuration space, in ``kernels.space`` order.

    Mirrors :func:`kernels.space.build_space` without allocating anything (``batch_grid: all``
    with ``max_concurrency: 10**10`` would be a 75 GiB array of batch sizes).
    """
    s = problem.search
    if batches is not None:
        n_batches = len(batches)
    elif s.batch_grid == "all":
        n_batches = s.max_concurrency
    else:
        from kernels import batch_grid  # noqa: PLC0415 - log2(max_concurrency) entries

        n_batches = len(batch_grid(s.max_concurrency))
    return {
        "workload-model pairs": sum(len(w.candidate_models()) for w in problem.workloads
                                    if workloads is None or w.name in workloads),
        "hardware types": len(problem.hardware),
        "precisions": len(s.precisions),
        "tensor-parallel degrees": len(s.tensor_parallel),
        "pipeline-parallel degrees": len(s.pipeline_parallel),
        "parallel modes": 2 if s.expert_parallel else 1,
        "speculative settings": 2 if ("mtp" in s.speculative and "off" in s.speculative) else 1,
        "batch sizes": n_batches,
    }


def configuration_count(problem: Problem, batches=None, workloads=None) -> int:
    """Number of configurations ``problem`` asks to evaluate (an exact Python integer)."""
    return math.prod(space_axes(problem, batches, workloads).values())


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds:.2g} s"
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size * (2 if unit == "days" else 1):
            return f"{seconds / size:,.1f} {unit}"
    return f"{seconds:.0f} s"


def estimate_text(n: int, backend: str | None) -> str:
    """'about 44.0 min on numpy (6.5e6 configurations/s)', for one backend or every one."""
    names = [backend] if backend in RATES_PER_S else list(RATES_PER_S)
    return ", ".join(f"about {_duration(n / RATES_PER_S[b])} on {b} "
                     f"({RATES_PER_S[b]:.2g}".replace("e+", "e").replace("e0", "e") + " configurations/s)"
                     for b in names)


def check_configuration_space(problem: Problem, backend: str | None = None, batches=None,
                              workloads=None) -> int:
    """The size of ``problem``'s configuration space, or :class:`InputError` if it is over a limit.

    Parameters
    ----------
    backend : name of the backend that will run (``numpy``, ``cupy``, ``numba-cuda``), or None
        when not known yet: the estimate then covers each backend.
    batches : batch sizes replacing the problem's grid (as ``optimizer.solve`` takes them).
    workloads : names of the workloads evaluated (default: all), as ``build_space`` takes them.

    Raises
    ------
    InputError
        More than ``search.max_configurations`` configurations, or a reduction that would hold more
        than ``MAX_REDUCTION_BYTES`` of host memory; the message gives the size, the axes, the
        estimated time and what to change.
    """
    axes = space_axes(problem, batches, workloads)
    n = math.prod(axes.values())
    limit = problem.search.max_configurations
    shape = " x ".join(f"{v:,} {k}" for k, v in axes.items())
    if n > limit:
        raise InputError(
            f"problem {problem.name!r}: the configuration space has {n:,} configurations ({shape}); "
            f"{estimate_text(n, backend)}. The limit is search.max_configurations = {limit:,}: raise it in "
            "the problem file to evaluate this space anyway, or narrow the search (search.max_concurrency, "
            "search.batch_grid: geometric, search.tensor_parallel, search.pipeline_parallel, search.precisions, "
            "the hardware list)")
    groups = n // max(axes["batch sizes"], 1)
    need = groups * BYTES_PER_GROUP
    if need > MAX_REDUCTION_BYTES:
        raise InputError(
            f"problem {problem.name!r}: the configuration space has {groups:,} configuration groups "
            f"({shape} without the batch sizes), whose results would need {need / 2**30:,.1f} GiB of memory "
            f"(limit {MAX_REDUCTION_BYTES / 2**30:.0f} GiB): split the workloads or hardware over several "
            "problems, or narrow search.tensor_parallel, search.pipeline_parallel and search.precisions")
    return n
