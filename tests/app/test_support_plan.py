"""The plan page's frames (``budgetplan.app_support.plan``)."""

from __future__ import annotations

import pandas as pd

from budgetplan import app_support as sup

from .conftest import tiny_plan


def test_plan_frames() -> None:
    plan = tiny_plan()
    actions = sup.plan_actions_frame(plan)
    assert actions[["class", "images", "cost"]].values.tolist() == [["Mass", 2, 5.0]]
    vs = sup.plan_vs_random_frame(plan)
    assert vs["what"].tolist() == ["plan", "random control"]
    assert vs["gain"].tolist() == [0.03, 0.002]
    assert vs["cost"].tolist() == [5.0, 5.0]
    sup.plan_vs_random_chart(vs, simulated=True).to_dict()


def test_candidates_relations_and_numbers_for_sentences() -> None:
    nan = float("nan")
    table = pd.DataFrame(
        {
            "class": ["a", "b", "c"],
            "prototype-mean": [0.1, nan, 0.3],
            "phi": [nan, nan, nan],
            "gain": [0.02, -0.01, 0.05],
            "predicted": [False, False, True],
        }
    )
    assert sup.candidate_frame(table)["class"].tolist() == ["a", "b"]  # measured rows only
    assert sup.predictor_relations(table) == ["prototype-mean"]  # phi carries no number
    assert sup.describe(0.123456) == "0.1235" and sup.describe(-0.5, 1) == "-0.5"
    assert sup.describe(None) == "n/a" and sup.describe(nan) == "n/a"


def test_gains_are_shown_in_auc_points_as_the_cli_does() -> None:
    assert sup.points(0.0128) == "+1.3 points" and sup.points(-0.004) == "-0.4 points"
    assert sup.points(None) == "n/a" and sup.points(float("nan")) == "n/a"
