"""One error family for the whole of tokenfleet.

Every error the Python API raises on purpose is a :class:`TokenfleetError`; its subclass says what
kind of trouble it is, and the CLI maps the kind to an exit code (never a bare built-in exception):

=====================  =========================================================  =====
class                  meaning                                                    exit
=====================  =========================================================  =====
``InputError``         invalid input: a file, a field, an argument (a ValueError)   2
``InfeasibleError``    valid input with no plan: names the constraint and the gap   3
``BackendError``       a requested backend or solver cannot run here (names what     2
                       to install)
``InternalError``      a bug in tokenfleet (please report it)                       1
=====================  =========================================================  =====

Messages say what to change: the file, the field path or argument, and the allowed range.
"""

from __future__ import annotations

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID, EXIT_INFEASIBLE = 0, 1, 2, 3


class TokenfleetError(Exception):
    """Base of every error tokenfleet raises on purpose. ``exit_code`` is the CLI's exit status."""

    exit_code = EXIT_INTERNAL


class InputError(TokenfleetError, ValueError):
    """Invalid input: a problem file, a sweep spec, a CLI option or a Python argument."""

    exit_code = EXIT_INVALID


class InfeasibleError(TokenfleetError):
    """The input is valid but no plan meets it; the message names the constraint and by how much."""

    exit_code = EXIT_INFEASIBLE


class BackendError(TokenfleetError, RuntimeError):
    """A requested backend (or solver) cannot run here; the message names what to install."""

    exit_code = EXIT_INVALID


class InternalError(TokenfleetError, RuntimeError):
    """Something inside tokenfleet went wrong that input cannot explain."""

    exit_code = EXIT_INTERNAL


class UnknownNameError(InputError, KeyError):
    """An id or name that is not in the catalog, the problem or a table (also a KeyError, as a
    lookup by name is); the message suggests the closest names."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""
