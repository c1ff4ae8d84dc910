"""Dataset: a label table and the embeddings of the same images, stored together.

A dataset directory holds::

    dataset.json     name, classes, simulated, created, default target, n_images, checksums
    labels.csv.gz    the LabelTable (``budgetplan.data.csv_labels`` format), rows in embedding order
    embeddings/      an :class:`~budgetplan.embeddings.store.EmbeddingStore`

``Dataset.create`` checks that labels and embeddings cover exactly the same image ids and puts
the label rows in the order of the embedding rows, then writes the whole directory atomically.
``Dataset.checksum`` (embeddings checksum + hash of the label file) keys cached simulations.

``Dataset.from_arrays`` is the same object held in memory (no directory, no EmbeddingStore:
``root`` and ``embeddings`` are None; the checksum hashes the arrays): what the planner plans on
when the data is not a store (scikit-learn's digits, the nih-chexpert table, a user's arrays).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from budgetplan.data.csv_labels import load_label_csv, save_label_csv
from budgetplan.data.label_table import LabelTable
from budgetplan.embeddings.store import EmbeddingStore
from budgetplan.errors import BudgetplanError, DataMismatchError, InputFileError, short_repr
from budgetplan.io import (
    atomic_dir,
    check_not_inputs,
    check_replaceable,
    check_writable,
    write_json_atomic,
)

FORMAT_VERSION = 1
INFO, LABELS, EMBEDDINGS = "dataset.json", "labels.csv.gz", "embeddings"


def check_ids_match(label_ids: Iterable[object], embedding_ids: Iterable[object]) -> None:
    """Raise DataMismatchError (with counts and examples) unless both cover the same ids."""
    lab = [str(i) for i in label_ids]
    emb = [str(i) for i in embedding_ids]
    lab_set, emb_set = set(lab), set(emb)
    if len(emb_set) != len(emb):
        seen: set[str] = set()
        for row, i in enumerate(emb):
            if i in seen:
                raise DataMismatchError(
                    f"embedding ids are not unique: {short_repr(i)} appears again at row {row}"
                )
            seen.add(i)
    no_emb = [i for i in lab if i not in emb_set]
    no_lab = [i for i in emb if i not in lab_set]
    if no_emb or no_lab:
        parts = []
        if no_emb:
            parts.append(
                f"{len(no_emb)} of {len(lab)} label ids have no embedding "
                f"(e.g. {short_repr(no_emb[:3])})"
            )
        if no_lab:
            parts.append(
                f"{len(no_lab)} of {len(emb)} embedding ids have no labels "
                f"(e.g. {short_repr(no_lab[:3])})"
            )
        raise DataMismatchError("ids of labels and embeddings differ: " + "; ".join(parts))


def check_dataset_target(
    root: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Refuse, before any work, a dataset directory that cannot or must not be written.

    ``root`` must not exist, or (with ``overwrite``) be a dataset budgetplan wrote (it holds
    dataset.json) that holds none of ``inputs``; its parent must be writable. One-line errors.
    """
    root = Path(root)
    check_not_inputs([root], inputs)
    if root.exists() or root.is_symlink():
        if not overwrite:
            raise InputFileError(root, "already exists; choose another directory or pass overwrite")
        check_replaceable(root, INFO)
    check_writable(root.parent, directory=True)


@dataclass
class Dataset:
    """Labels aligned row by row with an embedding store.

    Attributes:
        root: the dataset directory (None in memory, see :meth:`from_arrays`).
        labels: the LabelTable; row ``i`` is image ``embeddings.ids[i]``.
        embeddings: the EmbeddingStore (memory-mapped vectors, FAISS index; None in memory).
        info: the contents of dataset.json.
    """

    root: Path | None
    labels: LabelTable
    embeddings: EmbeddingStore | None
    info: dict[str, Any]
    _checksum: str | None = field(default=None, repr=False)
    _vectors: np.ndarray | None = field(default=None, repr=False)  # in memory only

    @property
    def name(self) -> str:
        return str(self.info.get("name") or (self.root.name if self.root else "in memory"))

    @property
    def classes(self) -> list[str]:
        return list(self.labels.classes)

    @property
    def simulated(self) -> bool:
        """True when the embeddings are simulated (the demo), not computed from images."""
        store = self.embeddings
        return bool(self.info.get("simulated", False) or (store is not None and store.simulated))

    @property
    def default_target(self) -> str | None:
        t = self.info.get("default_target")
        return str(t) if t else None

    @property
    def checksum(self) -> str:
        """sha256 of the embeddings checksum and the label file: the simulation cache key."""
        if self._checksum is None:
            assert self.root is not None and self.embeddings is not None  # set in memory
            h = hashlib.sha256()
            h.update(self.embeddings.checksum.encode())
            h.update(b"\0labels\0")
            h.update(_file_sha256(self.root / LABELS).encode())
            self._checksum = h.hexdigest()
        return self._checksum

    @property
    def vectors(self) -> np.ndarray:
        if self._vectors is not None:
            return self._vectors
        return self.store.vectors

    @property
    def store(self) -> EmbeddingStore:
        """The EmbeddingStore; a dataset held in memory has none (BudgetplanError)."""
        if self.embeddings is None:
            raise BudgetplanError(f"{self.name} is held in memory: it has no embedding store")
        return self.embeddings

    def __len__(self) -> int:
        return self.labels.n_images

    @classmethod
    def create(
        cls,
        root: str | os.PathLike[str],
        labels: LabelTable,
        vectors: Any,
        ids: Iterable[object],
        **options: Any,
    ) -> Dataset:
        """Write labels + embeddings as one dataset directory (atomically) and open it.

        ``ids`` name the rows of ``vectors``; the label rows are reordered to match. Ids in the
        labels without an embedding, or the reverse, raise :class:`DataMismatchError` with counts
        and examples. ``options`` are :meth:`write`'s: ``name``, ``default_target``,
        ``overwrite`` (replaces only a dataset directory, one holding dataset.json, that holds
        none of ``inputs``, the files it is made from), ``progress``, ``inputs``, and the
        manifest fields :meth:`EmbeddingStore.create` takes (``backbone``, ``simulated``,
        ``index``, ...).
        """
        return cls.open(cls.write(root, labels, vectors, ids, **options))

    @classmethod
    def write(
        cls,
        root: str | os.PathLike[str],
        labels: LabelTable,
        vectors: Any,
        ids: Iterable[object],
        *,
        name: str | None = None,
        default_target: str | None = None,
        overwrite: bool = False,
        progress: Callable[[int, int, str], None] | None = None,
        inputs: Iterable[str | os.PathLike[str]] = (),
        **manifest: Any,
    ) -> Path:
        """:meth:`create` without opening the result; its path (for a directory that is moved
        before it is opened, such as the embedded default's build: one read of its labels, not
        two). ``manifest`` goes to :meth:`EmbeddingStore.create`."""
        root = Path(root)
        check_dataset_target(root, overwrite=overwrite, inputs=inputs)
        id_list = [str(i).strip() for i in ids]
        check_ids_match(labels.ids, id_list)
        aligned = labels.reindex(id_list)
        if default_target is not None:
            default_target = aligned.classes[aligned.class_index(default_target)]
        with atomic_dir(root, overwrite=overwrite, marker=INFO) as tmp:
            store = EmbeddingStore.create(
                tmp / EMBEDDINGS, vectors, id_list, progress=progress, **manifest
            )
            save_label_csv(aligned, tmp / LABELS)
            info = {
                "format_version": FORMAT_VERSION,
                "name": name or root.name,
                "classes": aligned.classes,
                "simulated": store.simulated,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "default_target": default_target,
                "n_images": aligned.n_images,
                "embeddings_checksum": store.checksum,
                "labels_sha256": _file_sha256(tmp / LABELS),
            }
            write_json_atomic(tmp / INFO, info)
            del store
        return root

    @classmethod
    def from_arrays(
        cls,
        labels: LabelTable,
        vectors: Any,
        *,
        name: str = "arrays in memory",
        simulated: bool = False,
        default_target: str | None = None,
        checksum: str | None = None,
    ) -> Dataset:
        """A dataset held in memory: row ``i`` of ``vectors`` is the image of ``labels`` row ``i``.

        ``checksum`` (the run cache key) defaults to a hash of the arrays themselves (vectors,
        label values, ids, splits), so changed arrays are never answered from runs of other
        ones; a source with a key of its own (the digits, the nih-chexpert cache file) passes it.
        """
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or len(x) != labels.n_images:
            raise DataMismatchError(
                f"vectors of shape {x.shape} do not match the {labels.n_images} label rows"
            )
        if not np.isfinite(x).all():
            raise DataMismatchError("vectors hold NaN or inf values")
        if default_target is not None:
            default_target = labels.classes[labels.class_index(default_target)]
        if checksum is None:
            h = hashlib.sha256(np.ascontiguousarray(x).tobytes())
            h.update(np.ascontiguousarray(labels.values).tobytes())
            h.update("|".join(map(str, labels.ids)).encode())
            h.update("|".join(map(str, labels.split)).encode())
            checksum = h.hexdigest()
        info = {
            "name": name,
            "classes": list(labels.classes),
            "simulated": simulated,
            "default_target": default_target,
            "n_images": labels.n_images,
        }
        return cls(None, labels, None, info, _checksum=checksum, _vectors=x)

    @classmethod
    def open(cls, root: str | os.PathLike[str], verify_checksum: bool = False) -> Dataset:
        """Open a dataset directory; labels and embeddings must cover the same ids."""
        root = Path(root)
        if not root.is_dir():
            raise InputFileError(root, "dataset not found (no such directory)")
        info = _read_info(root / INFO)
        store = EmbeddingStore.open(root / EMBEDDINGS, verify_checksum=verify_checksum)
        classes = info.get("classes")
        labels = load_label_csv(
            root / LABELS, classes=classes if isinstance(classes, list) else None
        )
        if not np.array_equal(labels.ids, store.ids.astype(str)):
            check_ids_match(labels.ids, store.ids)
            labels = labels.reindex(store.ids)
        return cls(root=root, labels=labels, embeddings=store, info=info)

    def __repr__(self) -> str:
        sim = " (simulated features)" if self.simulated else ""
        return (
            f"Dataset({self.name!r}: {self.labels.n_images} images x "
            f"{self.labels.n_classes} classes, "
            f"{self.vectors.shape[1]}-d embeddings{sim})"
        )


def copy_with_labels(
    dataset: Dataset, labels: LabelTable, root: str | os.PathLike[str], *, overwrite: bool = False
) -> Dataset:
    """A new dataset at ``root``: ``dataset``'s embeddings (hard-linked where possible) with
    ``labels`` (same ids and classes, e.g. after merging annotators' answers); atomic."""
    import shutil

    root = Path(root)
    if dataset.root is None:
        raise BudgetplanError(f"{dataset.name} is held in memory: there is no store to copy")
    if list(labels.ids) != list(dataset.labels.ids) or labels.classes != dataset.classes:
        raise DataMismatchError("new labels must have the dataset's ids and classes, in order")
    if root.resolve() == dataset.root.resolve():
        raise InputFileError(root, "is the dataset being copied; choose another directory")
    check_dataset_target(root, overwrite=overwrite, inputs=[dataset.root])

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)  # files of a store are replaced, never edited in place
        except OSError:
            shutil.copy2(src, dst)

    with atomic_dir(root, overwrite=overwrite, marker=INFO) as tmp:
        shutil.copytree(dataset.root / EMBEDDINGS, tmp / EMBEDDINGS, copy_function=link_or_copy)
        save_label_csv(labels, tmp / LABELS)
        info = {
            **dataset.info,
            "name": root.name,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "labels_sha256": _file_sha256(tmp / LABELS),
            "derived_from": str(dataset.root),
        }
        write_json_atomic(tmp / INFO, info)
    return Dataset.open(root)


def open_dataset(store: str | os.PathLike[str] | None = None) -> Dataset:
    """The dataset at ``store``; ``None`` or ``"demo"`` means the embedded default (simulated)."""
    if store is None or str(store) == "demo":
        from budgetplan.demo import demo_dataset

        return demo_dataset()
    root = Path(store)
    if root.is_dir() and not (root / INFO).exists() and (root / "manifest.json").exists():
        raise InputFileError(
            root,
            "is an embedding store, not a dataset; "
            "use the directory made by `budgetplan ingest` or `embed`",
        )
    return Dataset.open(root)


def prune_datasets(
    root: str | os.PathLike[str], keep: int, protect: Iterable[str | os.PathLike[str]] = ()
) -> list[Path]:
    """Delete all but the ``keep`` most recently used datasets directly under ``root`` (e.g. the
    app's uploads); ``protect`` (the ones in use) count as just used and are never deleted.
    Only directories holding dataset.json are touched. Returns the deleted directories."""
    import shutil

    root = Path(root)
    for p in protect:
        if (Path(p) / INFO).is_file():
            try:
                os.utime(p)
            except OSError:
                pass
    kept = {Path(p).resolve() for p in protect}
    try:
        found = [d for d in root.iterdir() if d.is_dir() and (d / INFO).is_file()]
    except OSError:
        return []
    found.sort(key=lambda d: d.stat().st_mtime, reverse=True)
    removed = []
    for d in found[keep:]:
        if d.resolve() in kept:
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


def _read_info(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputFileError(
            path, "missing; this is not a budgetplan dataset (or its creation was interrupted)"
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputFileError(path, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(info, dict):
        raise InputFileError(path, "must be a JSON object")
    return info


def _file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    except OSError as exc:
        raise InputFileError(path, f"cannot read: {exc}") from None
    return h.hexdigest()


__all__ = [
    "Dataset",
    "open_dataset",
    "check_dataset_target",
    "check_ids_match",
    "copy_with_labels",
    "prune_datasets",
]
