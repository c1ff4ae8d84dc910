"""Which images to annotate first for a chosen class, and how many the budget buys.

Labels of another class help a rare target most where the model confuses the two: on images that
look like target positives but are not (hard negatives). Soft Exposure (seed 001, Eq. 5) reads
label evidence from an image's k nearest neighbours in the same way. So for class c we annotate
first the images in the target's kNN neighbourhood: candidates that are among the k nearest
neighbours of many target-positive images (``budgetplan.relations.knn.hard_negative_images``),
then the target positives themselves (c's label there is co-occurrence evidence), then everything
else in a seeded random order (a uniform sample, so the class prevalence the model sees is
unbiased). ``size_to_budget`` then cuts that order to what the budget buys, with the per-image
reading cost paid once per image across the plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from budgetplan.errors import DataMismatchError
from budgetplan.planner.costs import CostModel
from budgetplan.planner.plan import PlanAction
from budgetplan.relations.knn import hard_negative_images


def prioritise_images(
    labels: np.ndarray,
    ids: Sequence[str] | np.ndarray,
    target_index: int,
    class_index: int,
    candidate_rows: Sequence[int] | np.ndarray,
    knn_indices: np.ndarray | None = None,
    *,
    seed: int | np.random.Generator = 0,
    positive_rows: Sequence[int] | np.ndarray | None = None,
    knn_similarities: np.ndarray | None = None,
) -> np.ndarray:
    """Order ``candidate_rows`` (row indices into ``labels``) for annotating class ``class_index``.

    Tiers, in order: (1) the target's hard negatives among the candidates, as ranked by
    :func:`budgetplan.relations.knn.hard_negative_images` (images in the k-neighbour lists of
    many target positives first, ties by their highest similarity to one); (2) target positives
    among the candidates (the class's label there is co-occurrence evidence); (3) the rest, in a
    seeded random order (a uniform sample keeps the class prevalence the model sees unbiased).
    Without ``knn_indices`` there is no tier (1).

    Args:
        labels: (N, C) with NaN = not annotated; target positives are rows where the target is 1
            (restricted to ``positive_rows`` if given, e.g. the training rows the user has).
        ids: (N,) image ids (checked for length; the result is rows, not ids).
        knn_indices: (N, k) neighbour rows of every label row (-1 = none), optional.
        knn_similarities: (N, k) similarities for the tie-break, optional.
        seed: seed or Generator of the random order of tier (3) (and of tier (2)).

    Returns:
        int64 array: a permutation of ``candidate_rows``, best first.
    """
    values = np.asarray(labels, dtype=np.float32)
    if values.ndim != 2:
        raise DataMismatchError(f"labels must be (N, C), got shape {values.shape}")
    n, c = values.shape
    if len(ids) != n:
        raise DataMismatchError(f"{len(ids)} ids for {n} label rows")
    for name, idx in (("target_index", target_index), ("class_index", class_index)):
        if not 0 <= idx < c:
            raise DataMismatchError(f"{name} {idx} is out of range for {c} classes")
    rows = np.asarray(candidate_rows, dtype=np.int64).ravel()
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise DataMismatchError(f"candidate_rows must index the {n} label rows")
    if rows.size and np.bincount(rows, minlength=n).max() > 1:  # O(n), unlike np.unique
        raise DataMismatchError("candidate_rows lists a row twice")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    target_pos = values[:, target_index] == 1
    if positive_rows is not None:
        keep = np.zeros(n, dtype=bool)
        keep[np.asarray(positive_rows, dtype=np.int64)] = True
        target_pos &= keep
    rank = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)  # position in tier (1)
    if knn_indices is not None:
        knn = np.asarray(knn_indices)
        if knn.ndim != 2 or knn.shape[0] != n:
            raise DataMismatchError(
                f"knn_indices has shape {knn.shape}, expected ({n}, k) for {n} label rows"
            )
        query = np.flatnonzero(target_pos)
        sims = None if knn_similarities is None else np.asarray(knn_similarities)[query]
        hard = hard_negative_images(
            values, knn[query], target_index, knn_similarities=sims, query=query
        )
        hard_rows = hard["row"].to_numpy(dtype=np.int64)
        rank[hard_rows] = np.arange(len(hard_rows))
    jitter = rng.permutation(rows.size)
    is_pos = target_pos[rows]
    in_hood = rank[rows] < np.iinfo(np.int64).max
    tier = np.where(in_hood & ~is_pos, 0, np.where(is_pos, 1, 2))
    key = np.where(tier == 0, rank[rows], 0)
    order = np.lexsort((jitter, key, tier))
    return rows[order]


def size_to_budget(
    ordered_rows: Sequence[int] | np.ndarray,
    cls: str,
    cost_model: CostModel,
    budget: float,
    already_read: Iterable[int] = frozenset(),
) -> np.ndarray:
    """The rows of ``ordered_rows``, in priority order, that ``budget`` buys for class ``cls``.

    Walks the rows in order and takes each one whose cost (label, plus the reading cost unless
    the row is in ``already_read``, i.e. opened for another class of the plan) still fits; a row
    that does not fit is skipped, so a later already-read row (cheaper) can still be bought.
    """
    read = set(int(r) for r in already_read)
    label = cost_model.label_cost_of(cls)
    full = label + cost_model.image_read_cost
    left = float(budget)
    taken: list[int] = []
    eps = 1e-9 * max(1.0, abs(left))
    for r in np.asarray(ordered_rows, dtype=np.int64).ravel():
        price = label if int(r) in read else full
        if price <= left + eps:
            taken.append(int(r))
            left -= price
        if left < min(label, full) - eps:
            break
    return np.asarray(taken, dtype=np.int64)


def rows_cost(
    rows: Iterable[int], cls: str, cost_model: CostModel, already_read: Iterable[int] = frozenset()
) -> float:
    """Marginal cost of annotating ``cls`` on ``rows`` given the rows already opened."""
    read = set(int(r) for r in already_read)
    rows = [int(r) for r in rows]
    n_new = sum(1 for r in set(rows) if r not in read)
    return len(set(rows)) * cost_model.label_cost_of(cls) + n_new * cost_model.image_read_cost


def make_action(
    kind: Literal["annotate-class", "annotate-target"],
    cls: str,
    source: str,
    rows: Sequence[int] | np.ndarray,
    ids: Sequence[str] | np.ndarray,
    cost_model: CostModel,
    *,
    already_read: Iterable[int] = frozenset(),
    reason: str = "",
) -> PlanAction:
    """A ``PlanAction`` for annotating ``cls`` on ``rows`` (priority order), priced at its
    marginal cost given the rows earlier actions of the plan already open (``already_read``).

    Chain actions by passing the union of the rows of the earlier ones, so that the action costs
    add up to the plan's total (``AnnotationPlan`` checks it).
    """
    rows = np.asarray(rows, dtype=np.int64).ravel()
    ids = np.asarray(ids, dtype=object)
    return PlanAction(
        kind=kind,
        class_name=cls,
        source=source,
        image_ids=[str(i) for i in ids[rows]],
        n_images=int(rows.size),
        cost=rows_cost(rows, cls, cost_model, already_read),
        reason=reason,
    )
