"""Gain predictor: how well do the cheap relations predict the measured gains?

For each relation r alone, the prediction is the least-squares line gain ~ a + b r; its rank
correlation with the measured gains is Spearman's rho of r itself (sign-adjusted by b, so a
relation that predicts *lower* gains is reported with negative rho). The combined model is a
ridge regression on all relations (standardised), scored by leave-one-out predictions so that it
cannot win by overfitting a handful of candidates. Seed 000 (Table 5) reports r = 0.83 between
similarity and gain for NIH Nodule; ``PredictorReport.rho`` is the number to compare.

Which model orders the candidates nobody trained is chosen out of sample: each model (a
relation's line, or the combined ridge) predicts every measured candidate from the others
(leave-one-out), and the model whose predictions rank the measured gains best is kept, only if
that leave-one-out rho is positive (``loo_rho``). With fewer than ``min_points`` measured
candidates, or when no model predicts out of sample, ``best`` is None and the untrained
candidates are left unordered rather than ordered by chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from budgetplan.methods.metrics import spearman


@dataclass
class PredictorReport:
    """Spearman rho of each model with the measured gains, and the chosen model.

    ``rho``: in-sample, signed (a relation that predicts lower gains is negative);
    ``loo_rho``: rho of the leave-one-out predictions, the basis of ``best``.
    """

    rho: dict[str, float] = field(default_factory=dict)
    loo_rho: dict[str, float] = field(default_factory=dict)
    p_value: dict[str, float] = field(default_factory=dict)
    best: str | None = None
    n: int = 0
    coef: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "rho": self.rho,
            "loo_rho": self.loo_rho,
            "p_value": self.p_value,
            "best": self.best,
            "n": self.n,
            "coef": self.coef,
        }


def _clean(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    med = np.nanmedian(x) if np.isfinite(x).any() else 0.0
    return np.where(np.isfinite(x), x, med)


def fit_predictor(
    features: pd.DataFrame,
    gains: Sequence[float],
    relations: Sequence[str],
    min_points: int = 4,
    ridge: float = 1.0,
) -> PredictorReport:
    """Rank correlation of each relation alone and of the combined model with ``gains``.

    ``features``: one row per measured candidate, a column per relation; NaN gains are dropped.
    """
    g = np.asarray(gains, dtype=float)
    ok = np.isfinite(g)
    report = PredictorReport(n=int(ok.sum()))
    if ok.sum() < min_points:
        return report
    g = g[ok]
    feats = features.loc[ok, list(relations)].reset_index(drop=True)
    for rel in relations:
        x = _clean(feats[rel].to_numpy())
        if not np.isfinite(x).all() or np.ptp(x) == 0 or np.ptp(g) == 0:
            continue
        rho, p = spearman(x, g)
        # the least-squares slope in closed form (no SVD to fail on a degenerate column)
        with np.errstate(all="ignore"):
            slope = float(np.cov(x, g)[0, 1] / np.var(x, ddof=1))
        if not np.isfinite(slope):  # an extreme relation value: keep the rank order's sign
            slope = float(np.sign(rho)) if np.isfinite(rho) else 0.0
        sign = 1.0 if slope >= 0 else -1.0
        report.rho[rel] = float(sign * abs(rho)) if np.isfinite(rho) else float("nan")
        report.p_value[rel] = float(p)
        report.coef[rel] = float(slope)
        report.loo_rho[rel] = _loo_spearman(_standardise(x[:, None]), g, ridge=0.0)[0]
    if len(relations) > 1 and np.ptp(g) > 0:
        combined, p = _loo_spearman(_standardise(feats.to_numpy(float)), g, ridge=ridge)
        if np.isfinite(combined):
            report.rho["combined"] = combined
            report.loo_rho["combined"] = combined
            report.p_value["combined"] = p
    predictive = {k: v for k, v in report.loo_rho.items() if np.isfinite(v) and v > 0}
    report.best = max(predictive, key=lambda k: predictive[k]) if predictive else None
    return report


def _loo_spearman(x: np.ndarray, g: np.ndarray, *, ridge: float) -> tuple[float, float]:
    """Spearman rho (and p) of the leave-one-out ridge predictions of ``g`` from ``x``."""
    try:
        with np.errstate(all="ignore"):
            loo = _loo_ridge(x, g, ridge)
    except np.linalg.LinAlgError:  # a degenerate column (overflowed or constant once left out)
        return float("nan"), float("nan")
    if not np.isfinite(loo).all() or np.ptp(loo) == 0:
        return float("nan"), float("nan")
    rho, p = spearman(loo, g)
    return float(rho), float(p)


def predict_gains(
    report: PredictorReport,
    train: pd.DataFrame,
    gains: Sequence[float],
    new: pd.DataFrame,
    relations: Sequence[str],
    ridge: float = 1.0,
) -> np.ndarray:
    """Predicted gains of the ``new`` rows with the report's best model (NaN without one)."""
    if report.best is None or len(new) == 0:
        return np.full(len(new), np.nan)
    g = np.asarray(gains, dtype=float)
    ok = np.isfinite(g)
    if report.best != "combined":
        x = _clean(train.loc[ok, report.best].to_numpy())
        a, b = np.polyfit(x, g[ok], 1)[::-1]
        return a + b * _clean(new[report.best].to_numpy())
    xt = train.loc[ok, list(relations)].to_numpy(float)
    xn = new[list(relations)].to_numpy(float)
    mu, sd = _moments(xt)
    xt = np.where(np.isfinite(xt), xt, mu)
    xn = np.where(np.isfinite(xn), xn, mu)
    w, b0 = _ridge((xt - mu) / sd, g[ok], ridge)
    return ((xn - mu) / sd) @ w + b0


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.where(np.isfinite(x), x, np.nan)
    if np.isnan(x).all(axis=0).any():
        x = np.where(np.isnan(x).all(axis=0, keepdims=True), 0.0, x)
    mu = np.nanmean(x, axis=0)
    sd = np.nanstd(x, axis=0)
    return np.nan_to_num(mu), np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)


def _standardise(x: np.ndarray) -> np.ndarray:
    mu, sd = _moments(x)
    x = np.where(np.isfinite(x), x, mu)
    return (x - mu) / sd


def _ridge(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    xm, ym = x.mean(axis=0), y.mean()
    xc = x - xm
    w = np.linalg.solve(xc.T @ xc + lam * np.eye(x.shape[1]), xc.T @ (y - ym))
    return w, float(ym - xm @ w)


def _loo_ridge(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        w, b = _ridge(x[keep], y[keep], lam)
        out[i] = x[i] @ w + b
    return out
