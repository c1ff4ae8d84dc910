"""``budgetplan graph``: the class graph (communities, clusters, the target's neighbourhood)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from budgetplan.relations.defaults import KNN_K


def _threshold(text: str) -> float | str:
    from budgetplan.errors import BudgetplanError
    from budgetplan.relations.defaults import parse_threshold

    try:
        kind, value = parse_threshold(text)
    except BudgetplanError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value if kind == "value" else text


def register(subparsers: Any) -> None:
    from budgetplan.relations.defaults import DEFAULT_GRAPH_RELATION, DEFAULT_THRESHOLD
    from budgetplan.relations.names import RELATION_NAMES as GRAPH_RELATIONS

    p = subparsers.add_parser(
        "graph",
        help="class graph of a relation: communities, clusters, exports (GraphML, JSON, HTML)",
        description=(
            "Build the graph of classes linked by a relation (default: each class to its "
            f"{DEFAULT_THRESHOLD[3:]} strongest neighbours), weight and label the edges, find "
            "communities (greedy modularity) and a hierarchical clustering, print the target's "
            "neighbourhood and write GraphML, JSON node-link, clusters.csv and HTML charts to "
            "--out. --store digits runs on the digits recipe data (real 8x8 images)."
        ),
    )
    p.add_argument("--target", default=None, help="target class (default: the dataset's)")
    p.add_argument(
        "--store",
        default=None,
        help="dataset directory, 'demo' for the embedded default, 'digits' for the digits "
        "recipe data",
    )
    p.add_argument(
        "--split",
        default="train",
        choices=["train", "val", "test"],
        help="rows the relation is computed on (default train)",
    )
    p.add_argument("--k", type=int, default=KNN_K, help=f"kNN neighbours (default {KNN_K})")
    p.add_argument(
        "--relation",
        default=DEFAULT_GRAPH_RELATION,
        choices=[*GRAPH_RELATIONS, "knn"],
        help=f"relation for the edges (default {DEFAULT_GRAPH_RELATION}, the kNN share over "
        "what random neighbours give: it agreed best with label co-occurrence on the demo and "
        "as well as any with how classifiers confuse the digits, bench/README.md); 'adapter' "
        "trains the label-assemble adapter over 5 draws first",
    )
    p.add_argument(
        "--threshold",
        type=_threshold,
        default=None,
        help=f"edges: 'topK' (each class's K strongest neighbours; default {DEFAULT_THRESHOLD}), "
        "'auto' (pairs above the upper quartile) or a number (pairs above it)",
    )
    p.add_argument("--clusters", type=int, default=None, help="number of flat clusters")
    p.add_argument("--out", type=Path, required=True, help="directory for the graph files")
    p.add_argument("--png", action="store_true", help="also write the charts as PNG (vl-convert)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from budgetplan.io import check_writable
    from budgetplan.progress import tqdm_progress
    from budgetplan.relations import graph
    from budgetplan.relations.graph_inputs import graph_inputs
    from budgetplan.relations.outputs import describe_graph, write_graph_outputs

    t0 = time.perf_counter()
    check_writable(args.out, directory=True)  # before the work, not after
    with tqdm_progress("relation") as progress:
        data = graph_inputs(
            args.store, args.relation, args.target, split=args.split, k=args.k, progress=progress
        )
    g = graph.class_graph(
        data.matrix, data.relation, args.threshold, counts=data.counts, spread=data.spread
    )
    _, clusters = graph.hierarchical_clusters(data.matrix, data.relation, n_clusters=args.clusters)
    print(describe_graph(g, data.target, clusters, notes=data.notes))
    paths = write_graph_outputs(
        args.out, g, data.matrix, clusters, data.target, simulated=data.simulated, png=args.png
    )
    print(
        f"\nwrote {len(paths)} files to {args.out} ({data.name}; {time.perf_counter() - t0:.1f} s)"
    )
    if data.notice:
        print(data.notice)
    return 0
