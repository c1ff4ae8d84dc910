"""All-pairs kNN of stored vectors through IVF cells, as dense matrix products.

A FAISS IVF search answers each query on its own: it streams the vectors of the ``nprobe`` cells
nearest to the query from memory, which is memory-bound (a few GFLOPS on two cores). When the
queries are the stored vectors themselves (a self-kNN graph), the queries of one cell can share
their candidates instead: for every cell ``l`` take its members ``Q_l``, the union ``C_l`` of the
``probes`` cells nearest to each member (so every member sees at least the cells a per-query IVF
search with ``nprobe = probes`` would scan), and compute ``Q_l C_l^T`` as one BLAS matrix
product, which runs at matmul speed. Recall is therefore at least that of the IVF index at the
same ``nprobe``, at a fraction of its time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

ProgressFn = Callable[[int, int, str], None]


@contextmanager
def _single_thread_blas() -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def top_cells(
    vectors: np.ndarray, centroids: np.ndarray, probes: int, batch: int = 16384
) -> np.ndarray:
    """(N, probes) cells with the highest inner product with each vector, nearest first."""
    n = vectors.shape[0]
    probes = min(probes, centroids.shape[0])
    out = np.empty((n, probes), dtype=np.int64)
    ct = np.ascontiguousarray(centroids, dtype=np.float32).T
    for s in range(0, n, batch):
        sc = np.asarray(vectors[s : s + batch], dtype=np.float32) @ ct
        part = (
            np.argpartition(-sc, probes - 1, axis=1)[:, :probes]
            if probes < sc.shape[1]
            else np.tile(np.arange(sc.shape[1]), (sc.shape[0], 1))
        )
        order = np.argsort(-np.take_along_axis(sc, part, axis=1), axis=1, kind="stable")
        out[s : s + batch] = np.take_along_axis(part, order, axis=1)
    return out


def _topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k values and column positions of each row, best first."""
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(vals, order, axis=1), np.take_along_axis(part, order, axis=1)


def cell_self_knn(
    vectors: np.ndarray,
    cells: np.ndarray,
    k: int = 10,
    *,
    probes: int | None = None,
    rows: np.ndarray | None = None,
    max_rows: int = 2048,
    progress: ProgressFn | None = None,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate ``k`` nearest other rows of every row of unit ``vectors`` (N, d), by inner
    product.

    Args:
        vectors: (N, d) float32 unit rows (may be memory-mapped).
        cells: (N, >= probes) nearest IVF cells of each row, nearest first (:func:`top_cells`);
            column 0 is the cell the row belongs to.
        k: neighbours per row (the row itself excluded).
        probes: cells each row looks into (its own and the next nearest); recall grows with it.
        rows: answer only these rows (same answers as the full run; used to measure recall).
        max_rows: members of a cell processed per matrix product (bounds memory).
        progress: ``progress(done_rows, N, message)``.
        threads: worker threads (default: the usable cores), each with single-threaded BLAS.

    Returns:
        ``(similarities (R, k) float32, indices (R, k) int64)`` for all N rows, or for ``rows``;
        best first. A row with fewer than ``k`` candidates gets ``-inf`` / ``-1`` in the rest.
    """
    n = vectors.shape[0]
    probes = cells.shape[1] if probes is None else min(probes, cells.shape[1])
    cells = cells[:, :probes]
    own = cells[:, 0]
    order = np.argsort(own, kind="stable")
    counts = np.bincount(own, minlength=int(own.max()) + 1)
    starts = np.concatenate([[0], np.cumsum(counts)])
    cells_sorted = cells[order]
    wanted = None
    if rows is not None:
        wanted = np.zeros(n, dtype=bool)
        wanted[np.asarray(rows)] = True
        wanted = wanted[order]
        xs = np.asarray(vectors, dtype=np.float32)  # random access only, no sorted copy
    else:
        xs = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32)[order])
    sims = np.full((n, k), -np.inf, dtype=np.float32)
    idx = np.full((n, k), -1, dtype=np.int64)
    chunks = [
        (int(cell), r0, min(int(starts[cell + 1]), r0 + max_rows))
        for cell in np.flatnonzero(counts)
        for r0 in range(int(starts[cell]), int(starts[cell + 1]), max_rows)
    ]

    def block(chunk: tuple[int, int, int]) -> int:
        cell, r0, r1 = chunk
        q = np.arange(r0, r1) if wanted is None else r0 + np.flatnonzero(wanted[r0:r1])
        if len(q) == 0:
            return r1 - r0
        # own cell first, so that sorted row r sits at candidate column r - starts[cell]
        others = np.unique(cells_sorted[r0:r1])
        lists = np.concatenate([[cell], others[others != cell]])
        cand = np.concatenate([np.arange(starts[c], starts[c + 1]) for c in lists])
        if wanted is None:
            scores = xs[q] @ xs[cand].T
        else:
            scores = xs[order[q]] @ xs[order[cand]].T
        scores[np.arange(len(q)), q - int(starts[cell])] = -np.inf
        kk = min(k, len(cand) - 1)
        if kk > 0:
            v, p = _topk_rows(scores, kk)
            sims[q, :kk] = v  # rows of different chunks never overlap
            idx[q, :kk] = order[cand[p]]
        return r1 - r0

    # Cells give many small products (tens of rows): one BLAS thread each, cells in parallel,
    # which is several times faster than multi-threaded BLAS on small matrices.
    workers = threads or len(os.sched_getaffinity(0))
    done = 0
    with _single_thread_blas(), ThreadPoolExecutor(max_workers=workers) as pool:
        for rows_done in pool.map(block, chunks):
            done += rows_done
            if progress is not None and (done == n or done % 8192 < rows_done):
                progress(done, n, "cell self-kNN")
    # rows were processed in cell order; put them back in store order
    out_s = np.empty_like(sims)
    out_i = np.empty_like(idx)
    out_s[order] = sims
    out_i[order] = idx
    if rows is not None:
        out_s, out_i = out_s[np.asarray(rows)], out_i[np.asarray(rows)]
        query_rows = np.asarray(rows)
    else:
        query_rows = np.arange(n)
    short = np.flatnonzero(out_i[:, -1] < 0)
    if len(short):  # rows whose cells hold fewer than k others: answer them exactly
        out_s[short], out_i[short] = exact_self_knn(vectors, query_rows[short], k)
    return out_s, out_i


def exact_self_knn(vectors: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest other rows of ``vectors[rows]`` by NumPy matmul (the row excluded)."""
    q = np.asarray(vectors[rows], dtype=np.float32)
    scores = q @ np.asarray(vectors, dtype=np.float32).T
    scores[np.arange(len(rows)), rows] = -np.inf
    return _topk_rows(scores, k)


#: Probe counts tried by :func:`tune_probes`, in order.
PROBE_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


def _chunks(cells: np.ndarray, max_rows: int) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Store order sorted by own cell, and the (cell, r0, r1) row chunks of ``cell_self_knn``."""
    own = cells[:, 0]
    order = np.argsort(own, kind="stable")
    counts = np.bincount(own, minlength=int(own.max()) + 1)
    starts = np.concatenate([[0], np.cumsum(counts)])
    chunks = [
        (int(c), r0, min(int(starts[c + 1]), r0 + max_rows))
        for c in np.flatnonzero(counts)
        for r0 in range(int(starts[c]), int(starts[c + 1]), max_rows)
    ]
    return order, chunks


def tune_probes(
    vectors: np.ndarray,
    cells: np.ndarray,
    k: int = 10,
    *,
    start: int = 1,
    target: float | None = None,
    n_queries: int = 500,
    seed: int = 0,
    max_rows: int = 2048,
    max_cost: float = 1.0,
) -> tuple[int, dict[str, float | int]]:
    """Recall@k and relative cost of :func:`cell_self_knn` for a number of probes.

    Recall is measured against exact search on ``n_queries`` sampled rows (a row's answer is the
    top-k of its exact scores restricted to its chunk's candidate cells, exactly what the full run
    computes); cost is the full run's multiply-adds as a share of exact all-pairs search. With a
    ``target``, ``probes`` steps through :data:`PROBE_STEPS` from ``start`` until the recall reaches
    it, the cost exceeds ``max_cost``, or all ``cells`` columns are used.

    Returns ``(probes, {"k", "recall", "cost", "n_queries", "seed", "probes"})``.
    """
    from budgetplan.embeddings.faiss_index import recall_at_k, sample_rows

    n = vectors.shape[0]
    k = min(k, n - 1)
    rows = sample_rows(n, n_queries, seed)
    m = len(rows)
    own = cells[:, 0]
    nlist = int(own.max()) + 1
    counts = np.bincount(own, minlength=nlist)
    order, chunks = _chunks(cells, max_rows)
    chunk_of_sorted = np.empty(n, dtype=np.int64)
    for ci, (_, r0, r1) in enumerate(chunks):
        chunk_of_sorted[r0:r1] = ci
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    sample_chunk = chunk_of_sorted[pos[rows]]

    scores = np.empty((m, n), dtype=np.float32)
    q = np.asarray(vectors[rows], dtype=np.float32)
    for s in range(0, n, 16384):
        scores[:, s : s + 16384] = q @ np.asarray(vectors[s : s + 16384], dtype=np.float32).T
    scores[np.arange(m), rows] = -np.inf
    truth = _topk_rows(scores, k)[1]

    steps = [p for p in PROBE_STEPS if p < cells.shape[1]] + [cells.shape[1]]
    steps = [p for p in steps if p >= min(start, cells.shape[1])]
    result: dict[str, float | int] = {}
    for probes in steps:
        cost = 0.0
        allowed = np.zeros((m, nlist), dtype=bool)
        wanted = {int(c): np.flatnonzero(sample_chunk == c) for c in np.unique(sample_chunk)}
        for ci, (_, r0, r1) in enumerate(chunks):
            lists = np.unique(cells[order[r0:r1], :probes])
            cost += (r1 - r0) * float(counts[lists].sum())
            if ci in wanted:
                allowed[np.ix_(wanted[ci], lists)] = True
        cost /= float(n) * float(n)
        masked = np.where(allowed[:, own], scores, -np.inf)
        found = _topk_rows(masked, k)[1]
        short = np.isinf(masked).sum(axis=1) > n - k  # the full run answers these exactly
        found[short] = truth[short]
        recall = recall_at_k(found, truth)
        result = {
            "k": k,
            "recall": recall,
            "cost": round(cost, 4),
            "n_queries": m,
            "seed": seed,
            "probes": probes,
        }
        if target is None or recall >= target or cost > max_cost:
            break
    return int(result["probes"]), result
