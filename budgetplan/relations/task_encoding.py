"""Task-encoding relation: cosine similarity between rows of the learned adapter encoding q.

Label-Assemble (seed 000, Alg. 1 and Sec. 5.5, Fig. 3 / Fig. 14) trains a dynamic adapter whose
task encoding q (C x C) starts at the identity and is learned with the network; after training,
rows of q are soft-label vectors whose cosine similarity is an inter-class relation. Here the
adapter is trained on the frozen embeddings with ``train_replicas`` (method "label-assemble",
head "adapter") on a seeded subsample of the training rows, one replica per seed; the relation
is the mean over seeds of ``cos(q_a - m, q_b - m)``, m the mean encoding of the C classes,
reported with its spread and how stable the pair ranking is across draws (``EncodingRelation``).

The origin shift is seed 000's own (Sec. 5.5: the origin is moved to the mean vector "to make
the similarity vary in a larger interval"), applied to the encodings: about a fifth of what q
learns (21-27 % of |q - I|^2 on the demo) is one direction shared by every class (the
gradient of each row is dL/dw(q_c) G^T, Eq. 1, and the trunk's ReLU features are non-negative,
so every class's update has the mean-feature component), and plain cosines then rank the
classes by how far they moved, not by what they share. On the demo the shift raised the
agreement with label co-occurrence from rho 0.21 to 0.49 (phi), on digits the agreement with
classifier confusion stayed (0.74 -> 0.74), bench/README.md "graph.py".

Settings in ``AdapterRelationConfig`` are what was measured to make q learn the classes'
confusions on digits (bench/README.md): it is a relation estimate, not the model the planner
evaluates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from budgetplan.errors import DataMismatchError
from budgetplan.progress import ProgressFn


@dataclass(frozen=True)
class AdapterRelationConfig:
    """How the adapter behind the task-encoding relation is trained (measured on digits,
    bench/README.md "Class graph": what makes q carry the classes' confusions).

    max_rows: training rows used (seeded subsample), val_fraction: of those held out for early
    stopping; epochs / patience / hidden / depth / batch_size / lr go to ``TrainConfig``:
    30 epochs instead of 6 (after 6 the encodings had moved at most 0.06 from the identity),
    a narrow trunk (64 units: a trunk that can separate everything leaves q nothing to learn
    about which classes look alike). encoding_lr: q's own learning rate (None = lr; faster q
    was measured to hurt). seeds: draws averaged; their spread is reported. threads: torch CPU
    threads while training (None = leave; 1 by default: on digits at load 16 on 2 cores, 47 s
    with one thread against 426 s with torch's default, same encodings).
    """

    max_rows: int = 20_000
    val_fraction: float = 0.15
    epochs: int = 30
    patience: int = 10
    hidden: int = 64
    depth: int = 1
    batch_size: int = 128
    lr: float = 1e-3
    encoding_lr: float | None = None
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    device: str = "auto"
    threads: int | None = 1


@dataclass(frozen=True)
class EncodingRelation:
    """The task-encoding relation over draws: ``draws`` (R, C, C) cosines, their ``mean`` and
    ``std``, how far q moved from its identity start (``movement``, max |q - I| per draw) and
    how stable the ranking of pairs is (``stability``: mean Spearman rho of the off-diagonal
    pairs between two draws); ``q`` (R, C, C) the learned encodings themselves."""

    draws: np.ndarray
    movement: np.ndarray
    best_val: np.ndarray
    q: np.ndarray | None = None

    @property
    def mean(self) -> np.ndarray:
        return np.asarray(self.draws.mean(axis=0))

    @property
    def std(self) -> np.ndarray:
        return np.asarray(self.draws.std(axis=0))

    @property
    def stability(self) -> float:
        from budgetplan.methods.metrics import spearman

        c = self.draws.shape[-1]
        iu = np.triu_indices(c, 1)
        rhos = [
            spearman(self.draws[a][iu], self.draws[b][iu])[0]
            for a in range(len(self.draws))
            for b in range(a + 1, len(self.draws))
        ]
        rhos = [r for r in rhos if np.isfinite(r)]
        return float(np.mean(rhos)) if rhos else float("nan")

    def describe(self) -> str:
        """One line: draws, movement from the identity, stability, validation AUC."""
        return (
            f"task encodings: {len(self.draws)} draws, max |q - I| "
            f"{np.median(self.movement):.2f} (median over draws), pair ranking stable across "
            f"draws rho {self.stability:.2f}, validation macro AUC {np.median(self.best_val):.3f}"
        )


def encoding_similarity(q: np.ndarray, shift_origin: bool = True) -> np.ndarray:
    """Cosine similarity of the rows of task encodings q: (C, C) -> (C, C), or (R, C, C) ->
    (R, C, C) per replica; with ``shift_origin`` of the rows minus their mean (module
    docstring)."""
    q = np.asarray(q, dtype=np.float64)
    if shift_origin:
        q = q - q.mean(axis=-2, keepdims=True)
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
    """The task-encoding relation: (mean over draws (C, C), standard deviation (C, C)); see
    ``adapter_relation``."""
    rel = adapter_relation(vectors, labels, config, progress)
    return rel.mean, rel.std


def adapter_relation(
    vectors: Any,
    labels: np.ndarray,
    config: AdapterRelationConfig | None = None,
    progress: ProgressFn | None = None,
) -> EncodingRelation:
    """Train the label-assemble adapter on (vectors, labels), one replica per seed, and return
    the cosines of the rows of each draw's learned q.

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
        depth=cfg.depth,
        max_epochs=cfg.epochs,
        patience=cfg.patience,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        encoding_lr=cfg.encoding_lr,
        early_stop_classes=tuple(int(c) for c in np.flatnonzero(both)),
        device=cfg.device,
        threads=cfg.threads,
    )
    r = len(cfg.seeds)
    y_train = np.broadcast_to(y[train], (r, *y[train].shape)).copy()
    fitted = train_replicas(x_train, y_train, x_val, y_val, train_cfg, cfg.seeds, progress=progress)
    q = fitted.task_encodings()
    movement = np.abs(q - np.eye(q.shape[-1])).max(axis=(1, 2))
    return EncodingRelation(encoding_similarity(q), movement, np.asarray(fitted.best_val), q=q)
