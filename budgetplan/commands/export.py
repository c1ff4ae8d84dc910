"""``budgetplan export``: write a saved plan as a worklist, JSON, Label Studio, CVAT or Markdown."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from budgetplan.planner.export import FORMATS, export_plan, path_beside_plan
from budgetplan.planner.plan import AnnotationPlan


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a saved plan (csv worklist, json, labelstudio, cvat, markdown)",
        description=(
            "Write an annotation plan (the JSON saved by `budgetplan recommend`) for annotators: "
            "a CSV worklist, the plan JSON with provenance, Label Studio tasks + labelling config, "
            "a CVAT manifest + labels, or a Markdown report. One line per written file."
        ),
    )
    p.add_argument("plan", type=Path, help="plan JSON file")
    p.add_argument("--format", "-f", required=True, choices=FORMATS, help="export format")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output file (default: beside the plan, e.g. PLAN.worklist.csv)",
    )
    p.add_argument(
        "--store",
        default=None,
        help="dataset directory (or 'demo') giving image paths and patients; without it, ids are used",
    )
    p.add_argument(
        "--url-prefix",
        default="",
        help="Label Studio: put before each image path (e.g. '/data/local-files/?d=')",
    )
    p.add_argument(
        "--image-root",
        type=Path,
        default=None,
        help="CVAT: folder the image paths are relative to (sizes are read there)",
    )
    p.add_argument(
        "--image-size",
        type=_size,
        default=None,
        metavar="WxH",
        help="CVAT: size of images that cannot be read (e.g. 1024x1024)",
    )
    p.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) <= 0 or int(m.group(2)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 1024x1024")
    return int(m.group(1)), int(m.group(2))


def run(args: argparse.Namespace) -> int:
    plan = AnnotationPlan.load(args.plan)
    labels = None
    if args.store is not None:
        from budgetplan.dataset import open_dataset

        dataset = open_dataset(args.store)
        labels = dataset.labels
        if not plan.made_on(dataset.checksum):
            print(
                f"budgetplan: warning: store {args.store} is not the one the plan was made on (checksum differs)",
                file=sys.stderr,
            )
    out = args.out if args.out is not None else path_beside_plan(args.plan, args.format)
    written = export_plan(
        plan,
        args.format,
        out,
        labels,
        url_prefix=args.url_prefix,
        image_root=args.image_root,
        image_size=args.image_size,
    )
    for path in written:
        print(path)
    return 0
