"""``budgetplan ingest``: make a dataset from embeddings the user already has."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from budgetplan.errors import DataMismatchError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "ingest",
        help="build a dataset from precomputed embeddings (.npy), their ids and a label CSV",
        description=(
            "Build a dataset directory (labels + embedding store + FAISS index) from precomputed "
            "embeddings: an (N, d) .npy array (or an .npz holding one array), a text file with one "
            "image id per row of the array, and a label CSV with an id column and one 1/0/blank "
            "column per class."
        ),
    )
    p.add_argument(
        "--embeddings", required=True, type=Path, help="(N, d) float array, .npy or .npz"
    )
    p.add_argument(
        "--ids", required=True, type=Path, help="text file, one image id per line, in row order"
    )
    p.add_argument("--labels", required=True, type=Path, help="label CSV (.csv or .csv.gz)")
    p.add_argument("--out", required=True, type=Path, help="dataset directory to create")
    p.add_argument(
        "--index",
        default="auto",
        choices=["auto", "flat", "ivf", "hnsw"],
        help="FAISS index: auto = exact up to 50k vectors, IVF above (default auto)",
    )
    p.add_argument("--id-column", default="id", help="id column of the label CSV (default id)")
    p.add_argument(
        "--backbone", default="unknown", help="model that made the embeddings (recorded)"
    )
    p.add_argument("--weights", default=None, help="its weights (recorded)")
    p.add_argument("--image-size", type=int, default=None, help="input image size (recorded)")
    p.add_argument("--name", default=None, help="dataset name (default: the --out directory name)")
    p.add_argument("--target", default=None, help="default target class of this dataset")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out dataset (only one budgetplan wrote, never other files)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from budgetplan.data.csv_labels import load_label_csv
    from budgetplan.dataset import Dataset, check_dataset_target
    from budgetplan.embeddings.files import load_embeddings, load_ids
    from budgetplan.progress import tqdm_progress

    inputs = [args.embeddings, args.ids, args.labels]
    check_dataset_target(args.out, overwrite=args.overwrite, inputs=inputs)  # before any work
    vectors = load_embeddings(args.embeddings)
    ids = load_ids(args.ids)
    if len(ids) != vectors.shape[0]:
        raise DataMismatchError(
            f"{args.ids} has {len(ids)} ids but {args.embeddings} has {vectors.shape[0]} rows; "
            "they must match line for row"
        )
    labels = load_label_csv(args.labels, id_column=args.id_column)
    with tqdm_progress("ingest") as progress:
        ds = Dataset.create(
            args.out,
            labels,
            vectors,
            ids,
            name=args.name,
            default_target=args.target,
            overwrite=args.overwrite,
            progress=progress,
            inputs=inputs,
            backbone=args.backbone,
            weights=args.weights,
            image_size=args.image_size,
            index=args.index,
            source_files={
                "embeddings": str(args.embeddings),
                "ids": str(args.ids),
                "labels": str(args.labels),
            },
        )
    idx = ds.store.manifest["index"]
    recall = idx["recall"]
    how = (
        "exact"
        if idx["kind"] == "flat"
        else f"recall@{recall['k']} = {recall['recall']:.3f} vs exact"
    )
    print(f"dataset written to {ds.root}")
    print(f"  images: {len(ds)}   embedding dim: {ds.store.dim}   classes: {len(ds.classes)}")
    counts = ds.labels.counts()
    for row in counts.itertuples():
        print(f"    {row[1]:<24} positives {row[2]:>7}  negatives {row[3]:>7}  missing {row[4]:>7}")
    print(f"  index: {idx['kind']} {idx['params'] or ''} ({how})")
    print(f"  checksum: {ds.checksum[:16]}")
    return 0
