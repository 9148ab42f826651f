"""Dotted paths into a problem mapping, and which of them only move allocation parameters.

A path names one field of the problem file: ``workloads.0.demand.requests_per_s``,
``hardware.1.price_usd_per_hour``, ``constraints.power_cap_mw``. A list element may be named by
its index or by its ``id`` / ``name`` (``hardware.b200.price_usd_per_hour``,
``workloads.chat.demand.requests_per_s``).
"""

from __future__ import annotations

import copy
import json
import re

from .errors import SweepError

# one segment: an index, a key, or a hardware id / workload name (ids have dashes: h100-sxm)
SEGMENT = r"[A-Za-z0-9_][\w\-]*"
PATH_RE = re.compile(rf"[A-Za-z_]\w*(\.{SEGMENT})*")
_ELEM = r"[^.]+"
# paths whose change keeps the candidate set (only allocation parameters move)
_PARAM_PATTERNS = [
    rf"workloads\.{_ELEM}\.demand\.(requests_per_s|tasks_per_s|output_tok_s)",
    rf"workloads\.{_ELEM}\.value_usd_per_mtok",
    rf"hardware\.{_ELEM}\.available",
    r"constraints\.(power_cap_mw|budget_usd_per_hour|max_gpus)",
]
_PRICE_PATTERNS = [rf"hardware\.{_ELEM}\.price_usd_per_hour", rf"hardware\.{_ELEM}\.capex_usd"]


def check_path(path, where: str) -> str:
    """``path`` if it is a dotted path; otherwise a :class:`SweepError` that starts with ``where``."""
    if not isinstance(path, str) or not PATH_RE.fullmatch(path):
        raise SweepError(f"{where}: {path!r} is not a dotted path like workloads.0.demand.requests_per_s "
                         "or hardware.b200.price_usd_per_hour")
    return path


def _list_index(items: list, part: str, path: str, upto: str) -> int:
    if part.isdigit():
        i = int(part)
        if i >= len(items):
            raise SweepError(f"{path}: {upto} does not exist in the problem (the list has {len(items)} entries)")
        return i
    hits = [i for i, e in enumerate(items)
            if (isinstance(e, dict) and part in (e.get("id"), e.get("name"))) or e == part]
    if len(hits) != 1:
        have = [str(e.get("id", e.get("name"))) if isinstance(e, dict) else str(e) for e in items]
        why = "does not exist" if not hits else "is ambiguous"
        raise SweepError(f"{path}: {upto} {why} in the problem (entries: {', '.join(have)})")
    return hits[0]


def set_path(d: dict, path: str, value) -> None:
    """Set the field ``path`` of the problem mapping ``d`` (in place); missing mappings are created."""
    parts = path.split(".")
    cur = d
    for i, part in enumerate(parts[:-1]):
        upto = ".".join(parts[:i + 1])
        if isinstance(cur, list):
            cur = cur[_list_index(cur, part, path, upto)]
        elif isinstance(cur, dict):
            if part not in cur or cur[part] is None:
                cur[part] = {}
            cur = cur[part]
        else:
            raise SweepError(f"{path}: {'.'.join(parts[:i])} is not a mapping or a list")
    last = parts[-1]
    if isinstance(cur, list):
        cur[_list_index(cur, last, path, path)] = value
    elif isinstance(cur, dict):
        cur[last] = value
    else:
        raise SweepError(f"{path}: {'.'.join(parts[:-1])} is not a mapping")


def canonical_path(base: dict, path: str) -> str:
    """``path`` with list entries named by index (``hardware.b200.x`` -> ``hardware.1.x``)."""
    parts, cur, out = path.split("."), base, []
    for i, part in enumerate(parts):
        if isinstance(cur, list):
            j = _list_index(cur, part, path, ".".join(parts[:i + 1]))
            out.append(str(j))
            cur = cur[j]
        else:
            out.append(part)
            cur = cur.get(part) if isinstance(cur, dict) else None
    return ".".join(out)


def apply_values(base: dict, values: dict) -> dict:
    """A copy of the problem mapping ``base`` with each dotted path set to its value."""
    d = copy.deepcopy(base)
    for p, v in values.items():
        set_path(d, p, v)
    return d


def is_price_path(path: str) -> bool:
    return any(re.fullmatch(p, path) for p in _PRICE_PATTERNS)


def is_parameter_path(path: str, base: dict) -> bool:
    """Does a change along ``path`` keep the candidate set (only allocation parameters move)?"""
    if any(re.fullmatch(p, path) for p in _PARAM_PATTERNS):
        return True
    if is_price_path(path):
        e = base.get("economics") or {}
        # the cheapest batch of a configuration is price-independent only when the price per
        # GPU-hour does not include power-dependent electricity
        return e.get("pricing", "rent") == "rent" and e.get("electricity_included_in_rent", True)
    return False


def structure_key(base: dict, values: dict) -> str:
    """Scenarios with equal keys share one evaluation and one allocation model."""
    struct = {p: v for p, v in values.items() if not is_parameter_path(p, base)}
    return json.dumps(struct, sort_keys=True, default=str)
