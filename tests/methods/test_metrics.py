"""Metrics agree with scikit-learn / scipy, report undefined classes as NaN (never 0), and the
bootstrap and paired comparison give the intervals and tests the planner relies on."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

from budgetplan.methods.metrics import (
    average_precision_per_class,
    bootstrap_ci,
    macro,
    paired_comparison,
    roc_auc_per_class,
    t_quantile,
    weighted_ranking_metric,
)

NAN = np.nan


def _random_case(rng: np.random.Generator, m: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, size=(m, c)).astype(float)
    y[rng.random((m, c)) < 0.3] = NAN
    scores = np.round(rng.random((m, c)), 1)  # rounding makes many ties
    return y, scores


@pytest.mark.parametrize("seed", range(5))
def test_auc_and_ap_equal_sklearn_with_ties_and_missing_labels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y, s = _random_case(rng, 60, 4)
    auc = roc_auc_per_class(y, s)
    ap = average_precision_per_class(y, s)
    assert auc.shape == ap.shape == (4,)
    for c in range(4):
        known = ~np.isnan(y[:, c])
        assert auc[c] == pytest.approx(roc_auc_score(y[known, c], s[known, c]), abs=1e-12)
        assert ap[c] == pytest.approx(average_precision_score(y[known, c], s[known, c]), abs=1e-12)


def test_all_tied_scores_give_auc_one_half_and_ap_prevalence() -> None:
    y = np.array([[1.0], [0.0], [0.0], [1.0], [0.0]])
    s = np.full((5, 1), 0.3)
    assert roc_auc_per_class(y, s)[0] == pytest.approx(0.5)
    assert average_precision_per_class(y, s)[0] == pytest.approx(0.4)


def test_hand_computed_auc() -> None:
    # positives 0.9, 0.4; negatives 0.5, 0.1: pairs won 3 of 4
    y = np.array([1.0, 0.0, 1.0, 0.0])
    s = np.array([0.9, 0.5, 0.4, 0.1])
    assert roc_auc_per_class(y, s)[0] == pytest.approx(0.75)
    # AP: thresholds 0.9 (P=1, R=.5), 0.4 (P=2/3, R=1): .5 * 1 + .5 * 2/3
    assert average_precision_per_class(y, s)[0] == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_class_without_both_labels_is_nan_never_zero() -> None:
    y = np.array([[1, 1, NAN], [1, 0, NAN], [1, 0, 0]], dtype=float)
    s = np.array([[0.2, 0.9, 0.1], [0.5, 0.1, 0.2], [0.7, 0.3, 0.3]])
    auc = roc_auc_per_class(y, s)
    ap = average_precision_per_class(y, s)
    assert np.isnan(auc[0]) and np.isnan(auc[2]) and auc[1] == 1.0
    assert np.isnan(ap[0]) and np.isnan(ap[2]) and ap[1] == 1.0
    assert macro(auc) == 1.0
    assert math.isnan(macro(np.array([NAN, NAN])))


def test_batched_scores_equal_per_replica() -> None:
    rng = np.random.default_rng(3)
    y, _ = _random_case(rng, 40, 3)
    scores = rng.random((5, 40, 3))
    auc = roc_auc_per_class(y, scores)
    ap = average_precision_per_class(y, scores)
    assert auc.shape == ap.shape == (5, 3)
    for r in range(5):
        np.testing.assert_allclose(auc[r], roc_auc_per_class(y, scores[r]))
        np.testing.assert_allclose(ap[r], average_precision_per_class(y, scores[r]))
    # per-replica labels (R, M, C) too
    y3 = np.stack([y, 1 - y, y, y, y])
    np.testing.assert_allclose(roc_auc_per_class(y3, scores)[1], 1 - auc[1])
    np.testing.assert_allclose(macro(auc), [macro(a) for a in auc])


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="1, 0 or NaN"):
        roc_auc_per_class(np.array([[2.0], [0.0]]), np.array([[0.1], [0.2]]))
    with pytest.raises(ValueError, match="finite"):
        roc_auc_per_class(np.array([[1.0], [0.0]]), np.array([[NAN], [0.2]]))
    with pytest.raises(ValueError, match="do not match"):
        roc_auc_per_class(np.zeros((3, 2)), np.zeros((4, 2)))


@pytest.mark.parametrize("metric", ["auc", "ap"])
def test_weighted_metric_equals_metric_on_resampled_rows(metric: str) -> None:
    rng = np.random.default_rng(4)
    y = (rng.random(60) < 0.3).astype(float)
    y[rng.random(60) < 0.2] = NAN
    s = np.round(rng.random(60), 1)  # ties
    draws = rng.integers(0, 60, size=(30, 60))
    counts = np.stack([np.bincount(d, minlength=60) for d in draws])
    fn = roc_auc_per_class if metric == "auc" else average_precision_per_class
    expected = np.array([fn(y[d], s[d])[0] for d in draws])
    np.testing.assert_allclose(weighted_ranking_metric(y, s, counts, metric), expected, atol=1e-12)
    counts[0] = 0
    counts[0, np.flatnonzero(y == 0.0)] = 1  # a resample without positives: undefined
    assert np.isnan(weighted_ranking_metric(y, s, counts, metric)[0])


def test_bootstrap_ci_covers_point_and_narrows_with_more_images() -> None:
    rng = np.random.default_rng(0)

    def data(m: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random((m, 2)) < 0.3).astype(float)
        return y, y * 0.8 + rng.normal(size=(m, 2))

    y, s = data(200)
    point, low, high = bootstrap_ci(y, s, n_boot=300, seed=1)
    assert point == pytest.approx(macro(roc_auc_per_class(y, s)))
    assert low < point < high
    assert bootstrap_ci(y, s, n_boot=300, seed=1) == (point, low, high)  # seeded
    y2, s2 = data(2000)
    _, low2, high2 = bootstrap_ci(y2, s2, n_boot=300, seed=1)
    assert high2 - low2 < (high - low) / 2
    p_ap, lo_ap, hi_ap = bootstrap_ci(y, s, metric="ap", n_boot=200, seed=1)
    assert lo_ap < p_ap < hi_ap


def test_stratified_bootstrap_keeps_a_rare_targets_positives() -> None:
    rng = np.random.default_rng(1)
    y = np.zeros(300)
    y[:3] = 1.0  # three positives: many plain resamples would have none
    s = rng.random(300) + y * 0.5
    point, low, high = bootstrap_ci(y, s, n_boot=200, seed=0, stratify=0)
    assert low <= point <= high and not math.isnan(low)


def test_paired_comparison_matches_scipy_ttest_rel() -> None:
    a = np.array([0.71, 0.74, 0.69, 0.75, 0.73])
    b = np.array([0.70, 0.71, 0.70, 0.72, 0.70])
    out = paired_comparison(a, b)
    ref = stats.ttest_rel(a, b)
    ci = ref.confidence_interval(0.95)
    assert out["n"] == 5
    assert out["mean_diff"] == pytest.approx(np.mean(a - b))
    assert out["t"] == pytest.approx(ref.statistic)
    assert out["p_value"] == pytest.approx(ref.pvalue)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((ci.low, ci.high))
    greater = paired_comparison(a, b, alternative="greater")
    ref_g = stats.ttest_rel(a, b, alternative="greater")
    assert greater["p_value"] == pytest.approx(ref_g.pvalue)
    assert greater["ci_low"] == pytest.approx(ref_g.confidence_interval(0.95).low)
    assert greater["ci_high"] == math.inf
    assert greater["p_value"] == pytest.approx(out["p_value"] / 2)


def test_paired_t_and_t_quantile_are_scipys_numbers_to_the_bit() -> None:
    """Computed without importing scipy.stats (a seventh of a warm `recommend`), they must stay
    scipy's: gains are called significant on these p-values."""
    rng = np.random.default_rng(5)
    for i in range(600):
        n = int(rng.integers(2, 30))
        a = rng.normal(0.8, 0.05, n)
        b = a + rng.normal(rng.normal(0, 0.01), rng.uniform(1e-4, 0.02), n)
        if i % 4 == 0:  # ties and repeated differences
            a, b = np.round(a, 3), np.round(b, 3)
        if i % 9 == 0:  # nearly constant differences (scipy's precision-loss path)
            b = a + 0.01 + rng.normal(0, 1e-9, n)
        alternative = ("two-sided", "greater", "less")[i % 3]
        confidence = (0.95, 0.9, 0.99)[(i // 3) % 3]
        out = paired_comparison(a, b, alternative=alternative, confidence=confidence)
        if out["ci_low"] == out["ci_high"]:  # no spread: the degenerate branch, tested below
            continue
        ref = stats.ttest_rel(a, b, alternative=alternative)
        assert (out["t"], out["p_value"]) == (float(ref.statistic), float(ref.pvalue)), i
        q = 0.5 + confidence / 2 if alternative == "two-sided" else confidence
        assert t_quantile(q, n - 1) == float(stats.t.ppf(q, n - 1)), i


def test_paired_comparison_with_too_few_seeds_gives_nan_not_an_error() -> None:
    one = paired_comparison([0.8], [0.7])
    assert one["n"] == 1 and one["mean_diff"] == pytest.approx(0.1)
    assert all(math.isnan(one[k]) for k in ("ci_low", "ci_high", "t", "p_value"))
    none = paired_comparison([], [])
    assert none["n"] == 0 and math.isnan(none["mean_diff"])
    dropped = paired_comparison([0.8, NAN, 0.6], [0.7, 0.5, 0.65])
    assert dropped["n"] == 2
    with pytest.raises(ValueError, match="same length"):
        paired_comparison([1.0, 2.0], [1.0])


def test_spearman_gives_scipys_numbers_to_the_bit() -> None:
    from scipy import stats

    from budgetplan.methods.metrics import spearman

    rng = np.random.default_rng(3)
    for i in range(300):
        n = int(rng.integers(3, 30))
        x, y = rng.normal(size=n), rng.normal(size=n)
        if i % 3 == 0:  # ties
            x, y = np.round(x, 1), np.round(y)
        if i % 10 == 0:  # a perfect rank order: p = 0
            y = 2 * x
        want = stats.spearmanr(x, y)
        np.testing.assert_array_equal(spearman(x, y), (want[0], want[1]), err_msg=f"case {i}")
