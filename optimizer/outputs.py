"""Files tokenfleet writes: checked before any work, written whole or not at all.

* :func:`check_output` -- an output path is checked before anything is solved: not a directory,
  its folder exists and is writable, it is not one of the inputs (the problem file, a sweep spec),
  and its extension matches the format written. The error names the option (``--json``) so the
  user knows what to change; the CLI exits 2 on it.
* :func:`replacing` -- every file is written under a temporary name in the same folder, flushed
  to disk, and renamed over the target only when complete. A kill or a full disk mid-write leaves
  the previous file as it was (and no stray temporary file after an error); a temporary file a
  killed writer left is removed by the next write of the same path.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from pathlib import Path
from typing import Iterable, Iterator

from problems.errors import InputError


# charts: matplotlib picks the format from the extension
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


class OutputError(InputError):
    """An output path that cannot be written: the message names the option and what to change."""


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output(path, option: str, *, suffixes: Iterable[str] | None = None,
                 inputs: Iterable = (), directory: bool = False) -> Path:
    """Refuse an output path that cannot or must not be written, before any work is done.

    Parameters
    ----------
    path : str or Path
        The output file (or folder when ``directory``).
    option : str
        How the user named it (``"--json"``, ``"out="``): every message starts with it.
    suffixes : iterable of str, optional
        Extensions of the format written (``{".csv", ".parquet"}``); others are refused.
    inputs : iterable of paths
        Files the command reads; writing over one of them is refused.
    directory : bool
        The output is a folder files are written into (created if its parent exists).

    Returns
    -------
    Path
    """
    p = Path(path)
    where = f"{option} {p}"
    if not directory:
        for q in inputs:
            if q is not None and Path(q).exists() and _same_file(p, Path(q)):
                raise OutputError(f"{where}: is an input of this command ({q}); it would be overwritten")
    if directory:
        if p.exists() and not p.is_dir():
            raise OutputError(f"{where}: exists and is not a folder; give a folder for the CSV files")
        parent = p if p.exists() else p.parent
    else:
        if p.is_dir():
            raise OutputError(f"{where}: is a folder; give a file name inside it")
        parent = p.parent
        if suffixes is not None:
            allowed = sorted(suffixes)
            if p.suffix.lower() not in allowed:
                raise OutputError(f"{where}: the file name must end in {' or '.join(allowed)} "
                                  f"(the format written is chosen by it), got {p.suffix or 'no extension'!r}")
    parent = parent if str(parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{where}: folder {parent} does not exist; create it or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{where}: folder {parent} is not writable")
    if p.exists() and not directory and not os.access(p, os.W_OK):
        raise OutputError(f"{where}: file is not writable")
    return p


def _tmp_name(p: Path) -> Path:
    # same folder (so the rename is atomic), hidden, and the same suffix (so writers that pick the
    # format from the name -- matplotlib, pyarrow -- write the right one)
    return p.with_name(f".{p.stem}.tmp-{os.getpid()}{p.suffix}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True     # someone else's process, or not a pid we can ask about: leave its file
    return True


def remove_stale_temporaries(p: Path) -> list[Path]:
    """Remove the temporary files a killed writer of ``p`` left beside it (``.NAME.tmp-PID.SUFFIX``
    whose process no longer runs on this machine); return the removed paths.

    A writer that is still running keeps its file. A folder shared with another machine whose
    writer happens to target the same name is not a supported set-up (the sweep lock refuses it).
    """
    removed = []
    pat = re.compile(re.escape(f".{p.stem}.tmp-") + r"(\d{1,10})" + re.escape(p.suffix) + "$")
    try:
        names = os.listdir(p.parent if str(p.parent) else ".")
    except OSError:
        return removed
    for name in names:
        m = pat.match(name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                (p.parent / name).unlink()
                removed.append(p.parent / name)
    return removed


@contextlib.contextmanager
def replacing(path, option: str | None = None) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; rename it over ``path`` on success.

    On any error the temporary file is removed and ``path`` keeps its previous content; an
    ``OSError`` (a full disk, a vanished folder) becomes an :class:`OutputError` naming ``option``.
    """
    p = Path(path)
    tmp = _tmp_name(p)
    remove_stale_temporaries(p)
    try:
        yield tmp
        if p.exists():   # the new file keeps the old one's permissions
            os.chmod(tmp, stat.S_IMODE(os.stat(p).st_mode))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)   # the data is on disk before the name points at it
        finally:
            os.close(fd)
        os.replace(tmp, p)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):
            what = f"{option} {p}" if option else str(p)
            raise OutputError(f"{what}: could not be written ({e.strerror or e}); "
                              "the previous file, if any, is unchanged") from None
        raise


def write_text(path, text: str, option: str | None = None) -> None:
    """Write a whole text file atomically (see :func:`replacing`)."""
    with replacing(path, option) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def write_bytes(path, data: bytes, option: str | None = None) -> None:
    """Write a whole binary file atomically (see :func:`replacing`)."""
    with replacing(path, option) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_csv(path, rows: list[dict], columns: list[str] | None = None, option: str | None = None) -> None:
    """Rows as CSV, atomically; every cell through :func:`problems.text.csv_cell` (no formulas),
    lists and mappings as JSON."""
    import csv  # noqa: PLC0415
    import json  # noqa: PLC0415
    import math  # noqa: PLC0415

    from problems.text import csv_cell  # noqa: PLC0415

    def cell(v):
        if isinstance(v, (dict, list, tuple)):
            v = json.dumps(v, default=str)
        elif isinstance(v, float) and not math.isfinite(v):
            return None
        return csv_cell(v)

    if columns is None:
        columns = []
        for r in rows:
            for k in r:
                if k not in columns:
                    columns.append(k)
    with replacing(path, option) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([cell(c) for c in columns])
        for r in rows:
            w.writerow([cell(r.get(c)) for c in columns])
