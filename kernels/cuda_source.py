"""Translate :mod:`kernels.formulas` to CUDA C, and write the fused CuPy kernel around it.

The translator accepts exactly the restricted Python the formulas are written in (assignments,
arithmetic, comparisons inside ``where``, calls to primitives and to other formula functions,
tuple returns) and refuses anything else, so the C text is the Python text, mechanically.
Functions returning tuples become ``void`` functions with output pointers.

The same C (with ``__device__`` defined away) compiles with a host C compiler, which is how CI
checks the CuPy kernel's formulas against the NumPy reference without a GPU.
"""

from __future__ import annotations

import ast

from problems.errors import InternalError

from . import formulas
from .evaluate import N_BINS
from .scalar import _tree
from .space import CONFIG_ARGS, HW_FIELDS, MTP_DRAFT_TOKENS, WM_FIELDS, _HW_EVAL, _WM_EVAL

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


def _args_c() -> str:
    wm = {f: i for i, f in enumerate(WM_FIELDS)}
    hw = {f: i for i, f in enumerate(HW_FIELDS)}
    cfg = dict(batch="batch_t[b]", tp="tp_t[t]", dep="mode_t[m]", prec="prec_t[p]", draft="spec_t[s] * DRAFT")
    a = [cfg[x] for x in CONFIG_ARGS] + [f"W[{wm[f]}]" for f in _WM_EVAL] + [f"Hw[{hw[f]}]" for f in _HW_EVAL]
    return ", ".join(a)


def kernel_source(real: str = "float") -> str:
    """The fused CuPy kernel: same indexing and packed-atomic reductions as the Numba kernel."""
    wm = {f: i for i, f in enumerate(WM_FIELDS)}
    o = {n: i for i, n in enumerate(formulas.OUTPUTS)}
    n_out = len(formulas.OUTPUTS)
    outs = ", ".join(f"&o{i}" for i in range(n_out))
    decl = "; ".join(f"{real} o{i}" for i in range(n_out))
    nw, nh = len(WM_FIELDS), len(HW_FIELDS)
    return f'''
#ifndef INFINITY  /* NVRTC does not include math.h */
#define INFINITY __int_as_float(0x7f800000)
#endif
#define TILE 16
#define NBINS {N_BINS}
#define DRAFT (({real}){MTP_DRAFT_TOKENS!r})
{device_functions(real)}

__device__ __forceinline__ unsigned long long fbits({real} x) {{
    return (unsigned long long)(unsigned int)__float_as_int((float)x);
}}

extern "C" __global__ void tokenfleet_eval(
    int slab0, int n_local, long long group0, int nb, int nS, int nM, int nT, int nP, int H,
    const {real}* prec_t, const {real}* tp_t, const {real}* mode_t, const {real}* spec_t,
    const {real}* batch_t, const {real}* wm_t, const {real}* hw_t,
    unsigned long long* grp_cost, unsigned long long* grp_tpj, unsigned long long* front,
    unsigned long long* counts) {{
    long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    int j0 = (int)(tid * TILE);
    if (tid * TILE >= n_local) return;
    int j1 = min(j0 + TILE, n_local);
    int slab_size = nP * nT * nM * nS * nb;
    int cur_g = -1;
    {real} best_c = INFINITY, best_t = -INFINITY;
    int best_cb = 0, best_tb = 0;
    unsigned long long nfit = 0, nmeet = 0;
    for (int j = j0; j < j1; ++j) {{
        int q = j / slab_size, r = j - q * slab_size;
        int slab = slab0 + q;
        int b = r % nb; int r2 = r / nb;
        int s = r2 % nS; r2 /= nS;
        int m = r2 % nM; r2 /= nM;
        int t = r2 % nT; int p = r2 / nT;
        int wmi = slab / H, hi = slab - wmi * H;
        int g = j / nb;
        if (g != cur_g) {{
            if (cur_g >= 0 && best_c < INFINITY) {{
                atomicMin(&grp_cost[group0 + cur_g], (fbits(best_c) << 32) | (unsigned long long)best_cb);
                atomicMax(&grp_tpj[group0 + cur_g], (fbits(best_t) << 32) | (0xFFFFFFFFull - (unsigned long long)best_tb));
            }}
            cur_g = g; best_c = INFINITY; best_t = -INFINITY;
        }}
        const {real}* W = wm_t + (long long)wmi * {nw};
        const {real}* Hw = hw_t + (long long)hi * {nh};
        {real} valid = config_valid(prec_t[p], tp_t[t], mode_t[m], spec_t[s], W[{wm["allow_bf16"]}],
                                    W[{wm["allow_fp8"]}], W[{wm["allow_fp4"]}], W[{wm["is_moe"]}], W[{wm["has_mtp"]}]);
        if (valid < ({real})0.5) continue;
        {decl};
        evaluate_config({_args_c()}, {outs});
        {real} status = o{o["status"]};
        if (status < ({real})0.5) continue;
        nfit += 1;
        int ub = (int)frontier_bin(o{o["output_tok_s_per_user"]}, ({real})NBINS);
        long long fg = (long long)slab * nP + p;
        unsigned long long off = (unsigned long long)((t * nM * nS + m * nS + s) * nb + b);
        unsigned long long key = (fbits(o{o["output_tok_s_per_gpu"]}) << 32) | (0xFFFFFFFFull - off);
        unsigned long long* slot = &front[fg * NBINS + ub];
        if (key > *slot) atomicMax(slot, key);
        if (status > ({real})1.5) {{
            nmeet += 1;
            {real} c = o{o["cost_usd_per_mtok_output"]};
            if (c < best_c) {{ best_c = c; best_cb = b; }}
            {real} e = o{o["tok_per_joule"]};
            if (e > best_t) {{ best_t = e; best_tb = b; }}
        }}
    }}
    if (cur_g >= 0 && best_c < INFINITY) {{
        atomicMin(&grp_cost[group0 + cur_g], (fbits(best_c) << 32) | (unsigned long long)best_cb);
        atomicMax(&grp_tpj[group0 + cur_g], (fbits(best_t) << 32) | (0xFFFFFFFFull - (unsigned long long)best_tb));
    }}
    if (nfit) atomicAdd(&counts[0], nfit);
    if (nmeet) atomicAdd(&counts[1], nmeet);
}}
'''


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


def points_kernel_source(real: str = "float") -> str:
    """A kernel writing every metric of a list of decoded configurations (for parity checks)."""
    n_out = len(formulas.OUTPUTS)
    nw, nh = len(WM_FIELDS), len(HW_FIELDS)
    outs = ", ".join(f"&out[{i} * (long long)n + k]" for i in range(n_out))
    return f'''
#define DRAFT (({real}){MTP_DRAFT_TOKENS!r})
{device_functions(real)}

extern "C" __global__ void tokenfleet_points(const int* axes, int n, const {real}* prec_t, const {real}* tp_t,
    const {real}* mode_t, const {real}* spec_t, const {real}* batch_t, const {real}* wm_t, const {real}* hw_t,
    {real}* out) {{
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n) return;
    const int* a = axes + 7LL * k;
    int wmi = a[0], hi = a[1], p = a[2], t = a[3], m = a[4], s = a[5], b = a[6];
    const {real}* W = wm_t + (long long)wmi * {nw};
    const {real}* Hw = hw_t + (long long)hi * {nh};
    evaluate_config({_args_c()}, {outs});
}}
'''
