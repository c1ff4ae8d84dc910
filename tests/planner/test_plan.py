"""AnnotationPlan: JSON round trip, budget invariant, clear errors on malformed plan files."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from budgetplan.errors import BudgetError, InputFileError
from budgetplan.planner.costs import CostModel
from budgetplan.planner.plan import AnnotationPlan, PlanAction, config_hash, provenance_now

COSTS = CostModel({"Mass": 2.0}, default_label_cost=1.0, image_read_cost=0.5, unit="min")


def tiny_plan(budget: float = 10.0, **over) -> AnnotationPlan:
    """Mass on a, b (2 * 2.5 = 5), then Effusion on a (already read: 1) and c (1.5): total 7.5."""
    actions = [
        PlanAction("annotate-class", "Mass", "nih", ["a", "b"], 2, 5.0, "hard negatives of Nodule"),
        PlanAction("annotate-class", "Effusion", "nih", ["a", "c"], 2, 2.5, "next best"),
    ]
    fields: dict[str, Any] = dict(
        target="Nodule",
        budget=budget,
        unit="min",
        cost_model=COSTS,
        actions=actions,
        baseline={"auc": 0.70, "auc_ci_low": 0.66, "auc_ci_high": 0.74, "runs": 5},
        expected={
            "gain": 0.03,
            "gain_ci_low": 0.01,
            "gain_ci_high": 0.05,
            "auc": 0.73,
            "auc_ci_low": 0.69,
            "auc_ci_high": math.nan,
        },
        random_control={
            "classes": ["Hernia"],
            "cost": 7.5,
            "gain": 0.0,
            "gain_ci_low": -0.02,
            "gain_ci_high": 0.02,
        },
        candidates=[{"class": "Mass", "cosine": 0.8, "gain": 0.02, "chosen": True}],
        verdict="Annotate Mass, then Effusion.",
        evidence={"predictor": [{"relation": "cosine", "spearman": 0.83}]},
        provenance=provenance_now(
            seeds=[0, 1, 2], simulated=True, config={"method": "ne"}, method="ne"
        ),
    )
    fields.update(over)
    return AnnotationPlan(**fields)


def test_total_cost_shares_the_reading_cost_across_actions() -> None:
    plan = tiny_plan()
    assert plan.total_cost == pytest.approx(7.5)
    assert plan.assignments() == {"a": ["Mass", "Effusion"], "b": ["Mass"], "c": ["Effusion"]}


def test_json_round_trip(tmp_path) -> None:
    plan = tiny_plan()
    path = plan.save(tmp_path / "plan.json")
    again = AnnotationPlan.load(path)
    assert again.to_dict() == plan.to_dict()
    assert again.plan_id == plan.plan_id
    assert again.actions == plan.actions
    assert again.cost_model == plan.cost_model
    assert math.isnan(again.expected["auc_ci_high"])  # NaN is written as null and read back
    data = json.loads(path.read_text())
    assert data["provenance"]["simulated"] is True
    assert data["provenance"]["versions"]["numpy"]
    assert data["provenance"]["seeds"] == [0, 1, 2]


def test_plan_id_is_stable_and_content_based() -> None:
    a = tiny_plan()
    b = tiny_plan(provenance={**a.provenance, "created": "another time"})
    assert a.plan_id == b.plan_id
    assert tiny_plan(budget=11.0).plan_id != a.plan_id


def test_plan_over_budget_is_refused() -> None:
    with pytest.raises(BudgetError, match=r"total cost 7.5 min exceeds the budget 7 min"):
        tiny_plan(budget=7.0)
    tiny_plan(budget=7.5)  # exactly on budget is fine


def test_action_costs_must_match_the_cost_model() -> None:
    wrong = [PlanAction("annotate-class", "Mass", "nih", ["a", "b"], 2, 4.0, "")]
    with pytest.raises(
        BudgetError, match="action costs add up to 4 but the cost model prices the images at 5"
    ):
        tiny_plan(actions=wrong)


def test_action_checks() -> None:
    with pytest.raises(BudgetError, match="n_images is 3 but 2 image ids"):
        PlanAction("annotate-class", "Mass", "nih", ["a", "b"], 3, 5.0)
    with pytest.raises(BudgetError, match="kind 'label'"):
        PlanAction("label", "Mass", "nih", [], 0, 0.0)  # type: ignore[arg-type]


def test_missing_number_block_key_is_refused() -> None:
    with pytest.raises(BudgetError, match="expected lacks key 'gain_ci_low'"):
        tiny_plan(expected={"gain": 0.1})


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("target"), r"field 'target': missing"),
        (lambda d: d.update(budget="lots"), r"field 'budget': expected a number, got 'lots'"),
        (
            lambda d: d["actions"][1].update(cost="x"),
            r"field 'actions\[1\].cost': expected a number",
        ),
        (lambda d: d["actions"][0].pop("image_ids"), r"field 'actions\[0\].image_ids': missing"),
        (lambda d: d["expected"].pop("auc"), r"field 'expected.auc': missing"),
        (lambda d: d.update(format_version=99), r"field 'format_version': 99 is not supported"),
        (lambda d: d.update(budget=5), r"total cost 7.5 min exceeds the budget 5 min"),
        (lambda d: d.update(candidates={"a": 1}), r"field 'candidates': expected a list"),
    ],
)
def test_malformed_plan_file_names_file_and_field(tmp_path, edit, message: str) -> None:
    data = tiny_plan().to_dict()
    edit(data)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputFileError, match=message) as info:
        AnnotationPlan.load(path)
    assert str(path) in str(info.value)


def test_not_json_and_empty_plan_files(tmp_path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{not json")
    with pytest.raises(InputFileError, match=r"plan.json: not valid JSON \(line 1"):
        AnnotationPlan.load(path)
    path.write_text("")
    with pytest.raises(InputFileError, match="plan file is empty"):
        AnnotationPlan.load(path)
    path.write_text("[1, 2]")
    with pytest.raises(InputFileError, match="expected a JSON object"):
        AnnotationPlan.load(path)
    with pytest.raises(InputFileError, match="plan file not found"):
        AnnotationPlan.load(tmp_path / "missing.json")


def test_empty_plan_is_valid() -> None:
    plan = tiny_plan(
        actions=[], random_control=None, verdict="No negative class is worth its cost."
    )
    assert plan.total_cost == 0.0
    assert AnnotationPlan.from_json(plan.to_json()).to_dict() == plan.to_dict()


def test_config_hash_ignores_key_order() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_made_on_tells_whether_a_store_is_the_plans_own() -> None:
    plan = tiny_plan(provenance={"store": {"checksum": "abc"}})
    assert plan.made_on("abc") and not plan.made_on("xyz")
    assert tiny_plan(provenance={}).made_on("anything")  # nothing recorded: no warning


def test_plan_files_with_old_relation_names_still_load() -> None:
    data = tiny_plan().to_dict()
    data["candidates"] = [{"class": "Mass", "similarity": 0.4, "knn_share": 0.2, "gain": 0.01}]
    again = AnnotationPlan.from_json(json.dumps(data))
    assert again.candidates[0] == {
        "class": "Mass",
        "prototype-mean": 0.4,
        "knn-share": 0.2,
        "gain": 0.01,
    }
