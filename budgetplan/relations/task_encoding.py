"""Task-encoding relation: cosine similarity between rows of the learned adapter encoding q.

Label-Assemble (seed 000, Alg. 1 and Sec. 5.5, Fig. 3 / Fig. 14) trains a dynamic adapter whose
task encoding q (C x C) starts at the identity and is learned with the network; after training,
rows of q are soft-label vectors whose cosine similarity is an inter-class relation. Here the
adapter is trained on the frozen embeddings with ``train_replicas`` (method "label-assemble",
head "adapter") for a few epochs on a seeded subsample of the training rows, over a few seeds;
the relation is the mean over seeds of ``cos(q_a, q_b)``.

Small by default (documented in ``AdapterRelationConfig``): it is a relation estimate, not the
model the planner evaluates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from budgetplan.errors import DataMismatchError
from budgetplan.progress import ProgressFn


@dataclass(frozen=True)
class AdapterRelationConfig:
    """How the adapter behind the task-encoding relation is trained.

    max_rows: training rows used (seeded subsample), val_fraction: of those held out for early
    stopping; epochs / patience / hidden / batch_size / lr go to ``TrainConfig`` (lr 1e-3 rather
    than the paper's 2e-4 because only a few epochs are run); seeds: replicas averaged.
    """

    max_rows: int = 20_000
    val_fraction: float = 0.15
    epochs: int = 6
    patience: int = 3
    hidden: int = 256
    batch_size: int = 512
    lr: float = 1e-3
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "auto"


def encoding_similarity(q: np.ndarray) -> np.ndarray:
    """Cosine similarity of the rows of task encodings q: (C, C) -> (C, C), or (R, C, C) ->
    (R, C, C) per replica."""
    q = np.asarray(q, dtype=np.float64)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(norm > 0, q / norm, np.nan)
    return np.clip(unit @ np.swapaxes(unit, -1, -2), -1, 1).astype(np.float32)


def adapter_similarity(
    vectors: Any,
    labels: np.ndarray,
    config: AdapterRelationConfig | None = None,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Train the label-assemble adapter on (vectors, labels) and return the task-encoding
    relation: (mean over seeds (C, C), standard deviation over seeds (C, C)).

    ``vectors`` (N, d): an array, memory map or any object indexable by a row array.
    ``labels`` (N, C) with NaN; rows are subsampled to ``config.max_rows`` (seeded) and split
    into train / validation for early stopping.
    """
    from budgetplan.methods.trainer import TrainConfig, train_replicas

    cfg = config or AdapterRelationConfig()
    y = np.asarray(labels, dtype=np.float32)
    if y.ndim != 2 or y.shape[0] != len(vectors):
        raise DataMismatchError(
            f"adapter relation: labels {y.shape} do not match {len(vectors)} vectors"
        )
    rng = np.random.default_rng(cfg.seeds[0] if cfg.seeds else 0)
    rows = rng.permutation(len(y))[: cfg.max_rows]
    n_val = max(1, int(round(cfg.val_fraction * len(rows))))
    val, train = np.sort(rows[:n_val]), np.sort(rows[n_val:])
    x_train = np.asarray(vectors[train], dtype=np.float32)
    x_val = np.asarray(vectors[val], dtype=np.float32)
    y_val = y[val]
    both = (np.nansum(y_val == 1, axis=0) > 0) & (np.sum(y_val == 0, axis=0) > 0)
    if not both.any():
        raise DataMismatchError(
            "adapter relation: no class has positives and negatives in the validation rows"
        )
    train_cfg = TrainConfig(
        method="label-assemble",
        head="adapter",
        hidden=cfg.hidden,
        max_epochs=cfg.epochs,
        patience=cfg.patience,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        early_stop_classes=tuple(int(c) for c in np.flatnonzero(both)),
        device=cfg.device,
    )
    r = len(cfg.seeds)
    y_train = np.broadcast_to(y[train], (r, *y[train].shape)).copy()
    fitted = train_replicas(x_train, y_train, x_val, y_val, train_cfg, cfg.seeds, progress=progress)
    sims = encoding_similarity(fitted.task_encodings())
    return sims.mean(axis=0), sims.std(axis=0)
