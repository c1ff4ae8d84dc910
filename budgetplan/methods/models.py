"""Replica-batched models on frozen embeddings: an MLP trunk and a linear or dynamic-adapter head.

R replicas (label assemblies x seeds) share one architecture; every parameter is stacked with a
leading replica axis ``(R, ...)`` and the forward pass runs on inputs ``(R, B, d)`` with
``torch.baddbmm``, so R small models cost one set of matrix products. Replicas never mix: every
operation is per replica (batched matmul, elementwise), so the gradient of the summed loss is
each replica's own gradient.

Each replica draws its initial weights from its own ``torch.Generator`` in a fixed order
(``init_params``), so a replica initialised alone or inside a batch gets identical weights.

Heads:

- ``linear``: logits = h W + b, W (R, h, C).
- ``adapter``: the dynamic adapter of Label-Assemble (seed 000, Alg. 1, Eq. 1):
  a learnable task encoding q (C x C, initialised to the identity; row c is the "question" for
  class c) and a learned linear map w(.) (the paper's 1x1 convolution from n to m channels) from
  each row of q to a per-class weight vector (and a per-class bias); the answer is
  a = w(q; theta_w) * f(x), i.e. logits = f(x) . w(q)^T + bias(q).
  With q = I the adapter is exactly a linear head whose weights are the map's weights plus its bias,
  and at initialisation it equals a freshly initialised linear head (same distribution).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

HEADS = ("linear", "adapter")
ACTIVATIONS = ("relu", "gelu")

Params = dict[str, Tensor]


@dataclass(frozen=True)
class ModelSpec:
    """Architecture shared by all replicas.

    ``depth`` hidden layers of width ``hidden`` (depth 0 = the head sits on the embedding),
    ``activation`` "relu" | "gelu", ``dropout`` after each hidden layer (training only).
    """

    d_in: int
    n_classes: int
    hidden: int = 512
    depth: int = 1
    head: str = "linear"
    activation: str = "relu"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.depth < 0 or self.hidden < 1 or self.d_in < 1 or self.n_classes < 1:
            raise ValueError(f"invalid model sizes: {asdict(self)}")

    @property
    def feature_dim(self) -> int:
        """Width of the trunk output (the head's input)."""
        return self.hidden if self.depth > 0 else self.d_in

    @property
    def dropout_widths(self) -> tuple[int, ...]:
        """Width of each dropout mask the forward pass takes (one per hidden layer)."""
        return (self.hidden,) * self.depth if self.dropout > 0 else ()


def _uniform(shape: Sequence[int], bound: float, gen: torch.Generator) -> Tensor:
    return (torch.rand(tuple(shape), generator=gen, dtype=torch.float32) * 2.0 - 1.0) * bound


def init_replica(spec: ModelSpec, gen: torch.Generator) -> Params:
    """One replica's parameters (no replica axis), drawn from ``gen`` in a fixed order.

    Linear layers follow ``torch.nn.Linear``'s default: weights and biases uniform in
    +-1/sqrt(fan_in). The adapter's map is drawn like a linear head on the trunk features (so that
    with q = I the initial adapter is distributed as a linear head); its bias starts at zero.
    """
    p: Params = {}
    width = spec.d_in
    for layer in range(spec.depth):
        bound = 1.0 / math.sqrt(width)
        p[f"w{layer}"] = _uniform((width, spec.hidden), bound, gen)
        p[f"b{layer}"] = _uniform((1, spec.hidden), bound, gen)
        width = spec.hidden
    bound = 1.0 / math.sqrt(width)
    c = spec.n_classes
    if spec.head == "linear":
        p["head_w"] = _uniform((width, c), bound, gen)
        p["head_b"] = _uniform((1, c), bound, gen)
    else:
        p["q"] = torch.eye(c, dtype=torch.float32)
        p["gen_w"] = _uniform((c, width), bound, gen)  # rows of q -> weight vectors
        p["gen_b"] = torch.zeros((1, width), dtype=torch.float32)
        p["gen_bias_w"] = _uniform((c, 1), bound, gen)  # rows of q -> class bias
        p["gen_bias_b"] = torch.zeros((1, 1), dtype=torch.float32)
    return p


def init_params(
    spec: ModelSpec, generators: Sequence[torch.Generator], device: torch.device | str = "cpu"
) -> Params:
    """Stacked parameters ``(R, ...)``: replica r drawn from ``generators[r]`` (see
    ``init_replica``)."""
    per = [init_replica(spec, g) for g in generators]
    return {k: torch.stack([p[k] for p in per]).to(device) for k in per[0]}


def select(params: Params, index: Tensor | Sequence[int]) -> Params:
    """The parameters of a subset of replicas (``index`` along the replica axis)."""
    idx = torch.as_tensor(index, dtype=torch.long, device=next(iter(params.values())).device)
    return {k: v.index_select(0, idx) for k, v in params.items()}


def trunk(
    spec: ModelSpec, params: Params, x: Tensor, masks: Sequence[Tensor] | None = None
) -> Tensor:
    """Trunk features ``(R, B, h)`` of inputs ``x`` ``(R, B, d)`` (or ``(B, d)`` shared by all
    replicas).

    ``masks``: one multiplicative dropout mask per hidden layer ``(R, B, hidden)`` (already scaled
    by 1/(1-p)), or None for evaluation (no dropout).
    """
    act = torch.relu if spec.activation == "relu" else torch.nn.functional.gelu
    h = x
    if x.ndim == 2:  # one input shared by all replicas (evaluation)
        h = (
            _shared_first_layer(spec, params, x, act)
            if spec.depth > 0
            else x.expand(_n_replicas(params), -1, -1)
        )
    dropout = masks is not None and spec.dropout > 0
    for layer in range(1 if x.ndim == 2 else 0, spec.depth):
        w, b = params[f"w{layer}"], params[f"b{layer}"]
        if dropout and spec.activation == "relu":
            assert masks is not None
            h = _ReluDropoutLayer.apply(h, w, b, masks[layer])
            continue
        h = act(torch.baddbmm(b, h, w))
        if dropout:
            assert masks is not None
            h = h * masks[layer]
    return h


class _ReluDropoutLayer(torch.autograd.Function):
    """``relu(x w + b) * mask`` for stacked replicas: x (R, B, d), w (R, d, h), b (R, 1, h), and a
    non-negative dropout multiplier mask (R, B, h).

    The same values and gradients as the composed ``relu(baddbmm(b, x, w)) * mask``, with the
    bias, activation and mask applied in place on the product and one fused backward (no
    intermediate tensors): ``dz = [h > 0] * dh * mask`` (h > 0 exactly where the product is
    positive and the mask is not 0), ``dw = x^T dz``, ``db = sum_B dz``.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, w: Tensor, b: Tensor, mask: Tensor) -> Tensor:
        h = torch.bmm(x, w).add_(b).clamp_min_(0.0).mul_(mask)
        ctx.save_for_backward(x, w, mask, h)
        return h

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, w, mask, h = ctx.saved_tensors
        dz = torch.ops.aten.threshold_backward(grad, h, 0.0).mul_(mask)
        dx = torch.bmm(dz, w.transpose(1, 2)) if ctx.needs_input_grad[0] else None
        dw = torch.bmm(x.transpose(1, 2), dz) if ctx.needs_input_grad[1] else None
        db = dz.sum(dim=1, keepdim=True) if ctx.needs_input_grad[2] else None
        return dx, dw, db, None


def _n_replicas(params: Params) -> int:
    return next(iter(params.values())).shape[0]


def _shared_first_layer(
    spec: ModelSpec, params: Params, x: Tensor, act: Callable[[Tensor], Tensor]
) -> Tensor:
    """First layer for an input ``(B, d)`` shared by all replicas: one (B, d) x (d, R*h) matmul.

    Returns a ``(R, B, h)`` view of a ``(B, R, h)`` tensor (the next batched matmul reads it with
    a row stride, no copy); without autograd the bias and a ReLU are applied in place.
    """
    w0, b0 = params["w0"], params["b0"]  # (R, d, h), (R, 1, h)
    r, d, hid = w0.shape
    h = torch.matmul(x, w0.permute(1, 0, 2).reshape(d, r * hid)).reshape(x.shape[0], r, hid)
    if torch.is_grad_enabled() and (w0.requires_grad or b0.requires_grad or x.requires_grad):
        return act(h.transpose(0, 1) + b0)
    h = h.add_(b0.transpose(0, 1))
    h = h.clamp_min_(0.0) if spec.activation == "relu" else act(h)
    return h.transpose(0, 1)


def head_weights(spec: ModelSpec, params: Params) -> tuple[Tensor, Tensor]:
    """Per-class weights ``(R, h, C)`` and biases ``(R, 1, C)`` of the head.

    For the adapter these are generated from the task encoding (seed 000 Eq. 1): w(q) = q G + g,
    bias(q) = q u + u0, so every class's classifier is a function of its learned question q_c.
    """
    if spec.head == "linear":
        return params["head_w"], params["head_b"]
    q = params["q"]  # (R, C, C)
    w = torch.baddbmm(params["gen_b"], q, params["gen_w"])  # (R, C, h)
    bias = torch.baddbmm(params["gen_bias_b"], q, params["gen_bias_w"])  # (R, C, 1)
    return w.transpose(1, 2), bias.transpose(1, 2)


def forward(
    spec: ModelSpec, params: Params, x: Tensor, masks: Sequence[Tensor] | None = None
) -> Tensor:
    """Logits ``(R, B, C)`` of inputs ``x`` ``(R, B, d)`` (answers a = f(x) . w(q)^T for the
    adapter)."""
    w, b = head_weights(spec, params)
    return torch.baddbmm(b, trunk(spec, params, x, masks), w)


def task_encodings(params: Params) -> Tensor:
    """The learned task encodings q ``(R, C, C)`` of adapter models (row c = class c's encoding)."""
    if "q" not in params:
        raise ValueError("task encodings exist only for the 'adapter' head")
    return params["q"]


def count_flops(spec: ModelSpec, n_rows: int, train: bool = True) -> float:
    """Floating-point operations of one pass over ``n_rows`` rows for one replica.

    Forward: 2 * rows * (in * out) per layer. Backward: weight gradients for every layer, input
    gradients for every layer but the first (the embedding is frozen), 2 * rows * in * out each.
    """
    sizes = []
    width = spec.d_in
    for _ in range(spec.depth):
        sizes.append((width, spec.hidden))
        width = spec.hidden
    sizes.append((width, spec.n_classes))
    fwd = sum(2.0 * n_rows * a * b for a, b in sizes)
    if not train:
        return fwd
    bwd = sum(2.0 * n_rows * a * b * (1 if i == 0 else 2) for i, (a, b) in enumerate(sizes))
    return fwd + bwd
