"""``budgetplan answers import``: merge annotators' answers (Label Studio, CVAT) into the labels."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from budgetplan.planner.choices import PREFER


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "answers",
        help="read annotators' answers (Label Studio JSON, CVAT XML) back into the labels",
        description=(
            "import: read the answers exported from Label Studio (JSON export) or CVAT (CVAT for "
            "images 1.1 XML) for a plan's tasks, merge them into the labels and write the updated "
            "labels: a label CSV (--out) and/or a new dataset with the same embeddings "
            "(--out-store) to plan again on. Answers that contradict labels you have stop the "
            "import unless --prefer says which to keep; nothing is overwritten silently."
        ),
    )
    sub = p.add_subparsers(dest="answers_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="merge exported answers into the labels")
    imp.add_argument("exports", nargs="+", type=Path, help="Label Studio .json or CVAT .xml files")
    imp.add_argument(
        "--store", default=None, help="dataset directory (or 'demo') whose labels are updated"
    )
    imp.add_argument(
        "--labels", type=Path, default=None, help="label CSV to update instead of the store's"
    )
    imp.add_argument(
        "--format",
        default="auto",
        choices=["auto", "labelstudio", "cvat"],
        help="format of the exports (default: .xml = cvat, else labelstudio)",
    )
    imp.add_argument(
        "--prefer",
        choices=PREFER,
        default=None,
        help="when an answer contradicts a label you have: take the answer or keep yours "
        "(default: stop and list them)",
    )
    imp.add_argument("--out", type=Path, default=None, help="label CSV to write (.csv or .csv.gz)")
    imp.add_argument(
        "--out-store",
        type=Path,
        default=None,
        help="write a new dataset: the store's embeddings with the updated labels",
    )
    imp.add_argument(
        "--plan", type=Path, default=None, help="the plan the tasks came from (for the re-plan)"
    )
    imp.add_argument(
        "--overwrite", action="store_true", help="allow --out to replace the input labels file"
    )
    imp.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    from budgetplan.data.csv_labels import load_label_csv, save_label_csv
    from budgetplan.errors import BudgetplanError, InputFileError
    from budgetplan.planner.answers import merge_answers, read_answers, summary

    if args.store is None and args.labels is None:
        raise BudgetplanError("give the labels to update: --store DATASET or --labels CSV")
    if args.out is None and args.out_store is None:
        raise BudgetplanError("say where to write: --out LABELS.csv and/or --out-store DIR")
    if args.out_store is not None and args.store is None:
        raise BudgetplanError("--out-store copies a dataset's embeddings: give --store too")
    dataset = None
    if args.store is not None:
        from budgetplan.dataset import open_dataset

        dataset = open_dataset(args.store)
    labels = load_label_csv(args.labels) if args.labels is not None else dataset.labels  # type: ignore[union-attr]
    if args.out is not None and args.labels is not None and not args.overwrite:
        if args.out.resolve() == args.labels.resolve():
            raise InputFileError(
                args.out, "is the input labels file; pass --overwrite to replace it"
            )
    if args.out is not None:  # never over the answer files or into the store
        from budgetplan.io import check_not_inputs

        check_not_inputs([args.out], [*args.exports, dataset.root if dataset else None])
    read = {str(path): read_answers(path, args.format) for path in args.exports}
    answers = [a for r in read.values() for a in r.answers]
    if not answers:
        raise BudgetplanError(
            f"no answers in {', '.join(read)}: were the tasks annotated and submitted?"
        )
    result = merge_answers(labels, answers, prefer=args.prefer)
    for line in summary(result, read):
        print(line)
    if args.out is not None:
        save_label_csv(result.labels, args.out)
        print(f"wrote {args.out}")
    if args.out_store is not None and dataset is not None:
        from budgetplan.dataset import copy_with_labels

        new = copy_with_labels(
            dataset, result.labels.reindex(list(dataset.labels.ids)), args.out_store
        )
        print(f"wrote {new!r} to {new.root}")
        print("plan again with the new labels:")
        print("  " + _replan_command(args, Path(args.out_store)))  # = new.root
    return 0


def _replan_command(args: argparse.Namespace, store: Path) -> str:
    cmd = ["budgetplan", "recommend", "--store", str(store)]
    if args.plan is not None:
        from budgetplan.planner.plan import AnnotationPlan

        plan = AnnotationPlan.load(args.plan)
        cmd += ["--target", plan.target, "--budget", f"{plan.budget:g}"]
    else:
        cmd += ["--target", "TARGET", "--budget", "BUDGET"]
    return " ".join(shlex.quote(c) for c in cmd)
