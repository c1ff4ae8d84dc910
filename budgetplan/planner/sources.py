"""The labelled embeddings a recipe plans on (``DataConfig.kind``), as one
:class:`~budgetplan.dataset.Dataset` (a store directory, or held in memory).

- ``demo``: the embedded default (real NIH labels, simulated embeddings), via ``open_dataset``.
- ``store``: a dataset directory made by ``budgetplan ingest`` / ``embed``.
- ``digits``: scikit-learn's 1,797 real 8x8 digit images; the 64 pixel intensities (/16) are
  centred on the mean image and L2-normalised, and used as the embeddings. Labels are one-hot
  over the classes "0".."9" (every image annotated for every digit); each image is its own
  "patient" for the 70/10/20 split.
- ``nih-chexpert``: NIH ChestX-ray14 and CheXpert stacked to the 20-class union (seed 000
  setting), every row with embeddings simulated by the demo's generator (see
  :func:`nih_chexpert_data`).
"""

from __future__ import annotations

import hashlib

import numpy as np

from budgetplan.config import DataConfig, RecommendConfig
from budgetplan.data.label_table import LabelTable
from budgetplan.dataset import Dataset, open_dataset
from budgetplan.progress import ProgressFn


def load_plan_data(cfg: DataConfig, progress: ProgressFn | None = None) -> Dataset:
    """Resolve a config's data section (``--store`` sets it to a store directory)."""
    if cfg.kind == "digits":
        return digits_data()
    if cfg.kind == "store":
        return _open(cfg.store)
    if cfg.kind == "nih-chexpert":
        return nih_chexpert_data(progress=progress, n_images=cfg.n_images)
    return _open(None, progress)


def load_data_to_plan(config: RecommendConfig, progress: ProgressFn | None = None) -> Dataset:
    """``load_plan_data`` of a run that will plan (and most likely train) on this data: where
    the embedded demo has to be built first, the workers' fork server starts before the build,
    so that its imports overlap it (``executor.start_worker_server``)."""
    if builds_the_demo(config.data):
        from budgetplan.planner.executor import start_worker_server

        start_worker_server(config.simulation, config.device)
    return load_plan_data(config.data, progress)


def builds_the_demo(cfg: DataConfig) -> bool:
    """Whether loading ``cfg``'s data builds the embedded demo first (it is not cached yet)."""
    if cfg.kind != "demo":
        return False
    from budgetplan.demo import demo_root

    return not demo_root().is_dir()


def _open(store: str | None, progress: ProgressFn | None = None) -> Dataset:
    """A Dataset directory, or the embedded demo (built on first use, with ``progress``)."""
    if store is None:
        from budgetplan.demo import demo_dataset

        return demo_dataset(progress=progress)
    return open_dataset(store)


def digits_data(seed: int = 0) -> Dataset:
    """scikit-learn's digits as a fully annotated 10-class table with pixel embeddings."""
    from sklearn.datasets import load_digits

    from budgetplan.data.splits import patient_split

    bunch = load_digits()
    x = bunch.data.astype(np.float32) / 16.0
    x = x - x.mean(axis=0, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True).clip(1e-6)
    y = np.zeros((len(x), 10), dtype=np.float32)
    y[np.arange(len(x)), bunch.target] = 1.0
    ids = np.array([f"digit-{i:04d}" for i in range(len(x))])
    split = patient_split(ids, seed=seed)
    table = LabelTable(
        y, [str(d) for d in range(10)], ids, np.full(len(x), "sklearn-digits"), ids, split
    )
    checksum = hashlib.sha256(x.tobytes() + y.tobytes() + split.astype("U5").tobytes()).hexdigest()
    return Dataset.from_arrays(
        table, x, name="sklearn-digits", default_target="8", checksum=checksum
    )


def nih_chexpert_data(
    progress: ProgressFn | None = None, dim: int = 256, n_images: int | None = None, seed: int = 0
) -> Dataset:
    """NIH + CheXpert (20 classes) with embeddings simulated for every row.

    Labels are real (torchxrayvision's NIH and CheXpert CSVs, each keeping its own patient
    split). The embeddings come from the demo's generator (``budgetplan.data.simulate_embeddings``,
    the same latent model as the NIH demo, with a source effect since the table stacks two
    sites), at ``dim`` = 256 dimensions to keep the ~335k rows in memory; they are cached under
    ``cache_dir()/nih-chexpert-v1`` (memory-mapped .npy) after the first build. ``n_images``:
    a random (``seed``) sample of that many rows instead of all (tests, smoke runs).
    """
    from budgetplan.data.chexpert import load_chexpert
    from budgetplan.data.harmonise import NIH_CHEXPERT_NAME_MAP, stack_tables
    from budgetplan.data.nih import load_nih
    from budgetplan.data.simulate_embeddings import GENERATOR_VERSION, simulate_embeddings
    from budgetplan.io import save_npy_atomic
    from budgetplan.paths import cache_dir

    table = stack_tables([load_nih(), load_chexpert()], NIH_CHEXPERT_NAME_MAP, prefix_ids=True)
    if n_images is not None and n_images < len(table.ids):
        rows = np.random.default_rng(seed).choice(len(table.ids), size=n_images, replace=False)
        table = table.subset(np.sort(rows))
    digest = hashlib.sha256(table.values.tobytes() + "|".join(table.ids).encode()).hexdigest()[:16]
    path = cache_dir() / "nih-chexpert-v1" / f"vectors-{GENERATOR_VERSION}-{dim}-{digest}.npy"
    if not path.exists():
        save_npy_atomic(path, simulate_embeddings(table, dim=dim))
    vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    checksum = hashlib.sha256(f"{path.name}".encode()).hexdigest()
    return Dataset.from_arrays(
        table,
        vectors,
        name="nih+chexpert (real labels, embeddings simulated like the demo's)",
        simulated=True,
        default_target="Nodule",
        checksum=checksum,
    )
