"""A small labelled store for the app tests (made here, in seconds), and the app's env vars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from budgetplan.data.label_table import LabelTable
from budgetplan.dataset import Dataset
from budgetplan.planner.costs import CostModel
from budgetplan.planner.plan import AnnotationPlan, PlanAction

APP = Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py"
CLASSES = ["Nodule", "Mass", "Effusion", "Atelectasis", "Hernia"]


def make_labels(n: int = 600, seed: int = 0) -> tuple[LabelTable, np.ndarray]:
    """Two sources; "chex" never annotated Hernia. Embeddings: a class-direction latent model
    in 16-d where Mass points close to Nodule (so relations have something to find)."""
    rng = np.random.default_rng(seed)
    prev = np.array([0.12, 0.15, 0.25, 0.2, 0.05])
    y = (rng.random((n, len(CLASSES))) < prev).astype(np.float32)
    y[:, 1] = np.where(y[:, 0] == 1, rng.random(n) < 0.5, y[:, 1])  # Mass co-occurs with Nodule
    source = np.where(np.arange(n) < n * 2 // 3, "nih", "chex")
    y[source == "chex", 4] = np.nan
    patient = np.array([f"p{i // 2}" for i in range(n)])
    split = np.array(["train"] * n, dtype=object)
    order = rng.permutation(n // 2)
    pid = np.arange(n) // 2
    split[np.isin(pid, order[: n // 10])] = "val"
    split[np.isin(pid, order[n // 10 : n // 10 + n // 5])] = "test"
    dirs = rng.normal(size=(len(CLASSES), 16))
    dirs[1] = 0.8 * dirs[0] + 0.2 * dirs[1]
    x = np.nan_to_num(y) @ dirs + rng.normal(scale=0.8, size=(n, 16))
    table = LabelTable(
        values=y,
        classes=CLASSES,
        ids=np.array([f"img{i:04d}.png" for i in range(n)]),
        source=source,
        patient=patient,
        split=split.astype(str),
    )
    return table, x.astype(np.float32)


@pytest.fixture(scope="session")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    table, x = make_labels()
    root = tmp_path_factory.mktemp("app-store") / "small"
    Dataset.create(root, table, x, table.ids, name="small", default_target="Nodule", simulated=True)
    return root


@pytest.fixture()
def app_env(small_store: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BUDGETPLAN_APP_STORE", str(small_store))
    monkeypatch.setenv("BUDGETPLAN_APP_QUICK", "1")
    return small_store


def tiny_plan() -> AnnotationPlan:
    """A one-action plan with a random control (the plan page and the exports)."""
    costs = CostModel({"Mass": 2.0}, default_label_cost=1.0, image_read_cost=0.5, unit="min")
    actions = [
        PlanAction(
            "annotate-class", "Mass", "nih", ["img0001.png", "img0002.png"], 2, 5.0, "related"
        )
    ]
    return AnnotationPlan(
        target="Nodule",
        budget=6.0,
        unit="min",
        cost_model=costs,
        actions=actions,
        baseline={"auc": 0.7, "auc_ci_low": 0.66, "auc_ci_high": 0.74},
        expected={
            "gain": 0.03,
            "gain_ci_low": 0.01,
            "gain_ci_high": 0.05,
            "auc": 0.73,
            "auc_ci_low": 0.69,
            "auc_ci_high": 0.77,
        },
        random_control={
            "classes": ["Hernia"],
            "cost": 5.0,
            "gain": 0.002,
            "gain_ci_low": -0.02,
            "gain_ci_high": 0.02,
        },
        provenance={"simulated": True},
    )
