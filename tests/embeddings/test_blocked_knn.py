"""Cell-blocked self-kNN: exact when every cell is probed, never worse than a per-query IVF
search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from budgetplan.embeddings import faiss_index as fx
from budgetplan.embeddings.blocked_knn import cell_self_knn, top_cells, tune_probes
from budgetplan.embeddings.store import EmbeddingStore, exclude_self


def unit_clusters(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(12, d))
    x = c[rng.integers(12, size=n)] + 0.8 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def brute_self_knn(x: np.ndarray, k: int) -> np.ndarray:
    s = x.astype(np.float64) @ x.astype(np.float64).T
    np.fill_diagonal(s, -np.inf)
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


@pytest.fixture(scope="module")
def ivf() -> tuple[np.ndarray, object, np.ndarray]:
    x = unit_clusters(1500, 24)
    fx.set_threads(None, work=len(x))  # one OpenMP thread for a small input
    spec = fx.IndexSpec("ivf", {"nlist": 40, "nprobe": 2, "max_probes": 40})
    index, cells = fx.build_ivf(x, spec, seed=0)
    return x, index, cells


def test_probing_every_cell_is_exact(ivf: tuple[np.ndarray, object, np.ndarray]) -> None:
    x, _, cells = ivf
    sims, idx = cell_self_knn(x, cells, k=6, probes=cells.shape[1], max_rows=64, threads=2)
    np.testing.assert_array_equal(idx, brute_self_knn(x, 6))
    assert (np.diff(sims, axis=1) <= 1e-6).all()


def test_never_worse_than_per_query_ivf_at_the_same_nprobe(
    ivf: tuple[np.ndarray, object, np.ndarray],
) -> None:
    x, index, cells = ivf
    for probes in (1, 2, 3):
        fx.apply_search_params(index, fx.IndexSpec("ivf", {"nprobe": probes}))
        d, i = index.search(x, 11)  # type: ignore[attr-defined]
        ivf_sims, _ = exclude_self(d, i, np.arange(len(x)), 10)
        sims, _ = cell_self_knn(x, cells, k=10, probes=probes)
        # every row scanned a superset of the cells FAISS scanned, so its k-th match is as good
        assert (sims[:, -1] >= ivf_sims[:, -1] - 1e-5).all()


def test_rows_subset_gives_the_full_run_answers(ivf: tuple[np.ndarray, object, np.ndarray]) -> None:
    x, _, cells = ivf
    full_s, full_i = cell_self_knn(x, cells, k=5, probes=2)
    rows = np.array([3, 17, 800, 1499])
    sub_s, sub_i = cell_self_knn(x, cells, k=5, probes=2, rows=rows)
    np.testing.assert_array_equal(sub_i, full_i[rows])
    np.testing.assert_allclose(sub_s, full_s[rows], atol=1e-6)


def test_rows_in_tiny_cells_still_get_k_real_neighbours() -> None:
    x = unit_clusters(200, 8, seed=2)
    centroids = np.concatenate([x[:1], unit_clusters(5, 8, seed=3)])  # cell 0 holds x[0] alone
    cells = top_cells(x, centroids, 1)
    cells[0, 0] = 0
    cells[1:, 0] = np.maximum(cells[1:, 0], 1)
    sims, idx = cell_self_knn(x, cells, k=4, probes=1)
    assert (idx >= 0).all() and np.isfinite(sims).all()
    np.testing.assert_array_equal(idx[0], brute_self_knn(x, 4)[0])


def test_tune_probes_reaches_the_target(ivf: tuple[np.ndarray, object, np.ndarray]) -> None:
    x, _, cells = ivf
    probes, rec = tune_probes(x, cells, k=10, start=1, target=0.99, n_queries=200)
    assert rec["recall"] >= 0.99 and rec["probes"] == probes
    if probes > 1:
        assert tune_probes(x, cells, k=10, start=probes - 1, n_queries=200)[1]["recall"] < 0.99


def test_ivf_store_self_knn_uses_cells_and_records_its_recall(tmp_path: Path) -> None:
    x = unit_clusters(3000, 32, seed=4)
    store = EmbeddingStore.create(tmp_path / "s", x, [str(i) for i in range(3000)], index="ivf")
    entry = store.manifest["index"]
    assert (store.root / "ivf_cells.npy").is_file() and entry["params"]["knn_probes"] == 3
    sims, idx = store.self_knn(10)
    truth = brute_self_knn(np.asarray(store.vectors), 10)
    rows = np.sort(np.random.default_rng(0).choice(3000, 500, replace=False))
    hits = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx[rows], truth[rows], strict=True)])
    assert entry["recall"]["self_knn"]["recall"] == pytest.approx(hits, abs=1e-9)
    assert not (idx == np.arange(3000)[:, None]).any() and (idx >= 0).all()
    (store.root / "ivf_cells.npy").unlink()  # recomputed from the index's centroids if missing
    again = EmbeddingStore.open(store.root).self_knn(10, cache=False)
    np.testing.assert_array_equal(again[1], idx)


def test_auto_falls_back_to_exact_when_cells_do_not_pay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fx, "AUTO_FLAT_MAX", 500)
    x = np.random.default_rng(5).normal(size=(2000, 64))  # no clusters: neighbours everywhere
    store = EmbeddingStore.create(tmp_path / "s", x, [str(i) for i in range(2000)])
    entry = store.manifest["index"]
    assert entry["kind"] == "flat" and entry["requested"] == "auto"
    knn = entry["fallback_from"]["recall"]["self_knn"]
    assert knn["recall"] < fx.RECALL_TARGET or knn["cost"] > fx.MAX_KNN_COST
    _, idx = store.self_knn(5)
    np.testing.assert_array_equal(idx, brute_self_knn(np.asarray(store.vectors), 5))
