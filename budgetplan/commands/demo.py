"""``budgetplan demo build|info``: the embedded default (real NIH labels, simulated features)."""

from __future__ import annotations

import argparse
import time
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="build or describe the embedded default dataset (NIH labels, SIMULATED features)",
        description=(
            "The embedded default: the real NIH ChestX-ray14 label table shipped by "
            "torchxrayvision with simulated 1024-d embeddings (see the README, 'The embedded "
            "default'). It is built on first use under the budgetplan cache directory."
        ),
    )
    sub = p.add_subparsers(dest="demo_command", metavar="{build,info}", required=True)
    b = sub.add_parser("build", help="build the demo store (once; seconds)")
    b.add_argument("--rebuild", action="store_true", help="build again even if cached")
    b.add_argument(
        "--n-images",
        type=int,
        default=None,
        help="a deterministic patient-wise subset of about N images (own cache entry)",
    )
    b.set_defaults(func=run_build)
    i = sub.add_parser("info", help="size, classes, prevalences per split, path on disk")
    i.add_argument("--n-images", type=int, default=None, help="describe the subset of this size")
    i.set_defaults(func=run_info)


def run_build(args: argparse.Namespace) -> int:
    from budgetplan.data.demo import SIMULATED_NOTICE, demo_dataset, demo_root
    from budgetplan.progress import tqdm_progress

    t0 = time.perf_counter()
    cached = demo_root(args.n_images).is_dir() and not args.rebuild
    with tqdm_progress("demo build", unit="step") as progress:
        dataset = demo_dataset(progress=progress, rebuild=args.rebuild, n_images=args.n_images)
    verb = "opened cached" if cached else "built"
    print(
        f"{verb} {dataset.name}: {len(dataset):,} images x {len(dataset.classes)} classes, "
        f"{dataset.embeddings.dim}-d, in {time.perf_counter() - t0:.1f} s"
    )
    print(f"path: {dataset.root}")
    print(SIMULATED_NOTICE)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from budgetplan.data.demo import demo_dataset
    from budgetplan.progress import tqdm_progress

    with tqdm_progress("demo build", unit="step") as progress:
        dataset = demo_dataset(progress=progress, n_images=args.n_images)
    print(describe(dataset))
    return 0


def describe(dataset: Any) -> str:
    """Size, classes, prevalence per split, the simulated notice and the path, as text."""
    import pandas as pd

    from budgetplan.data.demo import SIMULATED_NOTICE

    labels = dataset.labels
    manifest = dataset.embeddings.manifest
    lines = [
        f"{dataset.name}",
        f"  images: {labels.n_images:,} ({', '.join(f'{s} {int((labels.split == s).sum()):,}' for s in ('train', 'val', 'test'))}); "
        f"patients: {len(set(labels.patient.tolist())):,}",
        f"  classes ({labels.n_classes}): {', '.join(labels.classes)}",
        f"  default target: {dataset.default_target}",
        f"  features: {dataset.embeddings.dim}-d, backbone {manifest.get('backbone')!r}, "
        f"{'SIMULATED' if dataset.simulated else 'computed from images'}; "
        f"index {dataset.embeddings.index_kind}",
        f"  path: {dataset.root}",
        "",
        "positives (prevalence) per split:",
    ]
    cols = {}
    for split in ("train", "val", "test", None):
        c = labels.counts(split)
        name = split or "all"
        cols[name] = [
            f"{p:,} ({v:.2%})" for p, v in zip(c["positives"], c["prevalence"], strict=True)
        ]
    frame = pd.DataFrame(cols, index=labels.classes)
    lines.append(frame.to_string())
    if dataset.simulated:
        lines += ["", SIMULATED_NOTICE]
    return "\n".join(lines)
