"""Configuration spaces and the performance model, with NumPy, Numba-CUDA and CuPy backends.

Nothing here imports cupy or numba at import time: GPU backends are loaded when requested.
"""

from .backends import BACKENDS, BackendUnavailable, resolve_backend
from .evaluate import N_BINS, Reduction, evaluate
from .predict import ConfigMetrics, PredictError, predict
from .reference import evaluate_indices
from .space import ConfigSpace, build_space, default_calibration, load_calibration

__all__ = [
    "BACKENDS", "BackendUnavailable", "ConfigMetrics", "ConfigSpace", "N_BINS", "PredictError",
    "Reduction", "build_space", "default_calibration", "evaluate", "evaluate_indices",
    "load_calibration", "predict", "resolve_backend",
]
