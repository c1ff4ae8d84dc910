"""The exposure family of seed 001 (Soft Exposure): NE, wNE, FE, LS and SE (SE-L / SE-I / SE).

They differ only in what happens to an unannotated entry: ignored (NE, wNE), a hard negative
(FE), a soft target through a temperature-scaled sigmoid (LS: one constant temperature; SE: a
signed temperature per entry from label / image relations, seed 001 Eq. 4-8, computed by
``budgetplan.relations.soft_exposure``). See ``_common`` for the shape and reduction conventions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import annotated, annotated_weight, bce, check_pair, reduce_entries, safe_target

__all__ = ["ne_loss", "wne_loss", "fe_loss", "ls_loss", "se_loss", "durand_weight"]


def ne_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    reduction: str = "entry-mean",
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """No exposure (NE), seed 001 Eq. 1: BCE on the annotated labels only.

    ``-sum_{c in P(x)} log s(a_c) - sum_{c in N(x)} log s(-a_c)``, reduced over the batch by
    ``reduction``. Unannotated (NaN) entries contribute nothing and get zero gradient. In the
    multi-label case this is also seed 004's adaptive cross entropy (unannotated classes are
    not contradicted). Returns the loss per replica, shape ``labels.shape[:-2]``.
    """
    check_pair(logits, labels)
    used = annotated_weight(labels)
    return reduce_entries(bce(logits, safe_target(labels)), used, reduction, class_weight)


def durand_weight(
    share: torch.Tensor, alpha: float = -4.45, beta: float = 5.45, gamma: float = 1.0
) -> torch.Tensor:
    """Normalisation ``g(p) = alpha p^gamma + beta`` of Durand et al. 2019's partial-BCE.

    ``p`` is the sample's share of annotated labels. Defaults: gamma = 1, alpha = -4.45,
    beta = 5.45, i.e. g(1) = 1 (all labels known: plain BCE) and g(0.1) = 5.005 (Durand's
    choice of roughly 5x weight at 10 % known labels; the constants as used in the
    partial-label literature).
    """
    return alpha * share.clamp_min(0.0) ** gamma + beta


def wne_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    alpha: float = -4.45,
    beta: float = 5.45,
    gamma: float = 1.0,
    reduction: str = "entry-mean",
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted no exposure (wNE), seed 001 Sec. 3 following Durand et al. 2019 ([13] there).

    Seed 001 gives no formula, only "the loss term of each sample is weighted by a factor
    which is a function of the number of annotated labels"; we use Durand's partial-BCE factor
    ``g(p) = alpha p^gamma + beta`` with ``p`` = annotated labels / C of the sample
    (see :func:`durand_weight`): every annotated entry of sample b gets weight ``g(p_b)``
    (samples with few labels weigh more). Choice: the weighted entries are then normalised by
    ``reduction`` (count of annotated entries, or per class), not by Durand's ``1/C``; this
    changes the overall scale of a batch, not the relative weights of its samples.
    """
    check_pair(logits, labels)
    used = annotated_weight(labels)
    share = used.mean(dim=-1, keepdim=True)
    weight = durand_weight(share, alpha, beta, gamma)
    per_entry = bce(logits, safe_target(labels)) * weight
    return reduce_entries(per_entry, used, reduction, class_weight)


def fe_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    pos_weight: float = 5.0,
    reduction: str = "entry-mean",
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Full exposure (FE), seed 001 Eq. 2: every unannotated label is a hard negative.

    ``-pos_weight * sum_{P} log s(a) - sum_{N} log s(-a) - sum_{U} log s(-a)`` with the
    positive weight 5.0 of seed 001 Sec. 4.1 ("5.0 for positive classes and 1.0 for the negative
    classes"). All B x C entries are used.
    """
    check_pair(logits, labels)
    target = safe_target(labels, 0.0)
    weight = torch.where(target > 0.5, torch.full_like(target, pos_weight), torch.ones_like(target))
    per_entry = bce(logits, target) * weight
    used = torch.ones_like(labels, dtype=torch.bool)
    return reduce_entries(per_entry, used, reduction, class_weight)


def se_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: torch.Tensor,
    *,
    pos_weight: float = 1.0,
    reduction: str = "entry-mean",
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Soft exposure (SE, SE-L, SE-I), seed 001 Eq. 3 with the signed temperatures of Eq. 8.

    Annotated entries: BCE as in NE (Eq. 1 terms; positives optionally weighted by
    ``pos_weight``, 1.0 by default because Eq. 3 has no weight). Unannotated entry c_u:
    ``-log s(a, T) = softplus(-a / T)`` with ``s(a, T) = 1 / (1 + exp(-a / T))`` (Eq. 3).
    ``temperature`` (..., B, C) is supplied by the caller (``budgetplan.relations.
    soft_exposure.soft_exposure_temperatures``): by Eq. 8 ``T = +exp(beta (1 - d+)) + gamma``
    when the label is closer to the annotated positives (soft positive) and
    ``T = -exp(beta (1 - d-)) + gamma`` otherwise (soft negative); SE-L, SE-I and SE differ
    only in the distances that make T (Eq. 4-7). A larger |T| flattens s(a, T) towards 0.5,
    so the entry pushes less. Values of ``temperature`` on annotated entries are ignored; an
    unannotated entry whose temperature is NaN, infinite or 0 is left out (as in NE): choice
    for samples where Eq. 4-7 are undefined (e.g. no annotated label at all).
    """
    check_pair(logits, labels)
    if temperature.shape != labels.shape:
        raise ValueError(
            f"temperature {tuple(temperature.shape)} "
            f"must have the labels' shape {tuple(labels.shape)}"
        )
    known = annotated(labels)
    target = safe_target(labels)
    sup = bce(logits, target)
    if pos_weight != 1.0:
        sup = sup * torch.where(
            target > 0.5, torch.full_like(target, pos_weight), torch.ones_like(target)
        )
    temperature = temperature.to(logits.dtype)
    soft = ~known & torch.isfinite(temperature) & (temperature != 0)
    t_safe = torch.where(soft, temperature, torch.ones_like(temperature))
    soft_term = F.softplus(-logits / t_safe)
    per_entry = torch.where(known, sup, soft_term)
    return reduce_entries(per_entry, known | soft, reduction, class_weight)


def ls_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 2.0,
    pos_weight: float = 1.0,
    reduction: str = "entry-mean",
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Label smoothing (LS), seed 001 Sec. 4.1 ablation: Eq. 3 with one constant temperature.

    Every unannotated entry is a soft negative ``-log s(-a / temperature)`` (i.e. Eq. 3 with
    ``T = -temperature``), independent of label or image relations. Seed 001 does not give the
    constant; ``temperature = 2.0`` is our default (``temperature = 1`` is FE without the positive
    weight, a large one approaches NE). Must be > 0.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    check_pair(logits, labels)
    t = torch.full_like(labels, -float(temperature), dtype=logits.dtype)
    return se_loss(
        logits, labels, t, pos_weight=pos_weight, reduction=reduction, class_weight=class_weight
    )
