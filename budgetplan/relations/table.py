"""The relation table: for one target, every other class with every relation side by side.

One row per other class, ranked by a chosen relation, with the label counts behind the numbers
(positives of c, target positives, images positive for both, images annotated for both, target
positives whose neighbours inform the kNN share). Relations (DESIGN.md, "Relations"):

==================  ===========================================================================
prototype-mean      cosine of mean embeddings of positives, origin shifted to the mean of all
                    rows (seed 000 Sec. 5.5, Fig. 14)
prototype-median    cosine of median embeddings of positives (seed 001 Sec. 3), origin shifted
                    like the mean: plain median cosines were 0.94-0.99 for every demo pair and
                    ranked nothing (issue 14); seed 001's label distance keeps the plain ones
pmi, phi            pointwise mutual information and phi coefficient of the two labels
conditional, cooccurrence
                    P(c | target) and the count of images positive for both
knn                 share of target-positive images with a c-positive among their k = 10
                    nearest neighbours (next to the share random neighbours would give)
knn-lift            the kNN share corrected for prevalence: rate of c-positives among those
                    neighbours / c's prevalence (a frequent class is everybody's neighbour)
adapter             cosine of the rows of the learned task encoding q (seed 000 Fig. 14)
==================  ===========================================================================

Everything is computed on the training rows only (by default); NaN labels are excluded
pairwise, never counted as negatives. ``relation_table_from_arrays`` works on plain arrays (the
planner's masked tables); ``relation_table`` / ``relation_matrices`` on a ``Dataset``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from budgetplan.errors import BudgetplanError, DataMismatchError, UnknownClassError
from budgetplan.relations.cooccurrence import conditional_probability, pair_counts, phi, pmi
from budgetplan.relations.defaults import KNN_K
from budgetplan.relations.knn import KnnShare, exact_self_knn, knn_share, query_knn, restrict_knn
from budgetplan.relations.names import (  # noqa: F401  (RELATIONS... re-exported)
    ALIASES,
    DEFAULT_RELATIONS,
    KNN_RELATIONS,
    RELATION_NAMES,
    RELATIONS,
)
from budgetplan.relations.prototypes import cosine_matrix, prototypes

if TYPE_CHECKING:
    from budgetplan.dataset import Dataset
    from budgetplan.relations.task_encoding import AdapterRelationConfig

ProgressFn = Callable[[int, int, str], None]

# Neighbours per image in a store-wide graph: enough that ~KNN_K remain inside the training rows.
KNN_GRAPH_K = 20

COUNT_COLUMNS = ("n_class_pos", "n_target_pos", "n_both_pos", "n_pairs", "knn_queries")


def _resolve_relations(relations: Sequence[str] | str) -> tuple[str, ...]:
    rel = (relations,) if isinstance(relations, str) else tuple(relations)
    out = []
    for r in rel:
        name = ALIASES.get(r, r)
        if name not in RELATIONS:
            raise UnknownClassError(r, RELATIONS, what="relation")
        out.append(name)
    return tuple(out)


def _target_index(classes: Sequence[str], target: str | int) -> int:
    if isinstance(target, (int, np.integer)):
        if not 0 <= int(target) < len(classes):
            raise DataMismatchError(
                f"target column {target} out of range for {len(classes)} classes"
            )
        return int(target)
    names = list(classes)
    if target in names:
        return names.index(target)
    norm = lambda s: str(s).lower().replace("_", " ").replace("-", " ").strip()  # noqa: E731
    for i, c in enumerate(names):
        if norm(c) == norm(target):
            return i
    raise UnknownClassError(str(target), names, what="target")


# ----------------------------------------------------------------------------- matrices
def label_relation_matrices(labels: np.ndarray, classes: Sequence[str]) -> dict[str, pd.DataFrame]:
    """C x C label relations: pmi, phi, conditional (P(column | row)), cooccurrence (both
    positive) and pairs (annotated for both), NaN excluded pairwise."""
    counts = pair_counts(labels)
    names = list(classes)
    frame = lambda a: pd.DataFrame(a, index=names, columns=names)  # noqa: E731
    return {
        "pmi": frame(pmi(counts)),
        "phi": frame(phi(counts)),
        "conditional": frame(conditional_probability(counts)),
        "cooccurrence": frame(counts.n11),
        "pairs": frame(counts.n),
    }


def prototype_matrices(
    vectors: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    kinds: Sequence[str] = ("mean", "median"),
    rows: np.ndarray | None = None,
) -> dict[str, pd.DataFrame]:
    """Cosine between class prototypes: "prototype-mean" (seed 000 Sec. 5.5) and
    "prototype-median" (seed 001 Sec. 3), each C x C, both origin shifted to the mean of the rows
    (seed 000's shift; plain median cosines crowd at 0.94-0.99 on the demo, bench/README.md)."""
    names = list(classes)
    out = {}
    for kind in kinds:
        protos = prototypes(vectors, labels, kind=kind, shift_origin=True, rows=rows)  # type: ignore[arg-type]
        out[f"prototype-{kind}"] = pd.DataFrame(cosine_matrix(protos), index=names, columns=names)
    return out


def knn_share_matrix(
    labels: np.ndarray, knn_indices: np.ndarray, classes: Sequence[str], value: str = "knn-share"
) -> pd.DataFrame:
    """kNN relation for every class as the target: entry [t, c] = share of t-positive rows with a
    c-positive among their neighbours ("knn-share") or the rate of c among those neighbours over
    c's prevalence ("knn-lift", ``KnnShare.lift``); ``knn_indices`` (N, k): the graph of the
    rows."""
    if value not in KNN_RELATIONS:
        raise UnknownClassError(value, KNN_RELATIONS, what="kNN relation")
    names = list(classes)
    mat = np.full((len(names), len(names)), np.nan)
    for t in range(len(names)):
        if (np.asarray(labels)[:, t] == 1).any():
            ks = knn_share(labels, knn_indices, t)
            mat[t] = ks.share if value == "knn-share" else ks.lift
    return pd.DataFrame(mat, index=names, columns=names)


# ----------------------------------------------------------------------------- table from arrays
def relation_table_from_arrays(
    labels: np.ndarray,
    classes: Sequence[str],
    target: str | int,
    *,
    vectors: np.ndarray | None = None,
    knn_indices: np.ndarray | None = None,
    knn_query: np.ndarray | None = None,
    adapter: np.ndarray | None = None,
    relations: Sequence[str] | str = DEFAULT_RELATIONS,
    rank_by: str | None = None,
    prototype_rows: np.ndarray | None = None,
    matrices: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The relation table of ``target`` from arrays (the planner's masked tables).

    Args:
        labels: (N, C) 1 / 0 / NaN of the rows to use (already restricted, e.g. to train).
        classes: the C names.
        target: name or column.
        vectors: (N, d) embeddings of the same rows (prototype relations; skipped if None).
        knn_indices: neighbour lists (row numbers of ``labels``; -1 = none): the full graph
            (N, k), or the lists of ``knn_query`` rows (the target positives).
        adapter: (C, C) task-encoding similarity, if computed.
        relations: which relations to compute (those without their input are left out).
        rank_by: relation to sort by (default: the first computed of ``relations``).
        prototype_rows: rows of ``vectors`` / ``labels`` for prototypes (default all).
        matrices: precomputed C x C relations by name (e.g. "prototype-mean"), used instead of
            computing them (the Dataset path reads the memory map once for all rows).

    Returns:
        DataFrame, one row per other class, best first: ``rank``, ``class``, the relation
        columns (named as the relations), ``conditional``, ``cooccurrence``, the kNN baseline
        ``knn-share-random`` and the counts ``n_class_pos``, ``n_target_pos``, ``n_both_pos``,
        ``n_pairs``, ``knn_queries``. ``attrs`` holds target, rank_by, n_rows.
    """
    rel = _resolve_relations(relations)
    y = np.asarray(labels, dtype=np.float32)
    names = list(classes)
    if y.ndim != 2 or y.shape[1] != len(names):
        raise DataMismatchError(
            f"relation table: labels {y.shape} do not match {len(names)} classes"
        )
    t = _target_index(names, target)
    counts = pair_counts(y)
    data: dict[str, Any] = {"class": names}
    computed: list[str] = []
    given = dict(matrices or {})
    kinds = [
        k for k in ("mean", "median") if f"prototype-{k}" in rel and f"prototype-{k}" not in given
    ]
    if vectors is not None and kinds:
        given.update(prototype_matrices(vectors, y, names, kinds, rows=prototype_rows))
    for name in ("prototype-mean", "prototype-median"):
        if name in rel and name in given:
            data[name] = given[name].to_numpy()[t]
            computed.append(name)
    if "pmi" in rel:
        data["pmi"] = pmi(counts)[t]
        computed.append("pmi")
    if "phi" in rel:
        data["phi"] = phi(counts)[t]
        computed.append("phi")
    data["conditional"] = conditional_probability(counts)[t]
    data["cooccurrence"] = counts.n11[t]
    share: KnnShare | None = None
    if any(r in rel for r in KNN_RELATIONS) and knn_indices is not None:
        share = knn_share(y, knn_indices, t, query=knn_query)
        if "knn-share" in rel:
            data["knn-share"] = share.share
            data["knn-share-random"] = share.random_share
            computed.append("knn-share")
        if "knn-lift" in rel:
            data["knn-lift"] = share.lift
            computed.append("knn-lift")
    if adapter is None and "adapter" in given:
        adapter = given["adapter"].to_numpy()
    if "adapter" in rel and adapter is not None:
        data["adapter"] = np.asarray(adapter)[t]
        computed.append("adapter")
    data["n_class_pos"] = counts.positives
    data["n_target_pos"] = np.full(len(names), counts.positives[t])
    data["n_both_pos"] = counts.n11[t]
    data["n_pairs"] = counts.n[t]
    if share is not None:
        data["knn_queries"] = share.n_queries
    table = pd.DataFrame(data).drop(index=t).reset_index(drop=True)
    order = [r for r in rel if r in computed]
    rank_by = rank_by or (order[0] if order else "conditional")
    rank_by = ALIASES.get(rank_by, rank_by)
    if rank_by not in RELATION_NAMES:
        raise UnknownClassError(rank_by, RELATION_NAMES, what="relation")
    col = rank_by
    if col not in table.columns:
        if rank_by.startswith("prototype"):
            needs = "embeddings"
        elif rank_by in KNN_RELATIONS:
            needs = "a kNN graph"
        else:
            needs = "a trained adapter"
        raise BudgetplanError(f"cannot rank by {rank_by!r}: it was not computed (needs {needs})")
    table = table.sort_values(col, ascending=False, na_position="last", kind="stable").reset_index(
        drop=True
    )
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table.attrs.update({"target": names[t], "rank_by": rank_by, "n_rows": int(y.shape[0])})
    return table


# ----------------------------------------------------------------------------- dataset level
def training_rows(dataset: Dataset, rows: np.ndarray | str | None = None) -> np.ndarray:
    """Row indices to compute relations on: the train split by default, a split name, a mask
    or indices."""
    labels = dataset.labels
    if rows is None or isinstance(rows, str):
        split = rows or "train"
        idx = np.flatnonzero(labels.split == split)
        if not len(idx):
            raise BudgetplanError(f"{dataset.root or dataset.name}: no rows in split {split!r}")
        return idx
    rows = np.asarray(rows)
    if rows.dtype == bool:
        return np.flatnonzero(rows)
    return rows.astype(np.int64)


def check_target_positives(dataset: Dataset, target: str, rows: np.ndarray | str | None) -> None:
    """Refuse a target with no positive label in ``rows``: every relation to it (prototype,
    co-occurrence, kNN share) is undefined, and a table or graph of NaN would look like an
    answer."""
    idx = training_rows(dataset, rows)
    column = dataset.labels.column(target)[idx]
    if not (column == 1).any():
        where = f"the {rows} split" if isinstance(rows, str) else f"the {len(idx)} rows used"
        raise BudgetplanError(
            f"{dataset.root}: target {target!r} has no positive label in {where}; its relations "
            "to other classes are undefined (pick a target with positives, or another --split)"
        )


def _cached_graph(dataset: Dataset, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The store's cached self-kNN graph with at least ``k`` neighbours, if any (never computes)."""
    load = getattr(dataset.embeddings, "_load_knn", None)
    return load(k) if callable(load) else None


def target_neighbours(
    dataset: Dataset,
    rows: np.ndarray,
    target: int,
    k: int = KNN_K,
    knn: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k neighbours within ``rows`` of the target-positive rows: (query positions in ``rows``,
    similarities (Q, k), neighbour positions in ``rows`` (Q, k)).

    Uses ``knn`` (a store-wide self-kNN graph) or the store's cached graph when there is one;
    otherwise searches only the target positives (``EmbeddingStore.search``), which is far
    cheaper than a full graph on a large store.
    """
    y = dataset.labels.values
    q_local = np.flatnonzero(y[rows, target] == 1)
    q_global = rows[q_local]
    search = dataset.embeddings.search if dataset.embeddings is not None else None  # in memory
    graph = knn if knn is not None else _cached_graph(dataset, KNN_GRAPH_K)
    if graph is not None:
        sims, idx = graph
        s, i = restrict_knn(sims[q_global], idx[q_global], rows, k, exclude=q_global)
        short = (i < 0).any(axis=1)
        if short.any():  # too few of the graph's neighbours fall in the rows: search them
            s[short], i[short] = query_knn(dataset.vectors, rows, q_global[short], k, search=search)
        return q_local, s, i
    s, i = query_knn(dataset.vectors, rows, q_global, k, search=search)
    return q_local, s, i


def relation_table(
    dataset: Dataset,
    target: str,
    rows: np.ndarray | str | None = None,
    *,
    relations: Sequence[str] | str = DEFAULT_RELATIONS,
    knn: tuple[np.ndarray, np.ndarray] | None = None,
    k: int = KNN_K,
    rank_by: str | None = None,
    adapter_config: AdapterRelationConfig | None = None,
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """The relation table of ``target`` on a Dataset (see ``relation_table_from_arrays``).

    ``rows``: the training split by default. ``knn``: a store-wide self-kNN graph
    (similarities, indices) to reuse; otherwise the store's cached graph, else a search of the
    target positives only. ``attrs`` also records ``simulated`` and the seconds per relation.
    """
    import time

    report = progress or (lambda d, t, m: None)
    rel = _resolve_relations(relations)
    t = dataset.labels.class_index(target)
    idx = training_rows(dataset, rows)
    y = dataset.labels.values[idx]
    if not (y[:, t] == 1).any():
        raise BudgetplanError(
            f"target {dataset.classes[t]!r} has no positive label in the {len(idx)} rows used"
            " (training split); relations need target positives"
        )
    timings: dict[str, float] = {}
    steps = len(rel)
    report(0, steps, "relations")
    kinds = [kd for kd in ("mean", "median") if f"prototype-{kd}" in rel]
    protos: dict[str, pd.DataFrame] = {}
    if kinds:
        t0 = time.perf_counter()
        report(0, steps, "prototypes")
        protos = prototype_matrices(
            dataset.vectors, dataset.labels.values, dataset.classes, kinds, rows=idx
        )
        timings["prototypes"] = time.perf_counter() - t0
    knn_query = knn_idx = None
    if any(r in rel for r in KNN_RELATIONS):
        t0 = time.perf_counter()
        report(0, steps, "kNN of target positives")
        knn_query, _, knn_idx = target_neighbours(dataset, idx, t, k, knn)
        timings["knn-share"] = time.perf_counter() - t0
    adapter = None
    if "adapter" in rel:
        from budgetplan.relations.task_encoding import adapter_similarity

        t0 = time.perf_counter()
        report(0, steps, "training the adapter (task encodings)")
        adapter, _ = adapter_similarity(_RowView(dataset.vectors, idx), y, adapter_config, progress)
        timings["adapter"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = relation_table_from_arrays(
        y,
        dataset.classes,
        t,
        knn_indices=knn_idx,
        knn_query=knn_query,
        adapter=adapter,
        relations=rel,
        rank_by=rank_by,
        matrices=protos,
    )
    timings["table"] = time.perf_counter() - t0
    report(steps, steps, "relations")
    table.attrs.update({"simulated": bool(dataset.simulated), "seconds": timings, "k": k})
    return table


def relation_matrices(
    dataset: Dataset,
    rows: np.ndarray | str | None = None,
    *,
    relations: Sequence[str] | str = ("prototype-mean", "prototype-median", "pmi", "phi"),
    knn: tuple[np.ndarray, np.ndarray] | None = None,
    k: int = KNN_K,
    adapter_config: AdapterRelationConfig | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, pd.DataFrame]:
    """C x C matrices of the chosen relations on ``rows`` (train by default), plus the label
    counts ("conditional", "cooccurrence", "pairs"). "knn-share" needs the full neighbour graph of
    the rows: ``knn`` (store-wide) or the store's ``self_knn`` (computed and cached if absent;
    minutes on 100k images)."""
    rel = _resolve_relations(relations)
    idx = training_rows(dataset, rows)
    y = dataset.labels.values[idx]
    names = dataset.classes
    report = progress or (lambda d, t, m: None)
    out = label_relation_matrices(y, names)
    kinds = [kd for kd in ("mean", "median") if f"prototype-{kd}" in rel]
    if kinds:
        report(0, 1, "prototypes")
        out.update(
            prototype_matrices(dataset.vectors, dataset.labels.values, names, kinds, rows=idx)
        )
    if any(r in rel for r in KNN_RELATIONS):
        graph = knn if knn is not None else _cached_graph(dataset, KNN_GRAPH_K)
        if graph is None and dataset.embeddings is not None:
            graph = dataset.embeddings.self_knn(KNN_GRAPH_K, progress=progress)
        elif graph is None:  # held in memory: exact search
            graph = exact_self_knn(dataset.vectors, KNN_GRAPH_K, progress=progress)
        _, local = restrict_knn(graph[0][idx], graph[1][idx], idx, k, exclude=idx)
        for name in (r for r in KNN_RELATIONS if r in rel):
            out[name] = knn_share_matrix(y, local, names, value=name)
    if "adapter" in rel:
        from budgetplan.relations.task_encoding import adapter_similarity

        mean, _ = adapter_similarity(_RowView(dataset.vectors, idx), y, adapter_config, progress)
        out["adapter"] = pd.DataFrame(mean, index=names, columns=names)
    return {
        name: out[name]
        for name in [*(r for r in rel if r in out), *(n for n in out if n not in rel)]
    }


class _RowView:
    """``vectors[rows]`` without copying: indexing and ``len`` / ``shape`` over the selected
    rows of a (memory-mapped) array."""

    def __init__(self, vectors: np.ndarray, rows: np.ndarray) -> None:
        self._v = vectors
        self._rows = np.asarray(rows, dtype=np.int64)
        self.shape = (len(self._rows), vectors.shape[1])

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, item: Any) -> np.ndarray:
        sel = self._rows[item]
        if np.ndim(sel) == 0:
            return np.asarray(self._v[int(sel)])
        order = np.argsort(sel, kind="stable")  # sorted reads are kinder to a memory map
        out = np.empty((len(sel), self.shape[1]), dtype=np.float32)
        out[order] = self._v[sel[order]]
        return out
