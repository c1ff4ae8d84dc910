"""The simulation pool's k nearest neighbours, from the dataset's store when it applies.

Two paths (the planner uses the pool's kNN to prioritise images and for ``knn_share``):

- **store path**, used when the problem trains on the dataset's own vectors (``problem.reduced``
  is False) and the Dataset has a store (``Dataset.embeddings``, None when held in memory): the
  store's ``self_knn`` over all its rows, computed once and cached in the store directory, so
  repeated ``recommend`` / ``simulate`` runs reuse it. Neighbours outside the pool (validation,
  test, or images the pool did not sample) become -1 ("no neighbour"), which
  ``relations.knn.knn_share`` and ``planner.images.prioritise_images`` skip.
- **array path**, used otherwise (a PCA-reduced problem, whose space the store's index does not
  search; or in-memory data such as digits or nih-chexpert without a store): exact search
  (``relations.knn.exact_self_knn``) among the pool rows in the problem's space.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from budgetplan.planner.problem import SimProblem

if TYPE_CHECKING:
    from budgetplan.embeddings.store import EmbeddingStore


def uses_store(problem: SimProblem, store: EmbeddingStore | None) -> bool:
    """True when the store's cached kNN describes the problem's space (see the module doc)."""
    return store is not None and not problem.reduced and problem.pool_rows is not None


def pool_knn(
    problem: SimProblem,
    store: EmbeddingStore | None = None,
    k: int = 10,
    queries: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(similarities, indices)`` (N_pool, k) of the pool rows; indices are pool positions.

    ``queries`` (array path only): pool positions whose lists are searched; every other row gets
    no neighbour (-1, -inf). The planner reads only the target positives' lists (``knn_share``
    and the hard negatives of ``planner.images``), so it searches those alone: exact, and at the
    default's 5 % prevalence a twentieth of the full graph's work.
    """
    if store is not None and uses_store(problem, store):
        assert problem.pool_rows is not None
        sims, idx = store.self_knn(k=k)
        pos = np.full(store.n, -1, dtype=np.int64)
        pos[problem.pool_rows] = np.arange(len(problem.pool_rows))
        sims = np.asarray(sims[problem.pool_rows], dtype=np.float32)
        idx = pos[np.asarray(idx[problem.pool_rows])]
        sims[idx < 0] = np.nan
        return sims, idx
    from budgetplan.relations.knn import drop_self, exact_search, exact_self_knn

    x = np.ascontiguousarray(problem.x_train, dtype=np.float32)
    if queries is None:
        return exact_self_knn(x, k=k)
    q = np.asarray(queries, dtype=np.int64)
    sims = np.full((len(x), k), -np.inf, dtype=np.float32)
    idx = np.full((len(x), k), -1, dtype=np.int64)
    if len(q):
        found = exact_search(x, x[q], k + 1)
        sims[q], idx[q] = drop_self(*found, q, k)
    return sims, idx
