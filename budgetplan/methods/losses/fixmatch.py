"""FixMatch-style confidence-thresholded pseudo labels of seed 002 (MultiMix), multi-label form."""

from __future__ import annotations

import torch

from ._common import annotated_weight, bce, check_pair, reduce_entries, safe_target

__all__ = ["fixmatch_loss"]


def fixmatch_loss(
    logits_weak: torch.Tensor,
    logits_strong: torch.Tensor,
    labels: torch.Tensor,
    *,
    threshold: float = 0.7,
    lam: float = 0.25,
    reduction: str = "entry-mean",
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Seed 002 Eq. 1: ``L = L_l + lambda * L_u`` with t = 0.7, lambda = 0.25 (Sec. 4).

    ``L_l``: BCE of the weak view on the annotated entries (MultiMix applies the weak
    augmentation to the labelled data too). ``L_u``: BCE of the strong view towards the hard
    pseudo label ``1[p_w >= 0.5]`` of the weak view, ``p_w = sigmoid(logits_weak)``
    (stop-gradient), on unannotated entries whose confidence reaches the threshold.
    Multi-label adaptation (the paper is multi-class, ``argmax >= t``): each entry is its own
    binary problem, so the confidence is ``max(p_w, 1 - p_w)``. As in FixMatch, ``L_u`` is
    normalised over *all* unannotated entries (unconfident ones count as 0), so it grows as the
    model becomes confident. On embeddings the weak / strong views are feature-space
    perturbations (noise, feature dropout) made by the caller.
    """
    check_pair(logits_weak, labels)
    check_pair(logits_strong, labels, name="labels (strong view)")
    known = annotated_weight(labels)
    sup = reduce_entries(bce(logits_weak, safe_target(labels)), known, reduction, class_weight)
    p_w = torch.sigmoid(logits_weak.detach())
    confident = torch.maximum(p_w, 1.0 - p_w) >= threshold
    pseudo = (p_w >= 0.5).to(logits_strong.dtype)
    per_entry = bce(logits_strong, pseudo) * confident.to(logits_strong.dtype)
    unsup = reduce_entries(per_entry, 1.0 - known, reduction, class_weight)
    return sup + lam * unsup
