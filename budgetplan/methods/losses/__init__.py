"""Partial-label losses of the nine methods, as pure functions over replica-batched tensors.

Shapes: logits and labels ``(..., B, C)`` (leading dims = independent replicas), labels hold
1 / 0 / NaN (NaN = not annotated); every loss returns one value per replica, shape ``(...)``.
``reduction="entry-mean"`` averages over the used entries of the batch; ``"class-sum"`` takes
the batch mean per class and sums over classes (see ``_common.reduce_entries``).

``LOSSES`` maps each method name to its loss function. The signatures differ by family:

* ``ne``, ``wne``, ``fe``, ``ls``: ``f(logits, labels, **options)``
* ``se-l``, ``se-i``, ``se``: ``se_loss(logits, labels, temperature, **options)`` (the methods
  differ only in how ``budgetplan.relations.soft_exposure`` makes the temperatures)
* ``label-assemble``, ``fixmatch``: ``f(logits_weak, logits_strong, labels, **options)``
* ``mean-teacher``: ``f(student_logits, teacher_logits, labels, consistency_weight, **options)``
* ``imbalance-pl``: ``f(logits, labels, pseudo_labels, epoch=, total_epochs=, q=, generator=, ...)``
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._common import REDUCTIONS, Reduction, reduce_entries
from .exposure import durand_weight, fe_loss, ls_loss, ne_loss, se_loss, wne_loss
from .fixmatch import fixmatch_loss
from .imbalance_pl import (
    all_negative_penalty,
    batch_penalties,
    epoch_coefficient,
    imbalance_pl_loss,
    init_pseudo_labels,
    sample_missing,
    update_pseudo_labels,
)
from .label_assemble import label_assemble_loss, sharpen
from .mean_teacher import ema_update, linear_rampup, mean_teacher_loss, sigmoid_rampup

LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "ne": ne_loss,
    "wne": wne_loss,
    "fe": fe_loss,
    "ls": ls_loss,
    "se-l": se_loss,
    "se-i": se_loss,
    "se": se_loss,
    "label-assemble": label_assemble_loss,
    "imbalance-pl": imbalance_pl_loss,
    "mean-teacher": mean_teacher_loss,
    "fixmatch": fixmatch_loss,
}

__all__ = [
    "LOSSES",
    "REDUCTIONS",
    "Reduction",
    "reduce_entries",
    "ne_loss",
    "wne_loss",
    "durand_weight",
    "fe_loss",
    "ls_loss",
    "se_loss",
    "label_assemble_loss",
    "sharpen",
    "imbalance_pl_loss",
    "init_pseudo_labels",
    "update_pseudo_labels",
    "epoch_coefficient",
    "batch_penalties",
    "all_negative_penalty",
    "sample_missing",
    "mean_teacher_loss",
    "linear_rampup",
    "sigmoid_rampup",
    "ema_update",
    "fixmatch_loss",
]
