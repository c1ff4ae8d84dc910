"""LabelTable: the N x C partial-label matrix every part of budgetplan reads.

``values`` holds 1 (positive), 0 (negative) and NaN (not annotated). Per image we also keep its
id, the dataset it came from (``source``), its patient and its split (train / val / test,
patient-wise). Optional per-image columns (image path, view position, ...) live in ``meta``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from budgetplan.errors import DataMismatchError, UnknownClassError

SPLITS = ("train", "val", "test")


def _str_array(values: Sequence[object] | np.ndarray, n: int, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind != "U":  # already-unicode arrays skip the slow object round trip
        arr = np.asarray(values, dtype=object).astype(str)
    if arr.shape != (n,):
        raise DataMismatchError(f"LabelTable: {name} has shape {arr.shape}, expected ({n},)")
    return arr


@dataclass
class LabelTable:
    """Partial multi-label annotations of N images over C classes.

    Attributes:
        values: float32 (N, C); 1 = positive, 0 = negative, NaN = not annotated.
        classes: the C class names, in column order.
        ids: (N,) image ids, unique.
        source: (N,) dataset each row came from ("nih", "chexpert", ...).
        patient: (N,) patient id of each image (splits never share a patient).
        split: (N,) "train", "val" or "test".
        meta: optional per-image columns aligned with the rows (e.g. "path", "view").
    """

    values: np.ndarray
    classes: list[str]
    ids: np.ndarray
    source: np.ndarray
    patient: np.ndarray
    split: np.ndarray
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.values.ndim != 2:
            raise DataMismatchError(
                f"LabelTable: values must be 2-D, got shape {self.values.shape}"
            )
        n, c = self.values.shape
        self.classes = [str(x) for x in self.classes]
        if len(self.classes) != c:
            raise DataMismatchError(
                f"LabelTable: {len(self.classes)} class names for {c} value columns"
            )
        if len(set(self.classes)) != c:
            dup = sorted({x for x in self.classes if self.classes.count(x) > 1})
            raise DataMismatchError(f"LabelTable: duplicate class names {dup}")
        ok = np.isnan(self.values) | (self.values == 0) | (self.values == 1)
        if not ok.all():
            r, col = np.argwhere(~ok)[0]
            raise DataMismatchError(
                f"LabelTable: value {self.values[r, col]!r} at row {r}, "
                f"column {self.classes[col]!r} is not 1, 0 or missing"
            )
        self.ids = _str_array(self.ids, n, "ids")
        self.source = _str_array(self.source, n, "source")
        self.patient = _str_array(self.patient, n, "patient")
        self.split = _str_array(self.split, n, "split")
        bad = ~np.isin(self.split, SPLITS)
        if bad.any():
            r = int(np.argmax(bad))
            raise DataMismatchError(
                f"LabelTable: split {self.split[r]!r} of image {self.ids[r]!r} "
                f"is not one of {SPLITS}"
            )
        if self.meta is None:
            self.meta = pd.DataFrame(index=range(n))
        self.meta = self.meta.reset_index(drop=True)
        if len(self.meta.columns) and len(self.meta) != n:
            raise DataMismatchError(f"LabelTable: meta has {len(self.meta)} rows, expected {n}")

    # ------------------------------------------------------------------ shape and lookup
    @property
    def n_images(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.values.shape[1])

    def class_index(self, name: str) -> int:
        """Column of class ``name``; an unknown name raises UnknownClassError with suggestions."""
        try:
            return self.classes.index(name)
        except ValueError:
            for i, c in enumerate(self.classes):  # forgive case and "_" vs " "
                if _norm(c) == _norm(name):
                    return i
            raise UnknownClassError(name, self.classes) from None

    def column(self, name: str) -> np.ndarray:
        """Labels of one class (N,), with NaN where not annotated."""
        return self.values[:, self.class_index(name)]

    def split_mask(self, split: str) -> np.ndarray:
        return self.split == split

    # ------------------------------------------------------------------ derived tables
    def subset(self, rows: np.ndarray | Sequence[int]) -> LabelTable:
        """The rows selected by a boolean mask or an index array, in that order."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        meta = (
            self.meta.iloc[rows].reset_index(drop=True)
            if len(self.meta.columns)
            else pd.DataFrame()
        )
        return LabelTable(
            values=self.values[rows],
            classes=list(self.classes),
            ids=self.ids[rows],
            source=self.source[rows],
            patient=self.patient[rows],
            split=self.split[rows],
            meta=meta,
        )

    def select_classes(self, names: Sequence[str]) -> LabelTable:
        cols = [self.class_index(n) for n in names]
        return LabelTable(
            values=self.values[:, cols],
            classes=[self.classes[i] for i in cols],
            ids=self.ids,
            source=self.source,
            patient=self.patient,
            split=self.split,
            meta=self.meta,
        )

    def with_values(self, values: np.ndarray) -> LabelTable:
        """Same images and classes, other label values (e.g. a masked assembly)."""
        return LabelTable(
            values, list(self.classes), self.ids, self.source, self.patient, self.split, self.meta
        )

    def with_split(self, split: np.ndarray) -> LabelTable:
        return LabelTable(
            self.values, list(self.classes), self.ids, self.source, self.patient, split, self.meta
        )

    def reindex(self, ids: Sequence[str] | np.ndarray) -> LabelTable:
        """Rows reordered to ``ids``; every id must be present."""
        ids = np.asarray(ids, dtype=object).astype(str)
        pos = pd.Index(self.ids).get_indexer(ids)
        if (pos < 0).any():
            missing = ids[pos < 0]
            raise DataMismatchError(
                f"{int((pos < 0).sum())} ids are not in the label table, e.g. {list(missing[:3])}"
            )
        return self.subset(pos)

    # ------------------------------------------------------------------ summaries
    def counts(self, split: str | None = None) -> pd.DataFrame:
        """Per class: positives, negatives, missing and prevalence among annotated labels."""
        v = self.values if split is None else self.values[self.split == split]
        pos = np.nansum(v == 1, axis=0)
        neg = np.sum(v == 0, axis=0)
        ann = pos + neg
        return pd.DataFrame(
            {
                "class": self.classes,
                "positives": pos.astype(int),
                "negatives": neg.astype(int),
                "missing": (v.shape[0] - ann).astype(int),
                "prevalence": np.where(ann > 0, pos / np.maximum(ann, 1), np.nan),
            }
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per image: id, source, patient, split, meta columns, then one column per
        class."""
        df = pd.DataFrame(
            {"id": self.ids, "source": self.source, "patient": self.patient, "split": self.split}
        )
        if len(self.meta.columns):
            df = pd.concat([df, self.meta.reset_index(drop=True)], axis=1)
        labels = pd.DataFrame(self.values, columns=self.classes)
        return pd.concat([df, labels], axis=1)

    def __repr__(self) -> str:
        sources = ", ".join(sorted(set(self.source.tolist())))
        return f"LabelTable({self.n_images} images x {self.n_classes} classes, sources: {sources})"


def _norm(name: str) -> str:
    return name.lower().replace("_", " ").replace("-", " ").strip()
