"""Progress reporting: library code calls ``progress(done, total, message)``; shells choose how
to show it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

ProgressFn = Callable[[int, int, str], None]


def no_progress(done: int, total: int, message: str = "") -> None:
    """The default: report nothing."""


# Stages whose messages start with "<stage>: ": their own bar, named after the stage and counted
# in steps (a long command's demo build and set-up are not "runs"; issue 13).
STAGES: dict[str, str] = {"demo build": "step", "set-up": "step"}


def stage_of(message: str, desc: str, unit: str) -> tuple[str, str, str]:
    """``(desc, unit, rest)`` for a progress message: a known ``<stage>: `` prefix names the bar
    and its unit (the rest is the detail shown after it); any other message keeps the caller's
    ``desc`` and ``unit``."""
    head, sep, rest = message.partition(": ")
    if sep and head in STAGES:
        return head, STAGES[head], rest
    return desc, unit, message


@contextmanager
def tqdm_progress(desc: str = "", unit: str = "it") -> Iterator[ProgressFn]:
    """A ``ProgressFn`` that drives tqdm bars (with ETA) on stderr, a new bar whenever the total
    or the stage changes (:func:`stage_of`); closed on exit."""
    bar: tqdm | None = None
    shown = ("", -1)  # the (stage, total) of the open bar (a disabled tqdm keeps neither)

    def update(done: int, total: int, message: str = "") -> None:
        nonlocal bar, shown
        name, bar_unit, detail = stage_of(message, desc, unit)
        if bar is None or shown != (name, total):
            if bar is not None:
                bar.close()
            bar = tqdm(total=total, desc=name, unit=bar_unit, file=sys.stderr, dynamic_ncols=True)
            shown = (name, total)
        bar.n = done
        if detail:
            bar.set_postfix_str(detail, refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()
