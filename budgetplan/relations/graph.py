"""The class graph: classes as nodes, a relation above a threshold as weighted edges.

Nodes carry prevalence and label counts; edges the relation value (``weight``). Communities by
greedy modularity (networkx), a hierarchical clustering by scipy (average linkage on a distance
derived from the relation), the target's neighbourhood, and exports as GraphML and JSON
node-link (atomic writes). Seed 000 (Fig. 14) highlights prototype similarities above 0.6; that
fixed cut gave 0 adapter edges and left Nodule alone on the demo (issue 14), so the default
keeps each class's strongest neighbours instead (``DEFAULT_THRESHOLD``).
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
from budgetplan.relations.defaults import (  # noqa: F401  (re-exported)
    DEFAULT_THRESHOLD,
    DEFAULT_TOP,
    parse_threshold,
)

# Relations whose values are cosines (distance = 1 - value for clustering).
_COSINES = ("prototype-mean", "prototype-median", "adapter")


def canonical_name(relation: str) -> str:
    """The canonical name (``relations.names``) of a relation; old spellings are mapped, other
    names returned as given."""
    from budgetplan.relations.names import ALIASES

    return ALIASES.get(relation, relation)


def is_cosine(relation: str) -> bool:
    """True for relations that are cosine similarities (bounded by 1, distance 1 - value)."""
    return canonical_name(relation) in _COSINES


def symmetric(matrix: pd.DataFrame) -> pd.DataFrame:
    """The mean of a relation matrix and its transpose (kNN share and P(b|a) are asymmetric)."""
    a = matrix.to_numpy(dtype=float)
    return pd.DataFrame((a + a.T) / 2, index=matrix.index, columns=matrix.columns)


def _off_diagonal(a: np.ndarray) -> np.ndarray:
    off = a[~np.eye(len(a), dtype=bool)]
    return off[np.isfinite(off)]


def _top_pairs(a: np.ndarray, k: int) -> set[tuple[int, int]]:
    """Pairs (i < j) where j is among i's k strongest finite neighbours or i among j's."""
    pairs: set[tuple[int, int]] = set()
    for i in range(len(a)):
        row = np.where(np.isfinite(a[i]), a[i], -np.inf)
        row[i] = -np.inf
        for j in np.argsort(-row, kind="stable")[:k]:
            if np.isfinite(row[j]):
                pairs.add((min(i, int(j)), max(i, int(j))))
    return pairs


def resolve_threshold(matrix: pd.DataFrame, relation: str, threshold: float | str | None) -> float:
    """A number from ``threshold`` (see ``parse_threshold``): for "topK" the weakest kept edge
    (a numeric threshold at or below it keeps at least those edges; the app's slider start)."""
    kind, v = parse_threshold(threshold)
    a = matrix.to_numpy(dtype=float)
    off = _off_diagonal(a)
    if kind == "value":
        return v
    if not off.size:
        return math.inf
    if kind == "quantile":
        return float(np.quantile(off, v))
    weakest = min(a[i, j] for i, j in _top_pairs(a, int(v)))
    return float(np.nextafter(weakest, -np.inf))


def class_graph(
    matrix: pd.DataFrame,
    relation: str = "prototype-mean",
    threshold: float | str | None = None,
    counts: pd.DataFrame | None = None,
    spread: pd.DataFrame | None = None,
) -> nx.Graph:
    """Undirected graph of classes; edges from the (symmetrised) relation.

    Args:
        matrix: C x C relation (index and columns = class names).
        relation: its name (stored in ``graph.graph``).
        threshold: "topK" (default ``DEFAULT_THRESHOLD``: each class's K strongest
            neighbours), "auto" (pairs above the upper quartile) or a number (pairs above it).
        counts: ``LabelTable.counts()`` (class, positives, negatives, missing, prevalence),
            copied onto the nodes.
        spread: C x C standard deviation of the relation over draws (adapter), on the edges.

    Edges carry ``weight`` (the relation), ``affinity`` (the pair's percentile among all pairs,
    in (0, 1]: a positive weight for community detection whatever the relation's sign),
    ``label`` (weight, with +- spread when known) and ``spread``.
    """
    if list(matrix.index) != list(matrix.columns):
        raise DataMismatchError(
            "class graph: the relation matrix must have the same classes as rows and columns"
        )
    sym = symmetric(matrix)
    a = sym.to_numpy(dtype=float)
    kind, value = parse_threshold(threshold)
    thr = resolve_threshold(sym, relation, threshold)
    rule = f"top-{int(value)} neighbours per class" if kind == "top" else f"weight > {thr:.3g}"
    g = nx.Graph(relation=relation, threshold=thr, rule=rule)
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
    names = [str(n) for n in sym.index]
    if kind == "top":
        pairs = sorted(_top_pairs(a, int(value)))
    else:
        pairs = [
            (i, j)
            for i in range(len(names))
            for j in range(i + 1, len(names))
            if np.isfinite(a[i, j]) and a[i, j] > thr
        ]
    off = np.sort(_off_diagonal(a))
    sd = symmetric(spread).to_numpy(dtype=float) if spread is not None else None
    for i, j in pairs:
        w = float(a[i, j])
        attrs = {"weight": w, "affinity": float(np.searchsorted(off, w, side="right") / off.size)}
        label = f"{w:.2f}"
        if sd is not None and np.isfinite(sd[i, j]):
            attrs["spread"] = float(sd[i, j])
            label += f" ± {sd[i, j]:.2f}"
        g.add_edge(names[i], names[j], label=label, **attrs)
    return g


def communities(g: nx.Graph) -> list[list[str]]:
    """Greedy-modularity communities (Clauset-Newman-Moore) weighted by ``affinity`` (the pair's
    percentile, positive for every relation), largest first; isolated classes are communities
    of one."""
    if g.number_of_edges() == 0:
        return [[n] for n in sorted(g.nodes)]
    weight = "affinity" if all("affinity" in d for *_, d in g.edges(data=True)) else "weight"
    found = nx.community.greedy_modularity_communities(g, weight=weight)
    return [sorted(c) for c in sorted(found, key=lambda c: (-len(c), min(c)))]


def community_of(g: nx.Graph) -> dict[str, int]:
    """Class -> community number (``communities`` order)."""
    return {name: i for i, comm in enumerate(communities(g)) for name in comm}


def to_distance(matrix: pd.DataFrame, relation: str = "prototype-mean") -> np.ndarray:
    """A distance (C, C) for clustering: ``1 - similarity`` for cosine relations, ``max - value``
    otherwise; symmetrised, zero diagonal, NaN as the largest distance."""
    a = symmetric(matrix).to_numpy(dtype=float)
    if is_cosine(relation):
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
