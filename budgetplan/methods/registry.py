"""Method objects: how each partial-label method of the seeds is trained on embeddings.

A method object wires a loss of ``budgetplan.methods.losses`` (the formulas, one per paper
equation) into replica-batched training: which views of the batch it needs, which per-replica
state it keeps between steps (an EMA teacher, a pseudo-label table, soft-exposure temperatures)
and how that state is updated. ``get_method(name, params)`` builds one; ``METHODS`` lists them.

All state tensors carry the replica axis first, so the trainer can drop replicas that stopped
early (``select_state``). Every random draw goes through the replicas' own generators
(``budgetplan.methods.views``), so training a replica alone or in a batch gives the same result.
Views on embeddings are feature-space perturbations (Gaussian noise, feature dropout; see
``budgetplan.methods.views``), not the seeds' image augmentations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from budgetplan.methods import models
from budgetplan.methods.views import FeatureViews, dropout_masks

State = dict[str, Any]


def loss_function(name: str) -> Callable[..., Tensor]:
    """The loss called ``name`` in ``budgetplan.methods.losses.LOSSES``."""
    from budgetplan.methods import losses

    return losses.LOSSES[name]


@dataclass
class MethodSetup:
    """What a method may need to build its state before training (all on the training device)."""

    labels: Tensor  # (R, N, C) float with NaN
    seeds: Sequence[int]
    max_epochs: int
    temperatures: Tensor | None = None  # (R, N, C) signed soft-exposure temperatures
    params: models.Params | None = None  # initial student parameters


@dataclass
class StepContext:
    """One training step of the active replicas."""

    spec: models.ModelSpec
    params: models.Params
    state: State
    x: Tensor  # (Ra, b, d)
    labels: Tensor  # (Ra, b, C) with NaN
    index: Tensor  # (Ra, b) row indices into the training set
    generators: Sequence[torch.Generator]  # the active replicas' device generators
    epoch: int
    max_epochs: int
    step: int
    reduction: str
    views: Any = field(default_factory=FeatureViews)  # FeatureViews, or ImageViews in image mode
    forward_fn: Callable[[Tensor, models.Params | None, bool], Tensor] | None = None

    def logits(self, x: Tensor, params: models.Params | None = None, train: bool = True) -> Tensor:
        """Forward pass with fresh per-replica dropout masks when ``train`` (eval mode otherwise).

        ``params`` None = the student's (``self.params``); image mode supplies ``forward_fn``.
        """
        if self.forward_fn is not None:
            return self.forward_fn(x, params, train)
        masks = None
        if train and self.spec.dropout > 0:
            masks = dropout_masks(
                self.generators, x.shape[1], self.spec.dropout_widths, self.spec.dropout, x.device
            )
        return models.forward(self.spec, self.params if params is None else params, x, masks)

    def gather(self, table: Tensor) -> Tensor:
        """Rows of a per-replica table ``(Ra, N, C)`` for this batch: ``(Ra, b, C)``."""
        idx = self.index.unsqueeze(-1).expand(-1, -1, table.shape[-1])
        return torch.gather(table, 1, idx)


class Method:
    """Base: supervised loss on the plain batch; no state. Subclasses override what differs."""

    name: ClassVar[str] = ""
    loss_name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    default_head: ClassVar[str] = "linear"
    needs_temperatures: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise ValueError(
                f"method {self.name!r} has no parameter(s) {sorted(unknown)}; "
                f"known: {sorted(self.defaults)}"
            )
        self.params: dict[str, Any] = {**self.defaults, **params}

    def loss_kwargs(self) -> dict[str, Any]:
        """Hyper-parameters passed to the loss function (the method's params by default)."""
        return dict(self.params)

    def init_state(self, setup: MethodSetup) -> State:
        """Per-replica state, replica axis first."""
        return {}

    def loss(self, ctx: StepContext) -> Tensor:
        """Per-replica loss ``(Ra,)`` of one batch."""
        fn = loss_function(self.loss_name or self.name)
        return fn(ctx.logits(ctx.x), ctx.labels, reduction=ctx.reduction, **self.loss_kwargs())

    @torch.no_grad()
    def after_step(self, ctx: StepContext) -> None:
        """Update the state after the optimiser step (``ctx.params`` are the new parameters)."""


class NE(Method):
    """``ne``: BCE on annotated labels only (seed 001 Eq. 1)."""

    name = "ne"


class WNE(Method):
    """``wne``: NE weighted by the share of annotated labels of each sample (seed 001, Durand
    2019)."""

    name = "wne"
    defaults = {"alpha": -40.0 / 9.0, "beta": 49.0 / 9.0, "gamma": 1.0}


class FE(Method):
    """``fe``: missing = negative, positive weight 5 (seed 001 Eq. 2)."""

    name = "fe"
    defaults = {"pos_weight": 5.0}


class LS(Method):
    """``ls``: missing = soft negative with one constant temperature (seed 001)."""

    name = "ls"
    defaults = {"temperature": 2.0}


class SoftExposure(Method):
    """``se-l`` / ``se-i`` / ``se``: per-label temperatures (seed 001 Eq. 3-8).

    The temperatures are computed once before training from each replica's own label matrix
    (``budgetplan.relations.soft_exposure.soft_exposure_temperatures``; the trainer does it) and
    kept as a ``(R, N, C)`` table; each step reads its rows.
    """

    name = "se"
    mode: ClassVar[str] = "both"
    needs_temperatures = True
    defaults = {"beta": 5.0, "gamma": 0.0}

    def loss_kwargs(self) -> dict[str, Any]:
        return {}  # beta / gamma enter through the temperatures

    def init_state(self, setup: MethodSetup) -> State:
        if setup.temperatures is None:
            raise ValueError(f"method {self.name!r} needs soft-exposure temperatures")
        return {"temperature": setup.temperatures}

    def loss(self, ctx: StepContext) -> Tensor:
        fn = loss_function(self.name)
        temps = ctx.gather(ctx.state["temperature"])
        return fn(ctx.logits(ctx.x), ctx.labels, temps, reduction=ctx.reduction)


class SEL(SoftExposure):
    name = "se-l"
    mode = "label"


class SEI(SoftExposure):
    name = "se-i"
    mode = "image"


class SE(SoftExposure):
    name = "se"
    mode = "both"


class LabelAssemble(Method):
    """``label-assemble`` (seed 000 Eq. 2-5): BCE on annotated labels of the weak view, sharpened
    pseudo labels (tau = 0.5, t = 4) of the weak view on the unannotated ones, and consistency of
    the strong view with them. Dynamic-adapter head by default (seed 000 Alg. 1).

    Views are feature-space perturbations (weak: Gaussian noise; strong: feature dropout + noise).
    """

    name = "label-assemble"
    default_head = "adapter"
    defaults = {"tau": 0.5, "t": 4.0, "weak_noise": 0.1, "strong_noise": 0.3, "strong_drop": 0.2}

    def loss_kwargs(self) -> dict[str, Any]:
        return {"tau": self.params["tau"], "t": self.params["t"]}

    def loss(self, ctx: StepContext) -> Tensor:
        p = self.params
        views = ctx.views.configured(p["weak_noise"], p["strong_noise"], p["strong_drop"])
        x_w = views.weak(ctx.x, ctx.generators)
        x_s = views.strong(ctx.x, ctx.generators)
        a_w = ctx.logits(x_w)
        a_s = ctx.logits(x_s)
        fn = loss_function(self.name)
        return fn(a_w, a_s, ctx.labels, reduction=ctx.reduction, **self.loss_kwargs())


class FixMatch(LabelAssemble):
    """``fixmatch`` (seed 002, after FixMatch): pseudo labels from the weak view where the
    confidence is >= 0.7 (p >= 0.7 -> 1, p <= 0.3 -> 0 per class), applied to the strong view of
    the unannotated entries with weight lambda = 0.25; supervised BCE on the weak view.

    Views are feature-space perturbations (weak: Gaussian noise; strong: feature dropout + noise).
    """

    name = "fixmatch"
    default_head = "linear"
    defaults = {
        "threshold": 0.7,
        "lam": 0.25,
        "weak_noise": 0.1,
        "strong_noise": 0.3,
        "strong_drop": 0.2,
    }

    def loss_kwargs(self) -> dict[str, Any]:
        return {"threshold": self.params["threshold"], "lam": self.params["lam"]}


class MeanTeacher(Method):
    """``mean-teacher`` (seed 004): NE (the multi-label form of adaptive cross entropy) on the
    student plus consistency with an EMA teacher (one per replica). Consistency weight: max 1.0,
    warm-up of 10 epochs starting from zero in the third epoch, linear (seed 004 Sec. 3.1).
    Perturbation: independent dropout masks for student and teacher (seed 004 Sec. 2.3; set
    ``TrainConfig.dropout`` > 0) and, on embeddings, weak Gaussian feature noise (a feature-space
    view) on each input. EMA decay min(1 - 1/(step + 1), 0.99) (Tarvainen & Valpola 2017).
    """

    name = "mean-teacher"
    defaults = {"weight": 1.0, "warmup": 10, "start": 2, "ema": 0.99, "noise": 0.1}

    def init_state(self, setup: MethodSetup) -> State:
        assert setup.params is not None
        return {"teacher": {k: v.detach().clone() for k, v in setup.params.items()}}

    def consistency_weight(self, epoch: int) -> float:
        """Linear warm-up (seed 004 Sec. 3.1) via ``losses.linear_rampup``."""
        from budgetplan.methods.losses import linear_rampup

        p = self.params
        return linear_rampup(epoch, p["warmup"], start=p["start"], max_weight=p["weight"])

    def loss(self, ctx: StepContext) -> Tensor:
        views = ctx.views.configured(self.params["noise"], 0.0, 0.0)
        student = ctx.logits(views.weak(ctx.x, ctx.generators))
        with torch.no_grad():
            teacher = ctx.logits(views.weak(ctx.x, ctx.generators), params=ctx.state["teacher"])
        fn = loss_function(self.name)
        weight = self.consistency_weight(ctx.epoch)
        return fn(student, teacher, ctx.labels, weight, reduction=ctx.reduction)

    @torch.no_grad()
    def after_step(self, ctx: StepContext) -> None:
        from budgetplan.methods.losses import ema_update

        decay = min(1.0 - 1.0 / (ctx.step + 2), float(self.params["ema"]))
        teacher = ctx.state["teacher"]
        ema_update([teacher[k] for k in ctx.params], list(ctx.params.values()), decay)


class ImbalancePL(Method):
    """``imbalance-pl`` (seed 003 Eq. 5-12): pseudo labels of the unannotated entries start at 0.5
    (Eq. 5) and are replaced by the model's predictions each time their row is visited (once per
    epoch); the loss (alpha / beta from the batch's label statistics with gamma = 0.05, epoch
    coefficient d with m = 3, all-negative penalty p) uses a random q % of the unannotated
    entries per step, drawn from the replica's own generator (q = 0.5 by default: the paper gives
    no value). The table is updated in place with the predictions of the step (every row is
    visited once per epoch).
    """

    name = "imbalance-pl"
    defaults = {"gamma": 0.05, "m": 3.0, "q": 0.5, "eq9": "text"}

    def init_state(self, setup: MethodSetup) -> State:
        return {"pseudo": torch.full_like(setup.labels, 0.5)}

    def loss(self, ctx: StepContext) -> Tensor:
        from budgetplan.methods.losses import sample_missing

        logits = ctx.logits(ctx.x)
        ctx.state["_last_probs"] = torch.sigmoid(logits.detach())
        pseudo = ctx.gather(ctx.state["pseudo"])
        q = float(self.params["q"])
        picked = torch.stack(
            [sample_missing(y, q, g) for y, g in zip(ctx.labels, ctx.generators, strict=True)]
        )
        fn = loss_function(self.name)
        return fn(
            logits,
            ctx.labels,
            pseudo,
            epoch=ctx.epoch,
            total_epochs=ctx.max_epochs,
            m=self.params["m"],
            gamma=self.params["gamma"],
            picked=picked,
            eq9=self.params["eq9"],
            reduction=ctx.reduction,
        )

    @torch.no_grad()
    def after_step(self, ctx: StepContext) -> None:
        probs = ctx.state.pop("_last_probs")
        idx = ctx.index.unsqueeze(-1).expand(-1, -1, probs.shape[-1])
        ctx.state["pseudo"].scatter_(1, idx, probs)


METHODS: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (NE, WNE, FE, LS, SEL, SEI, SE, LabelAssemble, ImbalancePL, MeanTeacher, FixMatch)
}


def get_method(name: str, params: Mapping[str, Any] | None = None) -> Method:
    """The method object called ``name`` with its hyper-parameters (paper defaults + ``params``)."""
    if name not in METHODS:
        from budgetplan.errors import UnknownClassError

        raise UnknownClassError(name, METHODS, what="method")
    return METHODS[name](**dict(params or {}))


def select_state(state: State, index: Tensor) -> State:
    """Keep the replicas in ``index`` of every tensor (and nested dict of tensors) in ``state``."""
    out: State = {}
    for k, v in state.items():
        if isinstance(v, Tensor):
            out[k] = v.index_select(0, index)
        elif isinstance(v, dict):
            out[k] = select_state(v, index)
        else:
            out[k] = v
    return out
