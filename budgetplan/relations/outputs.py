"""Text and files of the relations stage (what ``budgetplan relations`` / ``graph`` print
and write).

Kept out of the CLI so the app and tests use the same formatting; every file is written
atomically (``budgetplan.io``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from budgetplan.io import write_text_atomic
from budgetplan.relations import charts, graph

# Table column -> printed header.
HEADERS = {
    "rank": "#",
    "class": "class",
    "prototype-mean": "proto-mean",
    "prototype-median": "proto-median",
    "adapter": "adapter",
    "pmi": "PMI",
    "phi": "phi",
    "conditional": "P(c|t)",
    "knn-share": "kNN",
    "knn-share-random": "kNN-rand",
    "knn-lift": "kNN-lift",
    "n_class_pos": "n(c+)",
    "n_both_pos": "n(t+,c+)",
    "n_pairs": "n(t,c)",
    "knn_queries": "n(kNN)",
}


def _fmt(v: object) -> str:
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "-"
        if math.isinf(v):
            return "-inf" if v < 0 else "inf"
        return f"{v:.3f}"
    return str(v)


def format_relation_table(table: pd.DataFrame) -> str:
    """The ranked table as fixed-width text with a legend of the counts."""
    cols = [c for c in HEADERS if c in table.columns]
    shown = table[cols].rename(columns=HEADERS)
    text = shown.to_string(index=False, formatters={HEADERS[c]: _fmt for c in cols})
    a = table.attrs
    n_t = int(table["n_target_pos"].iloc[0]) if len(table) else 0
    head = (
        f"Relations of {a.get('target', '?')} to the {len(table)} other classes "
        f"({a.get('n_rows', '?')} training images, {n_t} {a.get('target', 'target')} positives), "
        f"ranked by {a.get('rank_by', '?')}:"
    )
    legend = [
        "proto-mean / proto-median: cosine of mean (seed 000) / median (seed 001) embeddings, both"
        " origin shifted to the mean embedding; PMI (natural log) and phi over images annotated"
        " for both; P(c|t) = share of target positives that are c-positive.",
        f"kNN: share of target positives with a c-positive among their k={a.get('k', 10)} nearest"
        " neighbours (kNN-rand: the share random neighbours would give); kNN-lift: how many times"
        " more often those neighbours carry c than random images do (1 = as random).",
        "Counts behind the numbers: n(c+) positives of c, n(t+,c+) images positive for both,"
        " n(t,c) images annotated for both (missing labels are excluded, never negatives),"
        " n(kNN) target positives whose neighbours have c annotated.",
    ]
    return "\n".join([head, text, "", *legend])


def write_relation_outputs(
    out: Path,
    table: pd.DataFrame,
    matrices: dict[str, pd.DataFrame],
    relation: str,
    png: bool = False,
) -> list[Path]:
    """Write the ranked table (CSV), every matrix (CSV) and the charts (HTML, PNG optional):
    ``relations_<target>.csv``, ``matrix_<relation>.csv``, ``heatmap_<relation>.html``,
    ``ranked_<target>_<relation>.html``. Returns the paths written."""
    out = Path(out)
    target = str(table.attrs.get("target", "target"))
    simulated = bool(table.attrs.get("simulated", False))
    written: list[Path] = []

    def put(path: Path, text: str) -> None:
        write_text_atomic(path, text)
        written.append(path)

    put(out / f"relations_{_safe(target)}.csv", table.to_csv(index=False))
    for name, mat in matrices.items():
        put(out / f"matrix_{name}.csv", mat.to_csv())
    suffixes = [".html", ".png"] if png else [".html"]
    if relation in matrices:
        _, clusters = graph.hierarchical_clusters(matrices[relation], relation)
        order = clusters.sort_values("order")["class"].tolist()
        chart = charts.relation_heatmap(
            matrices[relation], relation, order=order, simulated=simulated
        )
        for s in suffixes:
            written.append(charts.save_chart(chart, out / f"heatmap_{relation}{s}"))
    if charts.ALIASES.get(relation, relation) in table.columns:
        bar = charts.ranked_bar(table, relation, target)
        for s in suffixes:
            written.append(charts.save_chart(bar, out / f"ranked_{_safe(target)}_{relation}{s}"))
    return written


def describe_graph(
    g: nx.Graph, target: str | None, clusters: pd.DataFrame, notes: Sequence[str] = ()
) -> str:
    """Edges (weight, +- spread over draws when known), communities, clusters, the target's
    neighbourhood (or why it is empty) and ``notes`` as text."""
    rule = g.graph.get("rule") or f"weight > {g.graph.get('threshold'):.3g}"
    lines = [
        f"Class graph on {g.graph.get('relation')}: {g.number_of_nodes()} classes, "
        f"{g.number_of_edges()} edges ({rule})",
        *notes,
        "Edges (strongest first):",
    ]
    edges = sorted(g.edges(data=True), key=lambda e: -e[2]["weight"])
    for a, b, d in edges:
        lines.append(f"  {a} - {b}: {_edge_label(d)}")
    if not edges:
        lines.append("  none")
    lines.append("Communities (greedy modularity):")
    for i, comm in enumerate(graph.communities(g)):
        lines.append(f"  {i}: {', '.join(comm)}")
    lines.append("Hierarchical clusters (average linkage):")
    for cid, grp in clusters.sort_values("order").groupby("cluster", sort=False):
        lines.append(f"  {cid}: {', '.join(grp['class'])}")
    if target is not None and target in g:
        lines.append(neighbourhood_line(g, target))
    return "\n".join(lines)


def _edge_label(attrs: dict) -> str:
    return str(attrs.get("label") or f"{attrs['weight']:.3f}")


def neighbourhood_line(g: nx.Graph, target: str) -> str:
    """The target's neighbours with their edge labels, or why there are none."""
    nbrs = sorted(g[target].items(), key=lambda kv: -kv[1]["weight"])
    if nbrs:
        return f"Neighbourhood of {target}: " + ", ".join(
            f"{n} ({_edge_label(d)})" for n, d in nbrs
        )
    if g.number_of_edges() == 0:
        why = f"the graph has no edge at all ({g.graph.get('rule', 'threshold')})"
    else:
        why = (
            f"no class passes {g.graph.get('rule', 'the threshold')} with {target}; "
            "'--threshold top2' links every class to its 2 strongest neighbours"
        )
    return f"Neighbourhood of {target}: empty: {why}"


def write_graph_outputs(
    out: Path,
    g: nx.Graph,
    matrix: pd.DataFrame,
    clusters: pd.DataFrame,
    target: str | None = None,
    *,
    simulated: bool = False,
    png: bool = False,
) -> list[Path]:
    """``class_graph.graphml``, ``class_graph.json`` (node-link), ``clusters.csv``,
    ``graph.html`` (node-link drawing) and ``heatmap_<relation>.html`` (clustered order)."""
    out = Path(out)
    relation = str(g.graph.get("relation", "relation"))
    annotated = graph.annotate(g, target)
    written = [out / "class_graph.graphml", out / "class_graph.json", out / "clusters.csv"]
    graph.write_graphml(annotated, written[0])
    graph.write_node_link(annotated, written[1])
    comm = graph.community_of(g)
    table = clusters.assign(community=clusters["class"].map(comm))
    write_text_atomic(written[2], table.to_csv(index=False))
    order = clusters.sort_values("order")["class"].tolist()
    suffixes = [".html", ".png"] if png else [".html"]
    for s in suffixes:
        written.append(charts.save_chart(charts.graph_chart(annotated, target), out / f"graph{s}"))
        heat = charts.relation_heatmap(matrix, relation, order=order, simulated=simulated)
        written.append(charts.save_chart(heat, out / f"heatmap_{relation}{s}"))
    return written


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
