"""Imbalance-aware pseudo labelling of seed 003 (Eq. 5-12).

The caller keeps the pseudo-label table (one value per training image and class, initialised
to 0.5 by :func:`init_pseudo_labels`, refreshed by :func:`update_pseudo_labels`); the loss
reads the batch's rows of it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._common import annotated, check_pair, reduce_entries, safe_target

__all__ = [
    "init_pseudo_labels",
    "update_pseudo_labels",
    "epoch_coefficient",
    "batch_penalties",
    "all_negative_penalty",
    "sample_missing",
    "imbalance_pl_loss",
]


def init_pseudo_labels(labels: torch.Tensor, value: float = 0.5) -> torch.Tensor:
    """Seed 003 Eq. 5 (initialisation): a table shaped like ``labels`` filled with 0.5."""
    return torch.full_like(labels, value)


@torch.no_grad()
def update_pseudo_labels(
    table: torch.Tensor,
    index: torch.Tensor,
    probs: torch.Tensor,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Seed 003 Eq. 5 (update): the pseudo labels of rows ``index`` become the model's
    predictions ``probs``. Returns a new table (no in-place change).

    ``table`` (..., N, C); ``index`` (B,) rows of the batch; ``probs`` (..., B, C) detached
    sigmoid outputs. If ``labels`` (..., B, C) is given, only its unannotated entries change
    (annotated entries never use the pseudo label anyway). When to call it (each step on the
    batch just seen, or once per epoch) is the caller's choice; the paper does not say.
    """
    index = torch.as_tensor(index, dtype=torch.long, device=table.device)
    if probs.shape[:-2] != table.shape[:-2] or probs.shape[-1] != table.shape[-1]:
        raise ValueError(f"probs {tuple(probs.shape)} do not fit table {tuple(table.shape)}")
    if probs.shape[-2] != index.shape[0]:
        raise ValueError(f"probs have {probs.shape[-2]} rows but index has {index.shape[0]}")
    new = probs.detach().to(table.dtype)
    old = table.index_select(-2, index)
    if labels is not None:
        new = torch.where(annotated(labels), old, new)
    out = table.clone()
    out.index_copy_(out.ndim - 2, index, new)
    return out


EQ9_READINGS = ("text", "printed")


def epoch_coefficient(
    epoch: float, total_epochs: float, m: float = 3.0, reading: str = "text"
) -> float:
    """Seed 003 Eq. 9: the weight ``d`` of the non-existing part at epoch ``e_c`` of ``e_T``.

    The printed formula ``d = exp((e_c + m) / e_T)`` contradicts the paper's own text ("when it
    is the (e_T - m)-th epoch, the model treats the existing and non-existing parts equally";
    before it leans to the existing part, after it to the non-existing one): printed, d > 1 at
    every epoch and d = e at e_T - m. ``reading="text"`` (default) is the formula that does what
    the text says, ``d = exp((e_c + m - e_T) / e_T)``: d < 1 before epoch e_T - m, 1 there,
    > 1 after, growing at the printed rate. ``reading="printed"`` is the formula as printed.
    m = 3 (Sec. IV-B).
    """
    if total_epochs <= 0:
        raise ValueError(f"total_epochs must be > 0; got {total_epochs}")
    if reading not in EQ9_READINGS:
        raise ValueError(f"reading must be one of {EQ9_READINGS}; got {reading!r}")
    shift = total_epochs if reading == "text" else 0.0
    return math.exp((epoch + m - shift) / total_epochs)


def batch_penalties(labels: torch.Tensor, gamma: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Seed 003 Sec. IV-B: ``beta = max(P / T, gamma)``, ``alpha = 1 - beta`` per replica.

    P = number of annotated positive labels in the batch, T = number of annotated labels in the
    batch (the paper: "the label proportion information of the current batch"; our reading).
    A batch without annotated labels gets ``beta = gamma``. Shapes ``labels.shape[:-2]``.
    """
    known = annotated(labels)
    pos = (safe_target(labels) > 0.5) & known
    p = pos.to(labels.dtype).sum(dim=(-2, -1))
    t = known.to(labels.dtype).sum(dim=(-2, -1))
    share = torch.where(t > 0, p / t.clamp_min(1.0), torch.zeros_like(p))
    beta = share.clamp_min(gamma)
    return 1.0 - beta, beta


def all_negative_penalty(probs: torch.Tensor, cutoff: float = 0.1, p: float = 2.0) -> torch.Tensor:
    """Seed 003 Eq. 10: per sample, ``p`` (2) when every class prediction is below ``cutoff``
    (0.1), else 1. Shape ``probs.shape[:-1]``. The text ("when the prediction values for all
    classes are less than 0.1, p = 2") and the printed formula ``1 + |sign(sum max(y - 0.1,
    0))|`` disagree (the formula doubles the *other* case); we follow the text, which is the
    stated purpose (prevent all-negative predictions)."""
    all_low = (probs.detach() < cutoff).all(dim=-1)
    return torch.where(
        all_low,
        torch.full_like(all_low, p, dtype=probs.dtype),
        torch.ones_like(all_low, dtype=probs.dtype),
    )


def sample_missing(
    labels: torch.Tensor, q: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Seed 003 Eq. 12: pick ``ceil(q * N_ne)`` of each sample's unannotated entries at random.

    Returns a boolean mask shaped like ``labels``. Draws on the CPU from ``generator`` (so the
    picks do not depend on the device), then moves the mask to ``labels.device``. ``q >= 1``
    picks all unannotated entries; ``q <= 0`` none. One generator draws for all replicas at
    once; a trainer that must reproduce a replica trained alone should draw each replica's
    mask from that replica's generator and pass the stacked masks as ``picked``.
    """
    unknown = ~annotated(labels)
    if q >= 1.0:
        return unknown
    if q <= 0.0:
        return torch.zeros_like(unknown)
    if generator is None:
        raise ValueError("sample_missing needs a torch.Generator when q < 1 (no global RNG)")
    u = torch.rand(labels.shape, generator=generator, device=generator.device)
    u = u.to(labels.device)
    u = torch.where(unknown, u, torch.full_like(u, 2.0))  # annotated entries sort last
    rank = u.argsort(dim=-1).argsort(dim=-1)
    n_pick = torch.ceil(q * unknown.sum(dim=-1, keepdim=True).to(torch.float64)).to(rank.dtype)
    return unknown & (rank < n_pick)


def imbalance_pl_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    pseudo_labels: torch.Tensor,
    *,
    epoch: float,
    total_epochs: float,
    m: float = 3.0,
    gamma: float = 0.05,
    penalty: float = 2.0,
    cutoff: float = 0.1,
    q: float = 1.0,
    generator: torch.Generator | None = None,
    picked: torch.Tensor | None = None,
    eq9: str = "text",
    reduction: str = "entry-mean",
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Seed 003 Eq. 12 (with Eq. 5-11): imbalance-aware BCE on existing and pseudo labels.

    Per entry with target ``t`` (the label if annotated, else the pseudo label of Eq. 5):
    ``l = -p [alpha t log y + beta (1 - t) log (1 - y)]``, ``y = sigmoid(logit)``;
    ``alpha, beta`` from :func:`batch_penalties` (gamma = 0.05), ``p`` from
    :func:`all_negative_penalty` (2 if all of the sample's predictions are < 0.1).
    ``L = reduce(l over existing) + d * reduce(l over picked non-existing)``, with
    ``d`` of Eq. 9 (m = 3; ``eq9`` = "text" or "printed", see :func:`epoch_coefficient`) and
    the picked entries a random
    ``q`` share of each sample's unannotated entries (:func:`sample_missing`, needs
    ``generator``), or ``picked`` if given. The paper gives no value for q; default 1 (all).
    Choice: the paper averages per image (``1/N_e``, ``1/(q N_ne)``); we reduce over the batch
    with ``reduction`` (identical when images have equal counts). ``pseudo_labels`` (..., B, C)
    are the batch's rows of the caller's table and are used as a constant target.
    """
    check_pair(logits, labels)
    if pseudo_labels.shape != labels.shape:
        raise ValueError(
            f"pseudo_labels {tuple(pseudo_labels.shape)} "
            f"must have the labels' shape {tuple(labels.shape)}"
        )
    known = annotated(labels)
    if picked is None:
        picked = sample_missing(labels, q, generator)
    else:
        picked = picked & ~known
    pseudo = torch.where(
        torch.isnan(pseudo_labels), torch.full_like(pseudo_labels, 0.5), pseudo_labels
    )
    target = torch.where(known, safe_target(labels), pseudo.detach().to(logits.dtype))
    alpha, beta = batch_penalties(labels, gamma)
    p = all_negative_penalty(torch.sigmoid(logits), cutoff, penalty).unsqueeze(-1)
    a = alpha.to(logits.dtype)[..., None, None]
    b = beta.to(logits.dtype)[..., None, None]
    per_entry = -p * (
        a * target * F.logsigmoid(logits) + b * (1.0 - target) * F.logsigmoid(-logits)
    )
    d = epoch_coefficient(epoch, total_epochs, m, eq9)
    exist = reduce_entries(per_entry, known, reduction, class_weight)
    non_exist = reduce_entries(per_entry, picked, reduction, class_weight)
    return exist + d * non_exist
