"""A small generated dataset whose relations are known by construction.

Classes: Target and Twin are drawn from the SAME latent direction (so they are each other's
nearest prototype); Near shares half of it; Far and Other have their own orthogonal directions.
Twin is also made to co-occur with Target; Far is independent of Target.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from budgetplan.data.label_table import LabelTable

CLASSES = ["Target", "Twin", "Near", "Far", "Other"]


def make_arrays(n: int = 1200, d: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0][:, :4].T  # 4 orthonormal directions
    shared, own_near, own_far, own_other = basis
    directions = np.stack([shared, shared, (shared + own_near) / np.sqrt(2), own_far, own_other])
    target = rng.random(n) < 0.15
    twin = np.where(target, rng.random(n) < 0.6, rng.random(n) < 0.1)
    near = rng.random(n) < 0.2
    far = rng.random(n) < 0.2  # independent of the target
    other = rng.random(n) < 0.2
    y = np.stack([target, twin, near, far, other], axis=1).astype(np.float32)
    x = 0.35 * rng.normal(size=(n, d)) + y @ directions * 1.5
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), y


def make_table(y: np.ndarray, seed: int = 0) -> LabelTable:
    n = len(y)
    rng = np.random.default_rng(seed)
    split = np.where(rng.random(n) < 0.7, "train", np.where(rng.random(n) < 0.33, "val", "test"))
    return LabelTable(
        values=y,
        classes=CLASSES,
        ids=[f"img{i:05d}" for i in range(n)],
        source=["gen"] * n,
        patient=[f"p{i}" for i in range(n)],
        split=split,
    )


@pytest.fixture(scope="session")
def gen_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(vectors (1200, 24), labels (1200, 5)) from ``make_arrays``."""
    return make_arrays()


@pytest.fixture(scope="session")
def gen_classes() -> list[str]:
    return list(CLASSES)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory):
    """A Dataset on disk (flat index) built from ``make_arrays``; simulated=True."""
    from budgetplan.dataset import Dataset

    x, y = make_arrays()
    root: Path = tmp_path_factory.mktemp("relations") / "ds"
    return Dataset.create(
        root,
        make_table(y),
        x,
        [f"img{i:05d}" for i in range(len(x))],
        name="generated",
        default_target="Target",
        simulated=True,
        index="flat",
    )
