"""Throughput-vs-interactivity frontiers and hardware comparisons (the InferenceX-style view)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kernels import (build_space, default_calibration, evaluate, evaluate_indices, load_calibration,
                     resolve_backend)
from problems import Problem
from problems.errors import InputError, UnknownNameError


def _check_problem(func: str, problem) -> None:
    if not isinstance(problem, Problem):
        raise InputError(f"{func}: problem must be a problems.Problem (from problems.load(path_or_name)), "
                         f"got {type(problem).__name__}")

from .candidates import precision_label


@dataclass
class Frontier:
    """Per (workload, model, hardware, precision): the best output tok/s per GPU reachable at each
    interactivity (output tok/s per user), as a monotone envelope over ``N_BINS`` log-spaced bins.

    ``series`` rows: workload, model, hardware, precision, and lists ``tok_s_per_user``,
    ``output_tok_s_per_gpu``, ``total_tok_s_per_gpu``, ``cost_usd_per_mtok_output``,
    ``tok_per_joule``, ``ttft_s``, ``configs`` (one configuration dict per point).
    """

    problem: str
    series: list = field(default_factory=list)
    sla: dict = field(default_factory=dict)        # workload -> {ttft_ms, min_output_tok_s_per_user}
    backend: str = "numpy"
    elapsed_s: float = 0.0

    def for_workload(self, workload: str) -> list[dict]:
        return [s for s in self.series if s["workload"] == workload]

    def to_rows(self) -> list[dict]:
        rows = []
        for s in self.series:
            for i in range(len(s["tok_s_per_user"])):
                rows.append(dict(workload=s["workload"], model=s["model"], hardware=s["hardware"],
                                 precision=s["precision"], serving=s.get("serving", "aggregated"),
                                 tok_s_per_user=s["tok_s_per_user"][i],
                                 output_tok_s_per_gpu=s["output_tok_s_per_gpu"][i],
                                 total_tok_s_per_gpu=s["total_tok_s_per_gpu"][i],
                                 cost_usd_per_mtok_output=s["cost_usd_per_mtok_output"][i],
                                 tok_per_joule=s["tok_per_joule"][i], ttft_s=s["ttft_s"][i],
                                 **{f"config_{k}": v for k, v in s["configs"][i].items()
                                    if k not in ("workload", "model", "hardware", "precision")}))
        return rows


def frontier_from_reduction(problem: Problem, red, workload: str | None = None) -> Frontier:
    space = red.space
    n_hw, n_p = len(space.hardware), len(space.precisions)
    fr = Frontier(problem=problem.name, backend=red.backend, elapsed_s=red.elapsed_s)
    specs = {h.key: h.spec() for h in problem.hardware}
    for w in problem.workloads:
        fr.sla[w.name] = dict(ttft_ms=w.sla.ttft_ms, min_output_tok_s_per_user=w.sla.min_output_tok_s_per_user)
    for wm, (wname, model) in enumerate(space.wm_pairs):
        if workload is not None and wname != workload:
            continue
        for h in range(n_hw):
            for p in range(n_p):
                fg = (wm * n_hw + h) * n_p + p
                idx = red.frontier_idx[fg]
                ok = idx >= 0
                if not ok.any():
                    continue
                res = evaluate_indices(space, idx[ok])
                u = res["output_tok_s_per_user"]
                v = res["output_tok_s_per_gpu"]
                order = np.argsort(u)
                u, v = u[order], v[order]
                sel_idx = idx[ok][order]
                # keep the Pareto points: nothing faster per user has more throughput
                keep = np.zeros(u.size, bool)
                best = -np.inf
                for i in range(u.size - 1, -1, -1):
                    if v[i] > best:
                        keep[i] = True
                        best = v[i]
                sel = order[keep]
                cfgs = [space.describe(int(i)) for i in sel_idx[keep]]
                fr.series.append(dict(
                    workload=wname, model=model, hardware=space.hardware[h], serving="aggregated",
                    precision=cfgs[0]["precision"],
                    precision_label=precision_label(cfgs[0]["precision"], specs[space.hardware[h]]),
                    tok_s_per_user=res["output_tok_s_per_user"][sel].tolist(),
                    output_tok_s_per_gpu=res["output_tok_s_per_gpu"][sel].tolist(),
                    total_tok_s_per_gpu=res["total_tok_s_per_gpu"][sel].tolist(),
                    cost_usd_per_mtok_output=res["cost_usd_per_mtok_output"][sel].tolist(),
                    tok_per_joule=res["tok_per_joule"][sel].tolist(),
                    ttft_s=res["ttft_s"][sel].tolist(), configs=cfgs))
    if "disaggregated" in problem.search.serving:
        from .disagg import disaggregated_series  # noqa: PLC0415

        for w in problem.workloads:
            if workload is None or w.name == workload:
                fr.series.extend(disaggregated_series(problem, w.name))
    return fr


def frontier(problem: Problem, workload: str | None = None, backend: str = "auto", progress=None) -> Frontier:
    """The throughput-vs-interactivity frontier of every (workload, hardware, precision)."""
    from .limits import check_configuration_space, configuration_count  # noqa: PLC0415

    _check_problem("frontier", problem)
    if workload is not None:
        problem.workload(workload)  # raises KeyError with a suggestion
    wls = None if workload is None else [workload]
    backend = resolve_backend(backend, size=configuration_count(problem, workloads=wls))
    check_configuration_space(problem, backend, workloads=wls)
    space = build_space(problem, workloads=wls)
    red = evaluate(space, backend=backend, progress=progress)
    return frontier_from_reduction(problem, red, workload)


@dataclass
class Comparison:
    """Hardware A vs B for one workload across interactivity levels."""

    problem: str
    workload: str
    hardware: list
    levels: list                      # output tok/s per user
    rows: list = field(default_factory=list)   # per level and hardware
    assumptions: dict = field(default_factory=dict)

    def best(self, hardware: str, level) -> dict | None:
        """The row of ``hardware`` at ``level`` with the most output tok/s per GPU over the serving
        modes compared (rows carry ``serving``); None when there is no row."""
        rows = [r for r in self.rows if r["hardware"] == hardware and r["tok_s_per_user"] == level]
        if not rows:
            return None
        return max(rows, key=lambda r: r["output_tok_s_per_gpu"] or 0.0)

    def ratios(self) -> list[dict]:
        """B over A at each level (each at its best serving mode): throughput per GPU, cost per
        Mtok (A/B), tokens per joule."""
        a, b = self.hardware[0], self.hardware[-1]
        out = []
        for lvl in self.levels:
            ra, rb = self.best(a, lvl), self.best(b, lvl)
            if ra and rb and ra["output_tok_s_per_gpu"] and rb["output_tok_s_per_gpu"]:
                out.append(dict(tok_s_per_user=lvl,
                                throughput_ratio=rb["output_tok_s_per_gpu"] / ra["output_tok_s_per_gpu"],
                                cost_ratio=ra["cost_usd_per_mtok_output"] / rb["cost_usd_per_mtok_output"],
                                tok_per_joule_ratio=(rb["tok_per_joule"] / ra["tok_per_joule"]
                                                     if ra["tok_per_joule"] and rb["tok_per_joule"] else None)))
            else:
                out.append(dict(tok_s_per_user=lvl, throughput_ratio=None, cost_ratio=None, tok_per_joule_ratio=None))
        return out


def compare(problem: Problem, hardware: list[str], workload: str | None = None, levels=None,
            backend: str = "auto") -> Comparison:
    """Cost per token and tokens per watt of each hardware type across interactivity levels.

    At each level the best configuration (any precision in the search, any tensor-parallel degree)
    reaching at least that many output tok/s per user is taken from the frontier.
    """
    _check_problem("compare", problem)
    if not isinstance(hardware, (list, tuple)) or not all(isinstance(h, str) for h in hardware):
        raise InputError(f"compare: hardware must be a list of hardware ids, got {hardware!r}")
    known = [h.key for h in problem.hardware]
    for h in hardware:
        if h not in known:
            raise UnknownNameError(f"hardware {h!r} is not in the problem's hardware list ({', '.join(known)})")
    wname = workload or problem.workloads[0].name
    w = problem.workload(wname)
    fr = frontier(problem, workload=wname, backend=backend)
    if levels is None:
        levels = [10, 20, 30, 50, 75, 100, 150, 200, 300]
    rows = []
    modes = list(dict.fromkeys(s.get("serving", "aggregated") for s in fr.series)) or ["aggregated"]
    for h, mode in ((h, m) for h in hardware for m in modes):
        ser = [s for s in fr.series if s["hardware"] == h and s.get("serving", "aggregated") == mode]
        for lvl in levels:
            best = None
            for s in ser:
                for i, u in enumerate(s["tok_s_per_user"]):
                    if u >= lvl and (best is None or s["output_tok_s_per_gpu"][i] > best[0]["output_tok_s_per_gpu"][best[1]]):
                        best = (s, i)
            if best is None:
                rows.append(dict(hardware=h, serving=mode, tok_s_per_user=lvl, output_tok_s_per_gpu=None,
                                 cost_usd_per_mtok_output=None, tok_per_joule=None, config=None))
                continue
            s, i = best
            rows.append(dict(hardware=h, serving=mode, tok_s_per_user=lvl, model=s["model"],
                             precision=s.get("precision_label") or s["precision"],
                             output_tok_s_per_gpu=s["output_tok_s_per_gpu"][i],
                             total_tok_s_per_gpu=s["total_tok_s_per_gpu"][i],
                             cost_usd_per_mtok_output=s["cost_usd_per_mtok_output"][i],
                             tok_per_joule=s["tok_per_joule"][i], ttft_s=s["ttft_s"][i], config=s["configs"][i]))
    calib = load_calibration(problem.calibration) if problem.calibration else default_calibration()
    assumptions = dict(
        workload=dict(model=", ".join(w.candidate_models()), input_tokens=w.input_tokens,
                      output_tokens=w.output_tokens, cached_input_fraction=w.cached_input_fraction),
        precisions=list(problem.search.precisions), tensor_parallel=list(problem.search.tensor_parallel),
        pricing=problem.economics.pricing,
        prices_usd_per_gpu_hour={h.key: h.spec().price_usd_per_hour for h in problem.hardware if h.key in hardware},
        calibration={h.key: dict(group=calib.group_of(h.spec().family), **calib.for_hardware(h.id, h.spec().family))
                     for h in problem.hardware if h.key in hardware},
        calibration_fitted=calib.meta.get("fitted"),
    )
    return Comparison(problem=problem.name, workload=wname, hardware=list(hardware), levels=list(levels),
                      rows=rows, assumptions=assumptions)
