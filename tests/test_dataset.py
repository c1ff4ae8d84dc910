"""Dataset: labels aligned with embeddings, round trip, checksum, id mismatches, demo resolution."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

import budgetplan.dataset as dataset_mod
from budgetplan.data.label_table import LabelTable
from budgetplan.dataset import Dataset, open_dataset
from budgetplan.embeddings.store import EmbeddingStore
from budgetplan.errors import DataMismatchError, InputFileError, UnknownClassError


def make_labels(n: int, seed: int = 0) -> LabelTable:
    rng = np.random.default_rng(seed)
    values = (rng.random((n, 3)) < 0.3).astype(np.float32)
    values[rng.random((n, 3)) < 0.2] = np.nan
    return LabelTable(
        values=values,
        classes=["Nodule", "Mass", "Effusion"],
        ids=np.array([f"img{i}" for i in range(n)]),
        source=np.array(["site-a"] * n),
        patient=np.array([f"p{i // 3}" for i in range(n)]),
        split=np.array(["train", "val", "test"])[(np.arange(n) // 3) % 3],
    )


def make_vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_create_aligns_labels_to_embedding_rows_and_round_trips(tmp_path: Path) -> None:
    labels = make_labels(90)
    order = np.random.default_rng(1).permutation(90)
    ids = labels.ids[order]  # embeddings come in another order than the label CSV
    x = make_vectors(90)
    ds = Dataset.create(
        tmp_path / "ds", labels, x, ids, backbone="b", default_target="nodule", name="toy"
    )
    for d in (ds, Dataset.open(tmp_path / "ds")):
        assert list(d.labels.ids) == list(ids) == list(d.embeddings.ids)
        np.testing.assert_array_equal(d.labels.values, labels.values[order])
        np.testing.assert_array_equal(d.labels.split, labels.split[order])
        np.testing.assert_array_equal(d.labels.patient, labels.patient[order])
        assert d.classes == ["Nodule", "Mass", "Effusion"]
        assert d.default_target == "Nodule" and d.name == "toy" and not d.simulated
        # row i of the labels is the image whose vector is row i
        np.testing.assert_allclose(d.vectors[5], x[5] / np.linalg.norm(x[5]), atol=1e-6)
    assert ds.checksum == Dataset.open(tmp_path / "ds").checksum


def test_write_makes_the_same_directory_without_opening_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``write`` (the demo build: its directory is moved before it is opened) leaves what
    ``create`` leaves, and reads nothing back."""
    labels, x = make_labels(30), make_vectors(30)
    made = Dataset.create(tmp_path / "made", labels, x, labels.ids, name="d")

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("write opened the dataset")

    with monkeypatch.context() as m:
        m.setattr(Dataset, "open", no_open)
        written = Dataset.write(tmp_path / "written", labels, x, labels.ids, name="d")
    assert written == tmp_path / "written"
    moved = written.rename(tmp_path / "moved")
    back = Dataset.open(moved)
    assert back.checksum == made.checksum and np.array_equal(back.vectors, made.vectors)


def test_checksum_changes_with_labels_and_with_vectors(tmp_path: Path) -> None:
    labels, x = make_labels(30), make_vectors(30)
    a = Dataset.create(tmp_path / "a", labels, x, labels.ids)
    flipped = labels.values.copy()
    flipped[0, 0] = 1 - np.nan_to_num(flipped[0, 0])
    b = Dataset.create(tmp_path / "b", labels.with_values(flipped), x, labels.ids)
    c = Dataset.create(tmp_path / "c", labels, make_vectors(30, seed=9), labels.ids)
    assert len({a.checksum, b.checksum, c.checksum}) == 3


def test_simulated_flag_comes_from_the_manifest(tmp_path: Path) -> None:
    labels = make_labels(20)
    ds = Dataset.create(tmp_path / "ds", labels, make_vectors(20), labels.ids, simulated=True)
    assert ds.simulated and Dataset.open(ds.root).simulated and "simulated" in repr(ds)


def test_mismatched_ids_are_counted_both_ways(tmp_path: Path) -> None:
    labels = make_labels(20)
    ids = [*labels.ids[2:], "extra1"]  # img0, img1 unlabelled-for; extra1 has no labels
    with pytest.raises(
        DataMismatchError,
        match=(
            r"2 of 20 label ids have no embedding \(e.g. \['img0', 'img1'\]\); "
            r"1 of 19 embedding ids have no labels"
        ),
    ):
        Dataset.create(tmp_path / "ds", labels, make_vectors(19), ids)
    assert not (tmp_path / "ds").exists()


def test_unknown_default_target(tmp_path: Path) -> None:
    labels = make_labels(10)
    with pytest.raises(UnknownClassError, match="Nodul"):
        Dataset.create(
            tmp_path / "ds", labels, make_vectors(10), labels.ids, default_target="Nodul"
        )


def test_interrupted_create_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset_mod, "save_label_csv", boom)
    labels = make_labels(10)
    with pytest.raises(KeyboardInterrupt):
        Dataset.create(tmp_path / "ds", labels, make_vectors(10), labels.ids)
    assert list(tmp_path.iterdir()) == []


def test_open_rejects_a_bare_store_and_a_missing_dir(tmp_path: Path) -> None:
    EmbeddingStore.create(tmp_path / "store", make_vectors(10), [f"i{i}" for i in range(10)])
    with pytest.raises(InputFileError, match="is an embedding store, not a dataset"):
        open_dataset(tmp_path / "store")
    with pytest.raises(InputFileError, match="not found"):
        open_dataset(tmp_path / "nothing")


def test_labels_file_with_other_ids_is_caught_on_open(tmp_path: Path) -> None:
    from budgetplan.data.csv_labels import save_label_csv

    labels = make_labels(10)
    ds = Dataset.create(tmp_path / "ds", labels, make_vectors(10), labels.ids)
    save_label_csv(labels.subset(np.arange(9)), ds.root / "labels.csv.gz")
    with pytest.raises(DataMismatchError, match="1 of 10 embedding ids have no labels"):
        Dataset.open(ds.root)


def test_open_dataset_none_and_demo_mean_the_embedded_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = types.ModuleType("budgetplan.demo")
    sentinel = object()
    fake.demo_dataset = lambda: sentinel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "budgetplan.demo", fake)
    assert open_dataset(None) is sentinel and open_dataset("demo") is sentinel
