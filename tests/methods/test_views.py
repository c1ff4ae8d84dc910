"""Per-replica draws of the feature-space views: same streams alone or batched, documented rates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from budgetplan.methods.views import FeatureViews, _below, normal, uniform


def _gens(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def test_normal_fills_each_replica_from_its_own_generator_like_randn() -> None:
    got = normal(_gens(3, 4), (5, 6), torch.device("cpu"))
    want = torch.stack([torch.randn((5, 6), generator=g) for g in _gens(3, 4)])
    assert torch.equal(got, want)


def test_weak_view_is_x_plus_scaled_noise_and_leaves_x_alone() -> None:
    x = torch.randn(2, 50, 8)
    before = x.clone()
    got = FeatureViews(scale=2.0, weak_noise=0.1).weak(x, _gens(1, 2))
    want = x + torch.stack([torch.randn((50, 8), generator=g) for g in _gens(1, 2)]) * 0.2
    assert torch.equal(got, want)
    assert torch.equal(x, before)


@pytest.mark.parametrize("threshold", [0.8, 0.5, 0.3, 0.1, 0.01, 0.999, 1.0])
def test_float_mask_equals_the_boolean_comparison(threshold: float) -> None:
    u = torch.rand(200_000, generator=torch.Generator().manual_seed(0))
    t = np.float32(threshold)
    grid = np.arange(-3, 4) * 2.0**-24 + float(t)  # torch.rand's values next to the threshold
    near = torch.tensor(grid[(grid >= 0) & (grid < 1)], dtype=torch.float32)
    v = torch.cat([u, near])
    assert torch.equal(_below(v.clone(), threshold), (v < threshold).float())


def test_strong_view_is_the_boolean_formula() -> None:
    """Feature dropout by float arithmetic gives exactly x * (u < keep) / keep, then the noise."""
    x = torch.randn(2, 300, 16)
    views = FeatureViews(scale=1.5, strong_noise=0.3, strong_drop=0.2)
    got = views.strong(x, _gens(5, 6))
    gens = _gens(5, 6)
    mask = uniform(gens, x.shape[1:], x.device) < 0.8
    want = x * mask / 0.8 + normal(gens, x.shape[1:], x.device) * (0.3 * 1.5)
    assert torch.equal(got, want)


def test_strong_view_drop_rate_scaling_and_replica_independence() -> None:
    x = torch.ones(2, 400, 50)
    views = FeatureViews(scale=1.0, strong_noise=0.0, strong_drop=0.2)
    batched = views.strong(x, _gens(5, 6))
    assert torch.equal(x, torch.ones(2, 400, 50))
    assert batched.unique().tolist() == [0.0, pytest.approx(1.0 / 0.8, rel=1e-6)]
    assert (batched == 0).float().mean().item() == pytest.approx(0.2, abs=0.01)
    alone = views.strong(x[:1], _gens(6))
    assert torch.equal(batched[1], alone[0])
    noisy = FeatureViews(scale=1.0, strong_noise=0.3, strong_drop=0.2).strong(x, _gens(5, 6))
    assert (noisy - batched).std().item() == pytest.approx(0.3, rel=0.05)


def test_scaled_normal_is_randn_times_std() -> None:
    got = normal(_gens(8), (1000, 7), torch.device("cpu"), std=0.37)
    want = torch.randn((1000, 7), generator=_gens(8)[0]) * 0.37
    assert torch.equal(got[0], want)
