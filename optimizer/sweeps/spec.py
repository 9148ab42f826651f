"""A sweep's specification: the base problem, the axes of values, grid or zip.

Axes come from three front doors, all ending in :class:`Axis` objects holding Python values:
``--vary PATH=V1,V2`` text (values parsed as YAML scalars), a spec file (YAML lists), or the Python
API (values used as given: ``["a, b"]`` is one value, ``"123"`` stays a string). The number of
scenarios is known from the axes' lengths and checked against a limit before anything is
allocated or validated.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from problems import ProblemError, problem_from_dict
from problems.loader import bundled_examples, parse_yaml, read_source

from .errors import SweepError
from .paths import apply_values, canonical_path, check_path

# 1e6 scenarios is hours of solving at the measured ~100-1,000 scenarios/s; beyond it a sweep is
# more likely a typo (an extra zero in a range) than a plan
MAX_SCENARIOS = 1_000_000
MAX_AXIS_VALUES = 1_000_000
_RANGE = re.compile(r"\s*[-+\d.eE]+:[-+\d.eE]+:\d+\s*")


@dataclass
class Axis:
    """One swept field: a dotted ``path`` and its ``values`` (Python values, in order)."""

    path: str
    values: list


@dataclass
class SweepSpec:
    """The base problem mapping, its ``source`` label, the axes and the mode (grid or zip)."""

    base: dict
    source: str
    axes: list = field(default_factory=list)
    mode: str = "grid"   # grid | zip
    inputs: list = field(default_factory=list)   # files read (outputs must not overwrite them)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_cli(cls, problem, vary: list[str], spec_path=None, zip_axes: bool = False,
                 max_scenarios: int = MAX_SCENARIOS) -> "SweepSpec":
        """From CLI text: ``--vary`` strings and/or a ``--spec`` file."""
        axes, mode = [], "zip" if zip_axes else "grid"
        base_src, inputs = problem, []
        if spec_path is not None:
            d = _read_spec(spec_path)
            inputs.append(Path(spec_path))
            mode = d.get("mode", mode)
            if "problem" in d and problem is None:
                p = Path(d["problem"])
                base_src = p if p.is_absolute() else Path(spec_path).parent / p
                if not base_src.exists() and d["problem"] in bundled_examples():
                    base_src = d["problem"]
            for a in d.get("axes", []):
                axes.append(_axis_from_spec(a, spec_path))
        for v in vary:
            axes.append(parse_vary(v))
        if not axes:
            raise SweepError("no axes: give --vary PATH=V1,V2,... or --spec FILE")
        if base_src is None:
            raise SweepError("no base problem: give PROBLEM, or problem: FILE in the --spec file")
        return cls.build(base_src, axes, mode, max_scenarios, inputs)

    @classmethod
    def build(cls, problem, axes: list[Axis], mode: str = "grid", max_scenarios: int = MAX_SCENARIOS,
              inputs=(), option: str = "--max-scenarios") -> "SweepSpec":
        """Check the size first (cheap), then load the base problem and validate every value."""
        if mode not in ("grid", "zip"):
            raise SweepError(f"mode must be grid or zip, got {mode!r}")
        check_size(axes, mode, max_scenarios, option)
        base, source = load_base(problem)
        if not source.startswith("<"):   # a file (not a mapping, a Problem or a bundled example)
            inputs = [*inputs, Path(source)]
        sp = cls(base=base, source=source, axes=list(axes), mode=mode, inputs=list(inputs))
        sp.check()
        return sp

    def check(self) -> None:
        problem_from_dict(self.base, self.source)
        fields: dict[str, str] = {}
        for a in self.axes:
            field_ = canonical_path(self.base, a.path)
            if field_ in fields:
                raise SweepError(f"axes {fields[field_]} and {a.path} set the same field; give its values once")
            fields[field_] = a.path
        for a in self.axes:
            for v in a.values:
                try:
                    problem_from_dict(apply_values(self.base, {a.path: v}), f"{self.source} with {a.path}={v!r}")
                except ProblemError as e:
                    raise SweepError(str(e)) from None

    @property
    def n_scenarios(self) -> int:
        return count_scenarios(self.axes, self.mode)

    def scenarios(self) -> list[dict]:
        """``[{"scenario": i, "values": {path: value}}]`` in scenario order."""
        combos = (zip(*[a.values for a in self.axes]) if self.mode == "zip"
                  else itertools.product(*[a.values for a in self.axes]))
        return [dict(scenario=i, values={a.path: v for a, v in zip(self.axes, vals)}) for i, vals in enumerate(combos)]

    def fingerprint(self, options: dict | None = None) -> str:
        """The sweep's identity: a hash of the base problem, the axes, the mode and ``options``."""
        blob = json.dumps(dict(base=self.base, axes=[(a.path, a.values) for a in self.axes], mode=self.mode,
                               options=options or {}), sort_keys=True, default=repr)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def count_scenarios(axes: list[Axis], mode: str) -> int:
    if mode == "zip":
        return len(axes[0].values) if axes else 0
    return math.prod(len(a.values) for a in axes)


def check_size(axes: list[Axis], mode: str, max_scenarios: int, option: str = "--max-scenarios") -> None:
    """Refuse an empty axis, unequal zip axes, or more scenarios than ``max_scenarios``."""
    for a in axes:
        if not a.values:
            raise SweepError(f"{a.path}: no values")
    if mode == "zip" and len({len(a.values) for a in axes}) > 1:
        raise SweepError("zip needs axes of equal length: " + ", ".join(f"{a.path} has {len(a.values)}" for a in axes))
    n = count_scenarios(axes, mode)
    if n > max_scenarios:
        sizes = " x ".join(f"{len(a.values):,} ({a.path})" for a in axes)
        raise SweepError(f"the sweep has {n:,} scenarios ({sizes}), over the limit of {max_scenarios:,}; "
                         f"use fewer values, or raise the limit with {option}")


# ------------------------------------------------------------------------------ reading files
def _yaml_message(e: ProblemError) -> str:
    """A YAML error without the quoted source line (the file may not be ours to print)."""
    msg = " ".join(e.messages)
    where = re.search(r"line (\d+), column (\d+)", msg)
    what = msg.split(" in \"<", 1)[0].split(" in '<", 1)[0]
    return what + (f" (line {where.group(1)}, column {where.group(2)})" if where else "")


def _parse(path, what: str):
    """Parse a YAML file through the problem loader (its size and alias limits apply); errors
    name the file and the line, never quote the file's content."""
    text, source = read_source(path)
    try:
        return parse_yaml(text, source), source
    except ProblemError as e:
        raise SweepError(f"{source}: not a {what}: {_yaml_message(e)}") from None


def load_base(problem) -> tuple[dict, str]:
    """The base problem as a mapping: a file path, a bundled example name, a mapping or a Problem."""
    import copy  # noqa: PLC0415

    if isinstance(problem, dict):
        return copy.deepcopy(problem), "<dict>"
    if hasattr(problem, "to_dict") and hasattr(problem, "workloads"):
        return problem.to_dict(), f"<problem {getattr(problem, 'name', '')}>"
    if not isinstance(problem, (str, Path)):
        raise SweepError(f"problem: expected a problem file, a bundled example name, a mapping or a Problem, "
                         f"got {type(problem).__name__}")
    p = Path(problem)
    if p.exists() and str(problem) not in bundled_examples() and p.suffix.lower() not in (".yaml", ".yml"):
        # not read: a file named by mistake (or by a spec file from elsewhere) must not be echoed
        raise SweepError(f"{problem}: not a problem file (expected a .yaml or .yml file or a bundled example name)")
    data, source = _parse(problem, "problem file")
    if not isinstance(data, dict):
        raise SweepError(f"{source}: not a problem file: the top level is a {type(data).__name__}, "
                         "not a mapping with hardware and workloads")
    if not {"schema_version", "hardware", "workloads"} & set(data):
        # some other YAML file: its fields are not listed (their values could be anything)
        raise SweepError(f"{source}: not a problem file: it has none of schema_version, hardware, workloads")
    return data, source


def _read_spec(path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise SweepError(f"{path}: no such sweep file")
    d, _ = _parse(p, "sweep file")
    if not isinstance(d, dict):
        raise SweepError(f"{path}: top level must be a mapping with 'axes'")
    unknown = set(d) - {"problem", "mode", "axes"}
    if unknown:
        raise SweepError(f"{path}: unknown keys {sorted(map(str, unknown))} (allowed: problem, mode, axes)")
    if not isinstance(d.get("axes"), list):
        raise SweepError(f"{path}: axes must be a list of {{path, values}} or {{path, range}}")
    if "problem" in d and not isinstance(d["problem"], str):
        raise SweepError(f"{path}: problem must be a file name")
    return d


def _axis_from_spec(a, src) -> Axis:
    if not isinstance(a, dict) or "path" not in a or not ({"values", "range"} & set(a)):
        raise SweepError(f"{src}: each axis needs 'path' and 'values' or 'range', got {str(a)[:80]!r}")
    path = check_path(a["path"], f"{src}: axis")
    if "values" in a:
        if not isinstance(a["values"], list):
            raise SweepError(f"{src}: {path}: values must be a list")
        return Axis(path, list(a["values"]))
    r = a["range"]
    try:
        start, stop, num = float(r["start"]), float(r["stop"]), int(r["num"])
    except (KeyError, TypeError, ValueError, OverflowError):
        raise SweepError(f"{src}: {path}: range needs start, stop, num (numbers)") from None
    try:
        return Axis(path, linspace(start, stop, num))
    except SweepError as e:
        raise SweepError(f"{src}: {path}: {e}") from None


def linspace(a: float, b: float, n: int) -> list[float]:
    """``n`` evenly spaced floats from ``a`` to ``b`` inclusive (as NumPy's linspace)."""
    import numpy as np  # noqa: PLC0415

    if n < 1 or n > MAX_AXIS_VALUES:
        raise SweepError(f"range needs 1 <= num <= {MAX_AXIS_VALUES:,}, got {n:,}")
    if not (math.isfinite(a) and math.isfinite(b)):
        raise SweepError(f"range needs finite start and stop, got {a} and {b}")
    return [float(x) for x in np.linspace(a, b, n)]


def parse_vary(text: str) -> Axis:
    """``PATH=V1,V2,...`` (YAML scalars) or ``PATH=START:STOP:N`` (``--vary`` text)."""
    if "=" not in text:
        raise SweepError(f"--vary {text!r}: expected PATH=V1,V2,... or PATH=START:STOP:N")
    path, vals = text.split("=", 1)
    path = check_path(path.strip(), f"--vary {text!r}")
    if _RANGE.fullmatch(vals):
        a, b, n = vals.split(":")
        try:
            start, stop, num = float(a), float(b), int(n)
        except ValueError:
            raise SweepError(f"--vary {text!r}: bad range; expected START:STOP:N, e.g. 10:100:10") from None
        try:
            return Axis(path, linspace(start, stop, num))
        except SweepError as e:
            raise SweepError(f"--vary {text!r}: {e}") from None
    out = []
    for v in vals.split(","):
        v = v.strip()
        if not v:
            raise SweepError(f"--vary {text!r}: empty value")
        try:
            x = parse_yaml(v, "--vary")   # the loader's rules for scalars (numbers, booleans, null)
        except ProblemError:
            x = v
        out.append(x if isinstance(x, (str, int, float, bool)) or x is None else v)
    return Axis(path, out)


def axes_from_python(vary) -> list[Axis]:
    """Axes from the Python API: ``{path: [values]}``, values used as given (no text round trip)."""
    import numpy as np  # noqa: PLC0415

    if not isinstance(vary, dict) or not vary:
        raise SweepError("vary: expected a mapping {dotted path: list of values}, e.g. "
                         "{'workloads.0.demand.requests_per_s': [10, 20]}")
    axes = []
    for path, values in vary.items():
        check_path(path, "vary")
        if isinstance(values, np.ndarray):
            values = values.tolist()
        if isinstance(values, (str, bytes, dict, set)) or not hasattr(values, "__iter__"):
            raise SweepError(f"vary[{path!r}]: expected a list of values, got {type(values).__name__} "
                             f"(one value: [{values!r}])")
        # at most one value past the limit is taken: a huge range or an endless iterator is
        # refused without being materialized
        vals = [v.item() if isinstance(v, np.generic) else v
                for v in itertools.islice(values, MAX_AXIS_VALUES + 1)]
        if len(vals) > MAX_AXIS_VALUES:
            raise SweepError(f"vary[{path!r}]: more than {MAX_AXIS_VALUES:,} values")
        axes.append(Axis(path, vals))
    return axes
