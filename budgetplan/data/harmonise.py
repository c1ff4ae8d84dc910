"""Harmonise class names across sources and stack label tables into one partial-label table.

Label-Assemble (seed 000, Sec. 2.2) assembles NIH ChestX-ray14 (14 classes) and CheXpert (13
classes) into one partially labelled dataset: 7 classes are shared (Atelectasis, Cardiomegaly,
Effusion = CheXpert "Pleural Effusion", Pneumonia, Pneumothorax, Consolidation, Edema), giving
14 + 13 - 7 = 20 classes. On an NIH image the 6 CheXpert-only classes were never annotated, on a
CheXpert image the 7 NIH-only classes were not: those labels are NaN, never 0. (Sec. 2.2 states
the two counts the other way round; the footnotes' class lists give 7 NIH-only and 6
CheXpert-only.) NIH "Pleural_Thickening" and CheXpert "Pleural Other" stay different classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from budgetplan.data.label_table import LabelTable, _norm
from budgetplan.errors import BudgetplanError, DataMismatchError

#: CheXpert name -> NIH name for the classes the two datasets share under different names.
#: The other five shared classes have the same name in both.
NIH_CHEXPERT_NAME_MAP: dict[str, str] = {"Pleural Effusion": "Effusion"}


def harmonise(table: LabelTable, name_map: Mapping[str, str]) -> LabelTable:
    """Rename classes by ``name_map`` (source name -> common name).

    Keys match class names exactly or up to case and "_" / "-" vs " "; keys the table does not
    have are ignored, so one map can serve several sources. Columns that end up with the same
    name are merged: positive if any is positive, negative if all are annotated negatives,
    otherwise not annotated (NaN).
    """
    lookup = {}
    for key, value in name_map.items():
        if not isinstance(key, str) or not isinstance(value, str) or not value.strip():
            raise BudgetplanError(
                f"name map entries must be non-empty strings, got {key!r}: {value!r}"
            )
        lookup[_norm(key)] = value
    new_names = [lookup.get(_norm(c), c) for c in table.classes]
    order: list[str] = []
    groups: dict[str, list[int]] = {}
    for j, name in enumerate(new_names):
        key = _norm(name)
        if key not in groups:
            groups[key] = []
            order.append(name)
        groups[key].append(j)
    values = np.stack([_merge(table.values[:, groups[_norm(n)]]) for n in order], axis=1)
    return LabelTable(
        values, order, table.ids, table.source, table.patient, table.split, table.meta
    )


def stack_tables(
    tables: Sequence[LabelTable],
    name_map: Mapping[str, str] | None = None,
    prefix_ids: bool = False,
) -> LabelTable:
    """Stack the rows of several tables over the union of their classes.

    Args:
        tables: label tables, e.g. ``[load_nih(), load_chexpert()]``.
        name_map: applied to each table with :func:`harmonise` first (e.g.
            ``NIH_CHEXPERT_NAME_MAP``). Classes whose names differ only in case or "_" / " " are
            the same class in any case; the first table's spelling wins.
        prefix_ids: write every id as ``"<source>:<id>"``. Off by default, because ids must keep
            matching the embedding store; ids that occur in two tables then raise
            :class:`DataMismatchError` (turn this on, and use the same ids for the embeddings).

    Returns:
        One table; classes in order of first appearance; a label that a table does not have is
        NaN (not annotated) on its rows. Each row keeps its source, patient, split and meta
        (meta columns are the union; absent ones are NaN).
    """
    tables = list(tables)
    if not tables:
        raise BudgetplanError("stack_tables needs at least one label table")
    if name_map is not None:
        tables = [harmonise(t, name_map) for t in tables]
    classes: list[str] = []
    col_of: dict[str, int] = {}
    for t in tables:
        for c in t.classes:
            if _norm(c) not in col_of:
                col_of[_norm(c)] = len(classes)
                classes.append(c)
    n = sum(t.n_images for t in tables)
    values = np.full((n, len(classes)), np.nan, dtype=np.float32)
    start = 0
    for t in tables:
        cols = [col_of[_norm(c)] for c in t.classes]
        values[start : start + t.n_images, cols] = t.values
        start += t.n_images

    source = np.concatenate([t.source for t in tables])
    ids = np.concatenate([t.ids for t in tables])
    if prefix_ids:
        ids = np.char.add(np.char.add(source.astype(str), ":"), ids.astype(str))
    _check_unique(ids, source, prefix_ids)
    # a table without meta may hold a 0-row frame: give it its rows so the concat aligns
    metas = [
        t.meta if len(t.meta.columns) else pd.DataFrame(index=range(t.n_images)) for t in tables
    ]
    meta = pd.concat(metas, ignore_index=True)
    return LabelTable(
        values=values,
        classes=classes,
        ids=ids,
        source=source,
        patient=np.concatenate([t.patient for t in tables]),
        split=np.concatenate([t.split for t in tables]),
        meta=meta,
    )


def annotated_share(table: LabelTable) -> pd.DataFrame:
    """Share of rows with an annotated label, per source (rows) and class (columns).

    A class with share 0 in a source is one that source never annotated; classes with share > 0
    in every source are the shared ones.
    """
    annotated = pd.DataFrame(~np.isnan(table.values), columns=table.classes)
    return annotated.groupby(table.source, sort=True).mean()


def shared_classes(table: LabelTable) -> list[str]:
    """Classes that every source of ``table`` annotated on at least one image."""
    share = annotated_share(table)
    return [c for c in table.classes if (share[c] > 0).all()]


# ---------------------------------------------------------------------- helpers
def _merge(block: np.ndarray) -> np.ndarray:
    """Merge label columns (N, k): any 1 -> 1; all annotated 0 -> 0; else NaN."""
    if block.shape[1] == 1:
        return block[:, 0]
    out = np.full(block.shape[0], np.nan, dtype=np.float32)
    out[np.all(block == 0, axis=1)] = 0.0
    out[np.any(block == 1, axis=1)] = 1.0
    return out


def _check_unique(ids: np.ndarray, source: np.ndarray, prefixed: bool) -> None:
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    first = str(ids[dup][0])
    where = sorted(set(source[ids == first].tolist()))
    hint = "" if prefixed else "; pass prefix_ids=True to write ids as '<source>:<id>'"
    raise DataMismatchError(
        f"stacked tables share {len(set(ids[dup].tolist()))} image ids, e.g. {first!r} "
        f"(sources: {', '.join(where)}){hint}"
    )
