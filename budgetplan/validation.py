"""One-line checks of configuration values (the table-of-constraints idea of scikit-learn's
``_parameter_constraints``, as small functions).

Every check raises :class:`~budgetplan.errors.ConfigError` naming the key and the value, so a
recipe, a command-line flag, the app and a Python caller all get the same message. Booleans are
never numbers (``budget: true`` is an error, not 1), and numbers must be finite.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from numbers import Integral, Real
from typing import Any

from budgetplan.errors import ConfigError, suggest


def check_int(
    key: str, value: Any, *, low: int | None = None, high: int | None = None, none: bool = False
) -> int | None:
    """An integer in ``[low, high]`` (None allowed when ``none``); returns it as ``int``."""
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ConfigError(key, value, f"must be a whole number{_range(low, high)}{_or_none(none)}")
    number = int(value)
    if (low is not None and number < low) or (high is not None and number > high):
        raise ConfigError(key, value, f"must be a whole number{_range(low, high)}{_or_none(none)}")
    return number


def check_number(
    key: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    none: bool = False,
) -> float | None:
    """A finite real number in the given interval (open ends where asked)."""
    if value is None and none:
        return None
    interval = _interval(low, high, low_open, high_open)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ConfigError(key, value, f"must be a number{interval}{_or_none(none)}")
    x = float(value)
    if not math.isfinite(x):
        raise ConfigError(key, value, f"must be a finite number{interval}")
    too_low = low is not None and (x <= low if low_open else x < low)
    too_high = high is not None and (x >= high if high_open else x > high)
    if too_low or too_high:
        raise ConfigError(key, value, f"must be a number{interval}")
    return x


def check_choice(key: str, value: Any, choices: Collection[str], *, none: bool = False) -> Any:
    """One of ``choices`` (strings)."""
    if value is None and none:
        return None
    if not isinstance(value, str) or value not in choices:
        close = suggest(value, choices) if isinstance(value, str) else []
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise ConfigError(key, value, f"must be one of {', '.join(map(str, choices))}{hint}")
    return value


def check_bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, value, "must be true or false")
    return value


def check_text(key: str, value: Any, *, none: bool = False) -> str | None:
    """A non-empty string (a YAML ``target: 8`` must be quoted: ``"8"``)."""
    if value is None and none:
        return None
    if not isinstance(value, str) or not value.strip():
        hint = ' (quote it in YAML, e.g. "8")' if isinstance(value, int | float) else ""
        raise ConfigError(key, value, f"must be non-empty text{hint}")
    return value


def check_mapping(key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, "must be a mapping of keys to values")
    return value


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return ""
    left = "(" if low_open else "["
    right = ")" if high_open or high is None else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f" in {left}{lo}, {hi}{right}"


def _or_none(none: bool) -> str:
    return " or null" if none else ""
