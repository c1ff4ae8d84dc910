"""Errors budgetplan raises on bad input.

Every error is one readable line that names the file, row or column at fault, so the CLI can
print it and exit non-zero without a traceback (see ``budgetplan.cli``).
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable


class BudgetplanError(Exception):
    """Base class: a problem with the user's input or request, reported as one line.

    Picklable whatever a subclass's ``__init__`` takes (rebuilt from its message and attributes,
    not by calling ``__init__`` again), so an error raised in a worker process or a Ray task
    reaches the driver as itself.
    """

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_error, (type(self), self.args, dict(self.__dict__)))


def _rebuild_error(
    cls: type[BudgetplanError], args: tuple[object, ...], state: dict[str, object]
) -> BudgetplanError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class InputFileError(BudgetplanError, ValueError):
    """A file is missing, unreadable, empty or malformed."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnknownClassError(BudgetplanError, KeyError):
    """A class name that the label table does not have; suggests the closest names."""

    def __init__(self, name: str, known: Iterable[str], what: str = "class") -> None:
        known = list(known)
        self.name = name
        self.suggestions = suggest(name, known)
        hint = (
            f" Did you mean {', '.join(repr(s) for s in self.suggestions)}?"
            if self.suggestions
            else ""
        )
        listed = ", ".join(known[:50]) + (f", ... ({len(known)} in all)" if len(known) > 50 else "")
        msg = f"unknown {what} {short_repr(name)}.{hint} Known: {listed}"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DataMismatchError(BudgetplanError, ValueError):
    """Two inputs that must agree do not (ids, dimensions, index size, ...)."""


class BudgetError(BudgetplanError, ValueError):
    """A budget or cost model that cannot buy anything, or is malformed."""


class ConfigError(BudgetplanError, ValueError):
    """A configuration value of the wrong type or out of range; names the key and the value."""

    def __init__(self, key: str, value: object, problem: str) -> None:
        self.key = key
        self.value = value
        self.problem = problem
        super().__init__(f"{key} = {short_repr(value)}: {problem}")


#: Longest echo of a user's value (an id, a cell, a class name) inside an error message.
ECHO_LIMIT = 60


def short_repr(value: object, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)`` cut to about ``limit`` characters (a 10 MB cell is never echoed whole);
    a cut string says how long it was, and big containers are shortened without a full repr."""
    if not isinstance(value, str):
        short = reprlib.Repr()
        short.maxstring = short.maxother = limit
        short.maxlevel, short.maxlist, short.maxdict = 2, 5, 5
        return short.repr(value)[: 2 * limit]
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 4]}...' ({len(value):,} characters)"


def suggest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Closest known names to ``name`` (case-insensitive), best first."""
    known = list(known)
    if len(name) > 4 * ECHO_LIMIT:  # nothing that long is a typo of a class name
        return []
    lower = {k.lower(): k for k in known}
    hits = difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=0.5)
    extra = [k for k in known if name.lower() in k.lower() and k not in (lower[h] for h in hits)]
    return [lower[h] for h in hits] + extra[: max(0, n - len(hits))]
