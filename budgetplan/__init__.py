"""budgetplan: which labels to annotate so that a rare imaging target gets as good as it can.

Relations from image embeddings estimate which classes help; training the partial-label methods
of the seed papers on simulated label assemblies verifies it; the planner turns measured gains
into a budgeted annotation plan (see DESIGN.md and README.md).

The names a user needs (imported lazily, so ``import budgetplan`` stays fast)::

    import budgetplan
    cfg = budgetplan.load_recipe("digits")              # or budgetplan.RecommendConfig(...)
    rec = budgetplan.recommend(cfg)                     # a config, a Dataset, or arrays
    budgetplan.export_plan(rec.plan, "csv", "worklist.csv")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "recommend": "budgetplan.planner.recommend",
    "Recommendation": "budgetplan.planner.study",
    "StudyPlanner": "budgetplan.planner.study",
    "load_recipe": "budgetplan.config",
    "quick_config": "budgetplan.config",
    "RecommendConfig": "budgetplan.config",
    "DataConfig": "budgetplan.config",
    "SimulationConfig": "budgetplan.config",
    "SelectionConfig": "budgetplan.config",
    "TrainConfig": "budgetplan.methods.train_config",
    "AnnotationPlan": "budgetplan.planner.plan",
    "CostModel": "budgetplan.planner.costs",
    "RunCache": "budgetplan.planner.cache",
    "Dataset": "budgetplan.dataset",
    "open_dataset": "budgetplan.dataset",
    "LabelTable": "budgetplan.data.label_table",
    "export_plan": "budgetplan.planner.export",
    "BudgetplanError": "budgetplan.errors",
}

__all__ = [
    "AnnotationPlan",
    "BudgetplanError",
    "CostModel",
    "DataConfig",
    "Dataset",
    "LabelTable",
    "RecommendConfig",
    "Recommendation",
    "RunCache",
    "SelectionConfig",
    "SimulationConfig",
    "StudyPlanner",
    "TrainConfig",
    "export_plan",
    "load_recipe",
    "open_dataset",
    "quick_config",
    "recommend",
]

if TYPE_CHECKING:
    from budgetplan.config import (
        DataConfig,
        RecommendConfig,
        SelectionConfig,
        SimulationConfig,
        load_recipe,
        quick_config,
    )
    from budgetplan.data.label_table import LabelTable
    from budgetplan.dataset import Dataset, open_dataset
    from budgetplan.errors import BudgetplanError
    from budgetplan.methods.train_config import TrainConfig
    from budgetplan.planner.cache import RunCache
    from budgetplan.planner.costs import CostModel
    from budgetplan.planner.export import export_plan
    from budgetplan.planner.plan import AnnotationPlan
    from budgetplan.planner.recommend import recommend
    from budgetplan.planner.study import Recommendation, StudyPlanner


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'budgetplan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
