"""Small generated multi-label problems for the training-engine tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest


@dataclass
class Problem:
    x_train: np.ndarray
    y_train: np.ndarray  # (N, C) with NaN (half the labels masked)
    y_full: np.ndarray  # (N, C) all labels
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def make_problem(
    seed: int = 0, n: int = 600, d: int = 32, c: int = 5, missing: float = 0.5
) -> Problem:
    """Linear-logistic multi-label data: x ~ N(0, I), y_c = [x . w_c + noise > 1]."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(d, c)) / np.sqrt(d) * 3.0
    total = n + 2 * (n // 2)
    x = rng.normal(size=(total, d)).astype(np.float32)
    y = (x @ w + rng.normal(size=(total, c)) * 0.5 > 1.0).astype(np.float32)
    y_train = y[:n].copy()
    y_train[rng.random(y_train.shape) < missing] = np.nan
    m = n // 2
    return Problem(x[:n], y_train, y[:n], x[n : n + m], y[n : n + m], x[n + m :], y[n + m :])


@pytest.fixture(scope="session")
def problem() -> Problem:
    return make_problem()
