"""Vectorised per-class AUC / AP (budgetplan.methods.metrics) vs a scikit-learn loop.

The planner scores R replicas x C classes on one validation / test split after every epoch, so
the metric must be cheap. Run: ``nice python bench/metrics.py [--replicas 14] [--rows 20000]``.
Reports seconds per call and the speed-up ratio against the scikit-learn loop measured in the
same run (absolute times on the shared machine are noisy; the ratio is the figure).
"""

from __future__ import annotations

import argparse

import numpy as np
from _timing import best_of  # bench/ is on sys.path when run as a script
from sklearn.metrics import average_precision_score, roc_auc_score

from budgetplan.methods.metrics import (
    average_precision_per_class,
    bootstrap_ci,
    macro,
    roc_auc_per_class,
)


def sklearn_loop(fn, y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    out = np.full(scores.shape[::2], np.nan)
    for r in range(scores.shape[0]):
        for c in range(y.shape[1]):
            known = ~np.isnan(y[:, c])
            yy = y[known, c]
            if 0 < yy.sum() < yy.size:
                out[r, c] = fn(yy, scores[r, known, c])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=14)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--classes", type=int, default=14)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--boots", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    r, m, c = args.replicas, args.rows, args.classes
    y = (rng.random((m, c)) < 0.05).astype(float)
    y[rng.random((m, c)) < 0.3] = np.nan
    scores = np.round(rng.random((r, m, c)) + 0.3 * np.nan_to_num(y), 3).astype(np.float32)
    print(f"R={r} replicas, M={m} rows, C={c} classes (30% unannotated, scores rounded: ties)")
    for name, ours, ref in (
        ("AUC", roc_auc_per_class, roc_auc_score),
        ("AP", average_precision_per_class, average_precision_score),
    ):
        np.testing.assert_allclose(ours(y, scores), sklearn_loop(ref, y, scores), atol=1e-9)
        t_ours = best_of(lambda ours=ours: ours(y, scores), args.repeats)
        t_ref = best_of(lambda ref=ref: sklearn_loop(ref, y, scores), args.repeats)
        print(
            f"{name}: vectorised {t_ours:.3f} s, scikit-learn loop {t_ref:.3f} s, "
            f"speed-up {t_ref / t_ours:.1f}x (results equal)"
        )

    # bootstrap: one pass of sorting + weights vs recomputing each resample with scikit-learn
    n_boot = args.boots
    y0, s0 = y, scores[0]
    ours_ci: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def run_ours() -> None:
        nonlocal ours_ci
        ours_ci = bootstrap_ci(y0, s0, n_boot=n_boot, seed=0)

    def run_naive() -> None:
        rng_b = np.random.default_rng(0)
        values = []
        for _ in range(n_boot):
            idx = rng_b.integers(0, m, m)
            values.append(macro(sklearn_loop(roc_auc_score, y0[idx], s0[idx][None])[0]))
        np.quantile(values, [0.025, 0.975])

    t_ours = best_of(run_ours, 1)
    t_ref = best_of(run_naive, 1)
    print(
        f"bootstrap_ci AUC, {n_boot} resamples of {m} x {c}: ours {t_ours:.2f} s, resample + "
        f"scikit-learn {t_ref:.2f} s, speed-up {t_ref / t_ours:.1f}x; CI {ours_ci}"
    )


if __name__ == "__main__":
    main()
