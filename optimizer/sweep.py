"""Batch sweeps: a base problem, axes of values, one solved plan per scenario.

* **Axes** are dotted paths into the problem file (``workloads.0.demand.requests_per_s``,
  ``hardware.1.price_usd_per_hour``, ``constraints.power_cap_mw``) with a list of values or a
  ``START:STOP:N`` range; scenarios are their Cartesian product (grid) or zip.
* **Shared work**: scenarios that differ only in *parameters* of the allocation (demand, rental
  price, capex, availability, power cap, budget, value per token) share one evaluation of the
  configuration space and one cvxpy problem, re-solved by setting parameter values. Any other
  change (an SLA, a sequence length, the search space...) re-evaluates the space.
* **Price brackets**: under min_cost, scenarios that differ only in rental prices form a grid
  solved as brackets (:mod:`optimizer.brackets`): MILPs at the corners of price boxes, plans
  certified to the same gap inside them, boxes halved where a certificate fails.
* **Resumable**: every finished scenario is appended as one JSON line to ``<out>.journal`` and
  flushed before the next starts; a line cut by a kill is detected and dropped on ``--resume``.
  The table (Parquet or CSV) is written from the journal at the end, sorted by scenario, through
  a temporary file and an atomic rename, so it is never torn and never holds duplicates. A
  resumed price box re-solves the MILPs its brackets need, so it certifies exactly as before.
* **Distributed** on Dask: ``workers=N`` starts a local cluster (dask-cuda's, one worker per GPU,
  when installed and a GPU backend is in use), ``scheduler=ADDRESS`` joins an existing one. Tasks
  are retried on another worker when one dies. Only the driver writes files.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from problems import ProblemError, load_dict, problem_from_dict
from problems.errors import InputError

# paths whose change keeps the candidate set (only allocation parameters move)
_PARAM_PATTERNS = [
    r"workloads\.\d+\.demand\.(requests_per_s|tasks_per_s|output_tok_s)",
    r"workloads\.\d+\.value_usd_per_mtok",
    r"hardware\.\d+\.available",
    r"constraints\.(power_cap_mw|budget_usd_per_hour|max_gpus)",
]
_PRICE_PATTERNS = [r"hardware\.\d+\.price_usd_per_hour", r"hardware\.\d+\.capex_usd"]
TASK_SIZE = 50
TIME_LIMIT_S = 30.0   # per MILP


class SweepError(InputError):
    """An invalid sweep specification (bad path or value); the CLI exits 2 on it."""


@dataclass
class Axis:
    path: str
    values: list


@dataclass
class SweepSpec:
    base: dict
    source: str
    axes: list = field(default_factory=list)
    mode: str = "grid"   # grid | zip

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_cli(cls, problem, vary: list[str], spec_path=None, zip_axes: bool = False) -> "SweepSpec":
        axes, mode = [], "zip" if zip_axes else "grid"
        base_src = problem
        if spec_path is not None:
            d = _read_spec(spec_path)
            mode = d.get("mode", mode)
            if "problem" in d and problem is None:
                base_src = (Path(spec_path).parent / d["problem"]) if not Path(d["problem"]).is_absolute() else d["problem"]
            for a in d.get("axes", []):
                axes.append(_axis_from_spec(a, spec_path))
        for v in vary:
            axes.append(parse_vary(v))
        if not axes:
            raise SweepError("no axes: give --vary PATH=V1,V2,... or --spec FILE")
        base, source = load_dict(base_src)
        sp = cls(base=base, source=source, axes=axes, mode=mode)
        sp.check()
        return sp

    def check(self) -> None:
        if self.mode not in ("grid", "zip"):
            raise SweepError(f"mode must be grid or zip, got {self.mode!r}")
        if self.mode == "zip" and len({len(a.values) for a in self.axes}) > 1:
            raise SweepError("zip needs axes of equal length: " + ", ".join(f"{a.path} has {len(a.values)}" for a in self.axes))
        problem_from_dict(self.base, self.source)
        for a in self.axes:
            if not a.values:
                raise SweepError(f"{a.path}: no values")
            for v in a.values:
                try:
                    problem_from_dict(apply_values(self.base, {a.path: v}), f"{self.source} with {a.path}={v!r}")
                except ProblemError as e:
                    raise SweepError(str(e)) from None

    @property
    def n_scenarios(self) -> int:
        if self.mode == "zip":
            return len(self.axes[0].values)
        return int(np.prod([len(a.values) for a in self.axes]))

    def scenarios(self) -> list[dict]:
        combos = (zip(*[a.values for a in self.axes]) if self.mode == "zip"
                  else itertools.product(*[a.values for a in self.axes]))
        out = []
        for i, vals in enumerate(combos):
            out.append(dict(scenario=i, values={a.path: v for a, v in zip(self.axes, vals)}))
        return out

    def fingerprint(self) -> str:
        blob = json.dumps(dict(base=self.base, axes=[(a.path, a.values) for a in self.axes], mode=self.mode),
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read_spec(path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise SweepError(f"{path}: no such sweep file")
    try:
        d = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise SweepError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(d, dict):
        raise SweepError(f"{path}: top level must be a mapping with 'axes'")
    unknown = set(d) - {"problem", "mode", "axes"}
    if unknown:
        raise SweepError(f"{path}: unknown keys {sorted(unknown)} (allowed: problem, mode, axes)")
    if not isinstance(d.get("axes"), list):
        raise SweepError(f"{path}: axes must be a list of {{path, values}} or {{path, range}}")
    return d


def _axis_from_spec(a, src) -> Axis:
    if not isinstance(a, dict) or "path" not in a or not ({"values", "range"} & set(a)):
        raise SweepError(f"{src}: each axis needs 'path' and 'values' or 'range', got {a!r}")
    if "values" in a:
        if not isinstance(a["values"], list):
            raise SweepError(f"{src}: {a['path']}: values must be a list")
        return Axis(str(a["path"]), list(a["values"]))
    r = a["range"]
    try:
        return Axis(str(a["path"]), _linspace(float(r["start"]), float(r["stop"]), int(r["num"])))
    except (KeyError, TypeError, ValueError):
        raise SweepError(f"{src}: {a['path']}: range needs start, stop, num") from None


def _linspace(a, b, n):
    if n < 1 or n > 1_000_000:
        raise SweepError(f"range needs 1 <= num <= 1e6, got {n}")
    return [float(x) for x in np.linspace(a, b, n)]


def parse_vary(text: str) -> Axis:
    """``PATH=V1,V2,...`` or ``PATH=START:STOP:N``."""
    if "=" not in text:
        raise SweepError(f"--vary {text!r}: expected PATH=V1,V2,... or PATH=START:STOP:N")
    path, vals = text.split("=", 1)
    path = path.strip()
    if not re.fullmatch(r"[A-Za-z_][\w]*(\.(\d+|[A-Za-z_]\w*))*", path):
        raise SweepError(f"--vary {text!r}: {path!r} is not a dotted path like workloads.0.demand.requests_per_s")
    if re.fullmatch(r"\s*[-+\d.eE]+:[-+\d.eE]+:\d+\s*", vals):
        a, b, n = vals.split(":")
        try:
            return Axis(path, _linspace(float(a), float(b), int(n)))
        except ValueError:
            raise SweepError(f"--vary {text!r}: bad range") from None
    out = []
    for v in vals.split(","):
        v = v.strip()
        if not v:
            raise SweepError(f"--vary {text!r}: empty value")
        try:
            out.append(yaml.safe_load(v))
        except yaml.YAMLError:
            out.append(v)
    return Axis(path, out)


def set_path(d: dict, path: str, value) -> None:
    parts = path.split(".")
    cur = d
    for i, part in enumerate(parts[:-1]):
        key = int(part) if part.isdigit() else part
        try:
            if isinstance(cur, list):
                cur = cur[key]
            else:
                if key not in cur:
                    cur[key] = {}
                cur = cur[key]
        except (IndexError, TypeError, KeyError):
            raise SweepError(f"{path}: {'.'.join(parts[:i + 1])} does not exist in the problem") from None
    last = parts[-1]
    if isinstance(cur, list):
        if not last.isdigit() or int(last) >= len(cur):
            raise SweepError(f"{path}: index {last} out of range")
        cur[int(last)] = value
    elif isinstance(cur, dict):
        cur[last] = value
    else:
        raise SweepError(f"{path}: {'.'.join(parts[:-1])} is not a mapping")


def apply_values(base: dict, values: dict) -> dict:
    """A copy of the problem mapping ``base`` with each dotted path set to its value."""
    d = copy.deepcopy(base)
    for p, v in values.items():
        set_path(d, p, v)
    return d


def is_parameter_path(path: str, base: dict) -> bool:
    if any(re.fullmatch(p, path) for p in _PARAM_PATTERNS):
        return True
    if any(re.fullmatch(p, path) for p in _PRICE_PATTERNS):
        e = base.get("economics") or {}
        # the cheapest batch of a configuration is price-independent only when the price per
        # GPU-hour does not include power-dependent electricity
        return e.get("pricing", "rent") == "rent" and e.get("electricity_included_in_rent", True)
    return False


def structure_key(spec: SweepSpec, sc: dict) -> str:
    """Scenarios with equal keys share one evaluation and one allocation model."""
    struct = {p: v for p, v in sc["values"].items() if not is_parameter_path(p, spec.base)}
    return json.dumps(struct, sort_keys=True, default=str)


# ------------------------------------------------------------------------------ solving
def price_paths(spec: SweepSpec) -> list[str]:
    """Grid axes that move only rental prices: the ones a price bracket may span."""
    if spec.mode != "grid":
        return []
    return [a.path for a in spec.axes
            if any(re.fullmatch(p, a.path) for p in _PRICE_PATTERNS) and is_parameter_path(a.path, spec.base)]


def _boxes(scenarios: list[dict], prices: list[str]) -> list[list[dict]]:
    """Scenarios grouped by everything but their prices (in first-seen order)."""
    if not prices:
        return [[sc] for sc in scenarios]
    boxes: dict[str, list] = {}
    for sc in scenarios:
        key = json.dumps({p: v for p, v in sc["values"].items() if p not in prices}, sort_keys=True, default=str)
        boxes.setdefault(key, []).append(sc)
    return list(boxes.values())


def solve_batch(base: dict, source: str, scenarios: list[dict], backend: str = "numpy",
                keep_plans: bool = False, on_row=None, mip_rel_gap: float = 1e-4, anchor: dict | None = None,
                prices: list[str] | tuple = (), skip=frozenset()) -> list[dict]:
    """Solve scenarios that share a structure: one prepare, one Allocator, many re-solves.

    ``anchor`` (values of the structure's first scenario) is the problem the candidate table is
    built from, so a scenario's plan does not depend on which task it falls in. Scenarios that
    differ only along the ``prices`` axes are solved as price brackets (:mod:`optimizer.brackets`)
    under a min_cost objective. Scenarios in ``skip`` are finished already: they are solved only
    when a bracket needs their MILP, and never returned.
    """
    from .allocate import Allocator  # noqa: PLC0415
    from .solve import prepare  # noqa: PLC0415

    p0 = problem_from_dict(apply_values(base, (anchor if anchor is not None else scenarios[0]["values"])), source)
    prep = prepare(p0, backend)
    alloc = Allocator(prep.candidates, prep.workloads, prep.hardware, p0.objective) if prep.candidates else None
    ctx = dict(base=base, source=source, prep=prep, alloc=alloc, p0=p0, mip_rel_gap=mip_rel_gap)
    rows = []

    def emit(sc, plan, elapsed):
        if sc["scenario"] in skip:
            return
        rec = dict(row=plan_row(sc, plan, elapsed))
        if keep_plans:
            rec["plan"] = plan.to_dict()
        rows.append(rec)
        if on_row is not None:
            on_row(rec)

    use_brackets = bool(prices) and alloc is not None and p0.objective == "min_cost"
    for box in _boxes(scenarios, list(prices) if use_brackets else []):
        if len(box) == 1:
            _emit_milp(ctx, box[0], emit)
        else:
            _solve_box(ctx, box, list(prices), emit)
    return rows


def _problem(ctx: dict, sc: dict):
    return problem_from_dict(apply_values(ctx["base"], sc["values"]), ctx["source"])


def _solve_one(ctx: dict, sc: dict, result=None, prob=None):
    from .solve import solve_prepared  # noqa: PLC0415

    return solve_prepared(ctx["prep"], prob or _problem(ctx, sc), ctx["alloc"], base_problem=ctx["p0"],
                          marginal_values=False, time_limit_s=TIME_LIMIT_S, mip_rel_gap=ctx["mip_rel_gap"],
                          result=result)


def _emit_milp(ctx: dict, sc: dict, emit) -> None:
    t0 = time.perf_counter()
    plan = _solve_one(ctx, sc)
    emit(sc, plan, time.perf_counter() - t0)


def _solve_box(ctx: dict, box: list[dict], prices: list[str], emit) -> None:
    """Scenarios that differ only in prices: MILPs at the corners of price boxes, certified plans
    inside them (see optimizer.brackets); plans identical to solving every scenario's MILP up to
    the MILP gap, which each row reports."""
    from .allocate import SolveResult  # noqa: PLC0415
    from .brackets import Certified, Solved, bracket_grid  # noqa: PLC0415
    from .solve import parameter_values  # noqa: PLC0415

    alloc, prep = ctx["alloc"], ctx["prep"]
    axes = [sorted({float(sc["values"][p]) for sc in box}) for p in prices]
    cells: dict[tuple, list] = {}
    for sc in box:
        cells.setdefault(tuple(ax.index(float(sc["values"][p])) for ax, p in zip(axes, prices)), []).append(sc)
    if len(cells) != int(np.prod([len(a) for a in axes])):     # not a full grid: solve each
        for sc in box:
            _emit_milp(ctx, sc, emit)
        return
    probs: dict[tuple, object] = {}
    params: dict[tuple, dict] = {}
    plans: dict[tuple, tuple] = {}

    def cell_params(pt):
        if pt not in params:
            probs[pt] = _problem(ctx, cells[pt][0])
            params[pt] = parameter_values(probs[pt], prep.candidates, ctx["p0"])
        return params[pt]

    def solve(pt):
        t0 = time.perf_counter()
        alloc.set_params(**cell_params(pt))
        res = alloc.solve(time_limit_s=TIME_LIMIT_S, mip_rel_gap=ctx["mip_rel_gap"])
        plans[pt] = (_solve_one(ctx, cells[pt][0], result=res, prob=probs[pt]), time.perf_counter() - t0)
        return Solved(res.x, res.objective, res.dual_bound if res.status == "optimal" else None)

    def upper(pt, x):
        alloc.set_params(**cell_params(pt))
        return float(alloc.cost.value @ x) if alloc.satisfies(x) else float("inf")

    results = bracket_grid(axes, solve, upper, ctx["mip_rel_gap"])
    ids = {pt: cells[pt][0]["scenario"] for pt in cells}
    for pt in sorted(cells, key=lambda p: cells[p][0]["scenario"]):
        r = results[pt]
        if isinstance(r, Certified):
            t0 = time.perf_counter()
            corners = sorted(ids[c] for c in r.corners)
            res = SolveResult("optimal", r.x, r.upper, 0.0, r.gap, method="bracket", dual_bound=r.lower,
                              message=f"plan of scenario {ids[r.source]}, certified within the MIP gap by the "
                                      f"solved scenarios {', '.join(map(str, corners))}")
            plan = _solve_one(ctx, cells[pt][0], result=res, prob=probs.get(pt))
            plan.solver["bracket"] = corners
            elapsed = time.perf_counter() - t0
        else:
            plan, elapsed = plans[pt]
        for sc in cells[pt]:
            emit(sc, plan, elapsed)


def plan_row(sc: dict, plan, elapsed_s: float) -> dict:
    t = plan.totals or {}
    row = dict(scenario=sc["scenario"])
    row.update({k: v for k, v in sc["values"].items()})
    row.update(status=plan.status, total_cost_usd_per_hour=t.get("total_cost_usd_per_hour"),
               cost_usd_per_mtok_output=t.get("cost_usd_per_mtok_output"),
               cost_usd_per_mtok_blended=t.get("cost_usd_per_mtok_blended"),
               total_gpus=t.get("total_gpus"), power_mw=t.get("power_mw"),
               solver_status=plan.solver.get("status"), mip_gap=plan.solver.get("mip_gap"),
               method=plan.solver.get("method"),
               bracket=" ".join(map(str, plan.solver.get("bracket", []))) or None,
               message=plan.message[:300])
    gpus = t.get("gpus_by_type") or {}
    for h, n in gpus.items():
        row[f"gpus.{h}"] = n
    by_w: dict = {}
    for a in plan.allocations:
        by_w.setdefault(a["workload"], set()).add(a["hardware"])
    for w, hs in by_w.items():
        row[f"hardware.{w}"] = "+".join(sorted(hs))
    row["hardware"] = max(gpus, key=gpus.get) if gpus else None
    row["elapsed_s"] = elapsed_s
    return row


# ------------------------------------------------------------------------------ journal
class Journal:
    """Append-only JSON-lines record of finished scenarios (one complete line per scenario)."""

    def __init__(self, path: Path, fingerprint: str):
        self.path = Path(path)
        self.fingerprint = fingerprint

    def read(self) -> dict[int, dict]:
        done: dict[int, dict] = {}
        if not self.path.exists():
            return done
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        # a kill may leave a last line without its newline: it is not trusted
        complete = lines[:-1]
        for i, ln in enumerate(complete):
            if not ln.strip():
                continue
            try:
                rec = json.loads(ln)
            except json.JSONDecodeError:
                continue
            if i == 0 and "fingerprint" in rec:
                if rec["fingerprint"] != self.fingerprint:
                    raise SweepError(f"{self.path} belongs to a different sweep (base problem or axes changed); "
                                     "remove it or write to another --out")
                continue
            if "row" in rec:
                done[int(rec["row"]["scenario"])] = rec
        # drop a torn tail so the next append starts on a fresh line
        good = b"\n".join(complete) + (b"\n" if complete else b"")
        if good != raw:
            with open(self.path, "wb") as f:
                f.write(good)
        return done

    def open(self):
        new = not self.path.exists() or self.path.stat().st_size == 0
        f = open(self.path, "a", encoding="utf-8")
        if new:
            f.write(json.dumps(dict(fingerprint=self.fingerprint)) + "\n")
            f.flush()
        return f


def _atomic_write_table(rows: list[dict], out: Path) -> None:
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    if out.suffix == ".parquet":
        try:
            import pyarrow as pa  # noqa: PLC0415
            import pyarrow.parquet as pq  # noqa: PLC0415
        except ImportError:
            raise SweepError("writing Parquet needs pyarrow: pip install 'tokenfleet[parquet]', or use --out FILE.csv") from None
        table = pa.Table.from_pylist([{c: _cell(r.get(c)) for c in cols} for r in rows])
        pq.write_table(table, tmp)
    else:
        import csv  # noqa: PLC0415

        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for r in rows:
                w.writerow({c: _cell(r.get(c)) for c in cols})
    os.replace(tmp, out)


def _cell(v):
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def read_table(path) -> list[dict]:
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415

        return pq.read_table(path).to_pylist()
    import csv  # noqa: PLC0415

    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            try:
                r[k] = float(v) if v not in ("", None) else None
            except ValueError:
                pass
    return rows


def run_sweep(spec: SweepSpec, out, *, resume: bool = False, workers: int = 0, scheduler: str | None = None,
              plans_path=None, backend: str = "numpy", progress=None, mip_rel_gap: float = 1e-4,
              brackets: bool = True) -> dict:
    """Run (or finish) a sweep, writing ``out`` and, if asked, the plans as JSON lines.

    ``brackets``: along rental-price axes of a min_cost sweep, solve MILPs only where a plan
    cannot be certified from solved neighbours (:mod:`optimizer.brackets`; rows say ``method``).
    """
    out = Path(out)
    journal = Journal(out.with_name(out.name + ".journal"), spec.fingerprint())
    if not resume and (journal.path.exists() or out.exists()):
        raise SweepError(f"{out} (or its journal) exists: pass --resume to finish it, or choose another --out")
    done = journal.read() if resume else {}
    if plans_path is not None and done and any("plan" not in r for r in done.values()):
        raise SweepError("the journal was written without --plans; resume without --plans or start anew")
    t0 = time.perf_counter()
    scenarios = spec.scenarios()
    todo = [s for s in scenarios if s["scenario"] not in done]
    if progress is not None and done:
        progress(len(done))
    prices = price_paths(spec) if brackets else []
    groups: dict[str, list] = {}
    for s in scenarios:
        groups.setdefault(structure_key(spec, s), []).append(s)
    tasks = []
    n_par = max(1, workers or (8 if scheduler else 1))
    finished = frozenset(done)
    for scs in groups.values():
        anchor = scs[0]["values"]
        # whole price boxes with something left to do (a box's finished scenarios come along:
        # its brackets may need their MILPs, so a resumed sweep certifies exactly as before)
        boxes = [b for b in _boxes(scs, prices) if any(sc["scenario"] not in finished for sc in b)]
        n_todo = sum(len(b) for b in boxes)
        # serially one task per structure (one evaluation, one model); on Dask enough tasks to
        # keep every worker busy, each still sharing its evaluation over many scenarios
        size = n_todo if not (workers or scheduler) else max(TASK_SIZE, math.ceil(n_todo / (2 * n_par)))
        task: list = []
        for b in boxes:
            task += b
            if len(task) >= size:
                tasks.append((task, anchor))
                task = []
        if task:
            tasks.append((task, anchor))
    keep = plans_path is not None
    with journal.open() as jf:
        def record(rec):
            jf.write(json.dumps(rec, default=str) + "\n")
            jf.flush()
            done[int(rec["row"]["scenario"])] = rec
            if progress is not None:
                progress(1)

        if workers or scheduler:
            _run_dask(spec, tasks, backend, keep, record, workers, scheduler, mip_rel_gap, prices, finished)
        else:
            for scs, anchor in tasks:
                solve_batch(spec.base, spec.source, scs, backend, keep, record, mip_rel_gap, anchor, prices, finished)
    rows = [done[i]["row"] for i in sorted(done)]
    _atomic_write_table(rows, out)
    if plans_path is not None:
        pp = Path(plans_path)
        tmp = pp.with_name(f".{pp.name}.tmp-{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as f:
            for i in sorted(done):
                f.write(json.dumps(dict(scenario=i, plan=done[i].get("plan"))) + "\n")
        os.replace(tmp, pp)
    elapsed = time.perf_counter() - t0
    n_new = len(todo)
    return dict(done=len(rows), skipped=len(rows) - n_new, failed=sum(r["status"] not in ("optimal", "time_limit") for r in rows),
                bracketed=sum(r.get("method") == "bracket" for r in rows),
                elapsed_s=elapsed, scenarios_per_s=n_new / elapsed if elapsed > 0 else float("inf"))


def _run_dask(spec, tasks, backend, keep, record, workers, scheduler, mip_rel_gap, prices, finished) -> None:
    try:
        from dask.distributed import Client, LocalCluster, as_completed  # noqa: PLC0415
    except ImportError:
        raise SweepError("distributed sweeps need Dask: pip install 'tokenfleet[dist]'") from None
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = _local_cluster(workers, backend, LocalCluster)
        client = Client(cluster)
    try:
        futs = []
        for scs, anchor in tasks:
            skip = frozenset(sc["scenario"] for sc in scs if sc["scenario"] in finished)
            futs.append(client.submit(solve_batch, spec.base, spec.source, scs, backend, keep, None, mip_rel_gap,
                                      anchor, prices, skip, retries=3, pure=False))
        for fut in as_completed(futs):
            for rec in fut.result():
                record(rec)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _local_cluster(workers, backend, LocalCluster):
    if backend in ("cupy", "numba-cuda", "auto"):
        try:
            from dask_cuda import LocalCUDACluster  # noqa: PLC0415

            from kernels import resolve_backend  # noqa: PLC0415

            if resolve_backend(backend) in ("cupy", "numba-cuda"):
                return LocalCUDACluster()  # one worker per visible GPU
        except ImportError:
            pass
    return LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                        dashboard_address=None)


def plot_results(out, spec: SweepSpec, path) -> None:
    from .plots import plot_sweep  # noqa: PLC0415

    rows = read_table(out)
    names = [a.path for a in spec.axes[:2]]
    plot_sweep(rows, names, path, title=f"sweep of {spec.source}: cost per Mtok (labels: main hardware)")


def sweep(problem, vary: dict, out, mode: str = "grid", **kw) -> dict:
    """Python entry point: ``sweep("enterprise-mix", {"workloads.0.demand.requests_per_s": [100, 200]},
    "out.csv")``."""
    sp = SweepSpec.from_cli(problem, [f"{p}={','.join(map(str, v))}" for p, v in vary.items()], None, mode == "zip")
    return run_sweep(sp, out, **kw)
