"""Image relations from k nearest neighbours (cosine, FAISS inner product on unit vectors).

For the target t and each class c: the share of t-positive images among whose k = 10 nearest
neighbours at least one is c-positive (the target's hard-negative neighbourhood, DESIGN.md
"Relations"), and the images that make it up (``hard_negative_images``), which the planner
annotates first. Neighbour lists hold row numbers of the label matrix they are used with; -1
means "no neighbour" (fewer than k in the rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from budgetplan.errors import DataMismatchError

ProgressFn = Callable[[int, int, str], None]
SearchFn = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


# ----------------------------------------------------------------------------- neighbour lists
# With at least this many queries the base rows are gathered chunk by chunk and searched by
# FAISS ``knn`` (BLAS + a fast top-k); with fewer, contiguous chunks of the whole base are
# scored with the other rows masked, which avoids gathering the rows for a handful of queries.
GATHER_MIN_QUERIES = 256


def exact_search(
    base: np.ndarray,
    queries: np.ndarray,
    k: int,
    *,
    rows: np.ndarray | None = None,
    base_chunk: int = 16_384,
    query_batch: int = 2048,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product search of ``queries`` among ``base[rows]`` (BLAS matrix products).

    The base is read chunk by chunk (a memory map is never copied whole) and the running top-k
    is merged chunk by chunk; among equal scores the lower row comes first. Returns
    (similarities (M, k), indices (M, k)) with indices as positions in ``rows`` (or rows of
    ``base``); -1 / -inf pad when fewer than k rows exist.
    """
    n = base.shape[0]
    m = len(queries)
    sims = np.full((m, k), -np.inf, dtype=np.float32)
    idx = np.full((m, k), -1, dtype=np.int64)
    qs = [
        np.ascontiguousarray(queries[s : s + query_batch], dtype=np.float32)
        for s in range(0, m, query_batch)
    ]
    for ci, (ids, chunk) in enumerate(_base_chunks(base, rows, base_chunk, m)):
        kk = min(k, int((ids >= 0).sum()))
        if kk == 0:
            continue
        for qi, q in enumerate(qs):
            d, i = _chunk_top_k(q, chunk, ids, kk)
            s = qi * query_batch
            cat_s = np.concatenate([sims[s : s + len(q)], d], axis=1)
            cat_i = np.concatenate([idx[s : s + len(q)], i], axis=1)
            tie = np.where(cat_i < 0, np.iinfo(np.int64).max, cat_i)
            order = np.lexsort((tie, -cat_s), axis=1)[:, :k]
            sims[s : s + len(q)] = np.take_along_axis(cat_s, order, axis=1)
            idx[s : s + len(q)] = np.take_along_axis(cat_i, order, axis=1)
        if progress is not None:
            progress(ci + 1, max(1, -(-n // base_chunk)), "exact kNN")
    return sims, idx


def _base_chunks(
    base: np.ndarray, rows: np.ndarray | None, size: int, n_queries: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (ids (B,) positions in ``rows`` or -1 for rows to ignore, vectors (B, d))."""
    n = base.shape[0]
    if rows is None:
        for start in range(0, n, size):
            stop = min(n, start + size)
            yield np.arange(start, stop), np.ascontiguousarray(base[start:stop], dtype=np.float32)
        return
    rows = np.asarray(rows, dtype=np.int64)
    if n_queries >= GATHER_MIN_QUERIES:
        order = np.argsort(rows, kind="stable")  # read the memory map in order
        for start in range(0, len(rows), size):
            sel = order[start : start + size]
            yield sel, np.ascontiguousarray(base[rows[sel]], dtype=np.float32)
        return
    pos = np.full(n, -1, dtype=np.int64)
    pos[rows] = np.arange(len(rows))
    for start in range(0, n, size):
        ids = pos[start : start + size]
        if (ids >= 0).any():
            yield ids, np.ascontiguousarray(base[start : start + len(ids)], dtype=np.float32)


def _chunk_top_k(
    q: np.ndarray, chunk: np.ndarray, ids: np.ndarray, kk: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-kk of ``q`` against ``chunk`` as (scores, ids), entries with ids -1 excluded."""
    valid = ids >= 0
    if valid.all():
        import faiss

        d, i = faiss.knn(q, chunk, kk, metric=faiss.METRIC_INNER_PRODUCT)
        return d, np.where(i >= 0, ids[np.maximum(i, 0)], -1)
    scores = q @ chunk.T
    scores[:, ~valid] = -np.inf
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    d = np.take_along_axis(scores, part, axis=1)
    return d, np.where(np.isfinite(d), ids[part], -1)


def exact_self_knn(
    vectors: np.ndarray, k: int = 10, progress: ProgressFn | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest neighbours of every row among the rows, without the row itself (exact)."""
    sims, idx = exact_search(vectors, vectors, k + 1, progress=progress)
    return drop_self(sims, idx, np.arange(len(vectors)), k)


def drop_self(
    sims: np.ndarray, idx: np.ndarray, self_ids: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Remove each query's own id from its list (or the last entry if absent), keep k."""
    keep = idx != np.asarray(self_ids)[:, None]
    return _first_k(sims, idx, keep, k)


def _first_k(
    sims: np.ndarray, idx: np.ndarray, keep: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the first k entries where ``keep`` (order preserved), padded with -1 / -inf."""
    keep = keep & (idx >= 0)
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    s = np.take_along_axis(np.where(keep, sims, -np.inf), order, axis=1).astype(np.float32)
    i = np.take_along_axis(np.where(keep, idx, -1), order, axis=1)
    if s.shape[1] < k:  # fewer candidates than k
        pad = k - s.shape[1]
        s = np.pad(s, ((0, 0), (0, pad)), constant_values=-np.inf)
        i = np.pad(i, ((0, 0), (0, pad)), constant_values=-1)
    return s, i


def restrict_knn(
    similarities: np.ndarray,
    indices: np.ndarray,
    rows: np.ndarray,
    k: int,
    exclude: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour lists over a whole store, kept only where the neighbour is in ``rows`` (e.g.
    the training split) and renumbered to positions in ``rows``.

    Args:
        similarities, indices: (Q, K) lists of Q queries with store-wide ids (-1 = none).
        rows: (R,) store ids that form the new universe (bool mask or ids).
        k: neighbours kept per query (the first k in the rows; -1 / -inf padding).
        exclude: (Q,) store id to drop from each list (the query itself), optional.
    """
    rows = np.asarray(rows)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    idx = np.asarray(indices, dtype=np.int64)
    top = int(max(idx.max(initial=-1), rows.max(initial=-1))) + 1
    pos = np.full(top + 1, -1, dtype=np.int64)  # pos[-1] (the last slot) stays -1 for idx = -1
    pos[rows] = np.arange(len(rows))
    local = pos[idx]
    keep = local >= 0
    if exclude is not None:
        keep &= idx != np.asarray(exclude)[:, None]
    return _first_k(np.asarray(similarities, dtype=np.float32), local, keep, k)


# Below this many (query, row) pairs an exact BLAS search is used even when an index is given:
# it is exact and takes seconds (4.5k Nodule positives x 78k training rows), whereas an IVF
# index tuned to high recall may scan a large share of its lists one query at a time.
EXACT_PAIRS_MAX = 1_000_000_000


def query_knn(
    vectors: np.ndarray,
    rows: np.ndarray,
    queries: np.ndarray,
    k: int = 10,
    *,
    search: SearchFn | None = None,
    overfetch: int = 3,
    exact_pairs_max: int = EXACT_PAIRS_MAX,
) -> tuple[np.ndarray, np.ndarray]:
    """k neighbours within ``rows`` of the store rows ``queries`` (themselves excluded).

    Exact (chunked FAISS ``knn`` over ``vectors[rows]``) when there is no ``search`` or
    ``len(queries) * len(rows) <= exact_pairs_max``; otherwise ``search`` (an
    ``EmbeddingStore.search``) fetches ``overfetch * (k + 1)`` store-wide and keeps those in
    ``rows``, and queries left with fewer than k are searched exactly. Returns similarities and
    positions in ``rows`` (Q, k).
    """
    rows = np.asarray(rows)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    queries = np.asarray(queries, dtype=np.int64)
    qv = np.asarray(vectors[queries], dtype=np.float32)
    if search is None or len(queries) * len(rows) <= exact_pairs_max:
        sims, local = exact_search(vectors, qv, k + 1, rows=rows)
        global_idx = np.where(local >= 0, rows[np.maximum(local, 0)], -1)
        return restrict_knn(sims, global_idx, rows, k, queries)
    n_fetch = min(len(vectors), overfetch * (k + 1))
    sims, idx = search(qv, n_fetch)
    s, i = restrict_knn(sims, idx, rows, k, queries)
    short = (i < 0).any(axis=1)
    if short.any() and n_fetch < len(vectors):  # rare: too few neighbours in the rows
        s2, i2 = query_knn(vectors, rows, queries[short], k, search=None)
        s[short], i[short] = s2, i2
    return s, i


# ----------------------------------------------------------------------------- relations
@dataclass(frozen=True)
class KnnShare:
    """kNN relation of a target to every class (each (C,)).

    share: of the target-positive queries with c annotated on some neighbour, the fraction with
        at least one c-positive neighbour.
    n_carrying / n_queries: the counts behind ``share``.
    neighbour_rate: of the neighbours' annotated c labels, the fraction that are positive.
    random_share: the share expected if the neighbours were random images (from c's prevalence
        among the annotated rows), the baseline ``share`` should be read against.
    prevalence: c's prevalence among the annotated rows (the neighbour rate of random images).

    ``lift`` = neighbour_rate / prevalence corrects the share for prevalence: a frequent class
    is among everybody's neighbours, so its raw share is high for every target (issue 14).
    """

    share: np.ndarray
    n_carrying: np.ndarray
    n_queries: np.ndarray
    neighbour_rate: np.ndarray
    random_share: np.ndarray
    prevalence: np.ndarray

    @property
    def lift(self) -> np.ndarray:
        """kNN lift: how many times more often the target positives' neighbours carry c than
        random images do (neighbour_rate / prevalence; 1 = as random, NaN where undefined)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.prevalence > 0, self.neighbour_rate / self.prevalence, np.nan)


def _queries(
    labels: np.ndarray, knn_indices: np.ndarray, target: int, query: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked (labels (N, C), neighbour lists (Q, k), query rows (Q,)) of :func:`knn_share`."""
    y = np.asarray(labels, dtype=np.float32)
    idx = np.asarray(knn_indices, dtype=np.int64)
    if y.ndim != 2 or idx.ndim != 2:
        raise DataMismatchError(f"kNN relation: labels {y.shape} must be (N, C), neighbours (Q, k)")
    if not 0 <= target < y.shape[1]:
        raise DataMismatchError(
            f"kNN relation: target column {target} out of range 0..{y.shape[1] - 1}"
        )
    if query is None:
        if idx.shape[0] != y.shape[0]:
            raise DataMismatchError(
                f"kNN relation: a full neighbour graph needs {y.shape[0]} lists, got {idx.shape[0]}"
                " (or pass query= the rows the lists belong to)"
            )
        query = np.flatnonzero(y[:, target] == 1)
        idx = idx[query]
    else:
        query = np.asarray(query, dtype=np.int64)
        if len(query) != idx.shape[0]:
            raise DataMismatchError(
                f"kNN relation: {len(query)} query rows for {idx.shape[0]} lists"
            )
    if idx.size and idx.max() >= y.shape[0]:
        raise DataMismatchError(
            f"kNN relation: neighbour {idx.max()} beyond the {y.shape[0]} label rows"
        )
    return y, idx, query


def knn_share(
    labels: np.ndarray, knn_indices: np.ndarray, target: int, query: np.ndarray | None = None
) -> KnnShare:
    """kNN relation of ``target`` (column) to every class; see ``KnnShare``.

    ``knn_indices`` is either the full graph (N, k) of the label rows (queries = the target's
    positives) or the lists of the rows in ``query`` (Q, k). NaN labels of neighbours are
    excluded, never negatives.
    """
    y, idx, _ = _queries(labels, knn_indices, target, query)
    valid = idx >= 0
    nb = y[np.where(valid, idx, 0)]  # (Q, k, C)
    nb[~valid] = np.nan
    pos = nb == 1
    ann = ~np.isnan(nb)
    carrying = pos.any(axis=1)  # (Q, C)
    informed = ann.any(axis=1)
    n_carrying = carrying.sum(axis=0)
    n_queries = informed.sum(axis=0)
    n_pos_nb = pos.sum(axis=(0, 1))
    n_ann_nb = ann.sum(axis=(0, 1))
    col_ann = (~np.isnan(y)).sum(axis=0)
    prevalence = np.where(col_ann > 0, (y == 1).sum(axis=0) / np.maximum(col_ann, 1), np.nan)
    m = ann.sum(axis=1)  # annotated neighbours per query and class
    expected = 1.0 - (1.0 - prevalence[None, :]) ** m
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_queries > 0, n_carrying / np.maximum(n_queries, 1), np.nan)
        rate = np.where(n_ann_nb > 0, n_pos_nb / np.maximum(n_ann_nb, 1), np.nan)
        random_share = np.where(
            n_queries > 0,
            np.where(informed, expected, 0).sum(axis=0) / np.maximum(n_queries, 1),
            np.nan,
        )
    return KnnShare(
        share,
        n_carrying.astype(np.int64),
        n_queries.astype(np.int64),
        rate,
        random_share,
        prevalence.astype(np.float64),
    )


def hard_negative_images(
    labels: np.ndarray,
    knn_indices: np.ndarray,
    target: int,
    cls: int | None = None,
    *,
    knn_similarities: np.ndarray | None = None,
    query: np.ndarray | None = None,
    class_label: str = "any",
) -> pd.DataFrame:
    """The target's kNN hard-negative neighbourhood: images among the k neighbours of
    target-positive images that are not target-positive, ranked by how many target positives
    they neighbour (then by their highest similarity to one).

    Args:
        labels, knn_indices, target, query: as in ``knn_share``.
        cls: a class column; with ``class_label`` filter the images by their label of it:
            "positive" (the images carrying c), "negative", "missing" (candidates to annotate c
            on), "any" (no filter).
        knn_similarities: (Q, k) or (N, k) similarities to rank ties (optional).

    Returns:
        DataFrame with columns row (label row), hits, max_similarity, target_label and, with
        ``cls``, class_label; best first.
    """
    y, idx, qrows = _queries(labels, knn_indices, target, query)
    sims = None
    if knn_similarities is not None:
        sims = np.asarray(knn_similarities, dtype=np.float32)
        sims = sims[qrows] if (query is None) else sims
        if sims.shape != idx.shape:
            raise DataMismatchError(
                f"hard negatives: similarities {sims.shape} != neighbours {idx.shape}"
            )
    flat = idx.ravel()
    flat_sim = sims.ravel() if sims is not None else np.zeros(flat.shape, np.float32)
    keep = flat >= 0
    keep[keep] &= y[flat[keep], target] != 1
    if cls is not None:
        lab = y[np.maximum(flat, 0), cls]
        wanted = {
            "positive": lab == 1,
            "negative": lab == 0,
            "missing": np.isnan(lab),
            "any": np.ones_like(keep),
        }
        if class_label not in wanted:
            raise ValueError(f"hard negatives: class_label {class_label!r} not in {sorted(wanted)}")
        keep &= wanted[class_label]
    frame = pd.DataFrame({"row": flat[keep], "similarity": flat_sim[keep]})
    cols = ["row", "hits", "max_similarity", "target_label"] + (
        ["class_label"] if cls is not None else []
    )
    if frame.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype=float if "label" in c or "sim" in c else int) for c in cols}
        )
    out = frame.groupby("row", sort=False).agg(
        hits=("row", "size"), max_similarity=("similarity", "max")
    )
    out = out.reset_index()
    out["target_label"] = y[out["row"].to_numpy(), target]
    if cls is not None:
        out["class_label"] = y[out["row"].to_numpy(), cls]
    out = out.sort_values(["hits", "max_similarity", "row"], ascending=[False, False, True])
    return out.reset_index(drop=True)[cols]
