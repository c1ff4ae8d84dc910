"""``budgetplan graph``: the class graph (communities, clusters, the target's neighbourhood)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from budgetplan.commands.relations import add_common_arguments, open_and_target
from budgetplan.notices import simulated_notice
from budgetplan.relations.table import RELATIONS


def _threshold(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--threshold must be a number or 'auto', got {text!r}"
        ) from None


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "graph",
        help="class graph of a relation: communities, clusters, exports (GraphML, JSON, HTML)",
        description=(
            "Build the graph of classes whose relation exceeds a threshold (default per relation: "
            "0.6 for prototype-mean as in Label-Assemble Fig. 14), find communities (greedy "
            "modularity) and a hierarchical clustering, print the target's neighbourhood and "
            "write GraphML, JSON node-link, clusters.csv and HTML charts to --out."
        ),
    )
    add_common_arguments(p)
    p.add_argument(
        "--relation",
        default="prototype-mean",
        choices=RELATIONS,
        help="relation for the edges (default prototype-mean); knn computes the full kNN graph",
    )
    p.add_argument(
        "--threshold",
        type=_threshold,
        default=None,
        help="edge threshold, a number or 'auto' (upper quartile); default per relation",
    )
    p.add_argument("--clusters", type=int, default=None, help="number of flat clusters")
    p.add_argument("--out", type=Path, required=True, help="directory for the graph files")
    p.add_argument("--png", action="store_true", help="also write the charts as PNG (vl-convert)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from budgetplan.progress import tqdm_progress
    from budgetplan.relations import graph
    from budgetplan.relations.outputs import describe_graph, write_graph_outputs
    from budgetplan.relations.table import relation_matrices, training_rows

    t0 = time.perf_counter()
    dataset, target = open_and_target(args)
    with tqdm_progress("relation matrices") as progress:
        matrices = relation_matrices(
            dataset, rows=args.split, relations=(args.relation,), k=args.k, progress=progress
        )
    matrix = matrices[args.relation]
    counts = dataset.labels.subset(training_rows(dataset, args.split)).counts()
    g = graph.class_graph(matrix, args.relation, args.threshold, counts=counts)
    _, clusters = graph.hierarchical_clusters(matrix, args.relation, n_clusters=args.clusters)
    print(describe_graph(g, target, clusters))
    paths = write_graph_outputs(
        args.out, g, matrix, clusters, target, simulated=dataset.simulated, png=args.png
    )
    print(f"\nwrote {len(paths)} files to {args.out} ({time.perf_counter() - t0:.1f} s)")
    notice = simulated_notice(dataset)
    if notice:
        print(notice)
    return 0
