"""tokenfleet's optimizer: allocation, plans, sweeps and the public Python API.

    import problems, optimizer
    plan = optimizer.solve(problems.load("chat-mixed-fleet"))
"""

from kernels.backends import BackendUnavailable
from problems.errors import (BackendError, InfeasibleError, InputError, InternalError,
                             TokenfleetError)
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
        import importlib  # noqa: PLC0415 - `from . import sweep` would re-enter this hook

        return getattr(importlib.import_module(".sweep", __name__), name)
    raise AttributeError(name)


__all__ = ["BackendError", "BackendUnavailable", "InfeasibleError", "InputError", "InternalError",
           "TokenfleetError", "ConfigMetrics", "Plan", "PredictError", "predict", "solve",
           "frontier", "compare", "sweep"]
