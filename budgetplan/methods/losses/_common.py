"""Shared pieces of the partial-label losses: input checks, NaN-safe BCE, the two reductions.

Conventions (docs/ARCHITECTURE.md): logits and labels have shape ``(..., B, C)`` where the
leading dims are independent replicas; labels hold 1 / 0 / NaN (NaN = not annotated). A loss
returns one value per replica, shape ``(...)``, so that R stacked replicas can be trained as one
model by summing the per-replica losses (their gradients stay independent).

Masked entries never produce NaN gradients: NaN targets are replaced (``torch.nan_to_num``)
*before* any arithmetic (``NaN * 0`` is still NaN), so every per-entry loss is finite for finite
logits, and the used-entry mask is a float 1 / 0 multiplier of those finite values. Masks are
float arithmetic, not boolean ``torch.where`` / ``masked_fill``: on CPU a boolean select costs
10-20x a multiplication per element, and the losses run on every training step
(bench/README.md, "train.py").
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

Reduction = Literal["entry-mean", "class-sum"]
REDUCTIONS: tuple[str, ...] = ("entry-mean", "class-sum")


def check_pair(logits: torch.Tensor, labels: torch.Tensor, name: str = "labels") -> None:
    """Raise ValueError unless ``logits`` and ``labels`` are floating tensors of one shape
    (..., B, C)."""
    if not isinstance(logits, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise TypeError("logits and labels must be torch tensors")
    if logits.ndim < 2:
        raise ValueError(f"logits must have shape (..., B, C); got {tuple(logits.shape)}")
    if logits.shape != labels.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and {name} {tuple(labels.shape)} "
            "must have the same shape"
        )
    if not labels.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor holding 1 / 0 / NaN")


def check_reduction(reduction: str) -> None:
    """Raise ValueError for an unknown reduction name."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}")


def annotated(labels: torch.Tensor) -> torch.Tensor:
    """Boolean mask of annotated entries (label is not NaN)."""
    return ~torch.isnan(labels)


def annotated_weight(labels: torch.Tensor) -> torch.Tensor:
    """Float mask of annotated entries: 1.0 where the label is not NaN, else 0.0 (labels' dtype).

    Plain arithmetic (``labels * 0 + 1`` is 1 or NaN; NaN becomes 0): several times cheaper on
    CPU than ``isnan`` plus a bool-to-float conversion. Labels are 1 / 0 / NaN, never inf.
    """
    return torch.nan_to_num(labels * 0.0 + 1.0, nan=0.0)


def safe_target(labels: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Labels with NaN replaced by ``fill`` so that no NaN enters any arithmetic."""
    return torch.nan_to_num(labels, nan=fill)


def bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-entry binary cross entropy with logits, ``-t log s(a) - (1-t) log s(-a)``; target
    finite."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none")


def squared_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-entry ``(a - b)^2`` as ``d * d``: the same values and gradients as ``d ** 2``
    (``2 (g d)`` equals ``g (2 d)`` exactly: doubling is exact), at about a third of the cost
    of ``pow`` and its backward on CPU (bench/README.md, "train.py")."""
    d = a - b
    return d * d


def reduce_entries(
    per_entry: torch.Tensor,
    used: torch.Tensor,
    reduction: str = "entry-mean",
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reduce per-entry losses ``(..., B, C)`` over the entries in ``used`` to one value per
    replica.

    ``used``: boolean mask or float 1 / 0 weights (``annotated_weight``). ``per_entry`` must be
    finite on the unused entries (every loss here makes its targets NaN-free first): it is
    multiplied by the 0 / 1 mask, so unused entries add exactly 0 and get exactly 0 gradient.

    ``entry-mean``: sum of the used entries' losses divided by the number of used entries
    (so a class's share of the loss shrinks as more classes are annotated).
    ``class-sum``: for each class the mean over the batch's used entries, summed over the classes
    that have at least one used entry (a class's weight stays fixed as classes are added).
    ``class_weight`` (C,) multiplies each class's entries; the denominators still count entries.
    Where nothing is used the result is 0 (finite, with zero gradient).
    """
    check_reduction(reduction)
    used_f = used.to(per_entry.dtype)
    values = per_entry * used_f
    if class_weight is not None:
        class_weight = torch.as_tensor(class_weight, dtype=per_entry.dtype, device=per_entry.device)
        if class_weight.shape != (per_entry.shape[-1],):
            raise ValueError(
                f"class_weight must have shape ({per_entry.shape[-1]},); "
                f"got {tuple(class_weight.shape)}"
            )
        values = values * class_weight
    if reduction == "entry-mean":
        total = values.sum(dim=(-2, -1))
        count = used_f.sum(dim=(-2, -1))
        return total / count.clamp_min(1.0)
    per_class_total = values.sum(dim=-2)
    per_class_count = used_f.sum(dim=-2)
    per_class = per_class_total / per_class_count.clamp_min(1.0)
    return per_class.sum(dim=-1)
