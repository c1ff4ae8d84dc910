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

import numpy as np
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
    generators: Sequence[torch.Generator],
    shape: Sequence[int],
    device: torch.device,
    std: float = 1.0,
) -> Tensor:
    """Normal draws ``(R, *shape)`` with mean 0 and ``std``, replica r from ``generators[r]``.

    Each replica's draw fills its slice of one buffer (the numbers of ``torch.randn(shape,
    generator=g) * std``, without the stacking copy or a separate scaling pass).
    """
    buf = torch.empty((len(generators), *shape), device=device)
    for row, g in zip(buf, generators, strict=True):
        row.normal_(0.0, std, generator=g)
    return buf


def random_bits16(
    generators: Sequence[torch.Generator], count: int, device: torch.device
) -> Tensor:
    """``count`` uniform 16-bit integers per replica ``(R, count)`` (int16), replica r from
    ``generators[r]``.

    Drawn as 64-bit words (four 16-bit values each) straight into one buffer: a quarter of the
    generator calls of ``torch.rand`` and no stacking copy.
    """
    words = (count + 3) // 4
    buf = torch.empty((len(generators), words), dtype=torch.int64, device=device)
    for row, g in zip(buf, generators, strict=True):
        row.random_(-(2**63), None, generator=g)
    return buf.view(torch.int16)[:, :count]


def dropout_masks(
    generators: Sequence[torch.Generator],
    rows: int,
    widths: Sequence[int],
    p: float,
    device: torch.device,
) -> list[Tensor]:
    """Inverted-dropout masks ``(R, rows, width)`` (0 or 1/keep), one per width in ``widths``.

    One draw of 16-bit integers per replica covers all masks of the forward pass; an entry is
    kept when its integer is below ``keep`` x 65536 (the keep probability is quantised to
    1/65536, at most 8e-6 from 1 - p; the kept entries are scaled by 1 / that probability).
    """
    if p <= 0 or not widths:
        return []
    mask = _keep_mask(generators, rows * sum(widths), p, device)
    out = []
    start = 0
    for w in widths:
        out.append(mask[:, start : start + rows * w].reshape(len(generators), rows, w))
        start += rows * w
    return out


def _keep_mask(
    generators: Sequence[torch.Generator], count: int, p: float, device: torch.device
) -> Tensor:
    """``(R, count)`` inverted-dropout multipliers: 0 with probability ~p, else 1 / keep."""
    levels = max(1, min(65536, round((1.0 - p) * 65536)))
    scale = 65536.0 / levels
    bits = random_bits16(generators, count, device)
    # (threshold - bits) * scale is >= scale for a kept entry and <= 0 otherwise, so clamping to
    # [0, scale] gives the mask in float arithmetic (no boolean pass: slow on CPU)
    return bits.to(torch.float32).sub_(levels - 32768).mul_(-scale).clamp_(0.0, scale)


def _below(u: Tensor, threshold: float) -> Tensor:
    """In place: 1.0 where ``u < threshold`` else 0.0, for float32 uniforms ``u`` in [0, 1).

    The same mask as the boolean ``u < threshold`` in float arithmetic (a boolean mask costs
    several times more per element on CPU). ``torch.rand`` gives multiples of 2^-24 and the
    float32 threshold t is a multiple of its own spacing, so with g = min(spacing(t), 2^-24)
    ``t - u`` is an exact multiple of g whenever u < t (it is below t < 2^24 g) and keeps its
    sign otherwise; ``(t - u) / g`` is then an integer >= 1 exactly when u < t, and clamping to
    [0, 1] gives the mask.
    """
    t = np.float32(threshold)
    if u.dtype != torch.float32 or not 2.0**-20 <= t <= 1.0:  # outside the argument above
        return (u < threshold).to(u.dtype)
    grid = min(float(np.spacing(t)), 2.0**-24)
    return u.sub_(float(t)).mul_(-1.0 / grid).clamp_(0.0, 1.0)


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
        # in place on the fresh noise buffer: the same numbers as x + noise * sigma
        return normal(generators, x.shape[1:], x.device, self.weak_noise * self.scale).add_(x)

    def strong(self, x: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
        """Strong view of ``x`` ``(R, B, d)``: feature dropout (p = strong_drop), then noise.

        Exactly ``x * (u < keep) / keep + noise`` with u uniform, written as in-place float
        passes on the fresh draws (no boolean tensor, no temporaries).
        """
        out = x
        if self.strong_drop > 0:
            keep = 1.0 - self.strong_drop
            out = _below(uniform(generators, x.shape[1:], x.device), keep).mul_(x).div_(keep)
        if self.strong_noise > 0:
            noise = normal(generators, x.shape[1:], x.device, self.strong_noise * self.scale)
            out = noise.add_(out)
        return out


def embedding_scale(x: Tensor) -> float:
    """Root mean square of the embedding coordinates (the unit of the views' noise)."""
    return float(x.float().pow(2).mean().sqrt().clamp_min(1e-12))
