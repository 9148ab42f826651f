"""tokenfleet's optimizer: allocation, plans, sweeps and the public Python API.

    import problems, optimizer
    plan = optimizer.solve(problems.load("chat-mixed-fleet"))
"""

from kernels.backends import BackendUnavailable
from kernels.predict import ConfigMetrics, PredictError

from .plan import Plan
from .solve import solve


def predict(hardware, model, precision, tp=None, ep=1, concurrency=None, isl=1024, osl=1024,
            engine=None, min_output_tok_s_per_user=None, **kw) -> ConfigMetrics:
    """Predict one operating point; see :func:`kernels.predict.predict`."""
    from kernels.predict import predict as _predict

    return _predict(hardware=hardware, model=model, precision=precision, tp=tp, ep=ep,
                    concurrency=concurrency, isl=isl, osl=osl, engine=engine,
                    min_output_tok_s_per_user=min_output_tok_s_per_user, **kw)


def __getattr__(name):
    # frontier/compare/sweep pull in plotting and dask lazily
    if name in ("frontier", "compare", "Frontier", "Comparison"):
        from . import analysis
        return getattr(analysis, name)
    if name in ("sweep", "SweepSpec"):
        from . import sweep as _sw
        return getattr(_sw, name)
    raise AttributeError(name)


__all__ = ["BackendUnavailable", "ConfigMetrics", "Plan", "PredictError", "predict", "solve",
           "frontier", "compare", "sweep"]
