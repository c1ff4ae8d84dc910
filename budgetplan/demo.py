"""The embedded default: real NIH ChestX-ray14 labels + SIMULATED embeddings, built once and cached.

``demo_dataset()`` gives a :class:`~budgetplan.dataset.Dataset` that works on a fresh install
with no data of the user's: the 112,120 labelled images of the NIH table that torchxrayvision
ships (:func:`budgetplan.data.nih.load_nih`) and 1024-d embeddings simulated from those labels by
the latent model of :mod:`budgetplan.data.simulate_embeddings`. The first call builds it under
``cache_dir()/demo-nih-<generator version>`` (seconds); later calls open it.

Two processes may build at once: each builds into its own temporary directory and renames it
into place; the loser of the rename deletes its copy and opens the winner's. A temporary
directory names its owner's pid, so one left by a killed build (hundreds of MB) is removed by
the next build (``budgetplan.io.clean_stale_temp``); a live concurrent build is left alone.

Every output made from it must say that its features are simulated: print
:data:`budgetplan.notices.DEMO_NOTICE` (or :func:`budgetplan.notices.simulated_notice` of the
dataset, which recognises the demo with :func:`is_demo`).

It sits above :mod:`budgetplan.dataset` (it builds a Dataset from the ``budgetplan.data`` label
tables and the embedding simulator), so no lower layer imports it at module level; only the
resolver of the name ``"demo"`` (``dataset.open_dataset``) and the notices reach it, lazily.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from budgetplan.data.label_table import LabelTable
from budgetplan.data.simulate_embeddings import GENERATOR_VERSION, LatentModel, simulate_embeddings
from budgetplan.dataset import Dataset
from budgetplan.errors import BudgetplanError
from budgetplan.io import clean_stale_temp, make_temp_dir
from budgetplan.notices import simulated_notice
from budgetplan.paths import cache_dir
from budgetplan.progress import ProgressFn

#: Directory name (under the cache dir) of the full demo; changes when the generator changes.
DEMO_NAME = (
    f"demo-nih-{GENERATOR_VERSION.rsplit('-', 1)[-1]}"  # bump the generator version to rebuild
)
DEMO_SEED = 0
DEMO_TARGET = "Nodule"
_SUBSET_STREAM = 0x5AB5E7
#: The name recorded in the demo's dataset.json (how :func:`is_demo` recognises it).
DEMO_TITLE = "demo: NIH ChestX-ray14 labels, simulated features"


def is_demo(dataset: object) -> bool:
    """True when ``dataset`` (a Dataset) is the embedded default or one of its subsets."""
    info = getattr(dataset, "info", None)
    return isinstance(info, dict) and info.get("name") == DEMO_TITLE


def demo_root(n_images: int | None = None) -> Path:
    """Where the demo (or its ``n_images`` subset) is cached."""
    name = DEMO_NAME if n_images is None else f"{DEMO_NAME}-n{int(n_images)}"
    return cache_dir() / name


def patient_subset(table: LabelTable, n_images: int, seed: int = DEMO_SEED) -> LabelTable:
    """About ``n_images`` rows of whole patients, chosen by a seeded shuffle of the patients.

    Whole patients keep the patient-wise split intact; rows keep the table's order and splits.
    The result has at least ``n_images`` rows (the last patient may overshoot by a few images).
    """
    if n_images < 1:
        raise BudgetplanError(f"--n-images must be at least 1, got {n_images}")
    if n_images >= table.n_images:
        return table
    # Its own stream: default_rng(seed) would repeat patient_split's shuffle (all rows in train).
    rng = np.random.default_rng([seed, _SUBSET_STREAM])
    uniq, inverse, counts = np.unique(table.patient, return_inverse=True, return_counts=True)
    order = rng.permutation(len(uniq))
    cum = np.cumsum(counts[order])
    take = order[: int(np.searchsorted(cum, n_images)) + 1]
    chosen = np.zeros(len(uniq), dtype=bool)
    chosen[take] = True
    return table.subset(chosen[inverse])


def build_demo(
    root: str | os.PathLike[str],
    n_images: int | None = None,
    seed: int = DEMO_SEED,
    progress: ProgressFn | None = None,
) -> Path:
    """Build the demo dataset at ``root`` (which must not exist); open it with
    :meth:`Dataset.open` once it is in its place."""
    from budgetplan.data.nih import load_nih

    report = progress or (lambda d, t, m: None)
    t0 = time.perf_counter()
    report(0, 4, "demo build: reading the NIH label table")
    table = load_nih(seed=seed)
    if n_images is not None:
        table = patient_subset(table, n_images, seed=seed)
    report(1, 4, f"demo build: simulating {table.n_images:,} embeddings")
    model = LatentModel()
    vectors = simulate_embeddings(table, seed=seed, model=model)
    report(2, 4, "demo build: writing the store and its index")
    written = Dataset.write(
        root,
        table,
        vectors,
        table.ids,
        name=DEMO_TITLE,
        default_target=DEMO_TARGET,
        backbone=GENERATOR_VERSION,
        weights=None,
        image_size=None,
        simulated=True,
        # The store's "auto" would train IVF here, measure it (self-kNN recall@10 0.87 on these
        # vectors) and fall back to exact search after ~70 s: ask for exact search directly.
        index="flat",
        seed=seed,
        latent_model=model.to_dict(),
        labels_source="NIH ChestX-ray14 Data_Entry_2017_v2020 (shipped by torchxrayvision)",
        n_images_requested=n_images,
    )
    report(4, 4, f"demo build: built in {time.perf_counter() - t0:.0f} s")
    return written


def demo_dataset(
    progress: ProgressFn | None = None,
    rebuild: bool = False,
    n_images: int | None = None,
) -> Dataset:
    """The embedded default dataset: opened from the cache, or built there first.

    Args:
        progress: ``progress(done, total, message)`` while building.
        rebuild: build again even when a cached copy exists (it is replaced atomically).
        n_images: a deterministic patient-wise subset of about this many images (own cache entry),
            for tests and fast trials; None = all 112,120.
    """
    root = demo_root(n_images)
    replace = rebuild
    if root.is_dir() and not rebuild:
        try:
            return Dataset.open(root)
        except BudgetplanError:
            replace = True  # damaged (e.g. a file deleted by hand): build a fresh copy
    root.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temp(root.parent, root.name)
    work = make_temp_dir(root.parent, root.name, ".build")
    try:
        built = work / "dataset"
        build_demo(built, n_images=n_images, progress=progress)
        if replace and root.exists():
            os.replace(root, work / "old")  # readers that hold it open keep their files
        try:
            os.rename(built, root)
        except OSError:
            if not root.is_dir():
                raise
            # Another process renamed its copy first: use that one.
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Dataset.open(root)


def describe(dataset: Dataset) -> str:
    """Size, classes, prevalence per split, the simulated notice and the path, as text
    (what ``budgetplan demo info`` prints)."""
    labels = dataset.labels
    manifest = dataset.store.manifest
    per_split = ", ".join(
        f"{s} {int((labels.split == s).sum()):,}" for s in ("train", "val", "test")
    )
    lines = [
        f"{dataset.name}",
        f"  images: {labels.n_images:,} ({per_split}); "
        f"patients: {len(set(labels.patient.tolist())):,}",
        f"  classes ({labels.n_classes}): {', '.join(labels.classes)}",
        f"  default target: {dataset.default_target}",
        f"  features: {dataset.store.dim}-d, backbone {manifest.get('backbone')!r}, "
        f"{'SIMULATED' if dataset.simulated else 'computed from images'}; "
        f"index {dataset.store.index_kind}",
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
    notice = simulated_notice(dataset)
    if notice:
        lines += ["", notice]
    return "\n".join(lines)


__all__ = [
    "DEMO_NAME",
    "DEMO_TITLE",
    "build_demo",
    "demo_dataset",
    "demo_root",
    "describe",
    "is_demo",
    "patient_subset",
    "simulate_embeddings",
]
