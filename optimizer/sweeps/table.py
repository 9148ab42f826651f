"""The sweep's result table: Parquet or CSV, one row per scenario, written whole or not at all."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..outputs import replacing, write_csv
from .errors import SweepError

SUFFIXES = (".csv", ".parquet")


def _cell(v):
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _mixed_columns(rows: list[dict], cols: list[str]) -> list[str]:
    """Columns whose values are of more than one kind (text, number, flag), ignoring empties."""
    def kind(v):
        return "flag" if isinstance(v, bool) else "number" if isinstance(v, (int, float)) else type(v).__name__

    return [c for c in cols if len({kind(r[c]) for r in rows if r[c] is not None}) > 1]


def columns(rows: list[dict]) -> list[str]:
    """Column names in first-seen order (rows may differ: ``gpus.<hardware>`` appear as used)."""
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def write_table(rows: list[dict], out, option: str = "--out") -> None:
    """Write ``rows`` to ``out`` (``.parquet`` or ``.csv``) through a temporary file and a rename.

    CSV cells pass :func:`problems.text.csv_cell` (a text cell never starts a spreadsheet formula).
    """
    out = Path(out)
    cols = columns(rows)
    if out.suffix.lower() == ".parquet":
        try:
            import pyarrow as pa  # noqa: PLC0415
            import pyarrow.parquet as pq  # noqa: PLC0415
        except ImportError:
            raise SweepError("writing Parquet needs pyarrow: pip install 'tokenfleet[parquet]', "
                             "or use --out FILE.csv") from None
        cells = [{c: _cell(r.get(c)) for c in cols} for r in rows]
        for c in _mixed_columns(cells, cols):
            for r in cells:   # Parquet columns have one type: mixed values are written as text
                r[c] = None if r[c] is None else str(r[c])
        table = pa.Table.from_pylist(cells)
        with replacing(out, option) as tmp:
            pq.write_table(table, tmp)
    else:
        write_csv(out, rows, cols, option)


def read_table(path) -> list[dict]:
    """A sweep table back as rows (CSV numbers as floats, empty cells as None)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
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
