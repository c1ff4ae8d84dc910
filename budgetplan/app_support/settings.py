"""The app's settings as library objects: the ``RecommendConfig`` of a page's choices, costs,
budget.

- :func:`quick_mode` (``$BUDGETPLAN_APP_QUICK``: tiny simulations for tests and demos).
- :func:`app_config` (the recipe, the one quick profile, then the page's choices on top).
- Costs: :func:`default_costs`, :func:`recipe_cost_model`, :func:`cost_table` (the editable
  table) and :func:`cost_mapping` (back to a recipe-style ``costs`` mapping, validated).
- :func:`budget_range` (the budget slider).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from budgetplan.errors import BudgetplanError, InputFileError

if TYPE_CHECKING:
    from budgetplan.config import RecommendConfig
    from budgetplan.data.label_table import LabelTable
    from budgetplan.planner.costs import CostModel

QUICK_ENV = "BUDGETPLAN_APP_QUICK"


def quick_mode() -> bool:
    """``$BUDGETPLAN_APP_QUICK`` set to 1/true: the app offers tiny simulations (tests, demos)."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def app_config(
    target: str,
    *,
    method: str = "label-assemble",
    seeds: int | None = None,
    target_positives: int | None = None,
    budget: float | None = None,
    costs: dict[str, Any] | None = None,
    quick: bool = False,
    recipe: str | None = None,
    classes: Sequence[str] | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
) -> RecommendConfig:
    """The ``RecommendConfig`` of the app's choices: the recipe (default ``nih-nodule`` when
    present, else the config defaults), the quick simulation settings when ``quick``, then the
    page's choices on top. Without ``costs``, the recipe's costs are kept only if they name
    ``classes`` of this store (else every label costs 1). ``executor`` (local, process, ray) and
    ``ray_address`` (None: a local Ray; ``auto`` or an address: a cluster) say where runs train."""
    import dataclasses

    from budgetplan.config import (
        DEFAULT_RECIPE,
        RecommendConfig,
        load_recipe,
        quick_config,
        recipe_path,
    )

    try:
        recipe_path(recipe or DEFAULT_RECIPE)
        cfg = load_recipe(recipe or DEFAULT_RECIPE)
    except InputFileError:
        if recipe is not None:
            raise
        cfg = RecommendConfig()
    cfg = cfg.with_overrides(data={"kind": "demo", "store": None})
    if quick:
        cfg = quick_config(cfg)
    values: dict[str, Any] = {
        "target": target,
        "method": method,
        "seeds": seeds,
        "target_positives": target_positives,
        "budget": budget,
    }
    cfg = cfg.with_overrides(**values)
    if executor is not None:
        cfg = cfg.with_overrides(
            simulation={"executor": executor, "ray_address": ray_address or None}
        )
    if seeds is not None and cfg.simulation.initial_seeds > seeds:
        cfg = cfg.with_overrides(simulation={"initial_seeds": seeds})
    if costs is None:  # the recipe's costs when they fit this store's classes, else unit costs
        costs = default_costs(cfg, classes)
    return dataclasses.replace(cfg, costs=dict(costs), cost_file=None)


def default_costs(config: RecommendConfig, classes: Sequence[str] | None) -> dict[str, Any]:
    """The recipe's ``costs`` mapping if it is valid for ``classes`` (None = any), else ``{}``
    (every label costs 1 unit)."""
    from budgetplan.planner.costs import CostModel

    mapping = dict(config.costs or {})
    if not mapping:
        return {}
    try:
        CostModel.from_mapping(mapping, list(classes) if classes is not None else None)
    except BudgetplanError:
        return {}
    return mapping


def recipe_cost_model(classes: Sequence[str], recipe: str | None = None) -> CostModel:
    """The cost model the Plan page starts from: the recipe's costs when they name only classes
    of this store, else one unit per label."""
    from budgetplan.planner.costs import CostModel

    cfg = app_config(classes[0] if classes else "", recipe=recipe, classes=classes)
    return CostModel.from_mapping(default_costs(cfg, classes) or None, list(classes))


def cost_table(classes: Sequence[str], cost_model: CostModel | None = None) -> pd.DataFrame:
    """The editable cost table: one row per class with its cost per label."""
    from budgetplan.planner.costs import CostModel

    cm = cost_model or CostModel()
    return pd.DataFrame(
        {"class": list(classes), "cost per label": [cm.label_cost_of(c) for c in classes]}
    )


def cost_mapping(
    table: pd.DataFrame, image_read_cost: float = 0.0, unit: str = "units"
) -> dict[str, Any]:
    """A recipe-style ``costs`` mapping from the edited cost table (validated by building the
    ``CostModel``; a negative, empty or non-numeric cost raises a one-line ``BudgetError``)."""
    from budgetplan.errors import BudgetError
    from budgetplan.planner.costs import CostModel

    label_cost: dict[str, float] = {}
    for row in table.itertuples(index=False):
        name, value = str(row[0]), row[1]
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise BudgetError(f"cost table: cost of {name!r} is {value!r}, not a number") from None
        if not np.isfinite(x):
            raise BudgetError(f"cost table: cost of {name!r} is missing")
        label_cost[name] = x
    mapping = {"label_cost": label_cost, "image_read_cost": float(image_read_cost), "unit": unit}
    CostModel.from_mapping(mapping, list(table.iloc[:, 0].astype(str)), where="cost table")
    return mapping


def budget_range(
    labels: LabelTable,
    target: str,
    max_cost_per_label: float = 1.0,
    preferred: float | None = None,
) -> tuple[float, float, float]:
    """(low, high, default) for the budget slider: from one label to labelling every training
    image once; the default is ``preferred`` (the recipe's budget) when it lies in that range,
    else what buys a tenth of the training images."""
    n_train = int(np.sum(labels.split == "train"))
    c = max(float(max_cost_per_label), 1e-9)
    high = max(1.0, float(n_train) * c)
    if preferred is not None and c <= preferred <= high:
        return float(c), high, float(preferred)
    return float(c), high, max(float(c), round(high / 10.0))


def budget_bounds(
    labels: LabelTable, target: str, costs: dict[str, Any], config: RecommendConfig
) -> tuple[float, float, float]:
    """(low, high, step) of the budget field. ``low`` is what the simulation accepts: one
    simulated (pool) image of the cheapest candidate class, i.e. the fewest images that
    ``SimProblem.scale_count`` turns into one pool image, at its label + reading cost (a lower
    budget is refused with "buys nothing"). ``high`` labels every training image with the
    costliest class. ``step`` is a round number (1, 10, 100, ...) near a two-hundredth of the
    range."""
    import math

    from budgetplan.planner.costs import CostModel

    cm = CostModel.from_mapping(costs or None, list(labels.classes), where="cost table")
    train = labels.split == "train"
    n_train = max(1, int(train.sum()))
    others = [
        c for c in labels.classes if c != target and bool(np.any(labels.column(c)[train] == 1))
    ]
    pool = config.simulation.pool_images
    fraction = 1.0 if not pool else min(pool, n_train) / n_train  # SimProblem.pool_fraction
    per_pool_image = 1
    while round(per_pool_image * fraction) < 1:  # SimProblem.scale_count's rounding
        per_pool_image += 1
    cheapest = min((cm.image_cost(c) for c in others), default=cm.image_cost(target))
    low = max(1.0, float(math.ceil(per_pool_image * cheapest)))
    top = max([cm.image_cost(c) for c in labels.classes] + [1.0])
    high = max(low, float(math.ceil(n_train * top)))
    step = float(10 ** max(0, math.floor(math.log10(max(1.0, (high - low) / 200.0)))))
    return low, high, step
