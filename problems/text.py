"""Names from input files shown to people and written to files, literally and safely.

Workload, hardware and problem names come from files a user may not have written. They must never
act as terminal markup, control sequences or spreadsheet formulas:

* :func:`literal` -- for rich output: markup brackets escaped, control characters (ESC, BEL, ...)
  shown as ``\\x1b``-style escapes and invisible reordering characters (bidirectional overrides,
  zero-width marks) as ``\\u202e``-style ones, so a name prints exactly as written and nothing else;
* :func:`csv_cell` -- for CSV cells: a text cell that starts with ``= + - @`` (or a tab/CR, which
  some spreadsheets strip first) is prefixed with ``'`` so spreadsheets show it instead of
  evaluating it (OWASP "CSV injection"). Numbers are left alone, negative ones included.
"""

from __future__ import annotations

import re

# C0/C1 controls but tab and newline, and the invisible Unicode format characters that reorder or
# hide text on a terminal (bidirectional overrides and isolates, zero-width marks, BOM)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape_control(s: str) -> str:
    def esc(m):
        c = ord(m.group())
        return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"

    return _CONTROL.sub(esc, s)


def plain(value) -> str:
    """``str(value)`` with control characters escaped (for messages printed with markup off)."""
    return _escape_control(str(value))


def literal(value) -> str:
    """``str(value)`` safe to embed in rich markup: brackets escaped, control characters escaped."""
    from rich.markup import escape  # noqa: PLC0415 - rich is only needed where people read output

    return escape(plain(value))


def csv_cell(value):
    """A CSV cell value that no spreadsheet will evaluate as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
