"""The pool's kNN comes from the dataset's cached store kNN on full vectors, else exact search."""

from __future__ import annotations

import numpy as np

from budgetplan.config import SimulationConfig
from budgetplan.dataset import Dataset
from budgetplan.planner.neighbours import pool_knn, uses_store
from budgetplan.planner.problem import prepare_problem
from budgetplan.relations.knn import exact_self_knn


def test_full_vector_problem_uses_the_store_cache_reduced_uses_arrays(toy_data, tmp_path) -> None:
    ds = Dataset.create(tmp_path / "ds", toy_data.labels, toy_data.vectors, toy_data.labels.ids)
    store = ds.embeddings
    calls = []
    real = store.self_knn
    store.self_knn = lambda k=10: calls.append(k) or real(k=k)  # type: ignore[method-assign]

    full = prepare_problem(ds.labels, ds.vectors, "T", SimulationConfig(pool_images=300, dim=None))
    assert uses_store(full, store)
    sims, idx = pool_knn(full, store, k=10)
    assert calls == [10] and idx.shape == (len(full.train_ids), 10)
    assert list((tmp_path / "ds").rglob("*knn*"))  # cached in the store directory
    assert store._load_knn(10) is not None  # a second run loads it instead of searching

    # in-pool neighbours keep the store's order and are the pool's exact nearest ones
    _, exact = exact_self_knn(np.ascontiguousarray(full.x_train), k=10)
    for row in range(0, len(idx), 17):
        kept = idx[row][idx[row] >= 0]
        assert list(kept) == list(exact[row][: len(kept)])
    assert (idx == -1).any()  # neighbours outside the pool (val/test/unsampled) are "none"

    reduced = prepare_problem(ds.labels, ds.vectors, "T", SimulationConfig(pool_images=300, dim=4))
    assert reduced.reduced and not uses_store(reduced, store)
    _, ridx = pool_knn(reduced, store, k=5)
    assert calls == [10] and (ridx >= 0).all()  # exact search in the PCA space
    assert not uses_store(full, None)  # in-memory data (digits): array path


def test_searching_only_the_target_positives_gives_their_full_graph_lists(toy_data, tmp_path):
    """The planner searches the lists it reads (the target positives'): the same lists as the
    full graph's rows, and no neighbour elsewhere, so knn-share is unchanged."""
    from budgetplan.relations.knn import knn_share

    ds = Dataset.create(tmp_path / "ds", toy_data.labels, toy_data.vectors, toy_data.labels.ids)
    reduced = prepare_problem(ds.labels, ds.vectors, "T", SimulationConfig(pool_images=300, dim=4))
    t = reduced.target_index
    positives = np.flatnonzero(reduced.y_train[:, t] == 1)
    assert 0 < len(positives) < len(reduced.y_train)
    full_sims, full_idx = pool_knn(reduced, None, k=5)
    sims, idx = pool_knn(reduced, None, k=5, queries=positives)
    np.testing.assert_array_equal(idx[positives], full_idx[positives])
    np.testing.assert_allclose(sims[positives], full_sims[positives], rtol=1e-6)
    others = np.setdiff1d(np.arange(len(idx)), positives)
    assert (idx[others] == -1).all() and np.isneginf(sims[others]).all()
    want = knn_share(reduced.y_train, full_idx, t)
    got = knn_share(reduced.y_train, idx, t)
    np.testing.assert_array_equal(got.share, want.share)
