from __future__ import annotations

import numpy as np
import pytest

from budgetplan.config import RecommendConfig, SelectionConfig, SimulationConfig
from budgetplan.errors import BudgetError, BudgetplanError, InputFileError, UnknownClassError
from budgetplan.planner.cache import RunCache
from budgetplan.planner.plan import AnnotationPlan
from budgetplan.planner.recommend import recommend

SIM = SimulationConfig(
    pool_images=None, val_images=None, dim=None, initial_seeds=3, max_seeds=6, eta=2
)


def _cfg(**kw) -> RecommendConfig:
    base = dict(
        recipe="toy",
        target="T",
        method="ne",
        simulation=SIM,
        selection=SelectionConfig(max_classes=2, greedy_width=2, random_draws=2),
    )
    base.update(kw)
    return RecommendConfig(**base)


def test_recommends_the_planted_class_and_beats_random(toy_data, fake_trainer, tmp_path) -> None:
    rec = recommend(toy_data, _cfg(budget=300.0), cache=RunCache(tmp_path), job_fn=fake_trainer)
    plan = rec.plan
    assert plan.chosen_classes[0] == "good"
    assert "bad" not in plan.chosen_classes
    assert plan.total_cost <= 300.0
    assert plan.expected["gain"] > 0 and plan.expected["gain_ci_low"] > 0
    assert plan.random_control is not None and plan.random_control["cost"] <= 300.0
    rows = rec.table.set_index("class")
    # successive halving: the leader has the most runs behind it, a clear loser the fewest
    assert rows.loc["good", "runs"] == 6 and rows.loc["bad", "runs"] == 3
    assert rows.loc["good", "chosen"] and not rows.loc["bad", "chosen"]
    # the plan's JSON round-trips and lists the images to annotate first
    again = AnnotationPlan.from_json(plan.to_json())
    assert again.total_cost == pytest.approx(plan.total_cost)
    assert plan.actions[0].n_images == len(plan.actions[0].image_ids) > 0


@pytest.mark.parametrize("budget", [40.0, 97.0, 250.0, 900.0])
@pytest.mark.parametrize(
    "costs",
    [
        {},
        {"label_cost": {"good": 3.0, "n1": 0.5}},
        {"image_read_cost": 0.7, "default_label_cost": 0.4},
    ],
)
def test_plan_never_exceeds_budget(toy_data, fake_trainer, tmp_path, budget, costs) -> None:
    rec = recommend(
        toy_data,
        _cfg(budget=budget, costs=costs),
        cache=RunCache(tmp_path),
        job_fn=fake_trainer,
    )
    assert rec.plan.total_cost <= budget + 1e-9
    assert (rec.table["cost"] <= budget + 1e-9).all()
    assert rec.plan.random_control["cost"] <= budget + 1e-9


def test_more_target_labels_compete(toy_data, fake_trainer, tmp_path) -> None:
    rec = recommend(
        toy_data,
        _cfg(budget=200.0, target_positives=10),
        cache=RunCache(tmp_path),
        job_fn=fake_trainer,
    )
    assert "more T" in set(rec.table["class"])


def test_nothing_worth_its_cost_is_said_plainly(toy_data, tmp_path) -> None:
    def no_effect(job):
        return [
            {
                "auc": 0.7
                + np.random.default_rng(s).normal(0, 0.01)
                + 0.001 * np.random.default_rng(int(np.nansum(job.y_train[r])) + s).normal(),
                "ap": 0.3,
                "best_epoch": 1,
            }
            for r, s in enumerate(job.seeds)
        ]

    rec = recommend(toy_data, _cfg(budget=300.0), cache=RunCache(tmp_path), job_fn=no_effect)
    assert rec.plan.actions == []
    assert "No class is worth its cost" in rec.plan.verdict
    assert not rec.table["chosen"].any()


def test_unknown_target_suggests_close_names(toy_data) -> None:
    with pytest.raises(UnknownClassError, match="'good'"):
        recommend(toy_data, _cfg(target="goood"))


def test_target_without_positives_in_evaluation(toy_data) -> None:
    t = toy_data.labels
    v = t.values.copy()
    v[t.split == "test", 3] = 0
    toy_data.labels = t.with_values(v)
    with pytest.raises(BudgetplanError, match="no positive images in the evaluation"):
        recommend(toy_data, _cfg(target="n1"))
    v[t.split == "train", 4] = 0
    toy_data.labels = t.with_values(v)
    with pytest.raises(BudgetplanError, match="no positive images in the training"):
        recommend(toy_data, _cfg(target="n2"))


def test_budget_that_buys_nothing(toy_data) -> None:
    with pytest.raises(BudgetError, match="buys nothing"):
        recommend(toy_data, _cfg(budget=0.5))


def test_cost_file_with_unknown_class(toy_data, tmp_path) -> None:
    f = tmp_path / "costs.csv"
    f.write_text("class,cost\ngood,2\nNodulee,1\n")
    with pytest.raises(InputFileError, match=r"costs\.csv.*Nodulee"):
        recommend(toy_data, _cfg(budget=100.0, cost_file=str(f)))
