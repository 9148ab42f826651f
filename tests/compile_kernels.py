"""Compile every GPU kernel with the real CUDA compilers; no GPU or driver needed.

    python tests/compile_kernels.py [--json OUT.json]

* Numba-CUDA kernels (fused eval and points, float32 and float64) -> PTX with NVVM (numba-cuda);
* CuPy kernels (``kernels/fused.cu`` with the translated formulas, float and double) -> PTX with
  NVRTC (``cuda.bindings.nvrtc``);

each for sm_90 and sm_100, then ``ptxas -v``. Prints registers, spills and stack per kernel and
exits 1 on any compile error or spill. Needs the ``compile`` extra (``pip install
'.[compile]'``). Runs in its own process: the test suite's conftest turns the CUDA simulator on.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ["NUMBA_ENABLE_CUDASIM"] = "0"   # before numba is imported
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ARCHS = ((9, 0), (10, 0))
DTYPES = ("float32", "float64")
# threads per block as launched (kernels/numba_kernels.py THREADS, kernels/cupy_backend.py THREADS)
BLOCK = {"numba-cuda/NVVM": 128, "NVRTC": 128}
# sm_90 and sm_100: 64K 32-bit registers, at most 64 resident warps and 32 blocks per SM;
# registers are allocated per warp in units of 256
REGS_PER_SM, MAX_WARPS, MAX_BLOCKS = 65536, 64, 32


def occupancy(registers: int, threads_per_block: int) -> float:
    """Theoretical occupancy (resident warps / MAX_WARPS) limited by registers and block size."""
    per_warp = -(-registers * 32 // 256) * 256
    warps = min(MAX_WARPS, REGS_PER_SM // per_warp)
    wpb = -(-threads_per_block // 32)
    return min(warps // wpb, MAX_BLOCKS) * wpb / MAX_WARPS


class CompileError(RuntimeError):
    pass


def ptxas_path() -> str:
    spec = importlib.util.find_spec("nvidia.cuda_nvcc")
    if spec and spec.submodule_search_locations:
        p = Path(list(spec.submodule_search_locations)[0]) / "bin" / "ptxas"
        if p.exists():
            return str(p)
    p = shutil.which("ptxas")
    if p is None:
        raise CompileError("ptxas not found: pip install nvidia-cuda-nvcc-cu12 (the 'compile' extra)")
    return p


def ptxas(ptx: str, cc: tuple[int, int]) -> dict[str, dict]:
    """``ptxas -v`` figures per entry function: registers, spill stores/loads, stack bytes."""
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "k.ptx"
        src.write_text(ptx)
        r = subprocess.run([ptxas_path(), f"-arch=sm_{cc[0]}{cc[1]}", "-v", str(src), "-o", str(Path(d) / "k.cubin")],
                           capture_output=True, text=True)
    if r.returncode:
        raise CompileError(f"ptxas failed for sm_{cc[0]}{cc[1]}:\n{r.stderr[-3000:]}")
    out, cur = {}, None
    for line in r.stderr.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            cur = out.setdefault(m.group(1), {})
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and cur is not None:
            cur.update(stack=int(m.group(1)), spill_stores=int(m.group(2)), spill_loads=int(m.group(3)))
        m = re.search(r"Used (\d+) registers", line)
        if m and cur is not None:
            cur["registers"] = int(m.group(1))
    return out


class _FixedDevice:
    """Stands in for the driver's current device while NVVM compiles (no GPU here): typing a call
    into a device function asks for its compute capability and ignores ``compile_ptx``'s ``cc``."""

    def __init__(self, cc):
        self.compute_capability = cc


def compile_numba(pyfunc, sig, cc) -> str:
    """PTX of ``pyfunc`` as a kernel of signature ``sig`` for compute capability ``cc``."""
    from numba import cuda
    from numba.cuda import dispatcher

    saved = dispatcher.get_current_device
    dispatcher.get_current_device = lambda: _FixedDevice(cc)
    try:
        ptx, _ = cuda.compile_ptx(pyfunc, sig, cc=cc)
    except Exception as e:  # noqa: BLE001 - any failure is the finding
        raise CompileError(f"NVVM: {type(e).__name__}: {e}") from e
    finally:
        dispatcher.get_current_device = saved
    return ptx


def numba_kernels():
    """(name, dtype, python function, signature) of every Numba-CUDA kernel."""
    import numba
    from numba import types

    from kernels.numba_kernels import eval_kernel, points_kernel

    out = []
    for dt in DTYPES:
        ft = getattr(numba, dt)
        vec, mat = types.Array(ft, 1, "C"), types.Array(ft, 2, "C")
        i32v, u64v = types.Array(types.int32, 1, "C"), types.Array(types.uint64, 1, "C")
        ev = (types.uint32, types.uint32, types.int64, types.int64, types.uint32, i32v, vec, i32v, mat, mat,
              u64v, u64v, u64v, u64v)
        pt = (types.Array(types.int32, 2, "C"), vec, i32v, mat, mat, mat)
        out.append(("eval", dt, eval_kernel(dt).py_func, types.void(*ev)))
        out.append(("points", dt, points_kernel(dt).py_func, types.void(*pt)))
    return out


def compile_nvrtc(source: str, cc) -> str:
    from cuda.bindings import nvrtc

    def check(res):
        err = res[0]
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise CompileError(f"NVRTC: {err}")
        return res[1:] if len(res) > 2 else (res[1] if len(res) == 2 else None)

    prog = check(nvrtc.nvrtcCreateProgram(source.encode(), b"tokenfleet.cu", 0, [], []))
    opts = [b"--std=c++14", f"-arch=compute_{cc[0]}{cc[1]}".encode()]
    res = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
    if res[0] != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        size = check(nvrtc.nvrtcGetProgramLogSize(prog))
        log = b" " * size
        check(nvrtc.nvrtcGetProgramLog(prog, log))
        raise CompileError(f"NVRTC: {log.decode(errors='replace')[-3000:]}")
    size = check(nvrtc.nvrtcGetPTXSize(prog))
    ptx = b" " * size
    check(nvrtc.nvrtcGetPTX(prog, ptx))
    return ptx.decode().rstrip("\x00")


def run_all() -> tuple[list[dict], list[str]]:
    from kernels.cuda_source import kernel_source

    rows, errors = [], []
    for cc in ARCHS:
        arch = f"sm_{cc[0]}{cc[1]}"
        for name, dt, fn, sig in numba_kernels():
            try:
                for entry, fig in ptxas(compile_numba(fn, sig, cc), cc).items():
                    rows.append(dict(compiler="numba-cuda/NVVM", kernel=name, dtype=dt, arch=arch, entry=entry, **fig))
            except CompileError as e:
                errors.append(f"numba-cuda {name} {dt} {arch}: {e}")
        for real, dt in (("float", "float32"), ("double", "float64")):
            try:
                for entry, fig in ptxas(compile_nvrtc(kernel_source(real), cc), cc).items():
                    kernel = "eval" if entry == "tokenfleet_eval" else "points"
                    rows.append(dict(compiler="NVRTC", kernel=kernel, dtype=dt, arch=arch, entry=entry, **fig))
            except CompileError as e:
                errors.append(f"NVRTC {dt} {arch}: {e}")
    for r in rows:
        r["occupancy"] = occupancy(r.get("registers", 255), BLOCK[r["compiler"]])
        if r.get("spill_stores") or r.get("spill_loads"):
            errors.append(f"{r['compiler']} {r['kernel']} {r['dtype']} {r['arch']}: spills "
                          f"({r['spill_stores']} B stores, {r['spill_loads']} B loads)")
    return rows, errors


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()
    rows, errors = run_all()
    print(f"{'compiler':17} {'kernel':7} {'dtype':8} {'arch':7} {'registers':>9} {'spill B':>8} {'stack B':>8} "
          f"{'occupancy':>9}")
    for r in rows:
        print(f"{r['compiler']:17} {r['kernel']:7} {r['dtype']:8} {r['arch']:7} {r.get('registers', -1):9d} "
              f"{r.get('spill_stores', 0) + r.get('spill_loads', 0):8d} {r.get('stack', 0):8d} {r['occupancy']:9.1%}")
    if a.json:
        Path(a.json).write_text(json.dumps(dict(rows=rows, errors=errors), indent=2))
    for e in errors:
        print("ERROR", e, file=sys.stderr)
    return 1 if errors or not rows else 0


if __name__ == "__main__":
    raise SystemExit(main())
