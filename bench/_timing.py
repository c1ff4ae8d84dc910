"""Timing helper shared by the bench scripts (run as ``python bench/<topic>.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """The shortest wall time in seconds of ``repeats`` calls of ``fn`` (least disturbed by
    other load on a shared machine)."""
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
