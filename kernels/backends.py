"""Backend detection without importing the GPU stack.

``auto`` picks a usable GPU backend (CuPy first, then Numba-CUDA), then the Numba CPU backend when
Numba is installed and the space is large enough to repay its compilation, then NumPy. A GPU is
ruled out without importing ``cupy`` or ``numba.cuda`` when no CUDA driver library is present
(most machines). An explicitly requested backend that cannot run raises
:class:`BackendUnavailable`, whose message names what is missing and the extra to install.
Nothing is silently replaced: the result records the backend that ran.
"""

from __future__ import annotations

import ctypes.util
import glob
import importlib.util
import os

from problems.errors import BackendError

BACKENDS = ("auto", "numpy", "numba", "cupy", "numba-cuda")
GPU_EXTRA = "pip install 'tokenfleet[gpu]'"
CPU_EXTRA = "pip install numba"
# below this many configurations NumPy finishes before Numba has compiled its kernel (~4-6 s of
# compilation against NumPy's ~6.5e6 configurations/s; benchmarks/RESULTS.md)
AUTO_NUMBA_MIN_CONFIGS = 30_000_000
# where CUDA drivers install libcuda.so.1 when ldconfig does not list it
_DRIVER_GLOBS = ("/usr/lib/x86_64-linux-gnu/libcuda.so*", "/usr/lib64/libcuda.so*", "/usr/lib/libcuda.so*",
                 "/usr/local/nvidia/lib*/libcuda.so*", "/usr/lib/wsl/lib/libcuda.so*",
                 "/usr/lib/aarch64-linux-gnu/libcuda.so*")


class BackendUnavailable(BackendError):
    """A requested backend cannot run here."""


def simulator_enabled() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "") == "1"


def cuda_driver_present() -> bool:
    """Whether a CUDA driver library (libcuda) can be found, without loading it."""
    if ctypes.util.find_library("cuda"):
        return True
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    return any(glob.glob(os.path.join(d, "libcuda.so*")) for d in dirs) or any(glob.glob(g) for g in _DRIVER_GLOBS)


def cupy_status() -> tuple[bool, str]:
    """(usable, reason)."""
    if importlib.util.find_spec("cupy") is None:
        return False, f"CuPy is not installed ({GPU_EXTRA})"
    if not cuda_driver_present():
        return False, "no CUDA driver library (libcuda.so.1) on this machine"
    try:
        import cupy  # noqa: PLC0415 - lazy by design

        if not cupy.cuda.is_available():
            return False, "CuPy is installed but no CUDA device is usable (cupy.cuda.is_available() is False)"
        cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 - any driver error means "not usable"
        return False, f"CuPy cannot use a CUDA device: {e}"
    return True, "ok"


def numba_cuda_status() -> tuple[bool, str]:
    """(usable, reason). The CUDA simulator counts as usable (NUMBA_ENABLE_CUDASIM=1); a device
    needs the numba-cuda package (plain numba's built-in CUDA target is deprecated and does not
    compile every kernel here)."""
    if importlib.util.find_spec("numba") is None:
        return False, f"Numba is not installed ({GPU_EXTRA})"
    if simulator_enabled():
        return True, "CUDA simulator"
    if importlib.util.find_spec("numba_cuda") is None:
        return False, f"the numba-cuda package is not installed ({GPU_EXTRA})"
    if not cuda_driver_present():
        return False, "no CUDA driver library (libcuda.so.1) on this machine"
    try:
        from . import _numba_compat  # noqa: F401,PLC0415 - applies the NumPy alias shim
        from numba import cuda  # noqa: PLC0415

        if not cuda.is_available():
            return False, f"numba-cuda is installed but no CUDA device/driver is usable ({GPU_EXTRA} on a GPU machine)"
    except Exception as e:  # noqa: BLE001
        return False, f"numba.cuda cannot start: {e}"
    return True, "ok"


def numba_cpu_status() -> tuple[bool, str]:
    if importlib.util.find_spec("numba") is None:
        return False, f"Numba is not installed ({CPU_EXTRA})"
    return True, "ok"


def resolve_backend(name: str = "auto", size: int | None = None) -> str:
    """The backend that will run for ``name`` on a space of ``size`` configurations (``None``:
    large); raises BackendUnavailable for a missing one."""
    if name not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    status = dict(cupy=cupy_status, numba=numba_cpu_status, **{"numba-cuda": numba_cuda_status})
    if name == "numpy":
        return "numpy"
    if name != "auto":
        ok, why = status[name]()
        if not ok:
            raise BackendUnavailable(f"backend {name!r} requested but unavailable: {why}")
        return name
    # auto: a real GPU only (the simulator is for tests, far slower than NumPy)
    if cupy_status()[0]:
        return "cupy"
    if not simulator_enabled() and numba_cuda_status()[0]:
        return "numba-cuda"
    if (size is None or size >= AUTO_NUMBA_MIN_CONFIGS) and numba_cpu_status()[0]:
        return "numba"
    return "numpy"
