"""Mean Teacher with adaptive cross entropy (seed 004): NE/ACE + consistency to an EMA teacher."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from ._common import (
    annotated_weight,
    bce,
    check_pair,
    reduce_entries,
    safe_target,
    squared_error,
)

__all__ = ["mean_teacher_loss", "linear_rampup", "sigmoid_rampup", "ema_update"]


def mean_teacher_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    consistency_weight: float = 1.0,
    *,
    reduction: str = "entry-mean",
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Seed 004 Eq. 3-5 with ACE (Eq. 2) as the classification cost: ``J = J_ace + w J_con``.

    ``J_ace``: BCE of the student on the annotated entries (in the multi-label case adaptive
    cross entropy reduces to NE: an unannotated class is never contradicted).
    ``J_con`` (Eq. 5): squared difference of student and teacher sigmoid outputs,
    ``(sigmoid(s) - sigmoid(t))^2``, on *all* entries (annotated or not, as in seed 004);
    the teacher outputs are a stop-gradient target. ``consistency_weight`` is the current
    weight (max 1.0, linear warm-up: :func:`linear_rampup`). The perturbation is dropout (the
    student and teacher forward passes use different dropout masks) plus the EMA of weights
    (:func:`ema_update`); both are made by the caller.
    """
    check_pair(student_logits, labels)
    check_pair(teacher_logits, labels, name="labels (teacher)")
    known = annotated_weight(labels)
    sup = reduce_entries(bce(student_logits, safe_target(labels)), known, reduction, class_weight)
    every = torch.ones_like(known)
    sq = squared_error(torch.sigmoid(student_logits), torch.sigmoid(teacher_logits.detach()))
    con = reduce_entries(sq, every, reduction, class_weight)
    return sup + consistency_weight * con


def linear_rampup(
    step: float, rampup_steps: float, *, start: float = 0.0, max_weight: float = 1.0
) -> float:
    """Seed 004 Sec. 3 warm-up: 0 before ``start``, then linear to ``max_weight`` over
    ``rampup_steps`` (the paper: from the third epoch, ``start = 2`` 0-based, over 10 epochs,
    to 1.0). ``rampup_steps <= 0`` means no warm-up."""
    if step < start:
        return 0.0
    if rampup_steps <= 0:
        return float(max_weight)
    return float(max_weight) * min(1.0, (step - start) / rampup_steps)


def sigmoid_rampup(step: float, rampup_steps: float, *, max_weight: float = 1.0) -> float:
    """The original Mean Teacher ramp (Tarvainen & Valpola 2017): ``exp(-5 (1 - x)^2)``,
    ``x = clip(step / rampup_steps, 0, 1)``. Seed 004 uses :func:`linear_rampup` instead."""
    if rampup_steps <= 0:
        return float(max_weight)
    x = min(max(step / rampup_steps, 0.0), 1.0)
    return float(max_weight) * math.exp(-5.0 * (1.0 - x) ** 2)


@torch.no_grad()
def ema_update(
    teacher_params: Iterable[torch.Tensor], student_params: Iterable[torch.Tensor], decay: float
) -> None:
    """In place: ``teacher <- decay * teacher + (1 - decay) * student`` for each pair (seed 004
    Sec. 2.3, the EMA teacher of Mean Teacher). ``decay`` in [0, 1]; 0.99 is Tarvainen's default."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"EMA decay must be in [0, 1]; got {decay}")
    teacher_params = list(teacher_params)
    student_params = list(student_params)
    if len(teacher_params) != len(student_params):
        raise ValueError(
            f"teacher has {len(teacher_params)} parameters, student {len(student_params)}"
        )
    for t, s in zip(teacher_params, student_params, strict=True):
        if t.shape != s.shape:
            raise ValueError(f"teacher/student parameter shapes differ: {t.shape} vs {s.shape}")
        t.mul_(decay).add_(s.detach(), alpha=1.0 - decay)
