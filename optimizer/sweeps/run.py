"""Running a sweep: outputs checked and locked, scenarios grouped into tasks, rows journaled,
the table written at the end."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from ..outputs import PLOT_SUFFIXES, check_output, replacing
from .batch import boxes, solve_batch
from .errors import SweepError
from .journal import Journal
from .lock import OutputLock
from .paths import is_parameter_path, is_price_path, structure_key
from .spec import SweepSpec
from .table import SUFFIXES, read_table, write_table

TASK_SIZE = 50


def price_paths(spec: SweepSpec) -> list[str]:
    """Grid axes that move only rental prices: the ones a price bracket may span."""
    if spec.mode != "grid":
        return []
    return [a.path for a in spec.axes if is_price_path(a.path) and is_parameter_path(a.path, spec.base)]


def check_outputs(spec: SweepSpec, out, plans_path=None, plot=None, names=("--out", "--plans", "--plot")) -> None:
    """Refuse unusable output paths before anything is solved (see :func:`optimizer.outputs.check_output`)."""
    out = Path(out)
    check_output(out, names[0], suffixes=SUFFIXES, inputs=spec.inputs)
    for side in (".journal", ".lock"):
        check_output(out.with_name(out.name + side), f"{names[0]} (its {side[1:]})", inputs=spec.inputs)
    taken = [out, out.with_name(out.name + ".journal"), out.with_name(out.name + ".lock")]
    for path, name, suffixes in ((plans_path, names[1], (".jsonl", ".ndjson")), (plot, names[2], PLOT_SUFFIXES)):
        if path is None:
            continue
        check_output(path, name, suffixes=suffixes, inputs=[*spec.inputs, *taken])
        taken.append(Path(path))


def _tasks(spec, scenarios, finished, prices, workers, scheduler) -> list[tuple[list, dict]]:
    """Scenarios grouped by structure (one evaluation and one model each), cut into tasks."""
    groups: dict[str, list] = {}
    for s in scenarios:
        groups.setdefault(structure_key(spec.base, s["values"]), []).append(s)
    n_par = max(1, workers or (8 if scheduler else 1))
    tasks = []
    for scs in groups.values():
        anchor = scs[0]["values"]
        # whole price boxes with something left to do (a box's finished scenarios come along:
        # its brackets may need their MILPs, so a resumed sweep certifies exactly as before)
        todo = [b for b in boxes(scs, prices) if any(sc["scenario"] not in finished for sc in b)]
        n_todo = sum(len(b) for b in todo)
        # serially one task per structure (one evaluation, one model); on Dask enough tasks to
        # keep every worker busy, each still sharing its evaluation over many scenarios
        size = n_todo if not (workers or scheduler) else max(TASK_SIZE, math.ceil(n_todo / (2 * n_par)))
        task: list = []
        for b in todo:
            task += b
            if len(task) >= size:
                tasks.append((task, anchor))
                task = []
        if task:
            tasks.append((task, anchor))
    return tasks


def _check_arguments(*, out, plans_path, resume, workers, scheduler, mip_rel_gap, brackets) -> None:
    """run_sweep()'s arguments by type and range; the error names the argument."""
    if not isinstance(out, (str, os.PathLike)):
        raise SweepError(f"out: expected a file path (.csv or .parquet), got {type(out).__name__}")
    if plans_path is not None and not isinstance(plans_path, (str, os.PathLike)):
        raise SweepError(f"plans_path: expected a file path (.jsonl), got {type(plans_path).__name__}")
    for name, v in (("resume", resume), ("brackets", brackets)):
        if not isinstance(v, bool):
            raise SweepError(f"{name}: expected True or False, got {v!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise SweepError(f"workers: expected an integer >= 0 (0: serially), got {workers!r}")
    if scheduler is not None and not isinstance(scheduler, str):
        raise SweepError(f"scheduler: expected an address like 'tcp://host:8786', got {type(scheduler).__name__}")
    if isinstance(mip_rel_gap, bool) or not isinstance(mip_rel_gap, (int, float)) or not 0 <= mip_rel_gap < 1:
        raise SweepError(f"mip_rel_gap: expected a number in [0, 1), got {mip_rel_gap!r}")


def run_sweep(spec: SweepSpec, out, *, resume: bool = False, workers: int = 0, scheduler: str | None = None,
              plans_path=None, backend: str = "numpy", progress=None, mip_rel_gap: float = 1e-4,
              brackets: bool = True) -> dict:
    """Run (or finish) a sweep, writing ``out`` and, if asked, the plans as JSON lines.

    ``out`` is locked for the whole run (a second sweep on it is refused); finished scenarios are
    appended to ``<out>.journal`` as they finish, and ``resume=True`` skips the ones recorded there.
    ``brackets``: along rental-price axes of a min_cost sweep, solve MILPs only where a plan
    cannot be certified from solved neighbours (:mod:`optimizer.brackets`; rows say ``method``).

    Returns
    -------
    dict
        ``done``, ``skipped`` (resumed), ``failed`` (not feasible), ``bracketed`` (scenarios),
        ``elapsed_s`` and ``scenarios_per_s``.
    """
    _check_arguments(out=out, plans_path=plans_path, resume=resume, workers=workers, scheduler=scheduler,
                     mip_rel_gap=mip_rel_gap, brackets=brackets)
    out = Path(out)
    check_outputs(spec, out, plans_path)
    scenarios = spec.scenarios()
    prices = price_paths(spec) if brackets else []
    options = dict(mip_rel_gap=float(mip_rel_gap), brackets=bool(prices))
    journal = Journal(out.with_name(out.name + ".journal"), spec.fingerprint(options), scenarios)
    with OutputLock(out):
        if not resume and (journal.path.exists() or out.exists()):
            raise SweepError(f"{out} (or its journal) exists: pass --resume to finish it, or choose another --out")
        done = journal.read() if resume else {}
        if plans_path is not None and done and any("plan" not in r for r in done.values()):
            raise SweepError("the journal was written without --plans; resume without --plans or start anew")
        t0 = time.perf_counter()
        n_new = len(scenarios) - len(done)
        if progress is not None and done:
            progress(len(done))
        finished = frozenset(done)
        tasks = _tasks(spec, scenarios, finished, prices, workers, scheduler)
        keep = plans_path is not None
        with journal.open() as jf:
            def record(rec):
                sid = int(rec["row"]["scenario"])
                if sid in done:   # a task retried on another worker: the journal keeps one line each
                    return
                journal.record(jf, rec)
                done[sid] = rec
                if progress is not None:
                    progress(1)

            if workers or scheduler:
                from .cluster import run_dask  # noqa: PLC0415

                run_dask(spec, tasks, backend, keep, record, workers, scheduler, mip_rel_gap, prices, finished)
            else:
                for scs, anchor in tasks:
                    solve_batch(spec.base, spec.source, scs, backend, keep, record, mip_rel_gap, anchor, prices,
                                finished)
        rows = [done[i]["row"] for i in sorted(done)]
        write_table(rows, out)
        if plans_path is not None:
            with replacing(plans_path, "--plans") as tmp, open(tmp, "w", encoding="utf-8") as f:
                for i in sorted(done):
                    f.write(json.dumps(dict(scenario=i, plan=done[i].get("plan"))) + "\n")
    elapsed = time.perf_counter() - t0
    return dict(done=len(rows), skipped=len(rows) - n_new,
                failed=sum(r["status"] not in ("optimal", "time_limit") for r in rows),
                bracketed=sum(r.get("method") == "bracket" for r in rows),
                elapsed_s=elapsed, scenarios_per_s=n_new / elapsed if elapsed > 0 else float("inf"))


def plot_results(out, spec: SweepSpec, path) -> None:
    """Cost per Mtok across the first one or two axes, from the table ``out`` (PNG at ``path``)."""
    from ..plots import plot_sweep  # noqa: PLC0415

    rows = read_table(out)
    names = [a.path for a in spec.axes[:2]]
    plot_sweep(rows, names, path, title=f"sweep of {spec.source}: cost per Mtok (labels: main hardware)")

