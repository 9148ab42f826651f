"""Translate :mod:`kernels.formulas` to CUDA C, and put the CuPy kernels (``kernels/fused.cu``)
around it.

The translator accepts exactly the restricted Python the formulas are written in (assignments,
arithmetic, comparisons inside ``where``, calls to primitives and to other formula functions,
tuple returns) and refuses anything else, so the C text is the Python text, mechanically.
Functions returning tuples become ``void`` functions with output pointers.

The same C (with ``__device__`` defined away) compiles with a host C compiler, which is how CI
checks the CuPy kernel's formulas against the NumPy reference without a GPU.
"""

from __future__ import annotations

import ast
from importlib import resources

from problems.errors import InternalError

from . import formulas
from .adapter import c_source
from .device import TILE
from .evaluate import N_BINS
from .layout import FRONTIER_AXES, N_AXES, OUT, OUTPUTS, SLAB_AXES, Status
from .scalar import _tree

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_CMPOPS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!="}


class TranslationError(InternalError):
    pass


class _Translator:
    def __init__(self, real: str, tuple_returns: dict[str, int], constants: set[str]):
        self.real = real
        self.sfx = "f" if real == "float" else ""
        self.tuple_returns = tuple_returns
        self.constants = constants
        self.prims = {"fmax": f"fmax{self.sfx}", "fmin": f"fmin{self.sfx}", "exp": f"exp{self.sfx}",
                      "log1p": f"log1p{self.sfx}", "ceil": f"ceil{self.sfx}"}

    def expr(self, n) -> str:
        if isinstance(n, ast.Constant):
            if isinstance(n.value, bool) or not isinstance(n.value, (int, float)):
                raise TranslationError(f"unsupported constant {n.value!r}")
            v = repr(float(n.value))
            if "e" not in v and "." not in v and "inf" not in v:
                v += ".0"
            return f"{v}{self.sfx}" if self.sfx else v
        if isinstance(n, ast.Name):
            return n.id
        if isinstance(n, ast.BinOp) and type(n.op) in _BINOPS:
            return f"({self.expr(n.left)} {_BINOPS[type(n.op)]} {self.expr(n.right)})"
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return f"(-{self.expr(n.operand)})"
        if isinstance(n, ast.Compare) and len(n.ops) == 1 and type(n.ops[0]) in _CMPOPS:
            return f"({self.expr(n.left)} {_CMPOPS[type(n.ops[0])]} {self.expr(n.comparators[0])})"
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and not n.keywords:
            f = n.func.id
            args = [self.expr(a) for a in n.args]
            if f == "where":
                return f"({args[0]} ? {args[1]} : {args[2]})"
            if f in self.prims:
                return f"{self.prims[f]}({', '.join(args)})"
            if f in self.tuple_returns:
                raise TranslationError(f"{f} returns a tuple: call it in a tuple assignment")
            return f"{f}({', '.join(args)})"
        raise TranslationError(f"unsupported expression: {ast.dump(n)[:80]}")

    def function(self, fn: ast.FunctionDef) -> str:
        args = [a.arg for a in fn.args.args]
        n_out = self.tuple_returns.get(fn.name)
        params = [f"{self.real} {a}" for a in args]
        if n_out:
            params += [f"{self.real}* __out{i}" for i in range(n_out)]
        ret = "void" if n_out else self.real
        lines = [f"__device__ __forceinline__ {ret} {fn.name}({', '.join(params)}) {{"]
        declared = set(args)
        for st in fn.body:
            if isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant) and isinstance(st.value.value, str):
                continue  # docstring
            if isinstance(st, ast.Assign) and len(st.targets) == 1:
                tgt = st.targets[0]
                if isinstance(tgt, ast.Name):
                    decl = "" if tgt.id in declared else f"{self.real} "
                    declared.add(tgt.id)
                    lines.append(f"    {decl}{tgt.id} = {self.expr(st.value)};")
                    continue
                if isinstance(tgt, ast.Tuple) and isinstance(st.value, ast.Call):
                    f = st.value.func.id
                    names = [e.id for e in tgt.elts]
                    if self.tuple_returns.get(f) != len(names):
                        raise TranslationError(f"{f} does not return {len(names)} values")
                    for nm in names:
                        if nm not in declared:
                            lines.append(f"    {self.real} {nm};")
                            declared.add(nm)
                    a = [self.expr(x) for x in st.value.args] + [f"&{nm}" for nm in names]
                    lines.append(f"    {f}({', '.join(a)});")
                    continue
            if isinstance(st, ast.Return):
                if isinstance(st.value, ast.Tuple):
                    for i, e in enumerate(st.value.elts):
                        lines.append(f"    *__out{i} = {self.expr(e)};")
                    lines.append("    return;")
                else:
                    lines.append(f"    return {self.expr(st.value)};")
                continue
            raise TranslationError(f"{fn.name}: unsupported statement at line {st.lineno}")
        lines.append("}")
        return "\n".join(lines)


def device_functions(real: str = "float") -> str:
    """The formulas as CUDA C device functions computing in ``real`` (float or double)."""
    tree = _tree()
    tuple_returns = {}
    consts = {}
    for n in tree.body:
        if isinstance(n, ast.FunctionDef):
            for st in n.body:
                if isinstance(st, ast.Return) and isinstance(st.value, ast.Tuple):
                    tuple_returns[n.name] = len(st.value.elts)
        elif isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name) and isinstance(n.value, ast.Constant):
            consts[n.targets[0].id] = n.value.value
    tr = _Translator(real, tuple_returns, set(consts))
    out = [f"#define {k} (({real}){float(v)!r})" for k, v in consts.items()]
    out += [tr.function(n) for n in tree.body if isinstance(n, ast.FunctionDef)]
    return "\n\n".join(out)


def prelude(real: str = "float") -> str:
    """Constants ``fused.cu`` expects, from :mod:`kernels.layout`."""
    defs = dict(N_AXES=N_AXES, SLAB_AXES=SLAB_AXES, FRONTIER_AXES=FRONTIER_AXES, NBINS=N_BINS, TILE=TILE,
                N_OUT=len(OUTPUTS), O_STATUS=OUT["status"], O_USER=OUT["output_tok_s_per_user"],
                O_GPU=OUT["output_tok_s_per_gpu"], O_COST=OUT["cost_usd_per_mtok_output"],
                O_TPJ=OUT["tok_per_joule"], S_FITS=int(Status.MISSES_SLA), S_MEETS=int(Status.MEETS_SLA),
                S_INVALID=int(Status.INVALID))
    return "\n".join([f"typedef {real} real;"] + [f"#define {k} {v}" for k, v in defs.items()])


def kernel_source(real: str = "float") -> str:
    """The CuPy kernels (``tokenfleet_eval``, ``tokenfleet_points``): the layout's constants, the
    translated formulas, the generated adapters, then the skeleton shipped as ``kernels/fused.cu``."""
    skeleton = resources.files("kernels").joinpath("fused.cu").read_text(encoding="utf-8")
    return "\n\n".join([prelude(real), device_functions(real), c_source(), '#line 1 "kernels/fused.cu"', skeleton])


def host_test_source(real: str = "double") -> str:
    """A host C file exposing ``evaluate_config`` over arrays (for the CPU parity test)."""
    args = [a for a in formulas.evaluate_config.__code__.co_varnames[:formulas.evaluate_config.__code__.co_argcount]]
    n_in, n_out = len(args), len(formulas.OUTPUTS)
    call = ", ".join(f"in[{i} * n + k]" for i in range(n_in)) + ", " + ", ".join(f"&out[{i} * n + k]" for i in range(n_out))
    return f'''#include <math.h>
#define __device__
#define __forceinline__ static inline
{device_functions(real)}

/* in: {n_in} arrays of n values (argument order of evaluate_config); out: {n_out} arrays of n */
void eval_many(const {real}* in, {real}* out, long n) {{
    for (long k = 0; k < n; ++k) {{
        evaluate_config({call});
    }}
}}
'''
