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


@contextmanager
def tqdm_progress(desc: str = "", unit: str = "it") -> Iterator[ProgressFn]:
    """A ``ProgressFn`` that drives one tqdm bar (with ETA) on stderr; closed on exit."""
    bar: tqdm | None = None

    def update(done: int, total: int, message: str = "") -> None:
        nonlocal bar
        if bar is None or bar.total != total:
            if bar is not None:
                bar.close()
            bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)
        bar.n = done
        if message:
            bar.set_postfix_str(message, refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()
