"""Checks of Python API arguments: the wrong type or range is an :class:`InputError` that names the
function, the argument and what is allowed, never a NumPy or ``KeyError`` from deep inside.

``bool`` is not a number here (``True`` is an ``int`` to Python, never a batch size to us), strings
are never converted (``tp="4"`` is refused, not read), and a whole-number argument given a
fraction is refused rather than truncated (``concurrency=8.5``).
"""

from __future__ import annotations

import math
import numbers

from .errors import InputError
from .schema import MAX_INT


def _got(value) -> str:
    r = repr(value)
    r = r if len(r) <= 40 else r[:37] + "..."
    return f"{r} ({type(value).__name__})"


def _range_text(lo, hi, lo_open: bool, hi_open: bool) -> str:
    if hi is None:
        return f"> {lo:g}" if lo_open else f">= {lo:g}"
    return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def real(func: str, name: str, value, lo: float, hi: float | None = None, *, lo_open: bool = False,
         hi_open: bool = False, optional: bool = False, error=InputError) -> float | None:
    """``value`` as a finite float within the range, or :class:`InputError`."""
    if value is None and optional:
        return None
    want = f"{func}: {name} must be a finite number {_range_text(lo, hi, lo_open, hi_open)}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{want}{' or None' if optional else ''}, got {_got(value)}")
    try:
        v = float(value)
    except OverflowError:
        raise error(f"{want}, got {_got(value)}") from None
    bad_lo = v <= lo if lo_open else v < lo
    bad_hi = hi is not None and (v >= hi if hi_open else v > hi)
    if not math.isfinite(v) or bad_lo or bad_hi:
        raise error(f"{want}, got {_got(value)}")
    return v


def whole(func: str, name: str, value, lo: int = 1, hi: int = MAX_INT, *, optional: bool = False,
          error=InputError) -> int | None:
    """``value`` as an ``int`` within ``[lo, hi]``; a whole float (``8.0``) is accepted, a fraction
    (``8.5``) refused, never truncated. ``error`` is the class raised (an InputError)."""
    if value is None and optional:
        return None
    want = f"{func}: {name} must be a whole number in [{lo:,}, {hi:,}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{want}{' or None' if optional else ''}, got {_got(value)}")
    if isinstance(value, numbers.Integral):
        v = int(value)
    else:
        f = float(value)
        if not math.isfinite(f):
            raise error(f"{want}, got {_got(value)}")
        if not f.is_integer():
            raise error(f"{want} (a fraction is not rounded), got {_got(value)}")
        v = int(f)
    if not lo <= v <= hi:
        raise error(f"{want}, got {_got(value)}")
    return v


def choice(func: str, name: str, value, allowed, *, optional: bool = False, error=InputError):
    """``value`` if it is one of ``allowed`` (strings compared exactly), or :class:`InputError`."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in allowed:
        opts = ", ".join(repr(a) for a in allowed) + (" or None" if optional else "")
        raise error(f"{func}: {name} must be one of {opts}, got {_got(value)}")
    return value


def text(func: str, name: str, value, *, error=InputError) -> str:
    """``value`` if it is a non-empty ``str`` (an id looked up later), or :class:`InputError`."""
    if not isinstance(value, str) or not value:
        raise error(f"{func}: {name} must be a non-empty string (a catalog id), got {_got(value)}")
    return value
