"""Label-Assemble loss of seed 000: BCE on annotated labels, sharpened pseudo labels and
weak/strong consistency on the unannotated ones (Eq. 2-5)."""

from __future__ import annotations

import torch

from ._common import (
    annotated_weight,
    bce,
    check_pair,
    reduce_entries,
    safe_target,
    squared_error,
)

__all__ = ["sharpen", "label_assemble_loss"]


def sharpen(prob: torch.Tensor, tau: float = 0.5, t: float = 4.0) -> torch.Tensor:
    """Seed 000 Eq. 3: ``a + (1 - a) / t`` if ``a > tau`` else ``a - a / t`` (probabilities).

    ``t = 1`` gives hard 0/1 labels (FixMatch), ``t -> inf`` no sharpening. Not detached here;
    :func:`label_assemble_loss` detaches it (stop-gradient target).
    """
    if not t >= 1.0:
        raise ValueError(f"sharpen temperature t must be >= 1; got {t}")
    # a (1 - 1/t) + [a > tau] / t: both branches in float arithmetic (no boolean tensor);
    # [a > tau] = max(sign(a - tau), 0) exactly: a rounded difference is 0 only when a == tau
    above = torch.sign(prob - tau).clamp_min_(0.0)
    return prob * (1.0 - 1.0 / t) + above * (1.0 / t)


def label_assemble_loss(
    logits_weak: torch.Tensor,
    logits_strong: torch.Tensor,
    labels: torch.Tensor,
    *,
    tau: float = 0.5,
    t: float = 4.0,
    bce_weight: float = 1.0,
    pseudo_weight: float = 1.0,
    consistency_weight: float = 1.0,
    reduction: str = "entry-mean",
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Label-Assemble (seed 000 Sec. 3): ``L_total = L_bce + L_pseudo + L_consist``.

    * ``L_bce`` (Eq. 2): BCE of the weak-view answer ``a_w = sigmoid(logits_weak)`` on the
      annotated entries (Alg. 1 computes the loss from ``a_w``, ``a_s`` and ``y``).
    * ``L_pseudo`` (Eq. 4): ``(a_w - sg(ã_w))^2`` on the unannotated entries, where
      ``ã_w = sharpen(a_w, tau, t)`` (Eq. 3, tau = 0.5, t = 4) is a stop-gradient target.
    * ``L_consist`` (Eq. 5): ``(a_s - sg(ã_w))^2`` on the unannotated entries, ``a_s`` being
      the strong-view answer.

    The paper writes Eq. 4-5 as squared L2 norms of probabilities, so both are squared errors
    here, not BCE (the authors' public training script also uses ``F.mse_loss``). Each term is
    reduced by ``reduction`` over its own entries (annotated, resp. unannotated) and the three
    are added with weights ``bce_weight``, ``pseudo_weight``,
    ``consistency_weight`` (all 1 in the paper). On embeddings, the weak and strong views are
    feature-space perturbations (Gaussian noise, feature dropout) made by the caller; on images
    they are the paper's augmentations. The dynamic adapter (Eq. 1) is part of the model.
    """
    check_pair(logits_weak, labels)
    check_pair(logits_strong, labels, name="labels (strong view)")
    known = annotated_weight(labels)
    unknown = 1.0 - known
    sup = reduce_entries(bce(logits_weak, safe_target(labels)), known, reduction, class_weight)
    a_w = torch.sigmoid(logits_weak)
    a_s = torch.sigmoid(logits_strong)
    target = sharpen(a_w.detach(), tau, t)
    pseudo = reduce_entries(squared_error(a_w, target), unknown, reduction, class_weight)
    consist = reduce_entries(squared_error(a_s, target), unknown, reduction, class_weight)
    return bce_weight * sup + pseudo_weight * pseudo + consistency_weight * consist
