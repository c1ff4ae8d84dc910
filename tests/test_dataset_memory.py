"""``Dataset.from_arrays``: the same object held in memory (what the planner plans on)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from budgetplan.data.label_table import LabelTable
from budgetplan.dataset import Dataset
from budgetplan.errors import BudgetplanError, DataMismatchError, UnknownClassError
from budgetplan.relations.table import relation_matrices, relation_table


def make_labels(n: int = 120, seed: int = 0) -> LabelTable:
    rng = np.random.default_rng(seed)
    values = (rng.random((n, 3)) < [0.2, 0.4, 0.3]).astype(np.float32)
    return LabelTable(
        values=values,
        classes=["Nodule", "Mass", "Effusion"],
        ids=np.array([f"img{i}" for i in range(n)]),
        source=np.array(["site-a"] * n),
        patient=np.array([f"p{i}" for i in range(n)]),
        split=np.array(["train", "train", "val", "test"])[np.arange(n) % 4],
    )


def unit_vectors(labels: LabelTable, d: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(labels.n_images, d)) + labels.values @ rng.normal(size=(3, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_from_arrays_holds_the_data_with_no_store() -> None:
    labels = make_labels()
    x = unit_vectors(labels)
    ds = Dataset.from_arrays(labels, x, name="toy", simulated=True, default_target="nodule")
    assert ds.root is None and ds.embeddings is None
    assert ds.name == "toy" and ds.simulated and ds.default_target == "Nodule"
    assert len(ds) == 120 and ds.classes == ["Nodule", "Mass", "Effusion"]
    np.testing.assert_array_equal(ds.vectors, x)
    assert "8-d embeddings (simulated features)" in repr(ds)
    with pytest.raises(BudgetplanError, match="held in memory"):
        ds.store  # noqa: B018
    with pytest.raises(UnknownClassError):
        Dataset.from_arrays(labels, x, default_target="Nodul")


def test_from_arrays_checksum_hashes_the_arrays() -> None:
    labels = make_labels()
    x = unit_vectors(labels)
    key = Dataset.from_arrays(labels, x).checksum
    assert Dataset.from_arrays(labels, x.copy(), name="other").checksum == key
    moved = x.copy()
    moved[0, 0] += 0.01
    assert Dataset.from_arrays(labels, moved).checksum != key
    flipped = labels.values.copy()
    flipped[0, 1] = 1 - flipped[0, 1]
    assert Dataset.from_arrays(labels.with_values(flipped), x).checksum != key
    assert Dataset.from_arrays(labels, x, checksum="given").checksum == "given"


def test_from_arrays_rejects_mismatched_or_non_finite_vectors() -> None:
    labels = make_labels()
    x = unit_vectors(labels)
    with pytest.raises(DataMismatchError, match="do not match the 120 label rows"):
        Dataset.from_arrays(labels, x[:-1])
    x[3, 2] = np.inf
    with pytest.raises(DataMismatchError, match="NaN or inf"):
        Dataset.from_arrays(labels, x)


def test_relation_table_in_memory_equals_the_stored_one(tmp_path: Path) -> None:
    labels = make_labels()
    x = unit_vectors(labels)
    memory = Dataset.from_arrays(labels, x)
    stored = Dataset.create(tmp_path / "ds", labels, x, labels.ids, index="flat")
    names = ("prototype-mean", "phi", "knn-share")
    a = relation_table(memory, "Nodule", relations=names)
    b = relation_table(stored, "Nodule", relations=names)
    assert a["class"].tolist() == b["class"].tolist()
    cols = [*names, "knn-share-random"]
    np.testing.assert_allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), atol=1e-5)
    # the whole-graph path (matrices): exact search in memory, the store's graph on disk
    ma = relation_matrices(memory, relations=("knn-share",))["knn-share"]
    mb = relation_matrices(stored, relations=("knn-share",))["knn-share"]
    np.testing.assert_allclose(ma.to_numpy(float), mb.to_numpy(float), atol=1e-5)


def test_digits_checksum_is_unchanged() -> None:
    """The run cache is keyed on it: changing the formula would orphan every cached digits run."""
    from budgetplan.planner.sources import digits_data

    ds = digits_data()
    assert ds.embeddings is None and ds.default_target == "8" and not ds.simulated
    assert ds.checksum == "af5044ca87f3351436b9ca04d098948e0e0fb53845b1d1e9d2588430380981c8"
