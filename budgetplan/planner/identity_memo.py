"""Results kept per pair of objects, by identity.

The planner asks the same questions of the same big arrays again and again (the rows of a draw's
~78k base ids, the training ids outside the pool): hashing their content would cost what the
answer saves. An :class:`IdentityMemo` keys on the objects themselves and holds them, so their
ids are not reused while an answer is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np

T = TypeVar("T")


class IdentityMemo(Generic[T]):
    """At most ``size`` answers, each kept per ``(a, b)`` object pair; arrays kept read-only."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: dict[tuple[int, int], tuple[Any, Any, T]] = {}

    def get(self, a: object, b: object, compute: Callable[[], T]) -> T:
        """The answer kept for ``(a, b)``, else ``compute()``'s (then kept)."""
        hit = self._items.get((id(a), id(b)))
        if hit is not None and hit[0] is a and hit[1] is b:
            return hit[2]
        value = compute()
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
        if len(self._items) >= self.size:
            self._items.clear()
        self._items[(id(a), id(b))] = (a, b, value)
        return value
