"""tokenfleet's optimizer: allocation, plans, sweeps and the public Python API.

    import problems, optimizer
    plan = optimizer.solve(problems.load("chat-mixed-fleet"))
"""

from kernels import BackendUnavailable, ConfigMetrics, PredictError
from problems.errors import (BackendError, InfeasibleError, InputError, InternalError,
                             TokenfleetError)

from .plan import Plan
from .solve import solve


def predict(hardware, model, precision, tp=None, ep=1, concurrency=None, isl=1024, osl=1024,
            engine=None, min_output_tok_s_per_user=None, *, serving="aggregated", prefill_tp=None,
            prefill_ep=None, prefill_replicas=None, decode_tp=None, decode_ep=None,
            decode_replicas=None, speculative=None, pp=None, **kw) -> ConfigMetrics:
    """Predict one operating point.

    ``concurrency=None``: the max-throughput point; ``min_output_tok_s_per_user=X``: the
    highest-throughput point with at least X tok/s per user; ``concurrency=C``: C requests in
    flight in total (over both pools when disaggregated). ``tp=None`` searches tensor-parallel
    degrees (``ep=None`` also expert parallel). ``pp``: pipeline stages per replica (1, 2 or 4;
    a replica spans ``tp * pp`` GPUs); None (the default): one stage where any searched layout
    fits, else 2, else 4 -- published deployments pipeline a model only when it does not fit
    otherwise; it describes the aggregated layout (disaggregated pools are single-stage). Plans
    search ``search.pipeline_parallel`` (default 1 and 2) by cost.

    ``serving``: "aggregated" (the default), "disaggregated" (a prefill pool and a decode pool;
    ``prefill_tp``, ``prefill_ep``, ``prefill_replicas``, ``decode_tp``, ``decode_ep``,
    ``decode_replicas`` fix their layouts, each searched when None; ``*_ep > 1`` means attention
    data-parallel + expert parallel over that many GPUs), or None: search both, as a planner
    would; ``tp`` and ``ep`` describe the aggregated layout only. ``speculative``: "off", "mtp",
    or None (the default): search MTP where the model
    ships MTP layers. The best call, ``tp=None, ep=None, serving=None``, searches modes, layouts
    and MTP. ``speculative_data`` ("benchmark", the default, or "chat") picks the model's MTP
    draft acceptance on that kind of prompt: published benchmarks send random-token prompts, on
    which drafts are accepted less often than on chat (plans use a workload's
    ``speculative_data``, default "chat"). The result's ``ttft_s`` is the mean TTFT under load, ``ttft_p90_s`` and
    ``ttft_p99_s`` its percentiles; ``gpus`` counts both pools. See :mod:`kernels.serving`.
    """
    from kernels.serving import predict as _predict

    return _predict(hardware=hardware, model=model, precision=precision, tp=tp, ep=ep,
                    concurrency=concurrency, isl=isl, osl=osl, engine=engine,
                    min_output_tok_s_per_user=min_output_tok_s_per_user, serving=serving,
                    prefill_tp=prefill_tp, prefill_ep=prefill_ep, prefill_replicas=prefill_replicas,
                    decode_tp=decode_tp, decode_ep=decode_ep, decode_replicas=decode_replicas,
                    speculative=speculative, pp=pp, **kw)


def __getattr__(name):
    # frontier/compare/sweep pull in plotting and dask lazily
    if name in ("frontier", "compare", "Frontier", "Comparison"):
        from . import analysis
        return getattr(analysis, name)
    if name in ("sweep", "SweepSpec", "SweepError"):
        # the package is `sweeps`, so `optimizer.sweep` stays the function once it is imported
        import importlib  # noqa: PLC0415

        return getattr(importlib.import_module(".sweeps", __name__), name)
    raise AttributeError(name)


__all__ = ["BackendError", "BackendUnavailable", "InfeasibleError", "InputError", "InternalError",
           "TokenfleetError", "ConfigMetrics", "Plan", "PredictError", "predict", "solve",
           "frontier", "compare", "sweep"]
