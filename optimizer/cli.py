"""``tokenfleet``: a thin command line over the Python API.

Exit codes: 0 ok, 1 internal error, 2 invalid input (the message names the file and field),
3 infeasible (the message says which workload or constraint and by how much).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from problems.errors import InfeasibleError, InputError
from problems.text import literal, plain

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Capacity planner for LLM inference fleets: the lowest cost per token under "
                       "interactivity SLAs.")
# wide tables when output is a file or a pipe (rich would otherwise wrap at 80 columns)
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # messages never wrapped mid-word

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID, EXIT_INFEASIBLE = 0, 1, 2, 3
BackendOpt = typer.Option("auto", "--backend", help="auto | numpy | numba | cupy | numba-cuda")
# a flag: metavar " " keeps the help from showing a <bool> value it does not take
QuietOpt = typer.Option(False, "--quiet", "-q", help="no progress bar, tables only (a flag: no value)", metavar=" ")


def _version(value: bool):
    if value:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            v = version("tokenfleet")
        except PackageNotFoundError:   # pragma: no cover - running from a checkout that is not installed
            v = "unknown (not installed)"
        out.print(f"tokenfleet {v}")
        raise typer.Exit()


@app.callback()
def _main(version_: bool = typer.Option(False, "--version", callback=_version, is_eager=True, metavar=" ",
                                        help="print the version and exit")):
    """Capacity planner for LLM inference fleets: the lowest cost per token under interactivity SLAs."""


from .report import PER_ROW_NOTE, calibration_table, marginal_rows, predict_table, print_service, print_serving_modes  # noqa: E402
from .report import fmt as _fmt  # noqa: E402


class CLIError(InputError):
    """A mistake in the command line itself (an option naming something the problem lacks)."""


def _load(path):
    import problems  # noqa: PLC0415

    if path is not None and str(path).lower() in ("true", "false", "yes", "no", "1", "0") and not path.exists():
        raise CLIError(f"{path}: no such problem file; --quiet (-q) is a flag and takes no value: "
                       "write `plan PROBLEM -q`")

    return problems.load(path if path is not None else problems.DEFAULT_EXAMPLE)


def _count_text(completed: float, total: float | None) -> str:
    """'done/total', or just 'done' while the total is unknown."""
    return f"{completed:,.0f}" if total is None else f"{completed:,.0f}/{total:,.0f}"


@contextlib.contextmanager
def _progress(quiet: bool, label: str, total: int | None = None):
    """A rich progress bar on stderr; yields a callback taking a number of completed units."""
    if quiet:
        yield lambda n=1: None
        return
    from rich.progress import (BarColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn,  # noqa: PLC0415
                               TimeElapsedColumn, TimeRemainingColumn)
    from rich.text import Text  # noqa: PLC0415

    class CountColumn(ProgressColumn):
        def render(self, task):
            return Text(_count_text(task.completed, task.total))

    class RateColumn(ProgressColumn):
        def render(self, task):
            return Text(f"{task.speed:,.1f}/s" if task.speed else "")

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), CountColumn(), RateColumn(),
                  TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=err,
                  transient=True) as p:
        task = p.add_task(label, total=total)
        yield lambda n=1: p.advance(task, n)


def _space_size(problem) -> int:
    """Configurations in ``problem``'s space, counted without building it."""
    from .limits import configuration_count  # noqa: PLC0415

    return configuration_count(problem)


# ------------------------------------------------------------------------------------ outputs
def _check_outputs(problem, json_out=None, csv_dir=None, plot=None) -> None:
    """Refuse unusable output paths before anything is solved (exit 2 naming the option)."""
    from .outputs import PLOT_SUFFIXES, check_output  # noqa: PLC0415

    inputs = [problem] if problem is not None and Path(problem).is_file() else []
    if json_out is not None and str(json_out) != "-":
        check_output(json_out, "--json", suffixes=(".json",), inputs=inputs)
        inputs.append(json_out)
    if csv_dir is not None:
        check_output(csv_dir, "--csv", directory=True, inputs=inputs)
        for name in ("candidates", "allocations", "workloads") if Path(csv_dir).is_dir() else ():
            check_output(Path(csv_dir) / f"{name}.csv", "--csv", suffixes=(".csv",), inputs=inputs)
    if plot is not None:
        check_output(plot, "--plot", suffixes=PLOT_SUFFIXES, inputs=inputs)


# --------------------------------------------------------------------------------------- plan
def print_plan(plan, console: Console | None = None) -> None:
    console = console or out
    t = Table(title=f"plan: {literal(plan.problem)} ({plan.objective}, {plan.status})", title_justify="left")
    for c in ("workload", "model", "hardware", "configuration", "replicas", "GPUs", "TTFT ms",
              "tok/s/user", "$/Mtok out"):
        t.add_column(c, justify="left" if c in ("workload", "model", "hardware", "configuration") else "right")
    for a in plan.allocations:
        cfg = a.get("configuration") or ""
        # a disaggregated deployment on two types names both (prefill + decode)
        hw = a["hardware"] if a.get("prefill_hardware") in (None, a["hardware"]) else \
            f"{a['prefill_hardware']} + {a['hardware']}"
        t.add_row(literal(a["workload"]), literal(a["model"]), literal(hw), literal(cfg),
                  str(a["replicas"]), str(a["gpus"]),
                  _fmt(a["ttft_s"] * 1e3), _fmt(a["output_tok_s_per_user"]), _fmt(a["cost_usd_per_mtok_output"]))
    console.print(t)
    tt = plan.totals
    s = Table(title="totals", title_justify="left", show_header=False)
    s.add_column("", justify="left")
    s.add_column("", justify="right")
    s.add_row("GPUs by type", ", ".join(f"{n} {literal(h)}" for h, n in tt["gpus_by_type"].items()))
    units = tt.get("units_by_type") or {}
    if units:
        s.add_row("bought as", ", ".join(f"{u['units']} {u['unit']}{'s' if u['units'] != 1 else ''} of "
                                         f"{u['gpus_per_unit']} {literal(h)}" if u["gpus_per_unit"] > 1
                                         else f"{u['units']} single {literal(h)}" for h, u in units.items()))
        idle = sum(u["gpus_idle"] for u in units.values())
        if idle:
            s.add_row("GPUs bought but idle (whole units)", f"{idle:,}")
    s.add_row("cost, $/hour", _fmt(tt["total_cost_usd_per_hour"]))
    s.add_row("power, MW (all-in, x PUE)", _fmt(tt["power_mw"]))
    s.add_row("output tokens/s", _fmt(tt["output_tok_s"]))
    s.add_row("$/Mtok output", _fmt(tt["cost_usd_per_mtok_output"]))
    if tt.get("cost_usd_per_mtok_output_p10") is not None:
        s.add_row("$/Mtok output, P10-P90 (model error band)",
                  f"{_fmt(tt['cost_usd_per_mtok_output_p10'])} - {_fmt(tt['cost_usd_per_mtok_output_p90'])}")
        s.add_row("GPUs needed, P10-P90 (model error band)",
                  f"{_fmt(tt['total_gpus_p10'])} - {_fmt(tt['total_gpus_p90'])}")
    s.add_row("$/Mtok blended (input+output)", _fmt(tt["cost_usd_per_mtok_blended"]))
    s.add_row("tokens per joule (input+output)", _fmt(tt["tok_per_joule"]))
    if tt.get("revenue_usd_per_hour"):
        s.add_row("margin, $/hour", _fmt(tt["margin_usd_per_hour"]))
    console.print(s)
    console.print(PER_ROW_NOTE, style="dim", markup=False)
    print_service(plan, console)
    print_serving_modes(plan, console)
    rows = marginal_rows(plan)
    if rows:
        m = Table(title="marginal values (LP relaxation)", title_justify="left")
        m.add_column("requirement")
        m.add_column("value", justify="right")
        for r in rows:
            m.add_row(*r)
        console.print(m)
    sv, b = plan.solver, plan.backend
    console.print(f"evaluated {b['configurations']:,} configurations on [bold]{literal(b['name'])}[/] in "
                  f"{b['evaluate_s']:.3f} s; {sv['candidates']} candidates ({sv['candidates_before_pruning']} "
                  f"before dominance pruning); HiGHS {sv['status']}, gap {_fmt(sv.get('mip_gap'))}, "
                  f"{sv.get('solve_s', 0):.3f} s")
    cal = b.get("calibration") or {}
    if cal:
        console.print(f"calibration: {cal['file']}" + (f" (fitted {cal['fitted']})" if cal.get("fitted") else ""),
                      markup=False)
    if plan.message:
        console.print(f"[yellow]{literal(plan.message)}[/]")
    for w in plan.warnings:
        console.print(f"warning: {w}", style="yellow", markup=False)


@app.command()
def plan(problem: Optional[Path] = typer.Argument(None, help="problem file or bundled example name "
                                                             "(default: the bundled chat-mixed-fleet)"),
         json_out: Optional[Path] = typer.Option(None, "--json", help="write the plan as JSON ('-' for stdout)"),
         csv_dir: Optional[Path] = typer.Option(None, "--csv", help="write candidates/allocations/workloads CSVs here"),
         plot: Optional[Path] = typer.Option(None, "--plot", help="write a frontier chart (PNG) with the chosen points"),
         deploy: Optional[Path] = typer.Option(None, "--deploy", help="write vLLM, SGLang and TensorRT-LLM launch "
                                                                     "settings for each chosen configuration here"),
         backend: str = BackendOpt, time_limit: float = typer.Option(30.0, "--time-limit", help="MILP time limit, s"),
         full_service: bool = typer.Option(False, "--require-full-service", metavar=" ",
                                           help="serve every workload's whole demand under any objective "
                                                "(as constraints.require_full_service: true)"),
         quiet: bool = QuietOpt):
    """Solve a fleet problem and print the plan."""
    import optimizer  # noqa: PLC0415

    from .outputs import write_text  # noqa: PLC0415

    _check_outputs(problem, json_out, csv_dir, plot)
    if deploy is not None:
        from .outputs import check_output  # noqa: PLC0415

        check_output(deploy, "--deploy", directory=True)
    prob = _load(problem)
    if full_service:
        prob = prob.model_copy(update=dict(
            constraints=prob.constraints.model_copy(update=dict(require_full_service=True))))
    with _progress(quiet, "evaluating configurations", _space_size(prob)) as tick:
        p = optimizer.solve(prob, backend=backend, time_limit_s=time_limit, progress=tick)
    to_stdout_json = json_out is not None and str(json_out) == "-"
    if json_out is not None:
        if to_stdout_json:
            sys.stdout.write(p.to_json() + "\n")
        else:
            write_text(json_out, p.to_json() + "\n", "--json")
    if csv_dir is not None:
        _write_csvs(p, csv_dir)
    if not p.is_feasible:
        for w in p.warnings:
            err.print(f"warning: {w}", style="yellow", markup=False)
        what = "infeasible" if p.status == "infeasible" else f"no plan ({p.status})"
        raise InfeasibleError(f"{prob.name}: {what}: {p.message}")
    if not to_stdout_json:
        print_plan(p)
    else:   # the JSON holds them too; the terminal still says what the plan leaves out
        for w in p.warnings:
            err.print(f"warning: {w}", style="yellow", markup=False)
    if deploy is not None:
        from .deploy import write_deployments  # noqa: PLC0415

        paths = write_deployments(p, deploy)
        if not to_stdout_json:
            out.print(f"wrote {len(paths)} deployment files to {deploy} (see {paths[0]})")
    if plot is not None:
        from .analysis import frontier_from_reduction  # noqa: PLC0415
        from .plots import plot_frontier  # noqa: PLC0415
        import kernels  # noqa: PLC0415

        red = getattr(p, "reduction", None) or kernels.evaluate(kernels.build_space(prob), backend=backend)
        fr = frontier_from_reduction(prob, red)
        paths = _plot_paths(plot, [w.name for w in prob.workloads])
        for w, path in paths.items():
            plot_frontier(fr, w, path, chosen=[a for a in p.allocations if a["workload"] == w])
            if not to_stdout_json:
                out.print(f"wrote {literal(path)}")


def _plot_paths(plot: Path, names: list[str]) -> dict:
    if len(names) == 1:
        return {names[0]: plot}
    import re  # noqa: PLC0415

    # a workload name is not a path: separators and dots would write elsewhere
    return {n: plot.with_name(f"{plot.stem}-{re.sub(r'[^A-Za-z0-9_-]', '_', n)}{plot.suffix or '.png'}")
            for n in names}


def _write_csvs(p, d: Path) -> None:
    """candidates.csv, allocations.csv, workloads.csv in ``d``, each written whole (cells escaped
    against spreadsheet formulas); an empty table is an empty file."""
    from .outputs import write_csv, write_text  # noqa: PLC0415

    d.mkdir(exist_ok=True)
    for name in ("candidates", "allocations", "workloads"):
        rows = p.to_rows(name)
        if rows:
            write_csv(d / f"{name}.csv", rows, list(rows[0]), "--csv")
        else:
            write_text(d / f"{name}.csv", "", "--csv")


# ----------------------------------------------------------------------------------- frontier
@app.command()
def frontier(problem: Path = typer.Argument(..., help="problem file or bundled example name"),
             workload: Optional[str] = typer.Option(None, "--workload", "-w", help="one workload's name (default: all)"),
             plot: Optional[Path] = typer.Option(None, "--plot", help="PNG path (one per workload if several)"),
             json_out: Optional[Path] = typer.Option(None, "--json", help="write the frontier series as JSON here"),
             backend: str = BackendOpt, quiet: bool = QuietOpt):
    """Throughput-vs-interactivity frontier per hardware and precision, and cost per Mtok."""
    import optimizer  # noqa: PLC0415

    from .plots import plot_frontier  # noqa: PLC0415

    from .outputs import write_text  # noqa: PLC0415

    _check_outputs(problem, json_out, None, plot)
    prob = _load(problem)
    if workload is not None:
        _check_workload(prob, workload)
    with _progress(quiet, "evaluating configurations", _space_size(prob)) as tick:
        fr = optimizer.frontier(prob, workload=workload, backend=backend, progress=tick)
    names = [workload] if workload else [w.name for w in prob.workloads]
    for w in names:
        t = Table(title=f"frontier: {literal(w)} (best output tok/s per GPU at >= X tok/s per user)",
                  title_justify="left")
        several_modes = len({s.get("serving") for s in fr.for_workload(w)}) > 1
        for c in ("model", "hardware", "precision", *(["mode"] if several_modes else []),
                  "10", "30", "50", "100", "200"):
            t.add_column(c, justify="right" if c.isdigit() else "left")
        for s in fr.for_workload(w):
            cells = []
            for lvl in (10, 30, 50, 100, 200):
                vals = [v for u, v in zip(s["tok_s_per_user"], s["output_tok_s_per_gpu"]) if u >= lvl]
                cells.append(_fmt(max(vals)) if vals else "-")
            t.add_row(literal(s["model"]), literal(s["hardware"]), literal(s.get("precision_label") or s["precision"]),
                      *([s.get("serving", "aggregated")] if several_modes else []), *cells)
        out.print(t)
    if json_out is not None:
        write_text(json_out, json.dumps(dict(problem=fr.problem, sla=fr.sla, series=fr.series), indent=1), "--json")
    if plot is not None:
        for w, path in _plot_paths(plot, names).items():
            plot_frontier(fr, w, path)
            out.print(f"wrote {literal(path)}")


def _check_workload(prob, name):
    if name not in [w.name for w in prob.workloads]:
        from problems.catalog import suggest  # noqa: PLC0415

        raise CLIError(f"--workload: no workload {name!r} in {prob.name}; "
                       f"{suggest(name, [w.name for w in prob.workloads])}")


# ------------------------------------------------------------------------------------ compare
@app.command()
def compare(problem: Path = typer.Argument(..., help="problem file or bundled example name"),
            hardware: str = typer.Option(..., "--hardware", help="comma-separated hardware ids, e.g. h200-sxm,gb300-nvl72"),
            workload: Optional[str] = typer.Option(None, "--workload", "-w",
                                                   help="the workload to compare on (default: the first)"),
            plot: Optional[Path] = typer.Option(None, "--plot", help="write the comparison chart (PNG) here"),
            json_out: Optional[Path] = typer.Option(None, "--json", help="write rows, ratios and assumptions as JSON here"),
            backend: str = BackendOpt, quiet: bool = QuietOpt):
    """Cost per token and tokens per watt of hardware A vs B across interactivity levels."""
    import optimizer  # noqa: PLC0415

    from .plots import plot_compare  # noqa: PLC0415

    from .outputs import write_text  # noqa: PLC0415

    _check_outputs(problem, json_out, None, plot)
    prob = _load(problem)
    hws = [h.strip() for h in hardware.split(",") if h.strip()]
    if len(hws) < 2:
        raise CLIError("--hardware: give at least two comma-separated hardware ids")
    known = [h.key for h in prob.hardware]
    for h in hws:
        if h not in known:
            raise CLIError(f"--hardware: {h!r} is not in {prob.name}'s hardware list ({', '.join(known)})")
    if workload is not None:
        _check_workload(prob, workload)
    with _progress(quiet, "evaluating configurations", None):
        c = optimizer.compare(prob, hws, workload=workload, backend=backend)
    t = Table(title=f"compare: {literal(c.workload)} on {literal(' vs '.join(hws))}", title_justify="left")
    t.add_column(">= tok/s/user", justify="right")
    several = len(prob.workload(c.workload).candidate_models()) > 1   # min_quality: say which model
    for h in hws:
        if several:
            t.add_column(f"{literal(h)} model", justify="left")
        t.add_column(f"{literal(h)} tok/s/GPU", justify="right")
        t.add_column(f"{literal(h)} $/Mtok", justify="right")
    modes = sorted({r.get("serving", "aggregated") for r in c.rows})
    if len(modes) > 1:    # each hardware at its best mode: say which
        t.add_column("modes (best)", justify="left")
    t.add_column(f"{literal(hws[-1])}/{literal(hws[0])} $/Mtok advantage", justify="right")
    ratios = {r["tok_s_per_user"]: r for r in c.ratios()}
    for lvl in c.levels:
        cells = [str(lvl)]
        for h in hws:
            r = c.best(h, lvl)
            if several:
                cells.append(f"{r.get('model') or '-'} {r.get('precision') or ''}".strip())
            cells += [_fmt(r["output_tok_s_per_gpu"]), _fmt(r["cost_usd_per_mtok_output"])]
        if len(modes) > 1:
            cells.append(", ".join((c.best(h, lvl) or {}).get("serving", "-") if (c.best(h, lvl) or {}).get(
                "output_tok_s_per_gpu") else "-" for h in hws))
        cr = ratios[lvl]["cost_ratio"]
        cells.append(f"{cr:.2f}x" if cr else "-")
        t.add_row(*cells)
    out.print(t)
    a = c.assumptions
    out.print("assumptions: " + plain(json.dumps(a, default=str)), markup=False)
    if json_out is not None:
        write_text(json_out, json.dumps(dict(rows=c.rows, ratios=c.ratios(), assumptions=a), indent=1, default=str),
                   "--json")
    if plot is not None:
        plot_compare(c, plot)
        out.print(f"wrote {literal(plot)}")


# ------------------------------------------------------------------------------------ predict
@app.command()
def predict(hardware: str = typer.Option(..., "--hardware", help="catalog hardware id, e.g. h200-sxm"),
            model: str = typer.Option(..., "--model", help="catalog model id, e.g. llama-3.3-70b"),
            precision: str = typer.Option("fp8", "--precision", help="bf16 | fp8 | fp4 (weights; KV cache FP8 "
                                                                     "with fp8/fp4)"),
            tp: Optional[int] = typer.Option(None, "--tp", help="tensor-parallel degree (default: search)"),
            ep: int = typer.Option(1, "--ep", help="1 (pure TP) or equal to --tp (attention DP + EP)"),
            pp: Optional[int] = typer.Option(None, "--pp", help="pipeline stages per replica: 1, 2 or 4 "
                                                              "(default: the fewest that fit)"),
            concurrency: Optional[int] = typer.Option(None, "--concurrency", help="default: max-throughput point"),
            isl: int = typer.Option(1024, "--isl", help="input tokens per request"),
            osl: int = typer.Option(1024, "--osl", help="output tokens per request"),
            min_tok_s_user: Optional[float] = typer.Option(None, "--min-tok-s-per-user",
                                                           help="best batch meeting this interactivity"),
            speculative: str = typer.Option("search", "--speculative", help="off | mtp | search"),
            speculative_data: str = typer.Option("benchmark", "--speculative-data",
                                                 help="benchmark | chat: MTP acceptance on random "
                                                      "benchmark prompts or on chat"),
            serving: str = typer.Option("aggregated", "--serving",
                                        help="aggregated | disaggregated | search"),
            prefill_tp: Optional[int] = typer.Option(None, "--prefill-tp", help="prefill pool tensor-parallel degree"),
            prefill_ep: Optional[int] = typer.Option(None, "--prefill-ep", help="prefill pool expert-parallel degree"),
            prefill_replicas: Optional[int] = typer.Option(None, "--prefill-replicas", help="prefill replicas per deployment"),
            decode_tp: Optional[int] = typer.Option(None, "--decode-tp", help="decode pool tensor-parallel degree"),
            decode_ep: Optional[int] = typer.Option(None, "--decode-ep", help="decode pool expert-parallel degree"),
            decode_replicas: Optional[int] = typer.Option(None, "--decode-replicas", help="decode replicas per deployment"),
            engine: Optional[str] = typer.Option(None, "--engine",
                                                 help="trtllm | vllm | sglang (default: trtllm; vllm on AMD GPUs)"),
            json_out: bool = typer.Option(False, "--json", help="print JSON", metavar=" ")):
    """Predict one operating point of one model on one hardware type."""
    import optimizer  # noqa: PLC0415

    m = optimizer.predict(hardware=hardware, model=model, precision=precision, tp=tp, ep=ep, pp=pp,
                          concurrency=concurrency, isl=isl, osl=osl, engine=engine,
                          min_output_tok_s_per_user=min_tok_s_user,
                          speculative=None if speculative == "search" else speculative,
                          speculative_data=speculative_data,
                          serving=None if serving == "search" else serving,
                          prefill_tp=prefill_tp, prefill_ep=prefill_ep, prefill_replicas=prefill_replicas,
                          decode_tp=decode_tp, decode_ep=decode_ep, decode_replicas=decode_replicas)
    if json_out:
        from .plan import _clean  # noqa: PLC0415 - NaN (e.g. no published TDP) becomes null

        sys.stdout.write(json.dumps(_clean(m.to_dict()), indent=2) + "\n")
        return
    out.print(predict_table(m, model, hardware, precision))


# ------------------------------------------------------------------------------------ catalog
@app.command()
def catalog(kind: str = typer.Argument("hardware", help="hardware | models"),
            json_out: bool = typer.Option(False, "--json", help="print the catalog as JSON", metavar=" ")):
    """List the sourced hardware or model catalog."""
    import problems  # noqa: PLC0415

    if kind not in ("hardware", "models"):
        raise CLIError(f"catalog: unknown kind {kind!r}; use 'hardware' or 'models'")
    cat = problems.hardware_catalog() if kind == "hardware" else problems.model_catalog()
    if json_out:
        sys.stdout.write(json.dumps([e.model_dump(mode="json") for e in cat.values()], indent=1) + "\n")
        return
    t = Table(title=f"{kind} catalog", title_justify="left", show_lines=False)
    if kind == "hardware":
        t.caption = f"$/h: {literal(problems.price_basis())}; '-': not priced on that basis, give a price in the problem"
        cols = ("id", "memory GB", "TB/s", "BF16 TF", "FP8 TF", "FP4 TF", "TDP W", "scale-up", "unit GPUs", "$/h",
                "$/h source (date)", "source")
        for c in cols:
            t.add_column(c, overflow="fold")
        for h in cat.values():
            t.add_row(literal(h.id), _fmt(h.hbm_gb), _fmt(h.hbm_tb_s), _fmt(h.bf16_dense_tflops), _fmt(h.fp8_dense_tflops),
                      _fmt(h.fp4_dense_tflops), _fmt(h.tdp_w),
                      f"{h.scaleup_domain_gpus}x{_fmt(h.scaleup_gb_s_per_gpu)} GB/s", str(h.unit_gpus),
                      _fmt(h.price_usd_per_hour) if h.price_usd_per_hour is not None else "-",
                      literal(_short(h.price_source or "", 60) + (f" ({h.price_date})" if h.price_date else "")),
                      literal(_short(h.source, 90)))
    else:
        cols = ("id", "params B", "active B", "layers", "attention", "MoE", "native", "GPQA-D", "source")
        for c in cols:
            t.add_column(c, overflow="fold")
        for m in cat.values():
            moe = f"{m.moe.num_experts}e top{m.moe.top_k}" if m.moe else "dense"
            t.add_row(literal(m.id), _fmt(m.total_params_b), _fmt(m.active_params_b), str(m.num_layers),
                      literal(m.attention.type), moe, literal(m.native_precision), _fmt(m.quality_gpqa_diamond),
                      literal(m.source[:90] + "..."))
    out.print(t)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + "..."


# ----------------------------------------------------------------------------------- validate
@app.command()
def validate(problem: Path = typer.Argument(..., help="problem file or bundled example name")):
    """Check a problem file; print what it asks for, or every mistake with its field path."""
    from .limits import check_configuration_space  # noqa: PLC0415

    prob = _load(problem)
    n = check_configuration_space(prob)  # no backend chosen: the estimate covers each one
    out.print(f"[green]ok[/]: {literal(prob.name)}: {len(prob.workloads)} workload(s), {len(prob.hardware)} hardware "
              f"type(s), {n:,} configurations, objective {prob.objective}")
    from problems.plausible import plausibility_warnings  # noqa: PLC0415

    for w in plausibility_warnings(prob):
        err.print(f"warning: {w}", style="yellow", markup=False)


# -------------------------------------------------------------------------------------- sweep
@app.command()
def sweep(problem: Optional[Path] = typer.Argument(None, help="base problem file or bundled example name "
                                                               "(default: the --spec file's problem:)"),
          vary: list[str] = typer.Option([], "--vary", help="PATH=V1,V2,... or PATH=START:STOP:N (repeatable)"),
          spec: Optional[Path] = typer.Option(None, "--spec", help="sweep YAML file (axes, mode)"),
          zip_axes: bool = typer.Option(False, "--zip", help="zip the axes instead of a Cartesian grid"),
          out_path: Path = typer.Option(Path("sweep.parquet"), "--out", help=".parquet or .csv"),
          jsonl: Optional[Path] = typer.Option(None, "--plans", help="also write full plans as JSON lines"),
          resume: bool = typer.Option(False, "--resume", help="skip scenarios already in --out"),
          workers: int = typer.Option(0, "--workers", help="local Dask workers (0: run serially here)"),
          scheduler: Optional[str] = typer.Option(None, "--scheduler", help="address of an existing Dask scheduler"),
          plot: Optional[Path] = typer.Option(None, "--plot", help="write a cost-per-Mtok chart (PNG) of the sweep"),
          mip_gap: float = typer.Option(1e-4, "--mip-gap", help="relative MILP gap per scenario (recorded per row)"),
          brackets: bool = typer.Option(True, "--brackets/--no-brackets",
                                        help="certify plans between solved prices instead of solving every "
                                             "price's MILP (min_cost; rows say which)"),
          max_scenarios: int = typer.Option(1_000_000, "--max-scenarios",
                                            help="refuse sweeps with more scenarios (checked before any work)"),
          backend: str = BackendOpt, quiet: bool = QuietOpt):
    """Solve a grid of scenarios, incrementally and resumably, optionally on Dask."""
    from . import sweeps as sw  # noqa: PLC0415

    sp = sw.SweepSpec.from_cli(problem, vary, spec, zip_axes, max_scenarios=max_scenarios)
    sw.check_outputs(sp, out_path, jsonl, plot)
    with _progress(quiet, "scenarios", sp.n_scenarios) as tick:
        summary = sw.run_sweep(sp, out_path, resume=resume, workers=workers, scheduler=scheduler,
                               plans_path=jsonl, backend=backend, progress=tick, mip_rel_gap=mip_gap,
                               brackets=brackets)
    certified = f", {summary['bracketed']} certified by price brackets" if summary["bracketed"] else ""
    out.print(f"{summary['done']} scenarios solved ({summary['skipped']} resumed, {summary['failed']} not "
              f"feasible{certified}) in {summary['elapsed_s']:.1f} s ({summary['scenarios_per_s']:.1f}/s) -> "
              f"{literal(out_path)}")
    if plot is not None:
        sw.plot_results(out_path, sp, plot)
        out.print(f"wrote {literal(plot)}")


# ---------------------------------------------------------------------------------- calibrate
@app.command()
def calibrate(results: list[Path] = typer.Argument(..., help="measurement CSV files and vLLM/SGLang serving-"
                                                            "benchmark result JSON files"),
              out_path: Path = typer.Option(Path("calibration.json"), "--out",
                                            help="calibration file to write (name it in a problem: calibration: PATH)"),
              hardware: Optional[str] = typer.Option(None, "--hardware", help="hardware of benchmark JSON results"),
              model: Optional[str] = typer.Option(None, "--model", help="catalog model id, if the results' "
                                                                        "model name is not a catalog model's repo"),
              precision: Optional[str] = typer.Option(None, "--precision", help="bf16 | fp8 | fp4, for JSON results"),
              tp: Optional[int] = typer.Option(None, "--tp", help="tensor-parallel degree of JSON results"),
              ep: Optional[int] = typer.Option(None, "--ep", help="expert-parallel degree (= --tp: attention DP + EP)"),
              gpus: Optional[int] = typer.Option(None, "--gpus", help="GPUs behind the benchmarked server "
                                                                      "(default: --tp)")):
    """Refit the calibration on your own measurements; print the error before and after per hardware."""
    from .calibrate import fit_calibration, read_results, save_calibration  # noqa: PLC0415

    from .outputs import check_output  # noqa: PLC0415

    check_output(out_path, "--out", suffixes=(".json",), inputs=results)
    rows = read_results(results, hardware=hardware, precision=precision, tp=tp, ep=ep, gpus=gpus, model=model)
    r = fit_calibration(rows)
    out.print(calibration_table(r))
    out.print("errors: median of max(pred/meas, meas/pred) - 1; the fit minimizes the rms log error with the "
              "shipped calibration as a prior", markup=False)
    save_calibration(r.calibration, out_path, "--out")
    out.print(f"wrote {out_path}: name it in a problem file as `calibration: {out_path}`", markup=False)


# ---------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    """Entry point: maps errors to exit codes and never shows a traceback for bad input."""
    try:  # recent typer releases vendor click; older ones use click itself
        from typer._click.exceptions import ClickException  # noqa: PLC0415
    except ImportError:  # pragma: no cover - depends on the typer release
        from click.exceptions import ClickException  # noqa: PLC0415
    ClickExit = typer.Exit

    from problems.errors import TokenfleetError  # noqa: PLC0415

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        app(args=args, prog_name="tokenfleet", standalone_mode=False)
        return EXIT_OK
    except TokenfleetError as e:
        prefix = "internal error" if e.exit_code == EXIT_INTERNAL else "error"
        err.print(plain(f"{prefix}: {e}"), markup=False)  # names in messages come from input files
        return e.exit_code
    except ClickExit as e:
        return e.exit_code
    except ClickException as e:
        e.show(file=sys.stderr)  # click shows what was typed as repr: no control codes get through
        return EXIT_INVALID
    except typer.Abort:
        return EXIT_INVALID
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except Exception as e:  # noqa: BLE001 - the last line of defence
        if os.environ.get("TOKENFLEET_DEBUG"):
            raise
        err.print(plain(f"internal error: {type(e).__name__}: {e} (set TOKENFLEET_DEBUG=1 for a traceback)"),
                  markup=False)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
