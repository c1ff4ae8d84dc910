"""``budgetplan export``: write a saved plan as a worklist, JSON, Label Studio, CVAT or Markdown."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from budgetplan.planner.choices import FORMATS

if TYPE_CHECKING:
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
        help=(
            "dataset directory (or 'demo') giving image paths and patients; "
            "without it, ids are used"
        ),
    )
    add_labelstudio_arguments(p)
    p.add_argument(
        "--image-root",
        type=Path,
        default=None,
        help="CVAT and Markdown: folder the image paths are relative to (CVAT reads sizes there, "
        "the Markdown report shows thumbnails of the files found there)",
    )
    p.add_argument(
        "--image-size",
        type=_size,
        default=None,
        metavar="WxH",
        help="CVAT: size of images that cannot be read (e.g. 1024x1024; a warning counts them)",
    )
    p.add_argument(
        "--manifest-root",
        type=Path,
        default=None,
        help="CVAT: folder the manifest's image names are relative to (the folder you upload or "
        "share with CVAT); default: the paths as the dataset gives them",
    )
    p.set_defaults(func=run)


def add_labelstudio_arguments(p: argparse.ArgumentParser) -> None:
    """The Label Studio options shared by ``export`` and ``labelstudio push``."""
    p.add_argument(
        "--url-prefix",
        default="",
        help="Label Studio: put before each image path so that Label Studio can load it, e.g. "
        "'http://HOST/images/' or '/data/local-files/?d=images/'",
    )
    p.add_argument(
        "--scores",
        type=Path,
        default=None,
        help="Label Studio: CSV of model scores (id column + one column per class, in [0, 1]), "
        "exported as predictions (pre-annotations)",
    )


def load_plan(plan_path: Path, store: str | None) -> tuple[AnnotationPlan, Any]:
    """The plan and, given a store, its label table (warns when the plan was made on another)."""
    from budgetplan.planner.plan import AnnotationPlan

    plan = AnnotationPlan.load(plan_path)
    if store is None:
        return plan, None
    from budgetplan.dataset import open_dataset

    dataset = open_dataset(store)
    plan.check_classes(dataset.classes, where=str(plan_path))
    if not plan.made_on(dataset.checksum):
        print(
            f"budgetplan: warning: store {store} is not the one the plan was made on "
            "(checksum differs)",
            file=sys.stderr,
        )
    return plan, dataset.labels


@contextlib.contextmanager
def export_warnings_printed() -> Iterator[None]:
    """Print the library's ExportWarnings as one ``budgetplan: warning:`` line each."""
    from budgetplan.planner.export import ExportWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExportWarning)
        yield
    for w in caught:
        if issubclass(w.category, ExportWarning):
            print(f"budgetplan: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) <= 0 or int(m.group(2)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 1024x1024")
    return int(m.group(1)), int(m.group(2))


def _store_vectors(store: str | None) -> Any:
    """The store's embeddings (memory-mapped; the Markdown report's worklist map), or None."""
    if store is None:
        return None
    from budgetplan.dataset import open_dataset

    return open_dataset(store).vectors


def run(args: argparse.Namespace) -> int:
    from budgetplan.planner.export import export_plan, path_beside_plan, read_scores

    plan, labels = load_plan(args.plan, args.store)
    out = args.out if args.out is not None else path_beside_plan(args.plan, args.format)
    with export_warnings_printed():
        written = export_plan(
            plan,
            args.format,
            out,
            labels,
            url_prefix=args.url_prefix,
            image_root=args.image_root,
            image_size=args.image_size,
            scores=read_scores(args.scores) if args.scores is not None else None,
            manifest_root=args.manifest_root,
            inputs=[args.plan, args.store if args.store not in (None, "demo") else None],
            vectors=_store_vectors(args.store) if args.format == "markdown" else None,
        )
    for path in written:
        print(path)
    return 0
