"""``budgetplan relations``: how related each class is to the target (cheap estimates)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from budgetplan.relations.defaults import KNN_K
from budgetplan.relations.names import RELATIONS


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "relations",
        help="rank the other classes by how related they are to the target",
        description=(
            "Print, for the target, every other class with every relation side by side "
            "(prototype cosines, PMI, phi, P(c|target), kNN share) and the label counts behind "
            "each number, on the training split. With --out, also write the ranked table, the "
            "class x class matrices (CSV) and the charts (HTML)."
        ),
    )
    add_common_arguments(p)
    p.add_argument(
        "--relation",
        default="prototype-mean",
        choices=RELATIONS,
        help="relation to rank by and to chart (default prototype-mean); 'adapter' trains the "
        "label-assemble adapter for a few epochs first",
    )
    p.add_argument("--out", type=Path, default=None, help="directory for CSV and HTML outputs")
    p.add_argument("--png", action="store_true", help="also write the charts as PNG (vl-convert)")
    p.set_defaults(func=run)


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", default=None, help="target class (default: the dataset's)")
    p.add_argument(
        "--store", default=None, help="dataset directory, or 'demo' for the embedded default"
    )
    p.add_argument(
        "--split",
        default="train",
        choices=["train", "val", "test"],
        help="rows the relations are computed on (default train)",
    )
    p.add_argument("--k", type=int, default=KNN_K, help=f"kNN neighbours (default {KNN_K})")


def open_and_target(args: argparse.Namespace) -> tuple[Any, str]:
    """The dataset of ``--store`` and the resolved target name (a bad name raises with hints)."""
    from budgetplan.dataset import open_dataset
    from budgetplan.errors import BudgetplanError
    from budgetplan.io import check_writable
    from budgetplan.relations.table import check_target_positives

    if getattr(args, "out", None) is not None:
        check_writable(args.out, directory=True)  # before the work, not after
    dataset = open_dataset(args.store)
    name = args.target or dataset.default_target
    if not name:
        raise BudgetplanError("no --target given and the dataset has no default target")
    target = dataset.classes[dataset.labels.class_index(name)]
    check_target_positives(dataset, target, args.split)
    return dataset, target


def run(args: argparse.Namespace) -> int:
    from budgetplan.notices import simulated_notice
    from budgetplan.progress import tqdm_progress
    from budgetplan.relations.outputs import format_relation_table, write_relation_outputs
    from budgetplan.relations.table import (
        DEFAULT_RELATIONS,
        KNN_RELATIONS,
        relation_matrices,
        relation_table,
    )

    t0 = time.perf_counter()
    dataset, target = open_and_target(args)
    relations = tuple(DEFAULT_RELATIONS)
    if args.relation not in relations:
        relations = (*relations, args.relation)
    with tqdm_progress("relations") as progress:
        table = relation_table(
            dataset,
            target,
            rows=args.split,
            relations=relations,
            k=args.k,
            rank_by=args.relation,
            progress=progress,
        )
    notice = simulated_notice(dataset)
    print(format_relation_table(table))
    if args.out is not None:
        wanted = [r for r in relations if r not in KNN_RELATIONS or r == args.relation]
        with tqdm_progress("relation matrices") as progress:
            matrices = relation_matrices(
                dataset, rows=args.split, relations=wanted, k=args.k, progress=progress
            )
        paths = write_relation_outputs(args.out, table, matrices, args.relation, png=args.png)
        print(f"\nwrote {len(paths)} files to {args.out}")
    print(f"\n({dataset.name}; computed in {time.perf_counter() - t0:.1f} s)")
    if notice:
        print(notice)
    return 0
