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
    from budgetplan.demo import demo_dataset, demo_root
    from budgetplan.notices import DEMO_NOTICE
    from budgetplan.progress import tqdm_progress

    t0 = time.perf_counter()
    cached = demo_root(args.n_images).is_dir() and not args.rebuild
    with tqdm_progress("demo build", unit="step") as progress:
        dataset = demo_dataset(progress=progress, rebuild=args.rebuild, n_images=args.n_images)
    verb = "opened cached" if cached else "built"
    print(
        f"{verb} {dataset.name}: {len(dataset):,} images x {len(dataset.classes)} classes, "
        f"{dataset.store.dim}-d, in {time.perf_counter() - t0:.1f} s"
    )
    print(f"path: {dataset.root}")
    print(DEMO_NOTICE)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from budgetplan.demo import demo_dataset, describe
    from budgetplan.progress import tqdm_progress

    with tqdm_progress("demo build", unit="step") as progress:
        dataset = demo_dataset(progress=progress, n_images=args.n_images)
    print(describe(dataset))
    return 0
