"""The config, costs and budget of a page's choices (``budgetplan.app_support.settings``)."""

from __future__ import annotations

import numpy as np
import pytest

from budgetplan import app_support as sup
from budgetplan.config import QUICK_SIMULATION, QUICK_TRAIN
from budgetplan.errors import BudgetplanError
from budgetplan.planner.costs import CostModel

from .conftest import CLASSES


def test_cost_table_round_trips_into_the_planner_cost_model() -> None:
    from budgetplan.errors import BudgetError

    table = sup.cost_table(CLASSES)
    assert table["cost per label"].tolist() == [1.0] * len(CLASSES)
    table.loc[table["class"] == "Mass", "cost per label"] = 3.0
    mapping = sup.cost_mapping(table, image_read_cost=0.5, unit="min")
    model = CostModel.from_mapping(mapping, CLASSES)
    assert (
        model.label_cost_of("Mass") == 3.0 and model.image_read_cost == 0.5 and model.unit == "min"
    )
    assert model.cost({"a": ["Mass", "Hernia"]}) == 4.5
    table.loc[0, "cost per label"] = float("nan")
    with pytest.raises(BudgetError, match="cost of 'Nodule' is missing"):
        sup.cost_mapping(table)
    table.loc[0, "cost per label"] = -1.0
    with pytest.raises(BudgetError, match="Nodule"):
        sup.cost_mapping(table)


def test_app_config_applies_quick_settings_and_page_choices() -> None:
    cfg = sup.app_config(
        "Mass",
        method="ne",
        seeds=3,
        target_positives=20,
        budget=50.0,
        quick=True,
        costs={"label_cost": {"Mass": 2.0}},
    )
    assert (cfg.target, cfg.method, cfg.max_seeds, cfg.target_positives, cfg.budget) == (
        "Mass",
        "ne",
        3,
        20,
        50.0,
    )
    assert cfg.simulation.max_seeds == QUICK_SIMULATION["max_seeds"]
    assert cfg.train.max_epochs == QUICK_TRAIN["max_epochs"]
    assert dict(cfg.costs) == {"label_cost": {"Mass": 2.0}}
    assert cfg.simulation.initial_seeds <= 3
    assert sup.app_config("Mass").hash != sup.app_config("Mass", quick=True).hash
    with pytest.raises(BudgetplanError, match="seeds = 1: must be a whole number >= 2"):
        sup.app_config("Mass", seeds=1)


def test_budget_slider_starts_at_the_recipes_budget_when_it_fits() -> None:
    from budgetplan.data.label_table import LabelTable

    n = 1000
    table = LabelTable(
        values=np.zeros((n, 2), dtype=np.float32),
        classes=["Nodule", "Mass"],
        ids=[str(i) for i in range(n)],
        source=["a"] * n,
        patient=[str(i) for i in range(n)],
        split=["train"] * n,
    )
    assert sup.budget_range(table, "Nodule", 1.0, preferred=300.0) == (1.0, 1000.0, 300.0)
    assert sup.budget_range(table, "Nodule", 1.0, preferred=20_000.0)[2] == 100.0  # out of range
    assert sup.budget_range(table, "Nodule", 1.0)[2] == 100.0  # a tenth of the training images
