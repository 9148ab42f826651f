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


def formulas_path() -> str:
    """The formulas' file, so that errors in the compiled text point at the line written there."""
    return str(resources.files("kernels").joinpath("formulas.py"))


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
    exec(compile(tree, formulas_path(), "exec"), ns)  # noqa: S102 - our own source
    return ns


def numba_namespace(target: str = "cuda", dtype: str = "float32") -> dict:
    """The formulas compiled by Numba in ``dtype``: ``target="cuda"`` as
    ``numba.cuda.jit(device=True)`` functions, ``"cpu"`` as ``numba.njit`` functions; with each
    formula's adapters (:mod:`kernels.adapter`) compiled the same way."""
    import numba  # noqa: PLC0415

    from .adapter import python_adapters  # noqa: PLC0415

    if target == "cuda":
        from . import _numba_compat  # noqa: F401,PLC0415
        from numba import cuda  # noqa: PLC0415

        jit = cuda.jit(device=True)
    else:
        jit = numba.njit(cache=False)
    ft = getattr(numba, dtype)
    tree = _WrapFloats().visit(_tree())
    ast.fix_missing_locations(tree)

    def _where(c, a, b):
        return a if c else b

    def _fmax(a, b):
        return a if a > b else b

    def _fmin(a, b):
        return a if a < b else b

    ns = dict(__name__=f"kernels.formulas_{target}_{dtype}", _f=ft, math=math)
    ns.update({k: jit(v) for k, v in dict(where=_where, fmax=_fmax, fmin=_fmin).items()})
    # math.exp / math.log1p compile to expf/logf (float32) or exp/log (float64)
    ns.update(exp=math.exp, log1p=math.log1p)
    # ceil keeps the working precision (math.ceil alone returns an integer); defined in the
    # namespace so that numba resolves _f like any other global
    exec("def ceil(x):\n    return _f(math.ceil(x))\n", ns)  # noqa: S102 - a primitive
    ns["ceil"] = jit(ns["ceil"])
    exec(compile(tree, formulas_path(), "exec"), ns)  # noqa: S102 - the formulas' own text
    for name in function_names():
        ns[name] = jit(ns[name])
    python_adapters(ns)
    for name in list(ns):
        if name.endswith(("_at", "_row", "_inner")) and callable(ns[name]):
            ns[name] = jit(ns[name])
    # module-level constants in the working precision
    for k in float_constants():
        ns[k] = ft(ns[k])
    return ns


def float_constants() -> list[str]:
    """Names of the formulas' module-level float constants."""
    return [n.targets[0].id for n in _tree().body if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)
            and isinstance(n.value, ast.Constant) and isinstance(n.value.value, float)]
