"""Train R replicas (label assemblies x seeds) of one partial-label method as ONE batched model.

``train_replicas`` fits R small models on the same frozen embeddings at once: parameters are
stacked ``(R, ...)`` (``budgetplan.methods.models``), each replica has its own labels (NaN =
not annotated), its own seed, its own batch order, dropout masks and view noise, its own loss and
its own early stopping on validation macro AUC. A replica that stops is removed from the batch
(its best-epoch weights are kept), so the others run on.

Determinism and the batched == looped property: replica r draws everything from two generators
seeded from ``seeds[r]`` alone (CPU: initial weights, then one permutation per epoch; device:
dropout masks (16-bit integer draws, ``views.dropout_masks``) and view noise, in the order the
method's code asks for them), and every
operation is per replica (batched matmul, elementwise Adam without cross-replica clipping), so a
replica trained alone or in any batch gives the same weights up to float round-off.

On the CPU, ``ne`` and ``label-assemble`` (one ReLU hidden layer) run on the compiled engine
(``budgetplan.methods.fused``, ``TrainConfig.engine``): the same model, losses, initial weights
and batch orders, each replica's steps its own (the same bits alone or in any batch; replicas
of one seed share the rows, views and dropout masks drawn for them), its dropout masks and views
drawn from its own stream; validation stays here.

The optimiser is Adam (seed 000: lr 2e-4) written over the stacked tensors (same update as
``torch.optim.Adam`` with L2 weight decay); the loss is the sum of the per-replica losses, whose
gradients are the replicas' own gradients.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from budgetplan.device import resolve_device
from budgetplan.errors import DataMismatchError
from budgetplan.methods import models
from budgetplan.methods.registry import (
    METHODS,
    MethodSetup,
    StepContext,
    get_method,
    select_state,
)
from budgetplan.methods.train_config import TrainConfig
from budgetplan.methods.views import FeatureViews, embedding_scale
from budgetplan.progress import ProgressFn


@dataclass(frozen=True)
class SoftExposureInputs:
    """Relations the soft-exposure methods need (seed 001 Eq. 4-8), computed by the relations
    module from the training rows: label distance (C, C) and each row's kNN among the training
    rows (N, k) with distances."""

    label_distance: np.ndarray
    knn_indices: np.ndarray
    knn_distances: np.ndarray
    beta: float = 5.0
    gamma: float = 0.0
    normalise: Literal["separate", "joint"] = "joint"


@dataclass
class FittedReplicas:
    """R trained replicas: best-epoch weights (CPU) plus training record."""

    spec: models.ModelSpec
    params: models.Params
    best_epoch: np.ndarray  # (R,) 0-based epoch of the best validation score
    best_val: np.ndarray  # (R,) best validation macro AUC
    history: dict[str, np.ndarray]  # "val_auc", "train_loss": (epochs, R), NaN after a stop
    config: TrainConfig
    seeds: tuple[int, ...]
    seconds: float = 0.0
    epochs_run: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_replicas(self) -> int:
        return len(self.seeds)

    def predict_logits(
        self, x: np.ndarray | Tensor, batch_size: int = 8192, device: str = "cpu"
    ) -> np.ndarray:
        """Logits ``(R, M, C)`` of embeddings ``x`` ``(M, d)`` (shared) or ``(R, M, d)``."""
        dev = resolve_device(device)
        params = {k: v.to(dev) for k, v in self.params.items()}
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
        if xt.shape[-1] != self.spec.d_in:
            raise DataMismatchError(
                f"predict: x has dimension {xt.shape[-1]}, the model expects {self.spec.d_in}"
            )
        m = xt.shape[-2]
        out = []
        with torch.inference_mode():
            for s in range(0, m, batch_size):
                xb = xt[..., s : s + batch_size, :].to(dev)
                out.append(_forward_eval(self.spec, params, xb).cpu())
        if not out:
            return np.zeros((self.n_replicas, 0, self.spec.n_classes), dtype=np.float32)
        return torch.cat(out, dim=1).numpy()

    def predict(
        self, x: np.ndarray | Tensor, batch_size: int = 8192, device: str = "cpu"
    ) -> np.ndarray:
        """Probabilities ``(R, M, C)`` in [0, 1] (evaluation mode, best-epoch weights)."""
        return 1.0 / (1.0 + np.exp(-self.predict_logits(x, batch_size, device).astype(np.float64)))

    def task_encodings(self) -> np.ndarray:
        """Learned task encodings q ``(R, C, C)`` (adapter head only)."""
        return models.task_encodings(self.params).numpy().copy()


def _forward_eval(spec: models.ModelSpec, params: models.Params, x: Tensor) -> Tensor:
    """Eval-mode logits ``(R, M, C)`` of ``x`` ``(M, d)`` shared by the replicas, or
    ``(R, M, d)``."""
    return models.forward(spec, params, x)


def macro_auc_fast(
    scores: np.ndarray | Tensor, labels: np.ndarray, classes: Sequence[int] | None = None
) -> np.ndarray:
    """Macro ROC AUC per replica, vectorised over replicas (Mann-Whitney with average ranks).

    ``scores`` (R, M, C); ``labels`` (M, C) or (R, M, C) with 1 / 0 / NaN. For each replica the
    mean over the classes (of ``classes``, default all) that have both a positive and a negative
    label; NaN where no class qualifies. Equals scikit-learn's ``roc_auc_score`` per class (ties
    get average ranks: the rank of a value is the mean of its first and last sorted position).
    """
    if isinstance(scores, Tensor):
        scores = scores.detach().cpu().numpy()
    s = np.asarray(scores, dtype=np.float32)  # numpy's sort is much faster than torch's on CPU
    lab = np.asarray(labels, dtype=np.float32)
    if lab.ndim == 2:  # shared by the replicas: count once, broadcast lazily
        lab = lab[None]
    if lab.shape[1:] != s.shape[1:] or lab.shape[0] not in (1, s.shape[0]):
        raise DataMismatchError(f"labels {lab.shape} do not match scores {s.shape}")
    if classes is not None:
        idx = list(classes)
        s, lab = s[..., idx], lab[..., idx]
    known = ~np.isnan(lab)
    pos = known & (lab > 0.5)
    n_pos = pos.sum(axis=1).astype(np.float64)
    n_neg = known.sum(axis=1) - n_pos
    rank_sum = _rank_sum(s, known, pos)
    valid = (n_pos > 0) & (n_neg > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2.0) / np.maximum(n_pos * n_neg, 1.0)
    count = valid.sum(axis=1)
    total = np.where(valid, auc, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


VAL_ROWS = 2048
"""Validation rows evaluated at once every epoch: the (rows, R, hidden) activations of 8
replicas stay in the CPU's cache (8,192 rows, 33 MB of them, took twice the time; the same
logits to the bit, tested)."""
_TOP = np.uint32(0xFFFFFFFE)  # key of unannotated entries: above every score, flag bit 0


def _rank_sum(s: np.ndarray, known: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Rank sum of the positives ``(R, C)`` (average ranks for ties) by ONE value sort.

    Each score becomes an order-preserving unsigned 32-bit key whose lowest bit is replaced by
    the positive flag; unannotated entries get the largest key (flag 0). After a plain value sort
    (several times faster than an argsort) the flags give the positives' ranks directly. The
    (replica, class) columns where two annotated scores share their upper 31 bits (a tie, or
    scores one float step apart) or a score is NaN are recomputed exactly by the argsort path.
    """
    # label bits (1 or R, C, M): positive 1, negative 0, unannotated _TOP
    lab_bits = np.where(known, pos.astype(np.uint32), _TOP).transpose(0, 2, 1)
    scores = np.ascontiguousarray((s + np.float32(0.0)).transpose(0, 2, 1))  # -0.0 -> +0.0
    key: np.ndarray = scores.view(np.uint32)
    flip = (key.view(np.int32) >> 31).view(np.uint32)  # all ones for negative scores
    flip |= np.uint32(0x80000000)
    key ^= flip  # order-preserving: negative -> ~bits, positive -> bits | sign bit
    key &= _TOP
    key |= lab_bits
    key.sort(axis=-1)  # (R, C, M)
    near = (key[..., 1:] ^ key[..., :-1]) < 2  # equal upper 31 bits
    near &= key[..., 1:] != _TOP
    redo = near.any(axis=-1)
    if np.isnan(s).any():
        redo |= (np.isnan(s) & known).any(axis=1)
    ranks = np.arange(1, key.shape[-1] + 1, dtype=np.float64)
    out = (key & np.uint32(1)).astype(np.float64) @ ranks
    if redo.any():

        def cols(a: np.ndarray) -> np.ndarray:  # (K, M, 1): the columns to redo
            return np.broadcast_to(a, s.shape).transpose(0, 2, 1)[redo][:, :, None]

        out[redo] = _rank_sum_average(cols(s), cols(known), cols(pos))[:, 0]
    return out


def _rank_sum_average(s: np.ndarray, known: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Rank sum of the positives ``(R, C)`` with average ranks for ties (argsort path)."""
    # unannotated entries rank above everything and are excluded from the positives' rank sum
    v = np.ascontiguousarray(np.where(known, s, np.inf).transpose(0, 2, 1))  # (R, C, M)
    order = np.argsort(v, axis=-1)
    srt = np.take_along_axis(v, order, axis=-1)
    m = srt.shape[-1]
    ar = np.broadcast_to(np.arange(m), srt.shape)
    new = srt[..., 1:] != srt[..., :-1]  # a tie group ends / starts at each change
    edge = np.ones((*srt.shape[:-1], 1), dtype=bool)
    first = np.maximum.accumulate(np.where(np.concatenate([edge, new], -1), ar, 0), axis=-1)
    last_flag = np.concatenate([new, edge], -1)
    last = np.minimum.accumulate(np.where(last_flag, ar, m - 1)[..., ::-1], axis=-1)[..., ::-1]
    ranks = (first + last) / 2.0 + 1.0  # 1-based average rank of each sorted entry
    pos_sorted = np.take_along_axis(np.ascontiguousarray(pos.transpose(0, 2, 1)), order, axis=-1)
    return np.where(pos_sorted, ranks, 0.0).sum(axis=-1)


class ReplicaAdam:
    """Adam over stacked replica tensors (elementwise, so replicas stay independent).

    Same update as ``torch.optim.Adam`` (L2 ``weight_decay`` added to the gradient, bias
    correction). ``select`` keeps a subset of replicas (their moments included).
    """

    def __init__(
        self,
        params: models.Params,
        lr: float,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        fused: bool = True,
        lr_of: Mapping[str, float] | None = None,
    ) -> None:
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.lr_of = {k: float((lr_of or {}).get(k, lr)) for k in params}  # per-tensor lr
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}
        self.t = 0
        self._fused_failed = not fused

    @torch.no_grad()
    def step(self, params: models.Params, grads: Mapping[str, Tensor]) -> None:
        self.t += 1
        if self._fused(params, grads):
            return
        b1, b2 = self.betas
        bc1 = 1.0 - b1**self.t
        bc2 = 1.0 - b2**self.t
        for k, p in params.items():
            step_size = self.lr_of[k] / bc1
            g = grads[k]
            if self.weight_decay:
                g = g.add(p, alpha=self.weight_decay)
            m, v = self.m[k], self.v[k]
            m.lerp_(g, 1.0 - b1)
            v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
            denom = (v.sqrt() / math.sqrt(bc2)).add_(self.eps)
            p.addcdiv_(m, denom, value=-step_size)

    def _fused(self, params: models.Params, grads: Mapping[str, Tensor]) -> bool:
        """One pass per tensor with torch's fused Adam kernel (same formula), when available."""
        fused = getattr(torch, "_fused_adam_", None)
        if fused is None or self._fused_failed:
            return False
        for lr in sorted(set(self.lr_of.values())):
            keys = [k for k in params if self.lr_of[k] == lr]
            if not self._fused_group(fused, params, grads, keys, lr):
                return False
        return True

    def _fused_group(
        self,
        fused: Any,
        params: models.Params,
        grads: Mapping[str, Tensor],
        keys: list[str],
        lr: float,
    ) -> bool:
        """One fused Adam call over the tensors ``keys`` that share learning rate ``lr``."""
        dev = params[keys[0]].device
        steps = [torch.tensor(float(self.t), device=dev) for _ in keys]
        try:
            fused(
                [params[k] for k in keys],
                [grads[k] for k in keys],
                [self.m[k] for k in keys],
                [self.v[k] for k in keys],
                [],
                steps,
                lr=lr,
                beta1=self.betas[0],
                beta2=self.betas[1],
                weight_decay=self.weight_decay,
                eps=self.eps,
                amsgrad=False,
                maximize=False,
            )
        except (RuntimeError, TypeError, NotImplementedError):  # pragma: no cover - other builds
            self._fused_failed = True
            return False
        return True

    def select(self, index: Tensor) -> None:
        self.m = {k: v.index_select(0, index) for k, v in self.m.items()}
        self.v = {k: v.index_select(0, index) for k, v in self.v.items()}


class _FusedEpochs:
    """Replicas trained by the compiled CPU engine (``budgetplan.methods.fused``).

    The parameters live in one ``(R, P)`` float32 array the kernel updates in place; ``params``
    are torch views of it in the usual ``(R, ...)`` shapes, so validation and the best-epoch
    copies read the current weights. Initial weights and batch orders are the torch engine's
    (same generators); dropout masks and views come from each replica's SplitMix64 stream,
    seeded like the torch engine's device generator (stream 1 of the replica's seed).
    """

    def __init__(
        self,
        params: models.Params,
        config: TrainConfig,
        method_params: Mapping[str, Any],
        seeds: Sequence[int],
        scale: float,
    ) -> None:
        from budgetplan.methods import fused

        self._fused = fused
        self.keys = [k for k in fused.LAYOUT_KEYS if k in params]
        self.shapes = {k: tuple(params[k].shape[1:]) for k in self.keys}
        sizes = [math.prod(self.shapes[k]) for k in self.keys]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        offset = dict(zip(self.keys, starts.tolist(), strict=True))
        self.layout = np.array([offset.get(k, -1) for k in fused.LAYOUT_KEYS], dtype=np.int64)
        self.offset = offset
        r = len(seeds)
        self.flat = np.ascontiguousarray(
            np.concatenate([params[k].detach().cpu().reshape(r, -1).numpy() for k in self.keys], 1),
            dtype=np.float32,
        )
        self.m = np.zeros_like(self.flat)
        self.v = np.zeros_like(self.flat)
        lr_of = {"q": config.encoding_lr} if config.encoding_lr is not None else {}
        self.lr = np.concatenate(
            [
                np.full(n, lr_of.get(k, config.lr), dtype=np.float32)
                for k, n in zip(self.keys, sizes, strict=True)
            ]
        )
        self.state = np.array(
            [fused.stream_seed(_derive_seed(s, 1)) for s in seeds], dtype=np.uint64
        )
        mp = dict(method_params)
        drop = fused.keep_levels(config.dropout) if config.dropout > 0 else 65536
        self.hyper = fused.Hyper(
            method=fused.METHOD_CODES[config.method],
            reduction=fused.REDUCTION_CODES[config.reduction],
            adapter=config.resolved_head == "adapter",
            batch=int(config.batch_size),
            hidden=int(config.hidden),
            drop_levels=drop,
            tau=float(mp.get("tau", 0.5)),
            sharpen_t=float(mp.get("t", 4.0)),
            weak_sigma=float(mp.get("weak_noise", 0.0)) * scale,
            strong_sigma=float(mp.get("strong_noise", 0.0)) * scale,
            strong_levels=fused.keep_levels(float(mp.get("strong_drop", 0.0))),
            weight_decay=float(config.weight_decay),
        )
        self.threads = config.threads
        self.params = self._views()

    def _views(self) -> models.Params:
        t = torch.from_numpy(self.flat)
        r = t.shape[0]
        return {
            k: t[:, o : o + math.prod(self.shapes[k])].view(r, *self.shapes[k])
            for k, o in self.offset.items()
        }

    def epoch(self, x: np.ndarray, perm: np.ndarray, codes: Tensor, step: int) -> np.ndarray:
        """One epoch of the active replicas in place; their summed batch losses ``(R,)``."""
        import scipy.linalg.cython_blas  # noqa: F401  (the BLAS the kernel calls: limit it too)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.threads, user_api="blas"):
            engine = self._fused.Engine(self.flat, self.m, self.v, self.lr, self.layout, self.state)
            return self._fused.train_epoch(
                np.ascontiguousarray(x, dtype=np.float32),
                np.ascontiguousarray(perm, dtype=np.int64),
                codes.numpy(),
                engine,
                step,
                self.hyper,
            )

    def select(self, keep: np.ndarray) -> models.Params:
        """Keep the replicas ``keep`` (indices among the active ones); their parameter views."""
        self.flat = np.ascontiguousarray(self.flat[keep])
        self.m = np.ascontiguousarray(self.m[keep])
        self.v = np.ascontiguousarray(self.v[keep])
        self.state = np.ascontiguousarray(self.state[keep])
        self.params = self._views()
        return self.params


def _derive_seed(seed: int, stream: int) -> int:
    """An independent 63-bit seed for ``stream`` of replica seed ``seed`` (numpy SeedSequence)."""
    return int(
        np.random.SeedSequence([int(seed), stream]).generate_state(2, np.uint64)[0] >> np.uint64(1)
    )


def _batch_orders(n: int, gens: Sequence[torch.Generator]) -> Tensor:
    """``(R, n)``: each generator's ``torch.randperm(n)``, drawn once per distinct generator
    state. The runs of one draw of the study share their seed, so their generators are in the
    same state: each gets the permutation, and ends in the state, that its own draw would give
    (a permutation of 78,000 rows costs ~0.5 ms; a planner job holds 1-2 draws' runs)."""
    drawn: dict[bytes, tuple[Tensor, Tensor]] = {}
    orders = []
    for g in gens:
        key = g.get_state().numpy().tobytes()
        if key in drawn:
            order, after = drawn[key]
            g.set_state(after)
        else:
            order = torch.randperm(n, generator=g)
            drawn[key] = (order, g.get_state())
        orders.append(order)
    return torch.stack(orders)


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _label_codes(y: Tensor) -> Tensor:
    """int8 codes of labels (exactly 1 / 0 / NaN, checked): 1, 0, -1 = missing (a quarter of the
    memory of float32)."""
    return torch.nan_to_num(y, nan=-1.0).to(torch.int8)


def _decode(codes: Tensor) -> Tensor:
    """Float labels (1, 0, NaN) from int8 codes: c (c + 1) / (c + 1), so -1 -> 0/0 = NaN.

    Plain float arithmetic: on CPU, boolean-masked ops (masked_fill, where) cost several times
    more per element than these vectorised passes.
    """
    v = codes.to(torch.float32)
    w = v + 1.0
    return v.mul_(w).div_(w)


def _check_inputs(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, n_seeds: int
) -> None:
    if x_train.ndim != 2:
        raise DataMismatchError(f"x_train must be (N, d), got shape {x_train.shape}")
    if y_train.ndim != 3:
        raise DataMismatchError(f"y_train must be (R, N, C), got shape {y_train.shape}")
    r, n, c = y_train.shape
    if n != x_train.shape[0]:
        raise DataMismatchError(f"y_train has {n} rows, x_train has {x_train.shape[0]}")
    if r != n_seeds:
        raise DataMismatchError(f"y_train has {r} replicas but {n_seeds} seeds were given")
    if x_val.ndim != 2 or x_val.shape[1] != x_train.shape[1]:
        raise DataMismatchError(f"x_val must be (M, {x_train.shape[1]}), got shape {x_val.shape}")
    if y_val.shape[-2:] != (x_val.shape[0], c) or y_val.ndim not in (2, 3):
        raise DataMismatchError(
            f"y_val must be ({x_val.shape[0]}, {c}) or (R, {x_val.shape[0]}, {c}), "
            f"got {y_val.shape}"
        )
    if y_val.ndim == 3 and y_val.shape[0] != r:
        raise DataMismatchError(f"y_val has {y_val.shape[0]} replicas, y_train has {r}")
    if not np.isfinite(x_train).all() or not np.isfinite(x_val).all():
        raise DataMismatchError("embeddings contain NaN or inf values")
    for name, y in (("y_train", y_train), ("y_val", y_val)):
        ok = np.isnan(y) | (y == 0) | (y == 1)
        if not ok.all():
            raise DataMismatchError(f"{name} must hold 1, 0 or NaN; found {y[~ok][0]!r}")


def _temperatures(
    method_name: str, y_train: np.ndarray, soft_exposure: SoftExposureInputs | np.ndarray | None
) -> np.ndarray | None:
    cls = METHODS[method_name]
    if not cls.needs_temperatures:
        return None
    if soft_exposure is None:
        raise ValueError(
            f"method {method_name!r} needs soft_exposure (relations of the training rows)"
        )
    if isinstance(soft_exposure, np.ndarray):
        if soft_exposure.shape != y_train.shape:
            raise DataMismatchError(
                f"soft_exposure temperatures {soft_exposure.shape} "
                f"must match y_train {y_train.shape}"
            )
        return soft_exposure
    from budgetplan.relations.soft_exposure import soft_exposure_temperatures

    mode: Literal["label", "image", "both"] = getattr(cls, "mode", "both")
    return np.asarray(
        soft_exposure_temperatures(
            y_train,
            soft_exposure.label_distance,
            soft_exposure.knn_indices,
            soft_exposure.knn_distances,
            mode=mode,
            beta=soft_exposure.beta,
            gamma=soft_exposure.gamma,
            normalise=soft_exposure.normalise,
        ),
        dtype=np.float32,
    )


def train_replicas(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainConfig,
    seeds: Sequence[int],
    *,
    soft_exposure: SoftExposureInputs | np.ndarray | None = None,
    progress: ProgressFn | None = None,
) -> FittedReplicas:
    """Train R = len(seeds) replicas of ``config.method`` at once; see the module docstring.

    ``x_train`` (N, d) embeddings shared by all replicas; ``y_train`` (R, N, C) each replica's
    labels (1 / 0 / NaN); ``x_val`` (M, d) and ``y_val`` (M, C) or (R, M, C) for early stopping
    on macro AUC (classes ``config.early_stop_classes``, default all classes labelled in val).
    ``soft_exposure``: for se-l / se-i / se, the relations (``SoftExposureInputs``; the
    temperatures are computed per replica's labels) or precomputed temperatures (R, N, C).
    Rows a replica has not annotated at all are kept in its batches but add nothing to NE-type
    losses. Returns the best-epoch weights of every replica.
    """
    t0 = time.perf_counter()
    x_train = np.asarray(x_train, dtype=np.float32)
    y_train = np.asarray(y_train, dtype=np.float32)
    x_val = np.asarray(x_val, dtype=np.float32)
    y_val = np.asarray(y_val, dtype=np.float32)
    x_train, y_train, x_val = (
        a if a.flags.writeable else a.copy() for a in (x_train, y_train, x_val)
    )
    seeds = tuple(int(s) for s in seeds)
    _check_inputs(x_train, y_train, x_val, y_val, len(seeds))
    r_all, n, c = y_train.shape
    es_classes = config.early_stop_classes
    if es_classes is not None and any(not 0 <= k < c for k in es_classes):
        raise DataMismatchError(f"early_stop_classes {es_classes} out of range for {c} classes")
    val_check = macro_auc_fast(
        np.zeros((1, *y_val.shape[-2:])) if y_val.ndim == 2 else np.zeros(y_val.shape),
        y_val,
        es_classes,
    )
    if np.isnan(val_check).any():
        bad = int(np.flatnonzero(np.isnan(val_check))[0])
        raise DataMismatchError(
            f"validation labels (replica {bad}): "
            "no early-stopping class has both positive and negative labels"
        )
    temps = _temperatures(config.method, y_train, soft_exposure)

    device = resolve_device(config.device)
    method = get_method(config.method, config.params)
    spec = models.ModelSpec(
        d_in=x_train.shape[1],
        n_classes=c,
        hidden=config.hidden,
        depth=config.depth,
        head=config.resolved_head,
        activation=config.activation,
        dropout=config.dropout,
    )
    with _torch_threads(config.threads):
        cpu_gens = [torch.Generator().manual_seed(_derive_seed(s, 0)) for s in seeds]
        dev_gens = [torch.Generator(device=device).manual_seed(_derive_seed(s, 1)) for s in seeds]
        params = models.init_params(spec, cpu_gens, device)
        for p in params.values():
            p.requires_grad_(True)
        x = torch.from_numpy(x_train).to(device)
        xv = torch.from_numpy(x_val).to(device)
        y_codes = _label_codes(torch.as_tensor(y_train)).to(device)
        setup = MethodSetup(
            labels=torch.as_tensor(y_train).to(device),
            seeds=seeds,
            max_epochs=config.max_epochs,
            temperatures=None if temps is None else torch.from_numpy(temps).to(device),
            params=params,
        )
        state = method.init_state(setup)
        del setup
        views = FeatureViews(scale=embedding_scale(x))
        enc_lr = {"q": config.encoding_lr} if config.encoding_lr is not None else None
        opt = ReplicaAdam(params, config.lr, weight_decay=config.weight_decay, lr_of=enc_lr)

        best = {k: v.detach().clone().cpu() for k, v in params.items()}
        best_val = np.full(r_all, -np.inf)
        best_epoch = np.zeros(r_all, dtype=np.int64)
        since = np.zeros(r_all, dtype=np.int64)
        active = np.arange(r_all)
        hist_val: list[np.ndarray] = []
        hist_loss: list[np.ndarray] = []
        step = 0
        b = int(config.batch_size)
        epochs_run = 0
        fused = (
            _FusedEpochs(params, config, method.params, seeds, embedding_scale(x))
            if config.uses_fused(device.type)
            else None
        )
        if fused is not None:
            params = fused.params
        for epoch in range(config.max_epochs):
            gens_cpu = [cpu_gens[i] for i in active]
            gens_dev = [dev_gens[i] for i in active]
            perm = _batch_orders(n, gens_cpu).to(device)
            offsets = torch.arange(len(active), device=device).mul_(n).unsqueeze(1)
            loss_sum = torch.zeros(len(active), device=device)
            n_batches = 0
            if fused is not None:
                loss_sum += torch.from_numpy(fused.epoch(x_train, perm.numpy(), y_codes, step))
                n_batches = -(-n // b)
                step += n_batches
            for s in range(0, n if fused is None else 0, b):
                idx = perm[:, s : s + b]
                xb = x.index_select(0, idx.reshape(-1)).view(*idx.shape, x.shape[1])
                # row gather from the flattened (R * N, C) table: ~5x faster than torch.gather
                flat = (idx + offsets).reshape(-1)
                yb = _decode(y_codes.view(-1, c).index_select(0, flat).view(*idx.shape, c))
                ctx = StepContext(
                    spec,
                    params,
                    state,
                    xb,
                    yb,
                    idx,
                    gens_dev,
                    epoch,
                    config.max_epochs,
                    step,
                    config.reduction,
                    views,
                )
                loss = method.loss(ctx)
                grads = torch.autograd.grad(loss.sum(), list(params.values()))
                opt.step(params, dict(zip(params, grads, strict=True)))
                method.after_step(ctx)
                loss_sum += loss.detach()
                n_batches += 1
                step += 1
            epochs_run = epoch + 1
            with torch.inference_mode():
                logits = torch.cat(
                    [
                        _forward_eval(spec, params, xv[s : s + VAL_ROWS])
                        for s in range(0, xv.shape[0], VAL_ROWS)
                    ],
                    dim=1,
                )
            yv = y_val if y_val.ndim == 2 else y_val[active]
            val = macro_auc_fast(logits.float().cpu().numpy(), yv, es_classes)
            row_val = np.full(r_all, np.nan)
            row_val[active] = val
            row_loss = np.full(r_all, np.nan)
            row_loss[active] = (loss_sum / max(n_batches, 1)).cpu().numpy()
            hist_val.append(row_val)
            hist_loss.append(row_loss)
            improved = val > best_val[active]
            if config.stopping == "fixed":  # keep the last epoch's weights, never stop early
                improved = np.ones(len(active), dtype=bool)
            if improved.any():
                loc = torch.as_tensor(np.flatnonzero(improved), device=device)
                glob = torch.as_tensor(active[improved])
                for k, v in params.items():
                    best[k][glob] = v.detach().index_select(0, loc).cpu()
                best_val[active[improved]] = val[improved]
                best_epoch[active[improved]] = epoch
            since[active] = np.where(improved, 0, since[active] + 1)
            keep = since[active] < config.patience
            if progress is not None:
                progress(
                    epoch + 1,
                    config.max_epochs,
                    f"epoch {epoch + 1}: {int(keep.sum())}/{r_all} replicas training, "
                    f"best val AUC median {np.median(best_val):.3f}",
                )
            if not keep.any():
                break
            if not keep.all():
                loc = torch.as_tensor(np.flatnonzero(keep), device=device)
                active = active[keep]
                if fused is not None:
                    params = fused.select(np.flatnonzero(keep))
                else:
                    params = {
                        k: v.detach().index_select(0, loc).requires_grad_(True)
                        for k, v in params.items()
                    }
                opt.select(loc)
                state = select_state(state, loc)
                y_codes = y_codes.index_select(0, loc)
    if progress is not None and epochs_run < config.max_epochs:
        progress(config.max_epochs, config.max_epochs, "all replicas stopped early")
    return FittedReplicas(
        spec=spec,
        params=best,
        best_epoch=best_epoch,
        best_val=best_val,
        history={"val_auc": np.array(hist_val), "train_loss": np.array(hist_loss)},
        config=config,
        seeds=seeds,
        seconds=time.perf_counter() - t0,
        epochs_run=epochs_run,
    )
