"""Batch sweeps: a base problem, axes of values, one solved plan per scenario.

* **Axes** are dotted paths into the problem file (``workloads.0.demand.requests_per_s``,
  ``hardware.b200.price_usd_per_hour``, ``constraints.power_cap_mw``) with a list of values or a
  ``START:STOP:N`` range; scenarios are their Cartesian product (grid) or zip. The scenario count
  is checked against a limit before anything is allocated (:mod:`.spec`, :mod:`.paths`).
* **Shared work**: scenarios that differ only in *parameters* of the allocation (demand, rental
  price, capex, availability, power cap, budget, value per token) share one evaluation of the
  configuration space and one cvxpy problem, re-solved by setting parameter values. Any other
  change (an SLA, a sequence length, the search space...) re-evaluates the space (:mod:`.batch`).
* **Price brackets**: under min_cost, scenarios that differ only in rental prices form a grid
  solved as brackets (:mod:`optimizer.brackets`): MILPs at the corners of price boxes, plans
  certified to the same gap inside them, boxes halved where a certificate fails.
* **Nothing lost, nothing mixed**: the output is locked for the whole run (:mod:`.lock`); every
  finished scenario is appended as one JSON line carrying the sweep's identity to
  ``<out>.journal`` (:mod:`.journal`) and synced to disk before the next starts; ``resume`` refuses lines
  it cannot vouch for. The table (Parquet or CSV) is written from the journal at the end, sorted by
  scenario, through a temporary file and an atomic rename (:mod:`.table`).
* **Distributed** on Dask (:mod:`.cluster`); only the driver writes files.

``optimizer.sweep(problem, vary={path: [values]}, out=...)`` is the Python front door;
``tokenfleet sweep`` builds the same :class:`SweepSpec` from ``--vary`` text or a spec file.
"""

from __future__ import annotations

from .errors import SweepError
from .paths import apply_values, is_parameter_path, set_path
from .run import check_outputs, plot_results, price_paths, run_sweep
from .spec import MAX_SCENARIOS, Axis, SweepSpec, axes_from_python, parse_vary
from .table import read_table, write_table


def sweep(problem, vary: dict, out, mode: str = "grid", *, max_scenarios: int = MAX_SCENARIOS, **kw) -> dict:
    """Solve one plan per scenario of a grid (or zip) of values, writing a table to ``out``.

    Parameters
    ----------
    problem : str, Path, dict or Problem
        The base problem: a file, a bundled example name, a problem mapping or a loaded Problem.
    vary : dict
        ``{dotted path: list of values}``; values are used as given (``["a, b"]`` is one value,
        ``"123"`` a string), e.g. ``{"workloads.0.demand.requests_per_s": [10, 20]}``.
    out : str or Path
        The table, ``.parquet`` or ``.csv``; ``<out>.journal`` records finished scenarios.
    mode : {"grid", "zip"}
    max_scenarios : int
        Refuse larger sweeps before any work (default 1,000,000).
    **kw
        Passed to :func:`run_sweep`: ``resume``, ``workers``, ``scheduler``, ``plans_path``,
        ``backend``, ``progress``, ``mip_rel_gap``, ``brackets``.

    Returns
    -------
    dict
        The run's summary (see :func:`run_sweep`).
    """
    if isinstance(max_scenarios, bool) or not isinstance(max_scenarios, int) or max_scenarios < 1:
        raise SweepError(f"max_scenarios: expected an integer >= 1, got {max_scenarios!r}")
    spec = SweepSpec.build(problem, axes_from_python(vary), mode, max_scenarios, option="max_scenarios=")
    return run_sweep(spec, out, **kw)


__all__ = ["Axis", "MAX_SCENARIOS", "SweepError", "SweepSpec", "apply_values", "check_outputs",
           "is_parameter_path", "parse_vary", "plot_results", "price_paths", "read_table", "run_sweep",
           "set_path", "sweep", "write_table"]
