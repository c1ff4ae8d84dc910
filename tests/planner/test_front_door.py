"""``import budgetplan`` gives the names a user needs, and the Examples in their docs run."""

from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import pytest

import budgetplan
from budgetplan.planner import recommend as recommend_module


def test_front_door_names_resolve() -> None:
    for name in budgetplan.__all__:
        assert getattr(budgetplan, name) is not None
    assert budgetplan.recommend is recommend_module.recommend


def test_import_budgetplan_does_not_import_torch() -> None:
    code = "import sys, budgetplan; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_recommend_examples_run_as_doctests(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BUDGETPLAN_CACHE", str(tmp_path))
    result = doctest.testmod(recommend_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4 and result.failed == 0


def test_recommend_on_arrays_in_memory(toy_data, fake_trainer) -> None:
    labels, vectors = toy_data.labels, np.asarray(toy_data.vectors)
    cfg = budgetplan.RecommendConfig(
        recipe="arrays",
        target="T",
        method="ne",
        budget=300.0,
        simulation=budgetplan.SimulationConfig(pool_images=None, val_images=None, dim=None),
    )
    rec = budgetplan.recommend(
        labels=labels,
        vectors=vectors,
        config=cfg,
        job_fn=fake_trainer,
        cache=budgetplan.RunCache(enabled=False),
    )
    assert rec.plan.chosen_classes[:1] == ["good"]
    with pytest.raises(budgetplan.BudgetplanError, match="do not match"):
        budgetplan.recommend(labels=labels, vectors=vectors[:10], config=cfg)
    with pytest.raises(budgetplan.BudgetplanError, match="NaN"):
        bad = vectors.copy()
        bad[0, 0] = np.nan
        budgetplan.recommend(labels=labels, vectors=bad, config=cfg)
