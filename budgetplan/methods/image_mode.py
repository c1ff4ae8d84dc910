"""Image mode: the same nine methods with a DenseNet121 fine-tuned end to end (seed 000's setting).

For users with images and a GPU. One replica (no batching): a torchvision DenseNet121
(``weights=None``: random initialisation, or the user's own state dict through
``backbone_state``; nothing is ever downloaded) whose 1024-d pooled features feed the same heads
as embedding mode (linear, or the dynamic adapter of seed 000 Alg. 1 / Eq. 1), trained with the
same method objects (``budgetplan.methods.registry``) and Adam (lr 2e-4, seed 000).

Weak and strong views are the seeds' image augmentations (``torchvision.transforms.v2``):
weak = random horizontal flip + random resized crop (seed 002: "random horizontal flipping and
random cropping"); strong = the weak view plus each of a pool of heavy augmentations (colour
jitter, affine, Gaussian blur, random erasing) applied with probability 0.5 (seed 002: "randomly
applying any number of augmentations from a pool"). torchvision draws from torch's global RNG,
so each augmentation runs inside ``torch.random.fork_rng`` seeded from the replica's own
generator: deterministic per seed, and the global RNG state is left untouched.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from budgetplan.device import resolve_device
from budgetplan.errors import DataMismatchError
from budgetplan.methods import models
from budgetplan.methods.registry import MethodSetup, StepContext, get_method
from budgetplan.methods.trainer import TrainConfig, _derive_seed, _torch_threads, macro_auc_fast
from budgetplan.progress import ProgressFn

FEATURE_DIM = 1024  # DenseNet121's pooled feature width


class ImageClassifier(nn.Module):
    """DenseNet121 trunk (torchvision, random weights) + a linear or dynamic-adapter head.

    ``forward`` returns logits ``(1, B, C)`` (one replica, the embedding-mode convention).
    """

    def __init__(
        self,
        n_classes: int,
        head: str = "linear",
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        from torchvision.models import densenet121

        self.backbone = densenet121(weights=None, drop_rate=dropout)
        self.backbone.classifier = nn.Identity()
        self.spec = models.ModelSpec(d_in=FEATURE_DIM, n_classes=n_classes, depth=0, head=head)
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.head = nn.ParameterDict(
            {k: nn.Parameter(v) for k, v in models.init_params(self.spec, [gen]).items()}
        )

    def forward(self, x: Tensor) -> Tensor:
        feats = self.backbone(x)  # (B, 1024) after ReLU + global average pooling
        return models.forward(self.spec, dict(self.head.items()), feats.unsqueeze(0))

    def task_encodings(self) -> Tensor:
        """Learned task encoding q ``(1, C, C)`` (adapter head only)."""
        return models.task_encodings(dict(self.head.items())).detach()


@dataclass
class ImageViews:
    """Weak / strong image augmentations (seed 002), applied per image (see module docstring)."""

    size: int
    weak_tf: Any = None
    strong_tf: Any = None

    def __post_init__(self) -> None:
        from torchvision.transforms import v2

        crop = v2.RandomResizedCrop(self.size, scale=(0.8, 1.0), antialias=True)
        self.weak_tf = v2.Compose([v2.RandomHorizontalFlip(), crop])
        pool = [
            v2.ColorJitter(brightness=0.4, contrast=0.4),
            v2.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1)),
            v2.GaussianBlur(kernel_size=5, sigma=(0.1, 2.0)),
            v2.RandomErasing(p=1.0, scale=(0.02, 0.15)),
        ]
        self.strong_tf = v2.Compose(
            [v2.RandomHorizontalFlip(), crop, *[v2.RandomApply([t], p=0.5) for t in pool]]
        )

    def configured(self, *args: float) -> ImageViews:
        """Image views ignore the embedding-mode noise levels."""
        return self

    def _apply(self, tf: Any, x: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
        out = []
        for batch, gen in zip(x, generators, strict=True):  # replica axis (1 in image mode)
            seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device).item())
            with torch.random.fork_rng(devices=[]):
                torch.random.manual_seed(seed)  # isolated by fork_rng: global state is restored
                out.append(torch.stack([tf(img) for img in batch]))
        return torch.stack(out)

    def weak(self, x: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
        """Weakly augmented images ``(R, B, 3, H, W)``."""
        return self._apply(self.weak_tf, x, generators)

    def strong(self, x: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
        """Strongly augmented images ``(R, B, 3, H, W)``."""
        return self._apply(self.strong_tf, x, generators)


@dataclass
class FittedImageModel:
    """A fine-tuned image model (best-epoch weights when validation data was given)."""

    model: ImageClassifier
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    best_val: float = float("nan")

    @torch.inference_mode()
    def predict(self, images: Tensor, batch_size: int = 32) -> np.ndarray:
        """Probabilities ``(M, C)``."""
        self.model.eval()
        dev = next(self.model.parameters()).device
        out = [
            torch.sigmoid(self.model(images[s : s + batch_size].to(dev))[0]).cpu()
            for s in range(0, len(images), batch_size)
        ]
        return torch.cat(out).numpy()


def _snapshot(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_image_model(*args: Any, **kwargs: Any) -> FittedImageModel:
    """Fine-tune DenseNet121 + head end to end (see ``_train_image_model`` for the arguments),
    with ``config.threads`` torch threads."""
    config = kwargs["config"] if "config" in kwargs else args[2]
    with _torch_threads(config.threads):
        return _train_image_model(*args, **kwargs)


def _train_image_model(
    images: Tensor,
    labels: np.ndarray,
    config: TrainConfig,
    seed: int,
    *,
    val_images: Tensor | None = None,
    val_labels: np.ndarray | None = None,
    soft_exposure: np.ndarray | None = None,
    max_steps: int | None = None,
    backbone_state: Mapping[str, Tensor] | None = None,
    progress: ProgressFn | None = None,
) -> FittedImageModel:
    """Fine-tune DenseNet121 + head end to end with ``config.method`` on ``images`` (N, 3, H, W).

    ``labels`` (N, C) 1 / 0 / NaN. Early stopping on validation macro AUC when ``val_*`` are
    given. ``soft_exposure``: precomputed temperatures (N, C) or (1, N, C) for se-*.
    ``max_steps`` stops after that many optimiser steps (tests, smoke runs; 0 = no training).
    """
    labels = np.asarray(labels, dtype=np.float32)
    if images.ndim != 4 or images.shape[1] != 3:
        raise DataMismatchError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
    if labels.shape[0] != images.shape[0] or labels.ndim != 2:
        raise DataMismatchError(f"labels must be ({images.shape[0]}, C), got {labels.shape}")
    device = resolve_device(config.device)
    method = get_method(config.method, config.params)
    n, c = labels.shape
    cpu_gen = torch.Generator().manual_seed(_derive_seed(seed, 0))
    dev_gen = torch.Generator(device=device).manual_seed(_derive_seed(seed, 1))
    with torch.random.fork_rng(devices=[]):
        # DenseNet's own layers initialise from torch's global RNG: seed it inside an isolated fork
        torch.random.manual_seed(_derive_seed(seed, 2))
        model = ImageClassifier(c, config.resolved_head, config.dropout, cpu_gen)
    if backbone_state is not None:
        model.backbone.load_state_dict(dict(backbone_state), strict=False)
    model.to(device)
    teacher = copy.deepcopy(model) if config.method == "mean-teacher" else model
    params: models.Params = dict(model.named_parameters())
    y = torch.from_numpy(labels).to(device)[None]
    temps = None
    if soft_exposure is not None:
        temps = torch.as_tensor(
            np.asarray(soft_exposure, dtype=np.float32).reshape(1, n, c), device=device
        )
    state = method.init_state(
        MethodSetup(
            labels=y, seeds=[seed], max_epochs=config.max_epochs, temperatures=temps, params=params
        )
    )
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    views = ImageViews(size=int(images.shape[-1]))

    def forward_fn(x: Tensor, p: models.Params | None, train: bool) -> Tensor:
        if p is None:
            model.train(train)
            return model(x[0])
        teacher.load_state_dict(p, strict=False)  # EMA weights of the mean teacher
        teacher.train(train)
        return teacher(x[0])

    history: dict[str, list[float]] = {"train_loss": [], "val_auc": []}
    best_val, best_epoch, since, step = -np.inf, 0, 0, 0
    best_state = _snapshot(model)
    b = int(config.batch_size)
    done = False
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        # DenseNet's dropout draws from torch's global RNG: seed it per run inside an isolated
        # fork (restored after), so image mode is reproducible per seed like embedding mode
        torch.random.manual_seed(_derive_seed(seed, 3))
        for epoch in range(config.max_epochs):
            perm = torch.randperm(n, generator=cpu_gen)
            losses = []
            for s in range(0, n, b):
                if max_steps is not None and step >= max_steps:
                    done = True
                    break
                idx = perm[s : s + b].to(device)
                xb = images[idx.cpu()].to(device)[None]
                ctx = StepContext(
                    spec=model.spec,
                    params=params,
                    state=state,
                    x=xb,
                    labels=y[:, idx],
                    index=idx[None],
                    generators=[dev_gen],
                    epoch=epoch,
                    max_epochs=config.max_epochs,
                    step=step,
                    reduction=config.reduction,
                    views=views,
                    forward_fn=forward_fn,
                )
                loss = method.loss(ctx).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                method.after_step(ctx)
                losses.append(float(loss.detach()))
                step += 1
            history["train_loss"].append(float(np.mean(losses)) if losses else float("nan"))
            if val_images is not None and val_labels is not None:
                fitted = FittedImageModel(model)
                val = float(
                    macro_auc_fast(
                        fitted.predict(val_images)[None],
                        np.asarray(val_labels),
                        config.early_stop_classes,
                    )[0]
                )
                history["val_auc"].append(val)
                if val > best_val:
                    best_val, best_epoch, since = val, epoch, 0
                    best_state = _snapshot(model)
                else:
                    since += 1
            else:
                best_state, best_epoch = _snapshot(model), epoch
            if progress is not None:
                progress(
                    epoch + 1,
                    config.max_epochs,
                    f"epoch {epoch + 1}: loss {history['train_loss'][-1]:.4f}",
                )
            if done or since >= config.patience:
                break
    model.load_state_dict(best_state)
    return FittedImageModel(model, history, best_epoch, float(best_val))
