from __future__ import annotations

import numpy as np
import pandas as pd

from budgetplan.planner.predictor import fit_predictor, predict_gains


def test_recovers_planted_relation_to_gain_link() -> None:
    rng = np.random.default_rng(0)
    n = 14
    feats = pd.DataFrame(
        {
            "prototype-mean": rng.uniform(-0.2, 0.8, n),
            "pmi": rng.normal(size=n),
            "knn-share": rng.uniform(0, 1, n),
        }
    )
    gains = 0.05 * feats["prototype-mean"].to_numpy() + rng.normal(0, 0.003, n)
    rep = fit_predictor(feats, gains, ["prototype-mean", "pmi", "knn-share"])
    assert rep.best in ("prototype-mean", "combined")
    assert rep.rho["prototype-mean"] > 0.85
    assert abs(rep.rho["pmi"]) < 0.6
    new = pd.DataFrame({"prototype-mean": [0.7, -0.1], "pmi": [0.0, 0.0], "knn-share": [0.5, 0.5]})
    pred = predict_gains(rep, feats, gains, new, ["prototype-mean", "pmi", "knn-share"])
    assert pred[0] > pred[1]


def test_negative_link_is_reported_with_its_sign() -> None:
    feats = pd.DataFrame({"phi": np.linspace(0, 1, 8)})
    rep = fit_predictor(feats, -np.linspace(0, 1, 8), ["phi"])
    assert rep.rho["phi"] < -0.99 and rep.best == "phi"


def test_too_few_points_gives_no_model() -> None:
    rep = fit_predictor(pd.DataFrame({"a": [1.0, 2.0]}), [0.1, 0.2], ["a"])
    assert rep.best is None and rep.rho == {}


def test_predictor_survives_extreme_and_missing_relation_values() -> None:
    feats = pd.DataFrame(
        {
            "pmi": [1e200, 0.1, 0.2, 0.3, 0.4],
            "phi": [np.inf, 0.1, np.nan, 0.3, 0.2],
            "knn-share": [0.5, 0.5, 0.5, 0.5, 0.5],
        }
    )
    rep = fit_predictor(feats, [0.01, -0.01, 0.0, 0.02, 0.005], ["pmi", "phi", "knn-share"])
    assert rep.n == 5 and "knn-share" not in rep.rho  # a constant relation ranks nothing
    assert all(np.isfinite(v) for v in rep.rho.values())


def test_a_relation_that_does_not_predict_out_of_sample_orders_nothing() -> None:
    # gains that are pure noise around a relation: in-sample some |rho| is always > 0, but no
    # line fitted without a candidate predicts it, so no model orders the untrained candidates
    feats = pd.DataFrame({"phi": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "pmi": [3, 1, 2, 3, 1, 2.0]})
    gains = [0.01, -0.01, 0.01, -0.01, 0.01, -0.01]
    rep = fit_predictor(feats, gains, ["phi", "pmi"])
    assert rep.rho and all(v <= 0 for v in rep.loo_rho.values() if np.isfinite(v))
    assert rep.best is None
    new = pd.DataFrame({"phi": [0.9], "pmi": [1.0]})
    assert np.isnan(predict_gains(rep, feats, gains, new, ["phi", "pmi"])).all()
