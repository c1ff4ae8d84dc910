"""EmbeddingStore: round trip, exact search, self-kNN and its cache, approximate recall, bad
input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

from budgetplan.embeddings import faiss_index as fx
from budgetplan.embeddings.store import EmbeddingStore, checksum_of
from budgetplan.errors import BudgetplanError, DataMismatchError, InputFileError


def clustered(n: int, d: int, seed: int = 0, centres: int = 20) -> np.ndarray:
    """Gaussian mixture: realistic enough for approximate search, no exact ties."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, d))
    return (c[rng.integers(centres, size=n)] + 0.6 * rng.normal(size=(n, d))).astype(np.float32)


def ids_for(n: int) -> list[str]:
    return [f"img{i:05d}.png" for i in range(n)]


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def small(tmp_path: Path) -> tuple[EmbeddingStore, np.ndarray]:
    x = clustered(600, 32)
    return EmbeddingStore.create(
        tmp_path / "store", x, ids_for(600), backbone="test-net", image_size=224
    ), x


# ---------------------------------------------------------------------- round trip
def test_round_trip_vectors_ids_manifest(small: tuple[EmbeddingStore, np.ndarray]) -> None:
    store, x = small
    again = EmbeddingStore.open(store.root, verify_checksum=True)
    assert isinstance(again.vectors, np.memmap)
    assert again.vectors.dtype == np.float32
    np.testing.assert_allclose(again.vectors, unit(x.astype(np.float64)), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(again.vectors, axis=1), 1.0, atol=1e-5)
    assert list(again.ids) == ids_for(600)
    m = again.manifest
    assert (m["backbone"], m["dim"], m["n"], m["image_size"]) == ("test-net", 32, 600, 224)
    assert m["simulated"] is False and m["random_weights"] is False
    assert m["index"]["kind"] == "flat" and m["faiss_version"] == faiss.__version__
    assert m["checksum"] == checksum_of(np.asarray(again.vectors), list(again.ids))
    assert again.dim == 32 and len(again) == 600


def test_extra_manifest_fields_and_simulated_flag(tmp_path: Path) -> None:
    s = EmbeddingStore.create(
        tmp_path / "s", clustered(50, 8), ids_for(50), simulated=True, seed_of_demo=7
    )
    assert s.simulated and EmbeddingStore.open(s.root).manifest["seed_of_demo"] == 7
    with pytest.raises(BudgetplanError, match=r"\['checksum'\] are set by the store"):
        EmbeddingStore.create(tmp_path / "t", clustered(50, 8), ids_for(50), checksum="x")
    assert not (tmp_path / "t").exists()


def test_progress_reports_completion(tmp_path: Path) -> None:
    calls: list[tuple[int, int, str]] = []
    s = EmbeddingStore.create(
        tmp_path / "s", clustered(300, 8), ids_for(300), progress=lambda *a: calls.append(a)
    )
    assert calls[-1][0] == calls[-1][1]
    calls.clear()
    s.self_knn(5, progress=lambda *a: calls.append(a), batch=128)
    assert [c[0] for c in calls] == [0, 128, 256, 300] and calls[-1][1] == 300


# ---------------------------------------------------------------------- search
def test_exact_search_equals_numpy_brute_force(small: tuple[EmbeddingStore, np.ndarray]) -> None:
    store, x = small
    q = clustered(40, 32, seed=1)
    sims, idx = store.search(q, k=7)
    scores = unit(q.astype(np.float64)) @ unit(x.astype(np.float64)).T
    expect = np.argsort(-scores, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(idx, expect)
    np.testing.assert_allclose(sims, np.take_along_axis(scores, expect, axis=1), atol=1e-5)


def test_search_rejects_wrong_dimension_and_k(small: tuple[EmbeddingStore, np.ndarray]) -> None:
    store, _ = small
    with pytest.raises(DataMismatchError, match="dimension 16, the store has 32"):
        store.search(np.ones((2, 16)), k=3)
    with pytest.raises(BudgetplanError, match="k=0"):
        store.search(np.ones((2, 32)), k=0)


def test_self_knn_excludes_self_and_matches_brute_force(
    small: tuple[EmbeddingStore, np.ndarray],
) -> None:
    store, x = small
    sims, idx = store.self_knn(k=5, batch=100)
    assert sims.shape == idx.shape == (600, 5)
    assert not (idx == np.arange(600)[:, None]).any()
    scores = unit(x.astype(np.float64)) @ unit(x.astype(np.float64)).T
    np.fill_diagonal(scores, -np.inf)
    expect = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(idx, expect)
    assert (np.diff(sims, axis=1) <= 1e-6).all()


def test_self_knn_keeps_an_identical_twin_but_not_itself(tmp_path: Path) -> None:
    x = clustered(100, 8)
    x[7] = x[3]  # two images with the same embedding
    s = EmbeddingStore.create(tmp_path / "s", x, ids_for(100))
    _, idx = s.self_knn(k=3)
    assert idx[3, 0] == 7 and idx[7, 0] == 3
    assert 3 not in idx[3] and 7 not in idx[7]


class _Spy:
    """Wraps a FAISS index and counts search calls."""

    def __init__(self, index: object) -> None:
        self.index, self.calls = index, 0

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        return self.index.search(q, k)  # type: ignore[attr-defined]


def test_self_knn_is_cached_on_disk(small: tuple[EmbeddingStore, np.ndarray]) -> None:
    store, _ = small
    store._index = spy = _Spy(store._index)
    first = store.self_knn(k=6)
    n_calls = spy.calls
    assert n_calls > 0 and list(store.root.glob("knn_k6_flat_*.npz"))
    reopened = EmbeddingStore.open(store.root)
    reopened._index = spy2 = _Spy(reopened._index)
    second = reopened.self_knn(k=6)
    smaller = reopened.self_knn(k=4)  # served from the k=6 answer
    assert spy2.calls == 0
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(smaller[1], first[1][:, :4])
    reopened.self_knn(k=6, cache=False)
    assert spy2.calls > 0


def test_rebuilt_store_never_reads_a_stale_knn_cache(tmp_path: Path) -> None:
    root = tmp_path / "s"
    a = EmbeddingStore.create(root, clustered(200, 8, seed=1), ids_for(200))
    old = a.self_knn(k=3)[1]
    b = EmbeddingStore.create(root, clustered(200, 8, seed=2), ids_for(200), overwrite=True)
    new = b.self_knn(k=3)[1]
    _, expect = EmbeddingStore.create(
        tmp_path / "fresh", clustered(200, 8, seed=2), ids_for(200)
    ).self_knn(3)
    np.testing.assert_array_equal(new, expect)
    assert not np.array_equal(old, new)
    # rebuilding the index in place drops the cached answers of the old index
    b.self_knn(k=3)
    c = EmbeddingStore.rebuild_index(root, index="hnsw")
    assert c.index_kind == "hnsw" and not list(root.glob("knn_*flat*.npz"))


# ---------------------------------------------------------------------- approximate indexes
@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_records_its_recall(tmp_path: Path, kind: str) -> None:
    x = clustered(3000, 32)
    s = EmbeddingStore.create(tmp_path / kind, x, ids_for(3000), index=kind)
    rec = EmbeddingStore.open(s.root).manifest["index"]["recall"]
    assert s.index_kind == kind and rec["k"] == 10 and rec["n_queries"] == 500
    # the recorded number is the recall of this index on those queries, recomputed here
    rows = np.sort(np.random.default_rng(rec["seed"]).choice(3000, size=500, replace=False))
    q = np.asarray(s.vectors[rows])
    truth = np.argsort(-(q @ np.asarray(s.vectors).T), axis=1)[:, :10]
    _, found = s.search(q, 10)
    hits = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert rec["recall"] == pytest.approx(hits, abs=0.01)
    assert 0.5 < rec["recall"] <= 1.0


def test_auto_index_is_exact_when_small_and_tuned_when_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = clustered(2000, 16, centres=5)
    assert EmbeddingStore.create(tmp_path / "a", x, ids_for(2000)).index_kind == "flat"
    monkeypatch.setattr(fx, "AUTO_FLAT_MAX", 1000)
    s = EmbeddingStore.create(
        tmp_path / "b", x, ids_for(2000), index_params={"nprobe": 1}, recall_target=0.97
    )
    idx = s.manifest["index"]
    assert idx["kind"] == "ivf" and idx["requested"] == "auto"
    assert idx["recall"]["recall"] >= 0.97 and idx["params"]["nprobe"] > 1


def test_unknown_index_kind(tmp_path: Path) -> None:
    with pytest.raises(BudgetplanError, match="unknown index kind 'kd'"):
        EmbeddingStore.create(tmp_path / "s", clustered(10, 4), ids_for(10), index="kd")


def test_missing_faiss_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(BudgetplanError, match="pip install faiss-cpu"):
        fx.import_faiss()


# ---------------------------------------------------------------------- bad vectors and ids
@pytest.mark.parametrize(
    ("value", "what"),
    [(np.nan, "row 5 contains NaN"), (np.inf, "row 5 contains inf"), (0.0, "row 5 has zero norm")],
)
def test_bad_vector_rows_are_named(tmp_path: Path, value: float, what: str) -> None:
    x = clustered(20, 4)
    if value == 0.0:
        x[5] = 0.0
    else:
        x[5, 2] = value
    with pytest.raises(DataMismatchError, match=what):
        EmbeddingStore.create(tmp_path / "s", x, ids_for(20))
    assert not (tmp_path / "s").exists()


def test_wrong_dimension_rows_and_arrays(tmp_path: Path) -> None:
    rows = [np.ones(4)] * 3 + [np.ones(3)]
    with pytest.raises(DataMismatchError, match="row 3 has 3 values, expected 4"):
        EmbeddingStore.create(tmp_path / "s", rows, ids_for(4))
    with pytest.raises(DataMismatchError, match="dimension 4, expected 1024"):
        EmbeddingStore.create(tmp_path / "s", clustered(5, 4), ids_for(5), dim=1024)
    with pytest.raises(DataMismatchError, match="2-D"):
        EmbeddingStore.create(tmp_path / "s", np.ones(5), ids_for(5))
    with pytest.raises(DataMismatchError, match="empty"):
        EmbeddingStore.create(tmp_path / "s", np.ones((0, 4)), [])


def test_duplicate_and_miscounted_ids(tmp_path: Path) -> None:
    ids = ids_for(5)
    ids[4] = ids[1]
    with pytest.raises(DataMismatchError, match="duplicate id 'img00001.png' at rows 1 and 4"):
        EmbeddingStore.create(tmp_path / "s", clustered(5, 4), ids)
    with pytest.raises(DataMismatchError, match="4 ids for 5 vectors"):
        EmbeddingStore.create(tmp_path / "s", clustered(5, 4), ids_for(4))


def test_existing_directory_needs_overwrite(small: tuple[EmbeddingStore, np.ndarray]) -> None:
    store, _ = small
    with pytest.raises(InputFileError, match="already exists"):
        EmbeddingStore.create(store.root, clustered(10, 4), ids_for(10))
    replaced = EmbeddingStore.create(store.root, clustered(10, 4), ids_for(10), overwrite=True)
    assert replaced.n == 10 and EmbeddingStore.open(store.root).n == 10


# ---------------------------------------------------------------------- damaged stores
def test_index_size_mismatch_is_named(tmp_path: Path) -> None:
    s = EmbeddingStore.create(tmp_path / "s", clustered(1000, 64), ids_for(1000))
    other = faiss.IndexFlatIP(64)
    other.add(unit(clustered(999, 64, seed=3)).astype(np.float32))
    faiss.write_index(other, str(s.root / "index.faiss"))
    with pytest.raises(
        DataMismatchError,
        match="index.faiss holds 999 vectors of dim 64 but vectors.npy has 1000 x 64; rebuild",
    ):
        EmbeddingStore.open(s.root)
    fixed = EmbeddingStore.rebuild_index(s.root, index="flat")
    assert fixed.index.ntotal == 1000


def test_missing_corrupt_or_empty_files(small: tuple[EmbeddingStore, np.ndarray]) -> None:
    store, _ = small
    root = store.root
    manifest = (root / "manifest.json").read_text()
    (root / "manifest.json").write_text("{not json")
    with pytest.raises(InputFileError, match="manifest.json: manifest is not valid JSON"):
        EmbeddingStore.open(root)
    (root / "manifest.json").write_text("")
    with pytest.raises(InputFileError, match="manifest is empty"):
        EmbeddingStore.open(root)
    (root / "manifest.json").unlink()
    with pytest.raises(InputFileError, match="manifest is missing"):
        EmbeddingStore.open(root)
    (root / "manifest.json").write_text(manifest)

    m = json.loads(manifest)
    (root / "manifest.json").write_text(json.dumps({**m, "n": 601}))
    with pytest.raises(
        DataMismatchError, match="holds 600 x 32 vectors but manifest.json says 601 x 32"
    ):
        EmbeddingStore.open(root)
    (root / "manifest.json").write_text(manifest)

    ids = (root / "ids.txt").read_text()
    (root / "ids.txt").write_text(ids + "extra\n")
    with pytest.raises(DataMismatchError, match="has 601 ids but vectors.npy has 600 rows"):
        EmbeddingStore.open(root)
    (root / "ids.txt").write_text(ids.replace("img00000.png", "renamed.png"))
    # sizes agree, but ids.txt's size or mtime changed: the content is re-hashed on open
    with pytest.raises(DataMismatchError, match="changed since the store was created"):
        EmbeddingStore.open(root)
    (root / "ids.txt").write_text(ids)

    (root / "index.faiss").write_bytes(b"")
    with pytest.raises(InputFileError, match="index.faiss: index file is empty"):
        EmbeddingStore.open(root)
    (root / "index.faiss").write_bytes(b"garbage" * 10)
    with pytest.raises(InputFileError, match="not a readable FAISS index"):
        EmbeddingStore.open(root)
    (root / "vectors.npy").write_bytes(b"")
    with pytest.raises(InputFileError, match="vectors.npy: vectors file is empty"):
        EmbeddingStore.open(root)
    with pytest.raises(InputFileError, match="not found"):
        EmbeddingStore.open(root / "nope")


def test_interrupted_create_leaves_nothing_openable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fx, "write_index", boom)
    with pytest.raises(KeyboardInterrupt):
        EmbeddingStore.create(tmp_path / "s", clustered(50, 8), ids_for(50))
    assert list(tmp_path.iterdir()) == []  # no store and no temp directory left behind
    with pytest.raises(InputFileError):
        EmbeddingStore.open(tmp_path / "s")


def test_interrupted_overwrite_keeps_the_old_store(
    small: tuple[EmbeddingStore, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = small

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(fx, "write_index", boom)
    with pytest.raises(RuntimeError):
        EmbeddingStore.create(store.root, clustered(10, 4), ids_for(10), overwrite=True)
    assert EmbeddingStore.open(store.root, verify_checksum=True).n == 600


def test_huge_and_tiny_rows_are_normalised_exactly(tmp_path: Path) -> None:
    x = clustered(6, 4).astype(np.float64)
    y = x.copy()
    y[1] *= 1e200  # squares overflow float32 and float64
    y[2] *= 1e-30  # squares underflow float32
    s = EmbeddingStore.create(tmp_path / "s", y, ids_for(6))
    np.testing.assert_allclose(s.vectors, unit(x), atol=1e-6)
