"""Label assemblies: which labels of a fully labelled reference a simulated study would have.

An :class:`Assembly` is a base state (the target annotated on some training images; nothing
else) plus actions "annotate class c (from source s) on images S". :meth:`Assembly.apply` masks
every training label the assembly does not include (NaN = not annotated), so training on the
masked values simulates the study the assembly describes, while the reference keeps the truth.

Splits (documented choice):

- **test** keeps every label; the target is scored there (never masked, never trained on).
- **validation** (early stopping) keeps the *target only*: every assembly is then selected by the
  same criterion, so a candidate cannot win by changing what early stopping looks at, and the
  user would have target labels on a validation set in any real study.
- **train** is masked by the assembly.

Target positives (``--target-positives N``): the base keeps the target label on every training
negative and on ``N`` positives drawn at random (seeded); the dropped positives stay in the pool
with the target unlabelled (their images can still receive other classes' labels). They are the
pool of the "annotate more target images" action: annotating ``n`` more images at the training
prevalence ``p`` uncovers about ``round(n * p)`` of them (the negatives such images bring are
already abundant in the base), so the action is priced for ``n`` images but adds ``n * p``
positives, which keeps it honest against negative-class candidates.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from budgetplan.data.label_table import LabelTable
from budgetplan.errors import BudgetplanError
from budgetplan.planner.identity_memo import IdentityMemo

ANNOTATE_CLASS = "annotate-class"
ANNOTATE_TARGET = "annotate-target"


@dataclass(frozen=True)
class Action:
    """Annotate ``class_name`` on the training images ``image_ids`` (from ``source``, if set).

    ``n_images``: how many images the real study would annotate (the plan's count); the
    simulation may use fewer ids (a subsampled pool). ``kind`` is ``annotate-class`` or
    ``annotate-target`` ("annotate more target images"). ``labels``: the action's own values
    for ``image_ids`` (same order) instead of the reference's, e.g. the decoy's random labels,
    redrawn in every draw of the study (``budgetplan.planner.draws``); None = the reference.
    """

    class_name: str
    image_ids: tuple[str, ...]
    kind: str = ANNOTATE_CLASS
    source: str | None = None
    n_images: int | None = None
    labels: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.labels is not None and len(self.labels) != len(self.image_ids):
            raise BudgetplanError(
                f"assembly: action {self.class_name!r} has {len(self.labels)} labels "
                f"for {len(self.image_ids)} images"
            )

    def key(self) -> str:
        return _action_key(self.kind, self.class_name, self.source, self.image_ids, self.labels)


@dataclass(frozen=True)
class Assembly:
    """Base state (target labelled on ``base_ids``) plus annotation ``actions``.

    ``name`` is a display label ("baseline", "+ Effusion", ...); it is not part of the key, so
    two names for the same labels share cached runs.
    """

    target: str
    base_ids: tuple[str, ...]
    actions: tuple[Action, ...] = ()
    name: str = "baseline"
    _key: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        h = _base_hasher(self.target, self.base_ids).copy()
        for k in sorted(a.key() for a in self.actions):
            h.update(f"|{k}".encode())
        object.__setattr__(self, "_key", h.hexdigest()[:24])

    def key(self) -> str:
        """Stable hash of the labels this assembly includes (not of its display name)."""
        return self._key

    @property
    def classes_added(self) -> list[str]:
        return [a.class_name for a in self.actions if a.kind == ANNOTATE_CLASS]

    def plus(self, action: Action, name: str | None = None) -> Assembly:
        """This assembly with one more action."""
        label = name or f"{self.name if self.actions else ''} + {action.class_name}".strip()
        return Assembly(self.target, self.base_ids, (*self.actions, action), label)

    def apply(
        self, reference: LabelTable | tuple[np.ndarray, Sequence[str] | np.ndarray, Sequence[str]]
    ) -> np.ndarray:
        """Masked training values (N, C): reference labels where included, NaN elsewhere.

        ``reference``: a LabelTable or ``(values (N, C), ids (N,), classes)``; typically the
        training rows only. Actions with a ``source`` keep only rows of that source (LabelTable).
        """
        ids: Sequence[str] | np.ndarray
        classes: Sequence[str]
        if isinstance(reference, LabelTable):
            values, ids, classes, source = (
                reference.values,
                reference.ids,
                reference.classes,
                reference.source,
            )
        else:
            values, ids, classes = reference
            source = None
        values = np.asarray(values, dtype=np.float32)
        index = _id_index(ids)
        out = np.full(values.shape, np.nan, dtype=np.float32)
        t = _col(classes, self.target)
        rows = _base_rows(index, self.base_ids)
        out[rows, t] = values[rows, t]
        for action in self.actions:
            c = _col(classes, action.class_name)
            pos = _positions(index, action.image_ids)
            found = pos >= 0
            rows = pos[found]
            own = None if action.labels is None else np.asarray(action.labels, np.float32)[found]
            if action.source is not None and source is not None:
                same = np.asarray(source)[rows] == action.source
                rows = rows[same]
                own = None if own is None else own[same]
            out[rows, c] = values[rows, c] if own is None else own
        return out


def masked_stack(
    assemblies: Sequence[Assembly], values: np.ndarray, ids: Sequence[str], classes: Sequence[str]
) -> np.ndarray:
    """``(R, N, C)`` masked values of several assemblies over one training pool (the trainer's
    y)."""
    return np.stack([a.apply((values, ids, classes)) for a in assemblies])


# Keys and row look-ups repeat for every run of a draw (the same 78k base ids, the same image
# lists): memoised on their content, they cost a hash instead of a sort and a new index.
@functools.lru_cache(maxsize=64)
def _base_hasher(target: str, base_ids: tuple[str, ...]) -> Any:
    """sha256 state after the base part of :meth:`Assembly.key` (copied, then extended)."""
    h = hashlib.sha256()
    h.update(f"target={target}|".encode())
    h.update("\n".join(sorted(base_ids)).encode())
    return h


@functools.lru_cache(maxsize=1024)
def _action_key(
    kind: str,
    class_name: str,
    source: str | None,
    image_ids: tuple[str, ...],
    labels: tuple[float, ...] | None = None,
) -> str:
    h = hashlib.sha256()
    h.update(f"{kind}|{class_name}|{source}|".encode())
    if labels is None:
        h.update("\n".join(sorted(image_ids)).encode())
    else:  # own labels (the decoy's): the key is of (image, label) pairs
        pairs = sorted(zip(image_ids, labels, strict=True))
        h.update("\n".join(f"{i}={v:g}" for i, v in pairs).encode())
    return h.hexdigest()[:16]


_INDEXES: dict[int, tuple[object, pd.Index]] = {}


def _id_index(ids: Sequence[str] | np.ndarray) -> pd.Index:
    """``pd.Index`` of the ids as strings, kept per ids object (a pool's ids are one array)."""
    hit = _INDEXES.get(id(ids))
    if hit is not None and hit[0] is ids:
        return hit[1]
    index = pd.Index(np.asarray(ids).astype(str))
    if len(_INDEXES) >= 8:
        _INDEXES.clear()
    _INDEXES[id(ids)] = (ids, index)
    return index


def _col(classes: Sequence[str], name: str) -> int:
    classes = list(classes)
    if name not in classes:
        raise BudgetplanError(f"assembly: class {name!r} is not one of {', '.join(classes)}")
    return classes.index(name)


def _positions(index: pd.Index, ids: Sequence[str]) -> np.ndarray:
    """Row of each id in ``index`` (-1 where absent)."""
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    return np.asarray(index.get_indexer(np.asarray(ids, dtype=object).astype(str)))


def _rows(index: pd.Index, ids: Sequence[str]) -> np.ndarray:
    pos = _positions(index, ids)
    return pos[pos >= 0]


_BASE_ROWS: IdentityMemo[np.ndarray] = IdentityMemo(32)


def _base_rows(index: pd.Index, base_ids: tuple[str, ...]) -> np.ndarray:
    """Rows of a base's ids (read-only), kept per (index, base_ids): every assembly of a draw
    shares its base's tuple of ~78k ids, whose look-up (~0.1 s) was repeated for each run."""
    return _BASE_ROWS.get(index, base_ids, lambda: _rows(index, base_ids))


def base_state(
    table: LabelTable,
    target: str,
    target_positives: int | None = None,
    seed: int = 0,
    rows: np.ndarray | None = None,
) -> tuple[Assembly, np.ndarray]:
    """The base assembly and the ids of the dropped target positives.

    ``rows``: the training rows to consider (default: split == "train"). The target stays
    labelled on every training row except ``n_pos - target_positives`` positives dropped at
    random (``seed``); returns ``(assembly, dropped_ids)``.
    """
    if rows is None:
        rows = np.flatnonzero(table.split == "train")
    t = table.class_index(target)
    col = table.values[rows, t]
    labelled = rows[~np.isnan(col)]
    pos = rows[col == 1]
    dropped = np.zeros(0, dtype=np.int64)
    if target_positives is not None and target_positives < len(pos):
        rng = np.random.default_rng(seed)
        dropped = np.sort(rng.choice(pos, size=len(pos) - target_positives, replace=False))
    keep = np.setdiff1d(labelled, dropped)
    target_name = table.classes[t]
    return Assembly(target_name, tuple(table.ids[keep]), (), "baseline"), table.ids[dropped]
