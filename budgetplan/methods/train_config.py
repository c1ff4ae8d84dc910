"""``TrainConfig``: everything that defines a training run except the data and the seeds.

The one place for training defaults. They are the planner's (a small trunk trained briefly on
frozen embeddings, many replicas at once); the seed papers' own settings (e.g. seed 000: Adam,
lr 2e-4, hidden 512, 64 epochs) are a recipe's ``train:`` section away. Torch-free, so a
configuration can be built and validated without importing torch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from budgetplan.errors import ConfigError
from budgetplan.validation import check_choice, check_int, check_number, check_text

# Kept equal to ``registry.METHODS``, ``models.HEADS``/``ACTIVATIONS`` (tested).
METHOD_NAMES = (
    "ne",
    "wne",
    "fe",
    "ls",
    "se-l",
    "se-i",
    "se",
    "label-assemble",
    "imbalance-pl",
    "mean-teacher",
    "fixmatch",
)
HEADS = ("auto", "linear", "adapter")
ACTIVATIONS = ("relu", "gelu")
REDUCTIONS = ("entry-mean", "class-sum")
STOPPING = ("val-auc", "fixed")
DEVICES = ("auto", "cpu", "cuda", "mps")
ENGINES = ("auto", "torch")
FUSED_METHODS = ("ne", "label-assemble")  # what ``budgetplan.methods.fused`` compiles


def check_device(key: str, value: Any) -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    text = check_text(key, value)
    assert text is not None
    if text in DEVICES or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise ConfigError(key, value, f"must be one of {', '.join(DEVICES)} or cuda:N")


@dataclass(frozen=True)
class TrainConfig:
    """A training run's settings (frozen, hashable; ``to_dict``/``from_dict`` for caches).

    ``head``: "auto" = the dynamic adapter for label-assemble (seed 000), linear otherwise.
    ``depth`` hidden layers of width ``hidden``; ``dropout`` after each hidden layer.
    ``reduction``: ``entry-mean`` (plain mean over annotated entries) or ``class-sum``.
    ``stopping``: ``val-auc`` keeps each replica's best epoch on the validation AUC and stops
    after ``patience`` epochs without improvement; ``fixed`` trains ``max_epochs`` and keeps the
    last weights (no selection on a small, noisy validation set).
    ``early_stop_classes``: None = macro AUC over the classes labelled (both 1 and 0) in the
    validation rows; or class indices, e.g. ``(target,)``.
    ``encoding_lr``: learning rate of the adapter's task encoding q (None = ``lr``), for the
    task-encoding relation (``budgetplan.relations.task_encoding``).
    ``engine``: ``auto`` trains ``ne`` and ``label-assemble`` (one ReLU hidden layer) on the CPU
    with the compiled engine (``budgetplan.methods.fused``: the same model and losses, its own
    random numbers; ``label-assemble`` about 2x faster at the planner's sizes, bench/README.md),
    everything else with torch; ``torch`` always uses torch's eager operations.
    ``method_params``: per-method hyper-parameters over the paper defaults (a dict is accepted
    and stored as sorted pairs). ``threads``: torch CPU threads during training (None = leave;
    1 by default: with 2 threads on a shared 2-core machine OpenMP spin-waiting made the small
    replica-batched steps ~10x slower, bench/README.md).

    Every field is checked on construction: a wrong value raises a one-line
    :class:`~budgetplan.errors.ConfigError` naming ``train.<field>``.
    """

    method: str = "ne"
    head: str = "auto"
    hidden: int = 128
    depth: int = 1
    activation: str = "relu"
    dropout: float = 0.2
    lr: float = 1e-3
    encoding_lr: float | None = None
    weight_decay: float = 0.0
    batch_size: int = 512
    max_epochs: int = 12
    patience: int = 3
    reduction: str = "entry-mean"
    stopping: str = "val-auc"
    early_stop_classes: tuple[int, ...] | None = None
    method_params: tuple[tuple[str, Any], ...] = ()
    device: str = "auto"
    threads: int | None = 1
    engine: str = "auto"

    def __post_init__(self) -> None:
        mp: Any = self.method_params
        if isinstance(mp, Mapping):
            mp = tuple(sorted(mp.items()))
        try:
            mp = tuple((str(k), v) for k, v in mp)
        except (TypeError, ValueError):
            raise ConfigError(
                "train.method_params", mp, "must be a mapping of name to value"
            ) from None
        object.__setattr__(self, "method_params", mp)
        esc = self.early_stop_classes
        if esc is not None:
            if isinstance(esc, str | bytes) or not hasattr(esc, "__iter__"):
                raise ConfigError(
                    "train.early_stop_classes", esc, "must be a list of class indices"
                )
            esc = tuple(check_int("train.early_stop_classes", c, low=0) for c in esc)  # type: ignore[misc]
            object.__setattr__(self, "early_stop_classes", esc)
        check_choice("train.method", self.method, METHOD_NAMES)
        check_choice("train.head", self.head, HEADS)
        check_choice("train.activation", self.activation, ACTIVATIONS)
        check_choice("train.reduction", self.reduction, REDUCTIONS)
        check_choice("train.stopping", self.stopping, STOPPING)
        check_device("train.device", self.device)
        check_choice("train.engine", self.engine, ENGINES)
        for name in ("hidden", "batch_size", "max_epochs", "patience"):
            check_int(f"train.{name}", getattr(self, name), low=1)
        check_int("train.depth", self.depth, low=0)  # 0 = a linear model on the embedding
        check_int("train.threads", self.threads, low=1, none=True)
        check_number("train.dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        check_number("train.lr", self.lr, low=0.0, low_open=True, high=10.0)
        if self.encoding_lr is not None:
            check_number("train.encoding_lr", self.encoding_lr, low=0.0, low_open=True, high=10.0)
        check_number("train.weight_decay", self.weight_decay, low=0.0)
        if self.method_params:
            self._check_method_params()

    def _check_method_params(self) -> None:
        from budgetplan.methods.registry import get_method

        try:
            get_method(self.method, self.params)
        except (TypeError, ValueError) as exc:
            raise ConfigError("train.method_params", self.params, str(exc)) from None

    @property
    def params(self) -> dict[str, Any]:
        """``method_params`` as a dict."""
        return dict(self.method_params)

    @property
    def resolved_head(self) -> str:
        """The head actually used ("auto" resolved by the method)."""
        if self.head != "auto":
            return self.head
        from budgetplan.methods.registry import METHODS

        return METHODS[self.method].default_head

    def uses_fused(self, device_type: str) -> bool:
        """Whether ``train_replicas`` runs this config on the compiled CPU engine."""
        return (
            self.engine == "auto"
            and device_type == "cpu"
            and self.method in FUSED_METHODS
            and self.depth == 1
            and self.activation == "relu"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (round-trips through ``from_dict``)."""
        d = asdict(self)
        d["method_params"] = dict(self.method_params)
        d["early_stop_classes"] = (
            None if self.early_stop_classes is None else list(self.early_stop_classes)
        )
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Inverse of ``to_dict``; unknown keys are an error naming them."""
        known = [f.name for f in fields(cls)]
        for key in d:
            if key not in known:
                raise ConfigError(f"train.{key}", d[key], f"unknown key; known: {', '.join(known)}")
        return cls(**dict(d))

    def key(self) -> str:
        """Stable hash of the config (caches); ``device`` and ``threads`` do not change results."""
        d = self.to_dict()
        d.pop("device")
        d.pop("threads")
        if d["encoding_lr"] is None:  # the default keeps the keys of earlier caches
            d.pop("encoding_lr")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
