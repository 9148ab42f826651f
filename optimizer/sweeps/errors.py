"""The sweep's error (an :class:`~problems.errors.InputError`: the CLI exits 2 on it)."""

from problems.errors import InputError


class SweepError(InputError):
    """An invalid sweep: a bad path or value, a spec file, an output in use, a foreign journal."""
