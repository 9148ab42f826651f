"""Bind the one text of :mod:`kernels.formulas` to scalar primitives.

The source of ``formulas.py`` is parsed, every float literal is wrapped in ``_f(...)`` (so that a
float32 build keeps float32 arithmetic: a bare Python float would promote it to float64 inside
Numba), and the result is executed in a fresh namespace whose primitives are scalar functions
(``math.exp``, a conditional ``where``...). The same namespace, with each function wrapped by
``numba.cuda.jit(device=True)``, is what the Numba-CUDA kernel calls.
"""

from __future__ import annotations

import ast
import math
from importlib import resources

FUNCTION_ORDER = None  # filled lazily: names of the functions defined in formulas.py, in order


def formulas_source() -> str:
    return resources.files("kernels").joinpath("formulas.py").read_text(encoding="utf-8")


class _WrapFloats(ast.NodeTransformer):
    def visit_Constant(self, node):
        if isinstance(node.value, float):
            return ast.copy_location(ast.Call(func=ast.Name("_f", ast.Load()), args=[node], keywords=[]), node)
        return node


def _tree():
    tree = ast.parse(formulas_source())
    # drop the NumPy import and the NumPy primitive bindings: the caller binds its own
    body = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute):
            continue
        body.append(node)
    tree.body = body
    return tree


def function_names() -> list[str]:
    return [n.name for n in _tree().body if isinstance(n, ast.FunctionDef)]


def _py_where(c, a, b):
    return a if c else b


def python_namespace(cast=float) -> dict:
    """The formulas as plain Python scalar functions (the oracle for the device functions)."""
    tree = _WrapFloats().visit(_tree())
    ast.fix_missing_locations(tree)
    ns = dict(__name__="kernels.formulas_scalar", _f=cast, fmax=max, fmin=min, exp=math.exp,
              log1p=math.log1p, ceil=lambda x: cast(math.ceil(x)), where=_py_where)
    exec(compile(tree, "kernels/formulas.py", "exec"), ns)  # noqa: S102 - our own source
    return ns


def numba_cuda_namespace(dtype: str = "float32") -> dict:
    """The formulas as ``numba.cuda.jit(device=True)`` functions computing in ``dtype``."""
    from . import _numba_compat  # noqa: F401
    import numba  # noqa: PLC0415
    from numba import cuda  # noqa: PLC0415

    ft = getattr(numba, dtype)
    tree = _WrapFloats().visit(_tree())
    ast.fix_missing_locations(tree)

    def _where(c, a, b):
        return a if c else b

    def _fmax(a, b):
        return a if a > b else b

    def _fmin(a, b):
        return a if a < b else b

    ns = dict(__name__="kernels.formulas_cuda", _f=ft, math=math)
    dev = {k: cuda.jit(device=True)(v) for k, v in dict(where=_where, fmax=_fmax, fmin=_fmin).items()}
    # math.exp / math.log1p compile to the device's expf/logf (float32) or exp/log (float64)
    ns.update(dev, exp=math.exp, log1p=math.log1p)
    # ceil keeps the working precision (math.ceil alone returns an integer); defined in the
    # namespace so that numba resolves _f like any other global
    exec("def ceil(x):\n    return _f(math.ceil(x))\n", ns)  # noqa: S102
    ns["ceil"] = cuda.jit(device=True)(ns["ceil"])
    exec(compile(tree, "kernels/formulas.py", "exec"), ns)  # noqa: S102
    for name in function_names():
        ns[name] = cuda.jit(device=True)(ns[name])
    # module-level constants in the device's precision
    for k in ("MEM_USABLE_FRACTION", "ACTIVATION_RESERVE_BYTES", "PREFILL_CHUNK_TOKENS"):
        ns[k] = ft(ns[k])
    return ns
