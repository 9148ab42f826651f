"""Backend detection without importing the GPU stack at module import time.

``auto`` picks a usable GPU backend (CuPy first, then Numba-CUDA) and otherwise NumPy; an
explicitly requested backend that cannot run raises :class:`BackendUnavailable`, whose message
names what is missing and the extra to install. Nothing is silently replaced.
"""

from __future__ import annotations

import importlib.util
import os

from problems.errors import BackendError

BACKENDS = ("auto", "numpy", "cupy", "numba-cuda")
GPU_EXTRA = "pip install 'tokenfleet[gpu]'"


class BackendUnavailable(BackendError):
    """A requested backend cannot run here."""


def simulator_enabled() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "") == "1"


def cupy_status() -> tuple[bool, str]:
    """(usable, reason)."""
    if importlib.util.find_spec("cupy") is None:
        return False, f"CuPy is not installed ({GPU_EXTRA})"
    try:
        import cupy  # noqa: PLC0415 - lazy by design

        if not cupy.cuda.is_available():
            return False, "CuPy is installed but no CUDA device is usable (cupy.cuda.is_available() is False)"
        cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 - any driver error means "not usable"
        return False, f"CuPy cannot use a CUDA device: {e}"
    return True, "ok"


def numba_cuda_status() -> tuple[bool, str]:
    """(usable, reason). The CUDA simulator counts as usable (NUMBA_ENABLE_CUDASIM=1)."""
    if importlib.util.find_spec("numba") is None:
        return False, f"Numba is not installed ({GPU_EXTRA})"
    try:
        from . import _numba_compat  # noqa: F401,PLC0415 - applies the NumPy alias shim
        from numba import cuda  # noqa: PLC0415

        if simulator_enabled():
            return True, "CUDA simulator"
        if not cuda.is_available():
            return False, f"Numba is installed but no CUDA device/driver is usable ({GPU_EXTRA} on a GPU machine)"
    except Exception as e:  # noqa: BLE001
        return False, f"numba.cuda cannot start: {e}"
    return True, "ok"


def resolve_backend(name: str = "auto") -> str:
    """The backend that will run for ``name``; raises BackendUnavailable for a missing one."""
    if name not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "numpy":
        return "numpy"
    if name == "cupy":
        ok, why = cupy_status()
        if not ok:
            raise BackendUnavailable(f"backend 'cupy' requested but unavailable: {why}")
        return "cupy"
    if name == "numba-cuda":
        ok, why = numba_cuda_status()
        if not ok:
            raise BackendUnavailable(f"backend 'numba-cuda' requested but unavailable: {why}")
        return "numba-cuda"
    # auto: a real GPU only (the simulator is for tests, far slower than NumPy)
    if cupy_status()[0]:
        return "cupy"
    if not simulator_enabled() and numba_cuda_status()[0]:
        return "numba-cuda"
    return "numpy"
