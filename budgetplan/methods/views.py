"""Per-replica random draws: dropout masks and weak / strong views of embeddings.

On frozen embeddings the seeds' image augmentations (flips, crops, RandAugment) are not available,
so the weak and strong views used by label-assemble (seed 000 Eq. 4-5), fixmatch (seed 002) and
the mean teacher's perturbation (seed 004) are **feature-space perturbations**:

- weak view: additive Gaussian noise, standard deviation ``weak_noise`` x the embedding's RMS;
- strong view: feature dropout (each coordinate zeroed with probability ``strong_drop``, the
  rest rescaled by 1/(1-p)) followed by Gaussian noise of ``strong_noise`` x RMS.

Every draw loops over the replicas and uses each replica's own ``torch.Generator``, so a replica
sees the same random numbers whether it trains alone or inside a batch (the order of draws
within a step is fixed by the method's code, not by the other replicas). The image-mode versions
of the views live in ``budgetplan.methods.image_mode``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


def draw(generators: Sequence[torch.Generator], fn: Callable[[torch.Generator], Tensor]) -> Tensor:
    """Stack ``fn(generator)`` over the replicas' generators along a new leading replica axis."""
    return torch.stack([fn(g) for g in generators])


def uniform(
    generators: Sequence[torch.Generator], shape: Sequence[int], device: torch.device
) -> Tensor:
    """Uniform [0, 1) draws ``(R, *shape)``, replica r from ``generators[r]``."""
    return draw(generators, lambda g: torch.rand(tuple(shape), generator=g, device=device))


def normal(
    generators: Sequence[torch.Generator], shape: Sequence[int], device: torch.device
) -> Tensor:
    """Standard normal draws ``(R, *shape)``, replica r from ``generators[r]``."""
    return draw(generators, lambda g: torch.randn(tuple(shape), generator=g, device=device))


def dropout_masks(
    generators: Sequence[torch.Generator],
    rows: int,
    widths: Sequence[int],
    p: float,
    device: torch.device,
) -> list[Tensor]:
    """Inverted-dropout masks ``(R, rows, width)`` (0 or 1/(1-p)), one per width in ``widths``."""
    if p <= 0 or not widths:
        return []
    keep = 1.0 - p
    return [(uniform(generators, (rows, w), device) < keep).float().div_(keep) for w in widths]


@dataclass(frozen=True)
class FeatureViews:
    """Weak and strong feature-space views of embeddings (see the module docstring).

    ``scale`` is the RMS of the training embeddings, so the noise levels are relative.
    """

    scale: float = 1.0
    weak_noise: float = 0.1
    strong_noise: float = 0.3
    strong_drop: float = 0.2

    def configured(
        self, weak_noise: float, strong_noise: float, strong_drop: float
    ) -> FeatureViews:
        """The same views with a method's own noise levels (image views ignore these)."""
        return FeatureViews(self.scale, weak_noise, strong_noise, strong_drop)

    def weak(self, x: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
        """Weak view of ``x`` ``(R, B, d)``: x + N(0, (weak_noise * scale)^2)."""
        if self.weak_noise <= 0:
            return x
        return x + normal(generators, x.shape[1:], x.device) * (self.weak_noise * self.scale)

    def strong(self, x: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
        """Strong view of ``x`` ``(R, B, d)``: feature dropout (p = strong_drop), then noise."""
        out = x
        if self.strong_drop > 0:
            keep = 1.0 - self.strong_drop
            mask = uniform(generators, x.shape[1:], x.device) < keep
            out = out * mask / keep
        if self.strong_noise > 0:
            out = out + normal(generators, x.shape[1:], x.device) * (self.strong_noise * self.scale)
        return out


def embedding_scale(x: Tensor) -> float:
    """Root mean square of the embedding coordinates (the unit of the views' noise)."""
    return float(x.float().pow(2).mean().sqrt().clamp_min(1e-12))
