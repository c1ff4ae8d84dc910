"""IdentityMemo: an answer per pair of objects (not per equal content), computed once."""

from __future__ import annotations

import numpy as np
import pytest

from budgetplan.planner.identity_memo import IdentityMemo


def test_an_answer_is_kept_per_object_pair_and_read_only() -> None:
    memo: IdentityMemo[np.ndarray] = IdentityMemo(2)
    a, b = np.arange(3), ("x", "y")
    calls: list[int] = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.array([1, 2])

    first = memo.get(a, b, compute)
    assert memo.get(a, b, compute) is first and len(calls) == 1
    with pytest.raises(ValueError):
        first[0] = 5  # callers share it: nobody may change it
    memo.get(a.copy(), b, compute)  # equal content, another object: computed again
    assert len(calls) == 2
    memo.get(a, ("x",), compute)  # a third pair: the full memo starts afresh
    memo.get(a, b, compute)
    assert len(calls) == 4
