"""The plan: what to buy or rent, how to serve each workload, and what it costs."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from problems.errors import UnknownNameError

TABLES = ("candidates", "allocations", "workloads")


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


@dataclass
class Plan:
    """Result of :func:`optimizer.solve`.

    Tables are lists of dicts (``to_rows(name)``); ``to_dataframe(name)`` needs pandas.
    ``status`` is ``optimal``, ``time_limit`` (best plan found when the time limit stopped the
    MILP; see ``solver['mip_gap']``) or ``infeasible`` (see ``infeasibility``).
    """

    problem: str
    objective: str
    status: str
    candidates: list = field(default_factory=list)
    allocations: list = field(default_factory=list)
    workloads: list = field(default_factory=list)
    totals: dict = field(default_factory=dict)
    marginal_values: dict = field(default_factory=dict)
    solver: dict = field(default_factory=dict)
    backend: dict = field(default_factory=dict)
    infeasibility: list = field(default_factory=list)
    message: str = ""
    warnings: list = field(default_factory=list)   # one line per workload served below its demand

    # --- convenience -------------------------------------------------------------------------
    @property
    def is_feasible(self) -> bool:
        return self.status in ("optimal", "time_limit")

    @property
    def total_cost_usd_per_hour(self) -> float | None:
        return self.totals.get("total_cost_usd_per_hour")

    @property
    def gpus_by_type(self) -> dict:
        return self.totals.get("gpus_by_type", {})

    def to_rows(self, table: str = "allocations") -> list[dict]:
        if table not in TABLES:
            raise UnknownNameError(f"unknown table {table!r}; one of {', '.join(TABLES)}")
        return [dict(r) for r in getattr(self, table)]

    def to_dataframe(self, table: str = "allocations"):
        try:
            import pandas as pd  # noqa: PLC0415
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_dataframe needs pandas (pip install pandas); use to_rows()") from e
        return pd.DataFrame(self.to_rows(table))

    def deployments(self) -> list[dict]:
        """Launch settings for vLLM, SGLang and TensorRT-LLM per chosen configuration, with the
        replica count, the hardware and how replicas map onto its units (see :mod:`optimizer.deploy`)."""
        from .deploy import plan_deployments  # noqa: PLC0415

        return plan_deployments(self)

    def to_dict(self) -> dict:
        return _clean(asdict(self))

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        return cls(**d)

    @classmethod
    def from_json(cls, s: str) -> "Plan":
        return cls.from_dict(json.loads(s))

    def summary(self) -> str:
        if not self.is_feasible:
            return f"{self.problem}: {self.status}: {self.message}"
        t = self.totals
        gpus = ", ".join(f"{n}x {h}" for h, n in t.get("gpus_by_type", {}).items())
        return (f"{self.problem}: {self.status}; {gpus}; ${t['total_cost_usd_per_hour']:.2f}/h; "
                f"{t.get('power_mw') or 0:.3f} MW; ${t.get('cost_usd_per_mtok_output') or 0:.4f} per Mtok output"
                + (f"; {len(self.warnings)} warning(s), see .warnings" if self.warnings else ""))

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><td>{escape(a['workload'])}</td><td>{escape(a['model'])}</td><td>{escape(a['hardware'])}</td>"
            f"<td>{escape(a.get('configuration') or '')}</td><td>{a['replicas']}</td>"
            f"<td>{a['gpus']}</td><td>{a['cost_usd_per_mtok_output']:.4f}</td></tr>" for a in self.allocations)
        warn = "".join(f"<li>{escape(w)}</li>" for w in self.warnings)
        return (f"<p><b>{escape(self.summary())}</b></p><table><tr><th>workload</th><th>model</th>"
                f"<th>hardware</th><th>configuration</th><th>replicas</th><th>GPUs</th><th>$/Mtok out</th></tr>"
                f"{rows}</table>" + (f"<p>warnings:</p><ul>{warn}</ul>" if warn else ""))

    def __repr__(self) -> str:
        return f"Plan({self.summary()})"
