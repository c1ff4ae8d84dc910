"""What ``budgetplan graph`` draws: one relation matrix of a dataset (a store, the embedded demo
or the digits recipe data), its spread over draws, the class counts and notes on its use.

Relations are computed on the training rows (``relations.table``'s definitions); "adapter"
keeps every draw (``EncodingRelation``) so the graph can show how stable each edge is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from budgetplan.errors import BudgetplanError
from budgetplan.progress import ProgressFn
from budgetplan.relations.defaults import DEFAULT_GRAPH_RELATION
from budgetplan.relations.graph import canonical_name
from budgetplan.relations.names import RELATION_NAMES
from budgetplan.relations.task_encoding import AdapterRelationConfig, EncodingRelation

# Relations the graph can draw (label relations come with every matrix set).
GRAPH_RELATIONS = RELATION_NAMES
KNN = ("knn-share", "knn-lift")
DIGITS = "digits"


@dataclass
class GraphInputs:
    """A relation matrix ready for ``graph.class_graph`` and what to say about it."""

    name: str
    relation: str
    matrix: pd.DataFrame
    counts: pd.DataFrame
    target: str
    simulated: bool
    spread: pd.DataFrame | None = None
    encodings: EncodingRelation | None = None
    notes: list[str] = field(default_factory=list)
    notice: str | None = None


def rank_note(matrix: pd.DataFrame, relation: str) -> str | None:
    """Why ``matrix`` cannot rank pairs (fewer than two distinct finite off-diagonal values),
    or None."""
    a = matrix.to_numpy(dtype=float)
    off = a[~np.eye(len(a), dtype=bool)]
    off = off[np.isfinite(off)]
    if np.unique(off).size >= 2:
        return None
    what = f"every pair is {off[0]:.3g}" if off.size else "no pair has a value"
    return (
        f"{relation} cannot rank the classes: {what} (e.g. one-hot labels: no image is positive "
        "for two classes); the graph's edges are arbitrary, use another relation"
    )


def target_note(matrix: pd.DataFrame, target: str, counts: pd.DataFrame) -> str | None:
    """Why the target has no defined relation (no positives in the rows), or None."""
    row = matrix.loc[target].drop(target).to_numpy(dtype=float)
    if np.isfinite(row).any():
        return None
    pos = counts.set_index("class").loc[target, "positives"] if len(counts) else 0
    return f"{target} has no defined relation to any class ({int(pos)} positives in the rows)"


def _knn_share(
    vectors: np.ndarray, labels: np.ndarray, classes: list[str], k: int, relation: str
) -> pd.DataFrame:
    """kNN share or lift matrix of in-memory rows (exact search among the rows, self
    excluded)."""
    from budgetplan.relations.knn import query_knn
    from budgetplan.relations.table import knn_share_matrix

    rows = np.arange(len(labels))
    _, local = query_knn(vectors, rows, rows, k)  # positions in rows
    return knn_share_matrix(labels, local, classes, value=relation)


def _prototypes(
    vectors: Any, labels: np.ndarray, classes: list[str], relation: str, rows: np.ndarray
) -> pd.DataFrame:
    """Origin-shifted mean or median prototype cosines (see the module docstring)."""
    from budgetplan.relations.prototypes import cosine_matrix, prototypes

    kind: Literal["mean", "median"] = "mean" if relation == "prototype-mean" else "median"
    protos = prototypes(vectors, labels, kind=kind, shift_origin=True, rows=rows)
    return pd.DataFrame(cosine_matrix(protos), index=classes, columns=classes)


def graph_inputs(
    store: str | None,
    relation: str = DEFAULT_GRAPH_RELATION,
    target: str | None = None,
    *,
    split: str = "train",
    k: int = 10,
    adapter_config: AdapterRelationConfig | None = None,
    progress: ProgressFn | None = None,
) -> GraphInputs:
    """The relation matrix of ``store`` ("digits" = the digits recipe data, None / "demo" =
    the embedded default, else a dataset directory) on the ``split`` rows."""
    relation = canonical_name(relation)
    if relation not in GRAPH_RELATIONS:
        from budgetplan.errors import UnknownClassError

        raise UnknownClassError(relation, GRAPH_RELATIONS, what="relation")
    if store == DIGITS:
        from budgetplan.planner.sources import digits_data

        data = digits_data()
        labels, vectors, name, simulated = data.labels, data.vectors, data.name, data.simulated
        default_target = data.default_target
        dataset = None
    else:
        from budgetplan.dataset import open_dataset

        dataset = open_dataset(store)
        labels, vectors, name = dataset.labels, dataset.vectors, dataset.name
        simulated, default_target = dataset.simulated, dataset.default_target
    chosen = target or default_target
    if not chosen:
        raise BudgetplanError("no --target given and the dataset has no default target")
    chosen = labels.classes[labels.class_index(chosen)]
    rows = np.flatnonzero(labels.split == split)
    if not len(rows):
        raise BudgetplanError(f"{name}: no rows in split {split!r}")
    if not (labels.column(chosen)[rows] == 1).any():  # a graph around it would look like an answer
        raise BudgetplanError(
            f"{name}: target {chosen!r} has no positive label in the {split} split; its "
            "relations to other classes are undefined (pick a target with positives, or "
            "another --split)"
        )
    classes = list(labels.classes)
    y = labels.values[rows]
    counts = labels.subset(labels.split == split).counts()
    encodings = None
    if relation == "adapter":
        from budgetplan.relations.table import _RowView
        from budgetplan.relations.task_encoding import adapter_relation

        encodings = adapter_relation(_RowView(vectors, rows), y, adapter_config, progress)
        matrix = pd.DataFrame(encodings.mean, index=classes, columns=classes)
    elif relation.startswith("prototype-"):
        matrix = _prototypes(vectors, labels.values, classes, relation, rows)
    elif relation not in KNN:
        from budgetplan.relations.table import label_relation_matrices

        matrix = label_relation_matrices(y, classes)[relation]
    elif dataset is None:
        matrix = _knn_share(np.asarray(vectors[rows], dtype=np.float32), y, classes, k, relation)
    else:  # the store's cached self-kNN graph (computed once, then reused)
        from budgetplan.relations.table import relation_matrices

        mats = relation_matrices(dataset, rows=split, relations=(relation,), k=k, progress=progress)
        matrix = mats[relation]
    spread = None
    if encodings is not None:
        spread = pd.DataFrame(encodings.std, index=classes, columns=classes)
    notes = [n for n in (rank_note(matrix, relation), target_note(matrix, chosen, counts)) if n]
    if encodings is not None:
        notes.insert(0, encodings.describe())
    if relation == "knn-lift":
        notes.insert(0, "knn-lift: 1 = the class is as frequent among the neighbours as anywhere")
    from budgetplan.notices import simulated_notice

    return GraphInputs(
        notice=simulated_notice(dataset) if dataset is not None else None,
        name=name,
        relation=relation,
        matrix=matrix,
        counts=counts,
        target=chosen,
        simulated=simulated,
        spread=spread,
        encodings=encodings,
        notes=notes,
    )
