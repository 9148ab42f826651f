"""The journal: finished scenarios as JSON lines, appended and synced to disk one at a time.

``<out>.journal`` starts with a header line naming the sweep (a hash of its base problem, axes and
options); every following line is one finished scenario and carries that hash and its scenario id
again, so a line from another sweep cannot pass as ours, whatever happened to the header::

    {"tokenfleet_sweep_journal": 2, "sweep": "3f1c...", "scenarios": 15}
    {"sweep": "3f1c...", "scenario": 0, "row": {...}, "plan": {...}}

On resume, a line that is not a record, belongs to another sweep, names a scenario the sweep does
not have (or with other values), or repeats a scenario is refused with its line number: the
journal is never merged with something it cannot vouch for. The one damage a kill can do -- a
last line without its newline -- is repaired by writing the good part to a new file and renaming
it over the journal (never by truncating in place, so a kill during repair loses nothing).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from problems import ProblemError, parse_json

from ..outputs import write_bytes
from .errors import SweepError

FORMAT = 2


def _canon(values: dict) -> str:
    return json.dumps(values, sort_keys=True, default=str)


class Journal:
    """Append-only record of one sweep's finished scenarios.

    Parameters
    ----------
    path : Path
        ``<out>.journal``.
    fingerprint : str
        The sweep's identity (:meth:`SweepSpec.fingerprint`).
    scenarios : list of dict
        The sweep's scenarios (``{"scenario": i, "values": {...}}``); lines must name one of them.
    """

    def __init__(self, path, fingerprint: str, scenarios: list[dict]):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self._values = {sc["scenario"]: _canon(sc["values"]) for sc in scenarios}

    def _refuse(self, lineno: int, why: str) -> SweepError:
        return SweepError(f"{self.path}, line {lineno}: {why}; the journal is left as it is: "
                          "remove it (and the table) to start anew, or write to another --out")

    def read(self) -> dict[int, dict]:
        """Finished scenarios by id, after repairing a torn last line; refuses anything else."""
        done: dict[int, dict] = {}
        first_line: dict[int, int] = {}
        if not self.path.exists():
            return done
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        complete = lines[:-1]   # a kill may leave a last line without its newline: not trusted
        for k, ln in enumerate(complete, start=1):
            try:
                # the loader's JSON reader: bounded nesting, no duplicate keys, no NaN
                rec = parse_json(ln, f"{self.path}, line {k}")
            except (ProblemError, UnicodeDecodeError):
                rec = None
            if not isinstance(rec, dict):
                raise self._refuse(k, "not a journal record (the line is damaged or the file is not a sweep journal)")
            if k == 1:
                if rec.get("tokenfleet_sweep_journal") != FORMAT or "sweep" not in rec:
                    raise self._refuse(k, "no journal header (written by another program or an older tokenfleet)")
                if rec["sweep"] != self.fingerprint:
                    raise self._refuse(k, "the journal belongs to a different sweep (base problem, axes or "
                                          "options changed)")
                continue
            if rec.get("sweep") != self.fingerprint:
                raise self._refuse(k, "the line belongs to a different sweep")
            sid, row = rec.get("scenario"), rec.get("row")
            if type(sid) is not int or sid not in self._values:
                raise self._refuse(k, f"unknown scenario id {json.dumps(sid)[:40]} "
                                      f"(this sweep has 0..{len(self._values) - 1})")
            if not isinstance(row, dict) or row.get("scenario") != sid:
                raise self._refuse(k, f"scenario {sid}: the row does not match its id")
            if _canon({p: row.get(p) for p in json.loads(self._values[sid])}) != self._values[sid]:
                raise self._refuse(k, f"scenario {sid}: the row's swept values are not this sweep's")
            if sid in first_line:
                raise self._refuse(k, f"scenario {sid} again (first on line {first_line[sid]})")
            first_line[sid] = k
            done[sid] = rec
        if lines[-1]:
            # a torn tail: keep the complete lines in a new file that replaces the journal at once
            write_bytes(self.path, b"\n".join(complete) + (b"\n" if complete else b""), "--out journal")
        return done

    def open(self):
        """The journal opened for appending, with its header written first if it is new."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            header = dict(tokenfleet_sweep_journal=FORMAT, sweep=self.fingerprint, scenarios=len(self._values))
            write_bytes(self.path, (json.dumps(header) + "\n").encode(), "--out journal")
        return open(self.path, "a", encoding="utf-8")

    def record(self, f, rec: dict) -> None:
        """Append one finished scenario and put it on disk before the next one starts (a power
        loss then costs at most the scenario in progress, not lines the OS still buffered)."""
        sid = int(rec["row"]["scenario"])
        line = json.dumps(_finite(dict(sweep=self.fingerprint, scenario=sid, **rec)), default=str, allow_nan=False)
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def _finite(v):
    """``v`` with NaN and infinities as None: journal lines are strict JSON (read back by
    :func:`problems.parse_json`, which refuses those constants), as the table cells are."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v
