"""Configuration spaces and the performance model, with NumPy, Numba (CPU), Numba-CUDA and CuPy
backends.

Nothing here imports cupy or numba at import time: those backends are loaded when requested.
"""

from .backends import BACKENDS, BackendUnavailable, resolve_backend
from .evaluate import N_BINS, Reduction, evaluate
from .layout import AXES, HW_FIELDS, OUTPUTS, WM_FIELDS, Status
from .predict import ConfigMetrics, PredictError, predict
from .reference import evaluate_indices
from .space import ConfigSpace, build_space
from .tables import (Calibration, batch_grid, default_calibration, gpu_hour_price_usd, hardware_row,
                     load_calibration, model_row, usd_per_hour, usd_per_mtok)

__all__ = [
    "AXES", "BACKENDS", "BackendUnavailable", "Calibration", "ConfigMetrics", "ConfigSpace", "HW_FIELDS",
    "N_BINS", "OUTPUTS", "PredictError", "Reduction", "Status", "WM_FIELDS", "batch_grid", "build_space",
    "default_calibration", "evaluate", "evaluate_indices", "gpu_hour_price_usd", "hardware_row",
    "load_calibration", "model_row", "predict", "resolve_backend", "usd_per_hour", "usd_per_mtok",
]
