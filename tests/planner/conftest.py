"""Tiny planner fixtures: a generated dataset and a fast, deterministic fake trainer.

The fake trainer (``fake_job``) replaces the batched training call: a replica's "AUC" is a base
value plus a planted effect for each class it has labels of (scaled by the share of the pool
labelled), plus seed noise shared by replicas with the same seed (so pairing by seed matters)
and a little per-replica noise. It lets the planner's logic (sizing, halving, greedy, honesty,
cache) be tested in milliseconds; real training is tested on scikit-learn's digits.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from budgetplan.config import RecommendConfig, SelectionConfig, SimulationConfig
from budgetplan.data.label_table import LabelTable
from budgetplan.data.splits import patient_split
from budgetplan.dataset import Dataset

CLASSES = ["T", "good", "bad", "n1", "n2"]
EFFECTS = {"good": 0.06, "bad": -0.02, "n1": 0.0, "n2": 0.004}


def make_data(n: int = 800, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    prev = np.array([0.12, 0.3, 0.25, 0.2, 0.15])
    y = (rng.random((n, len(CLASSES))) < prev).astype(np.float32)
    x = rng.normal(size=(n, 12)).astype(np.float32) + y @ rng.normal(
        size=(len(CLASSES), 12)
    ).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.array([f"img{i:04d}" for i in range(n)])
    patients = np.array([f"p{i // 2}" for i in range(n)])
    table = LabelTable(
        y, CLASSES, ids, np.full(n, "toy"), patients, patient_split(patients, seed=seed)
    )
    return Dataset.from_arrays(table, x, name="toy", default_target="T", checksum=f"toy-{n}-{seed}")


def fake_job(job) -> list[dict[str, float]]:
    y = job.y_train  # (R, N, C)
    out = []
    for r, seed in enumerate(job.seeds):
        share = (~np.isnan(y[r])).mean(axis=0)
        auc = 0.7 + sum(EFFECTS.get(c, 0.0) * share[i] for i, c in enumerate(CLASSES) if c != "T")
        t = CLASSES.index("T")
        auc += 0.03 * (share[t] - 1.0)  # fewer target labels hurt
        noise = np.random.default_rng(seed).normal(0, 0.01)
        h = int(
            hashlib.sha256(y[r].tobytes() + int(seed).to_bytes(8, "little")).hexdigest()[:8], 16
        )
        auc += noise + np.random.default_rng(h).normal(0, 0.002)
        out.append({"auc": float(auc), "ap": float(auc) / 2, "best_epoch": 1})
    return out


@pytest.fixture
def toy_data() -> Dataset:
    return make_data()


@pytest.fixture
def fake_trainer():
    """The fake batched-training job (see the module doc)."""
    return fake_job


def toy_config(sim: SimulationConfig, **overrides: object) -> RecommendConfig:
    """A small recommend config on the toy data (target T, method ne, budget 300); ``sim``
    unless ``overrides`` gives a ``simulation``."""
    base: dict[str, object] = dict(
        recipe="toy",
        target="T",
        method="ne",
        budget=300.0,
        simulation=sim,
        selection=SelectionConfig(max_classes=2, greedy_width=2, random_draws=2),
    )
    base.update(overrides)
    return RecommendConfig(**base)  # type: ignore[arg-type]
