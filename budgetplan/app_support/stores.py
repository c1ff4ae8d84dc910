"""Which dataset the app works on, and datasets made from the app's uploads.

- Store choice: :func:`parse_store` / :func:`open_store` (``"demo"``, ``"demo:N"`` = a small demo
  of N images, or a dataset directory); ``$BUDGETPLAN_APP_STORE`` sets the app's default
  (:func:`default_store`).
- Upload and ingest: :func:`ingest_upload` (label CSV + ``.npy`` embeddings, never unpickled).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from budgetplan.errors import BudgetplanError, DataMismatchError, InputFileError

if TYPE_CHECKING:
    from budgetplan.dataset import Dataset

ProgressFn = Callable[[int, int, str], None]

STORE_ENV = "BUDGETPLAN_APP_STORE"


@dataclass(frozen=True)
class StoreChoice:
    """Which dataset the app works on: the demo (optionally small) or a directory."""

    kind: str  # "demo" | "path"
    path: str | None = None
    n_images: int | None = None

    @property
    def label(self) -> str:
        if self.kind == "demo":
            size = f", {self.n_images} images" if self.n_images else ""
            return f"embedded default (NIH labels, simulated features{size})"
        return str(self.path)

    @property
    def spec(self) -> str:
        if self.kind == "demo":
            return f"demo:{self.n_images}" if self.n_images else "demo"
        return str(self.path)


def parse_store(spec: str | None) -> StoreChoice:
    """``None``/``""``/``"demo"`` -> the demo; ``"demo:N"`` -> a demo of N images; else a path."""
    text = (spec or "").strip()
    if not text or text == "demo":
        return StoreChoice("demo")
    m = re.fullmatch(r"demo:(\d+)", text)
    if m:
        n = int(m.group(1))
        if n < 1:
            raise BudgetplanError(f"store {text!r}: the demo needs at least 1 image")
        return StoreChoice("demo", n_images=n)
    if text.startswith("demo:"):
        raise BudgetplanError(f"store {text!r}: write demo:N with N a number of images")
    return StoreChoice("path", path=text)


def default_store() -> StoreChoice:
    """The store the app opens first: ``$BUDGETPLAN_APP_STORE`` or the embedded default."""
    return parse_store(os.environ.get(STORE_ENV))


def open_store(choice: StoreChoice, progress: ProgressFn | None = None) -> Dataset:
    """Open (building the demo once if needed) the dataset of ``choice``."""
    if choice.kind == "demo":
        try:
            from budgetplan.demo import demo_dataset
        except ImportError as exc:  # pragma: no cover - a partial install
            raise BudgetplanError(f"the embedded default store is not available ({exc})") from None
        if choice.n_images:
            return demo_dataset(progress=progress, n_images=choice.n_images)
        return demo_dataset(progress=progress)
    from budgetplan.dataset import open_dataset

    return open_dataset(choice.path)


def prepare_store(choice: StoreChoice, progress: ProgressFn | None = None) -> None:
    """Make sure the store of ``choice`` exists on disk (builds the demo once, reporting
    progress); a directory is only checked. Raises a one-line error for a bad store."""
    open_store(choice, progress=progress)


def uploads_root() -> Path:
    """Where datasets ingested from the app's uploads are kept (under the budgetplan cache)."""
    from budgetplan.paths import cache_dir

    return cache_dir() / "app-datasets"


def load_uploaded_vectors(data: bytes, name: str) -> np.ndarray:
    """An (N, d) float array from the bytes of an uploaded ``.npy`` (``allow_pickle=False``)."""
    from budgetplan.embeddings.files import embeddings_from_bytes

    return embeddings_from_bytes(data, name)


def ingest_upload(
    labels_data: bytes,
    labels_name: str,
    vectors_data: bytes,
    vectors_name: str,
    ids_data: bytes | None = None,
    ids_name: str = "ids.txt",
    *,
    root: str | os.PathLike[str] | None = None,
    name: str | None = None,
    progress: ProgressFn | None = None,
) -> Dataset:
    """Build a dataset from uploaded files: a label CSV and an (N, d) ``.npy`` of embeddings.

    Row ``i`` of the embeddings is the image of row ``i`` of the label CSV, unless an ids file
    (one id per line, in row order) is given. Written (atomically) under ``root`` (default
    :func:`uploads_root`) in a directory named after the content, so uploading the same files
    again reopens the same dataset. Every problem raises a one-line ``BudgetplanError``.
    """
    import hashlib

    from budgetplan.data.csv_labels import load_label_csv
    from budgetplan.dataset import Dataset
    from budgetplan.embeddings.files import ids_from_bytes

    safe = Path(labels_name).name or "labels.csv"
    if not safe.lower().endswith((".csv", ".csv.gz", ".tsv")):
        raise InputFileError(labels_name, "the labels must be a .csv (or .csv.gz) file")
    vectors = load_uploaded_vectors(vectors_data, vectors_name)
    with tempfile.TemporaryDirectory(prefix="budgetplan-upload-") as tmp:
        path = Path(tmp) / safe
        path.write_bytes(labels_data)
        try:
            labels = load_label_csv(path)
        except InputFileError as exc:  # name the upload, not the temp file
            raise InputFileError(labels_name, exc.problem) from None
    ids = ids_from_bytes(ids_data, ids_name) if ids_data is not None else list(labels.ids)
    if len(ids) != vectors.shape[0]:
        what = (
            f"{ids_name} lists {len(ids)} ids"
            if ids_data is not None
            else (f"{labels_name} has {len(ids)} rows")
        )
        raise DataMismatchError(
            f"{what} but {vectors_name} has {vectors.shape[0]} rows; they must match row for row"
        )
    digest = hashlib.sha256()
    for part in (labels_data, vectors_data, ids_data or b""):
        digest.update(hashlib.sha256(part).digest())
    base = Path(root) if root is not None else uploads_root()
    out = base / f"upload-{digest.hexdigest()[:16]}"
    if (out / "dataset.json").is_file():
        return Dataset.open(out)
    return Dataset.create(
        out,
        labels,
        vectors,
        ids,
        name=name or Path(safe).name.split(".")[0],
        overwrite=out.exists(),
        progress=progress,
        backbone="uploaded",
        source_files={"labels": labels_name, "embeddings": vectors_name},
    )
