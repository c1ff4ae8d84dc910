"""Evaluation metrics: per-class ROC AUC / AP with undefined classes as NaN, macro means,
bootstrap confidence intervals and paired comparisons across seeds.

Labels are ``(M, C)`` arrays of 1 / 0 / NaN (NaN = not annotated, left out of that class's
metric); scores are ``(M, C)`` or replica-batched ``(R, M, C)``. A class without both a positive
and a negative label in the evaluation set has an *undefined* metric, reported as NaN, never 0;
macro means skip NaN. AUC and AP are computed from sorted scores and binary searches that
equals scikit-learn's ``roc_auc_score`` / ``average_precision_score`` (ties included; tested),
because the planner evaluates many replicas x classes at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np

__all__ = [
    "roc_auc_per_class",
    "average_precision_per_class",
    "macro",
    "bootstrap_ci",
    "weighted_ranking_metric",
    "paired_comparison",
    "spearman",
    "t_quantile",
]

_MAX_CHUNK_ENTRIES = 2_000_000  # bootstrap: resamples x rows per chunk


def _prepare(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate and broadcast to ``(R, M, C)``; return (labels, scores, was_batched)."""
    y = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if s.ndim == 1:
        s = s[:, None]
    if s.ndim not in (2, 3) or y.ndim not in (2, 3):
        raise ValueError(
            f"y_true must be (M, C) or (R, M, C) and scores (M, C) or (R, M, C); "
            f"got {y.shape} and {s.shape}"
        )
    batched = s.ndim == 3 or y.ndim == 3
    s3 = s if s.ndim == 3 else s[None]
    y3 = y if y.ndim == 3 else y[None]
    if y3.shape[-2:] != s3.shape[-2:] or (y3.shape[0] not in (1, s3.shape[0])):
        raise ValueError(f"y_true {y.shape} and scores {s.shape} do not match")
    known = ~np.isnan(y3)
    bad = known & ~np.isin(y3, (0.0, 1.0))
    if bad.any():
        raise ValueError("y_true must hold only 1, 0 or NaN (not annotated)")
    if not np.isfinite(np.where(known, s3, 0.0)).all():
        raise ValueError("scores must be finite where the label is annotated")
    y3, s3 = np.broadcast_arrays(y3, s3)
    return y3, s3, batched


def _ranking_metrics(
    y_true: np.ndarray, scores: np.ndarray, want: Literal["auc", "ap"]
) -> np.ndarray:
    """AUC or AP per (replica, class) from sorted score arrays and binary searches.

    With the annotated scores of a class sorted, for each positive score ``s``: ``lt`` = number
    of annotated scores below ``s`` and ``le`` = at most ``s``. Then the average rank of ``s`` is
    ``lt + (le - lt + 1) / 2`` (Mann-Whitney AUC with ties as scikit-learn), and the precision at
    the threshold ``s`` is ``#positives >= s / #annotated >= s``; AP is its mean over the
    positives (tied scores share one threshold, as in ``average_precision_score``).
    Sorting is done for all columns at once (``np.sort`` along the contiguous last axis); only
    the binary searches loop over the R x C columns.
    """
    y, s, batched = _prepare(y_true, scores)
    known = ~np.isnan(y)
    pos = known & (y == 1.0)
    # (R, C, M) contiguous; unannotated / non-positive entries become NaN, which sort last
    all_sorted = np.sort(np.moveaxis(np.where(known, s, np.nan), -2, -1), axis=-1)
    pos_sorted = np.sort(np.moveaxis(np.where(pos, s, np.nan), -2, -1), axis=-1)
    n_known = known.sum(axis=-2)
    n_pos = pos.sum(axis=-2)
    out = np.full(n_known.shape, np.nan)
    for r, c in np.ndindex(out.shape):
        p, k = int(n_pos[r, c]), int(n_known[r, c])
        if p == 0 or p == k:
            continue  # undefined without both a positive and a negative label
        sp = pos_sorted[r, c, :p]
        sa = all_sorted[r, c, :k]
        lt = np.searchsorted(sa, sp, side="left")
        if want == "auc":
            le = np.searchsorted(sa, sp, side="right")
            rank_sum = float(np.sum(lt + (le - lt + 1) / 2.0))
            out[r, c] = (rank_sum - p * (p + 1) / 2.0) / (p * (k - p))
        else:
            pos_at_or_above = p - np.searchsorted(sp, sp, side="left")
            out[r, c] = float(np.mean(pos_at_or_above / (k - lt)))
    return out if batched else out[0]


def roc_auc_per_class(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-class ROC AUC over the annotated entries: ``(C,)``, or ``(R, C)`` for batched input.

    Mann-Whitney form with average ranks for ties, equal to ``sklearn.metrics.roc_auc_score``.
    NaN for a class without both positive and negative labels (undefined). ``y_true`` may be
    ``(M, C)`` (shared by all replicas) or ``(R, M, C)``; 1-D inputs are one class (``(1,)``).
    """
    return _ranking_metrics(y_true, scores, "auc")


def average_precision_per_class(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-class average precision over the annotated entries: ``(C,)`` or ``(R, C)``.

    ``AP = sum_n (R_n - R_{n-1}) P_n`` over distinct score thresholds (tied scores form one
    threshold), equal to ``sklearn.metrics.average_precision_score``. NaN for a class without
    both positive and negative labels (AP is reported as undefined there, as AUC is).
    """
    return _ranking_metrics(y_true, scores, "ap")


def macro(values: np.ndarray) -> float | np.ndarray:
    """Mean over the last axis ignoring NaN (undefined classes); NaN if all are undefined.

    A 1-D input gives a float; ``(R, C)`` gives ``(R,)``.
    """
    v = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(v)
    count = ok.sum(axis=-1)
    total = np.where(ok, v, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return float(out) if v.ndim <= 1 else out


_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "auc": roc_auc_per_class,
    "ap": average_precision_per_class,
}


def weighted_ranking_metric(
    y: np.ndarray, scores: np.ndarray, weights: np.ndarray, metric: Literal["auc", "ap"]
) -> np.ndarray:
    """AUC or AP of one class under row weights: ``weights`` (B, M) -> (B,).

    With integer weights (how often each image is drawn in a bootstrap resample) this equals
    the metric on the resampled data (ties included), but the scores are sorted only once for
    all B resamples. ``y`` (M,) with 1 / 0 / NaN, ``scores`` (M,) finite where annotated.
    NaN where a resample lacks a positive or a negative.
    """
    known = np.flatnonzero(~np.isnan(y))
    order = known[np.argsort(scores[known], kind="stable")]
    s_sorted = scores[order]
    is_pos = y[order] == 1.0
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    w = np.asarray(weights, dtype=np.float64)[:, order]
    pos_g = np.add.reduceat(np.where(is_pos, w, 0.0), starts, axis=1) if starts.size else w[:, :0]
    all_g = np.add.reduceat(w, starts, axis=1) if starts.size else w[:, :0]
    neg_g = all_g - pos_g
    n_pos = pos_g.sum(axis=1)
    n_neg = neg_g.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "auc":
            neg_below = np.cumsum(neg_g, axis=1) - neg_g
            u = (pos_g * (neg_below + 0.5 * neg_g)).sum(axis=1)
            out = u / (n_pos * n_neg)
        else:
            # groups in ascending score order: "at or above" = reverse cumulative sums
            pos_ge = np.cumsum(pos_g[:, ::-1], axis=1)[:, ::-1]
            all_ge = np.cumsum(all_g[:, ::-1], axis=1)[:, ::-1]
            precision = np.where(all_ge > 0, pos_ge / np.where(all_ge > 0, all_ge, 1.0), 0.0)
            out = (pos_g * precision).sum(axis=1) / n_pos
    return np.where((n_pos > 0) & (n_neg > 0), out, np.nan)


def bootstrap_ci(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    metric: Literal["auc", "ap"] = "auc",
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | np.random.Generator = 0,
    stratify: int | None = None,
) -> tuple[float, float, float]:
    """Percentile bootstrap CI of the macro metric: ``(point, low, high)``.

    Resamples images (rows) with replacement, the same rows for all classes (so the macro keeps
    the classes' correlation). Not stratified by default; ``stratify=k`` resamples the
    positives, negatives and unannotated rows of class column ``k`` separately (keeps a rare
    target's positive count fixed, so its AUC stays defined). For one class pass ``y_true`` /
    ``scores`` of shape ``(M,)`` (then ``stratify=0`` is the usual stratified AUC bootstrap).
    A class undefined in a resample is skipped by that resample's macro; resamples with no
    defined class are dropped; ``low``/``high`` are NaN if all are. The point estimate is the
    metric on the full data. Each resample is a vector of draw counts per image, and the
    metric is computed under those weights (:func:`weighted_ranking_metric`): the same numbers
    as recomputing on the resampled rows, without re-sorting them.
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {sorted(_METRICS)}; got {metric!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1; got {n_boot}")
    y3, s3, batched = _prepare(y_true, scores)
    if batched:
        raise ValueError("bootstrap_ci takes y_true and scores of shape (M,) or (M, C)")
    y, s = y3[0], s3[0]
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    point = float(macro(_METRICS[metric](y, s)))
    m, c = y.shape
    if stratify is None:
        strata = [np.arange(m)]
    else:
        if not 0 <= stratify < c:
            raise ValueError(f"stratify must be a class column in [0, {c}); got {stratify}")
        col = y[:, stratify]
        strata = [
            np.flatnonzero(col == 1.0),
            np.flatnonzero(col == 0.0),
            np.flatnonzero(np.isnan(col)),
        ]
        strata = [g for g in strata if g.size]
    chunk = max(1, _MAX_CHUNK_ENTRIES // max(1, m))
    values = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        nb = min(chunk, n_boot - start)
        counts = np.zeros((nb, m))
        for g in strata:
            counts[:, g] = rng.multinomial(g.size, np.full(g.size, 1.0 / g.size), size=nb)
        per_class = np.stack(
            [weighted_ranking_metric(y[:, k], s[:, k], counts, metric) for k in range(c)], axis=1
        )
        values[start : start + nb] = macro(per_class)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return point, math.nan, math.nan
    low, high = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return point, float(low), float(high)


def paired_comparison(
    a: np.ndarray,
    b: np.ndarray,
    alternative: Literal["two-sided", "greater", "less"] = "two-sided",
    confidence: float = 0.95,
) -> dict[str, float]:
    """Paired t-test of ``a - b`` across seeds (``scipy.stats.ttest_rel``), with a t-based CI.

    Returns ``mean_diff``, ``ci_low``, ``ci_high``, ``t``, ``p_value``, ``n``. Pairs with a NaN
    on either side are dropped (``n`` counts the pairs used). ``alternative="greater"`` tests
    "a is above b" (the planner's "gain significantly above zero"); the CI is then one-sided
    (``ci_high = inf``), as scipy reports it. With fewer than 2 pairs the statistics are NaN
    (``mean_diff`` is still the single difference when ``n == 1``).
    """
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative must be two-sided, greater or less; got {alternative!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    x = np.asarray(a, dtype=np.float64).ravel()
    z = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != z.shape:
        raise ValueError(f"a and b must have the same length; got {x.size} and {z.size}")
    ok = ~(np.isnan(x) | np.isnan(z))
    d = x[ok] - z[ok]
    n = int(d.size)
    nan = math.nan
    if n < 2:
        mean = float(d[0]) if n == 1 else nan
        return {"mean_diff": mean, "ci_low": nan, "ci_high": nan, "t": nan, "p_value": nan, "n": n}
    mean = float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(n)
    df = n - 1
    if se == 0.0:
        # no spread: the test is degenerate (scipy gives inf / NaN); report the exact difference
        t = nan if mean == 0.0 else math.copysign(math.inf, mean)
        if mean == 0.0:
            p = nan
        elif alternative == "two-sided":
            p = 0.0
        else:
            p = 0.0 if (mean > 0) == (alternative == "greater") else 1.0
        low = mean if alternative != "less" else -math.inf
        high = mean if alternative != "greater" else math.inf
        return {"mean_diff": mean, "ci_low": low, "ci_high": high, "t": t, "p_value": p, "n": n}
    t, p = _paired_t(d, alternative)
    if alternative == "two-sided":
        q = t_quantile(0.5 + confidence / 2.0, df)
        low, high = mean - q * se, mean + q * se
    elif alternative == "greater":
        low, high = mean - t_quantile(confidence, df) * se, math.inf
    else:
        low, high = -math.inf, mean + t_quantile(confidence, df) * se
    return {
        "mean_diff": mean,
        "ci_low": float(low),
        "ci_high": float(high),
        "t": t,
        "p_value": p,
        "n": n,
    }


# ``scipy.stats`` takes ~1.4 s to import, a seventh of a warm ``recommend``: the paired t-test
# and the t quantile below are its numbers, computed as it computes them (scipy 1.17
# ``ttest_1samp`` / ``_moment`` and ``t.ppf``), from ``scipy.special`` alone; a test checks them
# against ``scipy.stats`` to the bit.


def _paired_t(d: np.ndarray, alternative: str) -> tuple[float, float]:
    """``scipy.stats.ttest_rel``'s statistic and p-value for the differences ``d`` (n >= 2)."""
    from scipy.special import stdtr

    n = d.size
    mean = np.mean(d, axis=0)
    var = np.mean((d - np.mean(d, axis=0, keepdims=True)) ** 2, axis=0)
    var *= np.float64(n) / (np.float64(n) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.divide(mean - 0.0, np.sqrt(var / n))
    if alternative == "two-sided":
        p = 2 * stdtr(n - 1, -np.abs(t))
    elif alternative == "greater":
        p = stdtr(n - 1, -t)
    else:
        p = stdtr(n - 1, t)
    return float(t), float(p)


def t_quantile(q: float, df: int) -> float:
    """``scipy.stats.t.ppf(q, df)`` for 0 < q < 1."""
    from scipy.special import stdtrit

    return float(stdtrit(df, q) * 1.0 + 0.0)  # ``ppf * scale + loc``, as scipy rounds it


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman's rho of ``x`` and ``y`` and its two-sided p-value (Student's t, n - 2 degrees
    of freedom): ``scipy.stats.spearmanr``'s numbers, computed as it does (average ranks,
    ``np.corrcoef``, ``special.stdtr``) without importing ``scipy.stats``; a test checks them
    against scipy's to the bit."""
    import pandas as pd
    from scipy.special import stdtr

    ranked = np.column_stack(
        [pd.Series(np.asarray(v, dtype=float)).rank(method="average").to_numpy() for v in (x, y)]
    )
    dof = len(ranked) - 2
    with np.errstate(divide="ignore", invalid="ignore"):  # a constant input: nan, as scipy's
        rs = np.corrcoef(ranked, rowvar=False)
        t = rs * np.sqrt((dof / ((rs + 1.0) * (1.0 - rs))).clip(0))
    p = 2 * stdtr(dof, -np.abs(t))
    return float(rs[1, 0]), float(p[1, 0])
