"""Image mode: DenseNet121 (random weights, never downloaded) fine-tuned with the same methods."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from budgetplan.methods import models
from budgetplan.methods.image_mode import ImageViews, train_image_model
from budgetplan.methods.trainer import TrainConfig, _derive_seed


@pytest.fixture(scope="module")
def tiny():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, 64, 64, generator=g)
    labels = np.array(
        [[1, 0, np.nan], [0, np.nan, 1], [np.nan, 1, 0], [1, 1, np.nan]], dtype=np.float32
    )
    return images, labels


@pytest.mark.parametrize("method", ["label-assemble", "mean-teacher"])
def test_one_step_changes_the_weights_with_a_finite_loss(tiny, method: str) -> None:
    images, labels = tiny
    cfg = TrainConfig(method=method, batch_size=4, max_epochs=1, lr=1e-3, device="cpu", threads=1)
    fit = train_image_model(images, labels, cfg, seed=0, max_steps=1)
    assert np.isfinite(fit.history["train_loss"]).all()
    # the initial weights of seed 0 (max_steps=0 trains nothing); the backbone does not depend on
    # the head
    initial = train_image_model(
        images, labels, TrainConfig(method="ne", device="cpu", threads=1), 0, max_steps=0
    )
    w = fit.model.backbone.features.conv0.weight
    assert not torch.allclose(w, initial.model.backbone.features.conv0.weight, atol=1e-7)
    start = models.init_params(fit.model.spec, [torch.Generator().manual_seed(_derive_seed(0, 0))])
    key = "gen_w" if cfg.resolved_head == "adapter" else "head_w"
    assert not torch.allclose(fit.model.head[key], start[key])
    p = fit.predict(images)
    assert p.shape == (4, 3) and np.all((p >= 0) & (p <= 1))
    if cfg.resolved_head == "adapter":
        assert fit.model.task_encodings().shape == (1, 3, 3)


def test_image_views_are_deterministic_per_generator_and_leave_global_rng_alone(tiny) -> None:
    images, _ = tiny
    views = ImageViews(size=64)
    state = torch.random.get_rng_state()
    a = views.strong(images[None], [torch.Generator().manual_seed(1)])
    b = views.strong(images[None], [torch.Generator().manual_seed(1)])
    c = views.strong(images[None], [torch.Generator().manual_seed(2)])
    assert torch.equal(torch.random.get_rng_state(), state)
    assert a.shape == (1, 4, 3, 64, 64)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(
        views.weak(images[None], [torch.Generator().manual_seed(1)]), images[None]
    )


def test_image_mode_with_dropout_is_reproducible_per_seed(tiny) -> None:
    images, labels = tiny
    cfg = TrainConfig(
        method="ne", batch_size=4, max_epochs=1, lr=1e-2, dropout=0.5, device="cpu", threads=1
    )
    torch.rand(3)  # the global RNG state must not matter
    a = train_image_model(images, labels, cfg, seed=1, max_steps=2).predict(images)
    torch.rand(7)
    b = train_image_model(images, labels, cfg, seed=1, max_steps=2).predict(images)
    c = train_image_model(images, labels, cfg, seed=2, max_steps=2).predict(images)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
