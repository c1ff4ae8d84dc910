"""What the user sees of a bug: one line, naming the file that keeps its traceback.

The command line and the app end every failure in one line. Bad input and the operating
system's errors have their own (``BudgetplanError``, ``OSError``); an exception no stage expects
is a bug in budgetplan, and :func:`describe_bug` gives its line: the exception's type and
message, and where its traceback was saved (under the cache, written atomically), which is what
a report needs. ``BUDGETPLAN_DEBUG=1`` (:func:`debugging`) asks the callers to let such an
exception through instead, traceback and all.
"""

from __future__ import annotations

import os
import traceback
from datetime import UTC, datetime
from pathlib import Path

#: Set (to anything but empty or 0) to let a bug's exception through instead of one line.
DEBUG_ENV = "BUDGETPLAN_DEBUG"
#: Longest exception text in the line (a message that echoes a huge input is cut).
MAX_TEXT = 1000


def debugging() -> bool:
    """Whether ``$BUDGETPLAN_DEBUG`` asks for bugs' tracebacks instead of one line."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def save_traceback(exc: BaseException) -> Path:
    """Write ``exc``'s traceback to ``<cache>/errors/<UTC time>-<pid>.txt`` (atomically)."""
    from budgetplan.io import atomic_path
    from budgetplan.paths import cache_dir

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = cache_dir() / "errors" / f"{stamp}-{os.getpid()}.txt"
    with atomic_path(path) as tmp:
        tmp.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    return path


def describe_bug(exc: BaseException) -> str:
    """``<type>: <message> (a bug in budgetplan, please report it; its traceback is in <file>)``.

    If the traceback cannot be saved (a read-only or full cache), the line says how to see it
    instead: a second error never replaces the first one's line.
    """
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = " ".join(text.split())  # one line, whatever the message holds
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "..."
    try:
        where = f"its traceback is in {save_traceback(exc)}"
    except Exception:  # noqa: BLE001 - the report must not fail on a second error
        where = f"run again with {DEBUG_ENV}=1 to see its traceback"
    return f"{text} (a bug in budgetplan, please report it; {where})"
