"""The class graph: classes as nodes, a relation above a threshold as weighted edges.

Nodes carry prevalence and label counts; edges the relation value (``weight``). Communities by
greedy modularity (networkx), a hierarchical clustering by scipy (average linkage on a distance
derived from the relation), the target's neighbourhood, and exports as GraphML and JSON
node-link (atomic writes). Seed 000 (Fig. 14) highlights prototype similarities above 0.6.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from budgetplan.errors import DataMismatchError, UnknownClassError
from budgetplan.io import write_text_atomic

# Default edge threshold per relation. "auto" = keep the strongest quarter of the pairs
# (upper quartile of the off-diagonal values), for relations without a natural scale.
DEFAULT_THRESHOLDS: dict[str, float | str] = {
    "prototype-mean": 0.6,  # seed 000 Fig. 14: "highlight relationships if similarity > 0.6"
    "adapter": 0.6,  # same figure: task-encoding cosine
    "pmi": math.log(1.5),  # co-occur 1.5x more often than if independent
    "phi": 0.1,
    "prototype-median": "auto",  # raw cosines of median features crowd near 1
    "knn-share": "auto",
    "conditional": "auto",
}


def symmetric(matrix: pd.DataFrame) -> pd.DataFrame:
    """The mean of a relation matrix and its transpose (kNN share and P(b|a) are asymmetric)."""
    a = matrix.to_numpy(dtype=float)
    return pd.DataFrame((a + a.T) / 2, index=matrix.index, columns=matrix.columns)


def resolve_threshold(matrix: pd.DataFrame, relation: str, threshold: float | str | None) -> float:
    """A number from ``threshold`` (None = the relation's default, "auto" = upper quartile)."""
    value = DEFAULT_THRESHOLDS.get(relation, "auto") if threshold is None else threshold
    if value == "auto":
        a = matrix.to_numpy(dtype=float)
        off = a[~np.eye(len(a), dtype=bool)]
        off = off[np.isfinite(off)]
        return float(np.quantile(off, 0.75)) if off.size else math.inf
    return float(value)


def class_graph(
    matrix: pd.DataFrame,
    relation: str = "prototype-mean",
    threshold: float | str | None = None,
    counts: pd.DataFrame | None = None,
) -> nx.Graph:
    """Undirected graph of classes with an edge wherever the (symmetrised) relation > threshold.

    Args:
        matrix: C x C relation (index and columns = class names).
        relation: its name (sets the default threshold; stored in ``graph.graph``).
        threshold: edge threshold; None = ``DEFAULT_THRESHOLDS``; "auto" = upper quartile.
        counts: ``LabelTable.counts()`` (class, positives, negatives, missing, prevalence),
            copied onto the nodes.
    """
    if list(matrix.index) != list(matrix.columns):
        raise DataMismatchError(
            "class graph: the relation matrix must have the same classes as rows and columns"
        )
    sym = symmetric(matrix)
    thr = resolve_threshold(sym, relation, threshold)
    g = nx.Graph(relation=relation, threshold=thr)
    info = counts.set_index("class") if counts is not None else None
    for name in sym.index:
        attrs: dict[str, Any] = {}
        if info is not None and name in info.index:
            row = info.loc[name]
            attrs = {
                "prevalence": float(row["prevalence"]),
                "positives": int(row["positives"]),
                "negatives": int(row["negatives"]),
                "missing": int(row["missing"]),
            }
        g.add_node(str(name), **attrs)
    a = sym.to_numpy(dtype=float)
    names = [str(n) for n in sym.index]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if np.isfinite(a[i, j]) and a[i, j] > thr:
                g.add_edge(names[i], names[j], weight=float(a[i, j]))
    return g


def communities(g: nx.Graph) -> list[list[str]]:
    """Greedy-modularity communities (Clauset-Newman-Moore), largest first; isolated classes
    are communities of one."""
    if g.number_of_edges() == 0:
        return [[n] for n in sorted(g.nodes)]
    found = nx.community.greedy_modularity_communities(g, weight="weight")
    return [sorted(c) for c in sorted(found, key=lambda c: (-len(c), min(c)))]


def community_of(g: nx.Graph) -> dict[str, int]:
    """Class -> community number (``communities`` order)."""
    return {name: i for i, comm in enumerate(communities(g)) for name in comm}


def to_distance(matrix: pd.DataFrame, relation: str = "prototype-mean") -> np.ndarray:
    """A distance (C, C) for clustering: ``1 - similarity`` for cosine relations, ``max - value``
    otherwise; symmetrised, zero diagonal, NaN as the largest distance."""
    a = symmetric(matrix).to_numpy(dtype=float)
    if relation in ("prototype-mean", "prototype-median", "adapter"):
        d = 1.0 - a
    else:
        off = a[~np.eye(len(a), dtype=bool)]
        top = np.nanmax(off) if np.isfinite(off).any() else 0.0
        d = top - np.where(np.isneginf(a), np.nan, a)
    big = np.nanmax(d) if np.isfinite(d).any() else 1.0
    d = np.where(np.isfinite(d), d, big + 1.0)
    d = np.maximum(d, 0.0)
    np.fill_diagonal(d, 0.0)
    return d


def hierarchical_clusters(
    matrix: pd.DataFrame,
    relation: str = "prototype-mean",
    n_clusters: int | None = None,
    method: str = "average",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Hierarchical clustering of the classes (scipy ``linkage`` on ``to_distance``).

    Returns the linkage matrix and a DataFrame (class, cluster, order) where ``order`` is the
    dendrogram leaf order (for heatmaps) and ``cluster`` the flat cut into ``n_clusters``
    (default: about sqrt(C)).
    """
    names = [str(n) for n in matrix.index]
    if len(names) < 2:
        return np.zeros((0, 4)), pd.DataFrame(
            {"class": names, "cluster": [1] * len(names), "order": range(len(names))}
        )
    d = to_distance(matrix, relation)
    link = hierarchy.linkage(squareform(d, checks=False), method=method)
    k = n_clusters or max(1, round(math.sqrt(len(names))))
    flat = hierarchy.fcluster(link, t=k, criterion="maxclust")
    leaves = hierarchy.leaves_list(link)
    order = np.empty(len(names), dtype=int)
    order[leaves] = np.arange(len(names))
    return link, pd.DataFrame({"class": names, "cluster": flat.astype(int), "order": order})


def target_neighbourhood(g: nx.Graph, target: str, radius: int = 1) -> nx.Graph:
    """The target and the classes within ``radius`` edges of it (an ego graph)."""
    if target not in g:
        raise UnknownClassError(target, list(g.nodes), what="target")
    return nx.ego_graph(g, target, radius=radius)


def annotate(g: nx.Graph, target: str | None = None) -> nx.Graph:
    """Copy of ``g`` with node attributes ``community`` and (with a target) ``is_target`` and
    ``target_weight`` (the edge weight to the target, 0 when not linked)."""
    h = g.copy()
    for name, comm in community_of(g).items():
        h.nodes[name]["community"] = comm
    if target is not None:
        for name in h.nodes:
            h.nodes[name]["is_target"] = name == target
            h.nodes[name]["target_weight"] = (
                float(h[target][name]["weight"]) if h.has_edge(target, name) else 0.0
            )
    return h


def _clean(v: Any) -> Any:
    if isinstance(v, (np.generic,)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_graphml(g: nx.Graph, path: str | os.PathLike[str]) -> None:
    """GraphML (atomic); NaN attributes are dropped (GraphML has no missing value)."""
    h = nx.Graph(**{k: v for k, v in g.graph.items() if _clean(v) is not None})
    for n, attrs in g.nodes(data=True):
        h.add_node(n, **{k: _clean(v) for k, v in attrs.items() if _clean(v) is not None})
    for a, b, attrs in g.edges(data=True):
        h.add_edge(a, b, **{k: _clean(v) for k, v in attrs.items() if _clean(v) is not None})
    text = "\n".join(nx.generate_graphml(h))
    write_text_atomic(path, text + "\n")


def write_node_link(g: nx.Graph, path: str | os.PathLike[str]) -> None:
    """JSON node-link (atomic), NaN written as null."""
    data = nx.node_link_data(g, edges="links")

    def fix(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: fix(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [fix(v) for v in obj]
        return _clean(obj)

    write_text_atomic(path, json.dumps(fix(data), indent=2) + "\n")
