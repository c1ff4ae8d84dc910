"""Paired statistics of measured gains: a gain is a distribution over draws of the study.

Each run has a seed (a draw); the baseline and a candidate with the same seed share what the
draw fixes, so their paired difference removes most of the draw-to-draw noise. Every number
carries the draws behind it (``n_draws``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

NAN = float("nan")


class Scored(Protocol):
    """Anything with a seed and a target AUC / AP (a
    :class:`~budgetplan.planner.runner.RunResult`)."""

    @property
    def seed(self) -> int: ...

    @property
    def auc(self) -> float: ...

    @property
    def ap(self) -> float: ...


@dataclass(frozen=True)
class GainStats:
    """Paired gain of a candidate over a reference: mean difference, two-sided ``1 - alpha`` CI
    (t-based, across draws), one-sided p-value that the gain is above zero, draws behind it."""

    gain: float = NAN
    ci_low: float = NAN
    ci_high: float = NAN
    p_value: float = NAN
    n_draws: int = 0
    q_value: float = NAN  # p adjusted for the candidates tested together (Benjamini-Hochberg)

    def significant(self, alpha: float = 0.05, min_gain: float = 0.0) -> bool:
        """The honesty rule: p < alpha (the adjusted ``q_value`` when the gain was tested among
        several candidates) AND the CI's lower end above ``min_gain`` (AUC, at least 0): the
        gain is confidently worth it, not just a point estimate above the threshold (a mean
        just above ``min_gain`` with a CI straddling it flips between runs of the study)."""
        p = self.q_value if math.isfinite(self.q_value) else self.p_value
        return bool(
            math.isfinite(p)
            and p < alpha
            and math.isfinite(self.ci_low)
            and self.ci_low > max(0.0, min_gain)
            and self.gain > 0
        )

    def to_dict(self, prefix: str = "gain") -> dict[str, Any]:
        """``{gain, gain_ci_low, gain_ci_high, p_value, draws}`` (the plan JSON's keys)."""
        return {
            prefix: self.gain,
            f"{prefix}_ci_low": self.ci_low,
            f"{prefix}_ci_high": self.ci_high,
            "p_value": self.p_value,
            "q_value": self.q_value,
            "draws": self.n_draws,
        }


@dataclass(frozen=True)
class MeanCI:
    """A mean over draws with its two-sided ``1 - alpha`` t-based CI (NaN CI below 2 draws)."""

    mean: float = NAN
    ci_low: float = NAN
    ci_high: float = NAN
    n_draws: int = 0


def mean_ci(values: Sequence[float], alpha: float = 0.05) -> MeanCI:
    """Mean with a t-based two-sided ``1 - alpha`` CI across draws (non-finite values dropped)."""
    from budgetplan.methods.metrics import t_quantile

    x = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if x.size == 0:
        return MeanCI()
    m = float(x.mean())
    if x.size < 2:
        return MeanCI(m, NAN, NAN, 1)
    half = float(t_quantile(1 - alpha / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return MeanCI(m, m - half, m + half, int(x.size))


def gain_stats(
    candidate: Sequence[Scored],
    reference: Sequence[Scored],
    alpha: float = 0.05,
    metric: str = "auc",
) -> GainStats:
    """Paired gain of ``candidate`` over ``reference`` across their common seeds."""
    from budgetplan.methods.metrics import paired_comparison

    a = {r.seed: float(getattr(r, metric)) for r in candidate}
    b = {r.seed: float(getattr(r, metric)) for r in reference}
    seeds = sorted(set(a) & set(b))
    xa = np.array([a[s] for s in seeds])
    xb = np.array([b[s] for s in seeds])
    two = paired_comparison(xa, xb, alternative="two-sided", confidence=1 - alpha)
    one = paired_comparison(xa, xb, alternative="greater", confidence=1 - alpha)
    return GainStats(
        gain=float(two["mean_diff"]),
        ci_low=float(two["ci_low"]),
        ci_high=float(two["ci_high"]),
        p_value=float(one["p_value"]),
        n_draws=int(two["n"]),
    )


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values) of a family of tests; NaN stays NaN and
    does not count in the family. Calling a gain significant when q < alpha controls the false
    discovery rate at alpha (and the family-wise error rate when every candidate is null)."""
    p = np.asarray(p_values, dtype=float)
    ok = np.flatnonzero(np.isfinite(p))
    q = np.full(p.shape, NAN)
    if ok.size:
        order = ok[np.argsort(p[ok], kind="stable")]
        m = ok.size
        ranked = p[order] * m / np.arange(1, m + 1)
        ranked = np.minimum.accumulate(ranked[::-1])[::-1]
        q[order] = np.minimum(ranked, 1.0)
    return q.tolist()
