"""``budgetplan embed``: embed a folder of images with a frozen DenseNet-121 into a dataset.

Matching images to label rows: when the label CSV has a ``path`` column, each row's image is that
path (relative to ``--images``, or absolute); otherwise the row's id is the image's file name
(e.g. ``00000001_000.png``, or ``00000001_000`` without the extension), looked up anywhere under
``--images``. A row without its image is an
error that names it; images without a label row are left out (their count is printed).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from budgetplan.commands.recommend import add_executor_arguments
from budgetplan.embeddings.backbone_specs import BACKBONES


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "embed",
        help="embed images with DenseNet-121 (ImageNet or chest X-ray weights) into a dataset",
        description=(
            "Embed the labelled images under --images with a frozen DenseNet-121 and write a "
            "dataset (labels + embedding store + FAISS index) to --out. Images are matched to "
            "label rows by the CSV's 'path' column if it has one, else by file name = id (with or "
            "without the extension). Weights come from --weights (a state_dict) or the local "
            "torch / torchxrayvision cache; nothing is downloaded unless you pass --download. "
            "Interrupted runs resume from finished shards."
        ),
    )
    p.add_argument("--images", required=True, type=Path, help="folder holding the images")
    p.add_argument("--labels", required=True, type=Path, help="label CSV (id column + classes)")
    p.add_argument("--out", required=True, type=Path, help="dataset directory to create")
    p.add_argument(
        "--backbone",
        default="densenet121-imagenet",
        choices=sorted(BACKBONES),
        help="densenet121-imagenet (torchvision) or xrv-densenet121-all (torchxrayvision, "
        "chest X-rays); default densenet121-imagenet",
    )
    p.add_argument("--weights", type=Path, default=None, help="state_dict file of the backbone")
    p.add_argument(
        "--download",
        action="store_true",
        help="fetch the backbone's standard weights into the torch / torchxrayvision cache if "
        "they are not there (needs the internet; as torchvision and torchxrayvision do)",
    )
    p.add_argument(
        "--random-weights",
        action="store_true",
        help="use random weights when none are found (smoke tests only; recorded)",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    p.add_argument("--batch-size", type=int, default=32, help="images per batch (default 32)")
    p.add_argument("--image-size", type=int, default=224, help="input side (default 224)")
    p.add_argument("--id-column", default="id", help="id column of the label CSV (default id)")
    p.add_argument(
        "--index",
        default="auto",
        choices=["auto", "flat", "ivf", "hnsw"],
        help="FAISS index (default auto: exact up to 50k vectors, IVF above)",
    )
    p.add_argument("--target", default=None, help="default target class of this dataset")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out directory")
    add_executor_arguments(p, default="local")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from budgetplan.data.csv_labels import load_label_csv
    from budgetplan.dataset import Dataset, check_dataset_target
    from budgetplan.embeddings.extract import extract_embeddings, match_images
    from budgetplan.progress import tqdm_progress

    # Before minutes of extraction: --out is new, or a dataset budgetplan wrote (--overwrite).
    check_dataset_target(args.out, overwrite=args.overwrite, inputs=[args.labels])
    labels = load_label_csv(args.labels, id_column=args.id_column)
    paths, unlabelled = match_images(labels, args.images)
    if unlabelled:
        print(f"note: {unlabelled} images under {args.images} have no label row and are skipped")
    shard_dir = args.out.parent / f".{args.out.name}.shards"
    executor = None
    if args.executor != "local":  # shards as parallel jobs: Ray tasks (one GPU each) or processes
        import os

        from budgetplan.planner.executor import make_executor

        executor = make_executor(
            args.executor,
            os.cpu_count() or 1,
            ray_address=args.ray_address,
            device=args.device,
            task_gpus=args.ray_gpus or 1.0,
        )
    with tqdm_progress(f"embed ({args.backbone})", unit="img") as progress:
        vectors, ids, info = extract_embeddings(
            paths,
            backbone=args.backbone,
            weights=args.weights,
            random_weights=args.random_weights,
            device=args.device,
            batch_size=args.batch_size,
            image_size=args.image_size,
            shard_dir=shard_dir,
            ids=list(labels.ids),
            progress=progress,
            download=args.download,
            executor=executor,
        )
    if info.get("random_weights"):
        print(
            "warning: RANDOM weights (--random-weights): these features mean nothing",
            file=sys.stderr,
        )
    with tqdm_progress("store") as progress:
        dataset = Dataset.create(
            args.out,
            labels,
            vectors,
            ids,
            name=args.out.name,
            default_target=args.target,
            overwrite=args.overwrite,
            progress=progress,
            inputs=[args.labels],
            index=args.index,
            simulated=False,
            **info,
        )
    shutil.rmtree(shard_dir, ignore_errors=True)
    print(f"wrote {dataset!r} to {dataset.root}")
    return 0
