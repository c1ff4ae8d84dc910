"""Label relations from the label table: co-occurrence, P(c | target), PMI, phi.

Every number is computed over the images where **both** labels are annotated (NaN is excluded
pairwise, never counted as a negative), and the 2 x 2 counts behind it are kept so a user sees
how much evidence stands behind each number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from budgetplan.errors import DataMismatchError


@dataclass(frozen=True)
class PairCounts:
    """Pairwise 2 x 2 tables of C classes, each (C, C) int64, over rows annotated for both.

    ``n11[a, b]``: a positive and b positive; ``n10``: a positive, b negative; ``n01``: a
    negative, b positive; ``n00``: both negative; ``n`` = their sum (rows annotated for both).
    The diagonal ``n11[c, c]`` is the number of positives of c.
    """

    n11: np.ndarray
    n10: np.ndarray
    n01: np.ndarray
    n00: np.ndarray

    @property
    def n(self) -> np.ndarray:
        return self.n11 + self.n10 + self.n01 + self.n00

    @property
    def positives(self) -> np.ndarray:
        """Positives of each class (C,)."""
        return np.diag(self.n11).copy()


def pair_counts(labels: np.ndarray, rows: np.ndarray | None = None) -> PairCounts:
    """2 x 2 co-occurrence tables for all class pairs from (N, C) labels with NaN (matrix
    products, so 112k x 14 takes milliseconds)."""
    y = np.asarray(labels, dtype=np.float32)
    if y.ndim != 2:
        raise DataMismatchError(f"co-occurrence: labels must be (N, C), got shape {y.shape}")
    if rows is not None:
        y = y[np.asarray(rows)]
    pos = (y == 1).astype(np.float64)
    neg = (y == 0).astype(np.float64)
    return PairCounts(
        n11=_int(pos.T @ pos),
        n10=_int(pos.T @ neg),
        n01=_int(neg.T @ pos),
        n00=_int(neg.T @ neg),
    )


def _int(a: np.ndarray) -> np.ndarray:
    return np.rint(a).astype(np.int64)


def conditional_probability(counts: PairCounts) -> np.ndarray:
    """``P(b | a)`` as (C, C) [a, b]: share of a-positive images (with b annotated) that are
    b-positive. NaN where no a-positive image has b annotated."""
    den = counts.n11 + counts.n10
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, counts.n11 / np.maximum(den, 1), np.nan)


def pmi(counts: PairCounts) -> np.ndarray:
    """Pointwise mutual information ``log(P(a, b) / (P(a) P(b)))`` (natural log) over the rows
    annotated for both; 0 for independent classes, -inf if they never co-occur, NaN if a
    class has no positive among those rows."""
    n = counts.n.astype(np.float64)
    pa = (counts.n11 + counts.n10).astype(np.float64)
    pb = (counts.n11 + counts.n01).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        val = np.log(counts.n11 * n) - np.log(pa * pb)
    return np.where((pa > 0) & (pb > 0), val, np.nan)


def phi(counts: PairCounts) -> np.ndarray:
    """Phi coefficient (Pearson correlation of two binary labels) over the rows annotated for
    both: ``(n11 n00 - n10 n01) / sqrt(n1. n0. n.1 n.0)``; NaN if a margin is empty."""
    n11, n10, n01, n00 = (
        a.astype(np.float64) for a in (counts.n11, counts.n10, counts.n01, counts.n00)
    )
    den = np.sqrt((n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (n11 * n00 - n10 * n01) / np.where(den > 0, den, 1.0), np.nan)
