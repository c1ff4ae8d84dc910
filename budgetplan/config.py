"""Typed, validated configuration of the planner; recipes (YAML in ``recipes/``) fill it.

One frozen tree: :class:`RecommendConfig` with its sections :class:`DataConfig`,
:class:`SimulationConfig`, :class:`SelectionConfig`, a typed
:class:`~budgetplan.methods.train_config.TrainConfig` (``train``) and the ``costs`` mapping.
Every object checks every field in ``__post_init__`` (types, ranges, finite numbers, known
names), so a recipe, a command-line flag (``with_overrides``), the app and a Python caller all
get the same one-line :class:`~budgetplan.errors.ConfigError` naming the key and the value.
Unknown recipe keys are errors too, so a typo never silently falls back to a default.

Every config object has a stable hash (:func:`config_hash`, sha256 of its canonical JSON) that
goes into the plan's provenance.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from budgetplan.errors import ConfigError, InputFileError
from budgetplan.methods.train_config import METHOD_NAMES, TrainConfig, check_device
from budgetplan.paths import PROJECT_ROOT
from budgetplan.validation import (
    check_bool,
    check_choice,
    check_int,
    check_mapping,
    check_number,
    check_text,
)

RECIPE_DIR = PROJECT_ROOT / "recipes"
DEFAULT_RECIPE = "nih-nodule"
DATA_KINDS = ("demo", "store", "digits", "nih-chexpert")
EXECUTORS = ("auto", "local", "process", "ray")
COST_KEYS = ("label_cost", "default_label_cost", "image_read_cost", "unit")

T = TypeVar("T")


@dataclass(frozen=True)
class DataConfig:
    """Which labelled embeddings to plan on.

    ``kind``: ``demo`` (the embedded NIH default), ``store`` (a Dataset directory at ``store``),
    ``digits`` (scikit-learn's 8x8 digits, pixels as embeddings), ``nih-chexpert`` (NIH and
    CheXpert stacked to 20 classes, simulated embeddings). ``n_images`` (``nih-chexpert`` only):
    plan on a random sample of this many rows of the stacked table (tests, smoke runs).
    """

    kind: str = "demo"
    store: str | None = None
    n_images: int | None = None

    def __post_init__(self) -> None:
        check_choice("data.kind", self.kind, DATA_KINDS)
        check_text("data.store", self.store, none=True)
        check_int("data.n_images", self.n_images, low=100, none=True)
        if self.kind == "store" and not self.store:
            raise ConfigError("data.store", self.store, "kind 'store' needs a store directory")


@dataclass(frozen=True)
class SimulationConfig:
    """What the simulated trainings run on and how many runs each candidate gets.

    ``pool_images``: training images kept (all kept target positives plus a random sample of the
    rest; None = all). ``val_images``: validation images kept for early stopping (None = all).
    ``dim``: PCA dimension the embeddings are projected to, fitted on the training pool (None =
    keep). Successive halving: every candidate gets ``initial_seeds`` runs, then the top
    ``1/eta`` get ``eta`` times more, until ``max_seeds``. ``max_candidates``: how many of the
    relation-screened candidates are trained at all (the rest are ordered by the gain predictor).
    ``max_replicas``: replicas per job, one batched training call (the unit an executor runs in
    parallel; the same for every executor, so results never depend on it). ``per_source``: when a
    class is labelled in several sources (NIH + CheXpert), offer one candidate per source x class
    ("Effusion @ nih", "Effusion @ chexpert") instead of one for the class. ``decoy``: train a
    decoy candidate of random labels beside the real ones (a run where it comes out significant
    is not trustworthy). ``confirm_seeds``: draws that candidates still undecided after
    ``max_seeds`` get (a positive gain not yet significant; None = no confirmation round).
    ``redraw_split``: each draw also leaves out a random patient-wise share of the training
    patients, as a redrawn train/validation split would (``budgetplan.planner.draws``).
    ``executor``: ``auto`` (``workers`` processes, at most the cores, when the machine has
    several and the problem at least 5,000 training rows; else local), ``local``,
    ``process`` (``workers`` processes) or ``ray`` (``ray_address``: None starts a
    local Ray, ``auto`` or an address joins a cluster; ``ray_gpus``: GPU share per task on CUDA).
    """

    pool_images: int | None = 12000
    val_images: int | None = 4000
    dim: int | None = 64
    initial_seeds: int = 2
    max_seeds: int = 6
    eta: int = 2
    max_candidates: int | None = None
    max_replicas: int = 8
    executor: str = "auto"
    workers: int = 2
    ray_address: str | None = None
    ray_gpus: float = 1.0
    per_source: bool = True
    decoy: bool = True
    confirm_seeds: int | None = None
    redraw_split: bool = False

    def __post_init__(self) -> None:
        for key in ("pool_images", "val_images", "dim", "max_candidates"):
            check_int(f"simulation.{key}", getattr(self, key), low=1, none=True)
        check_int("simulation.initial_seeds", self.initial_seeds, low=2)
        check_int("simulation.max_seeds", self.max_seeds, low=2)
        check_int("simulation.eta", self.eta, low=2)
        check_int("simulation.max_replicas", self.max_replicas, low=1)
        check_int("simulation.workers", self.workers, low=1)
        check_choice("simulation.executor", self.executor, EXECUTORS)
        check_text("simulation.ray_address", self.ray_address, none=True)
        check_number("simulation.ray_gpus", self.ray_gpus, low=0, low_open=True)
        check_bool("simulation.per_source", self.per_source)
        check_bool("simulation.decoy", self.decoy)
        check_int("simulation.confirm_seeds", self.confirm_seeds, low=2, none=True)
        check_bool("simulation.redraw_split", self.redraw_split)


@dataclass(frozen=True)
class SelectionConfig:
    """Greedy budgeted selection and the honesty rules.

    A candidate is recommendable only if its gain over the baseline is significantly above zero:
    one-sided paired test across draws with p < ``alpha`` (Benjamini-Hochberg over the candidates)
    AND the lower end of the two-sided ``1 - alpha`` CI above 0 and above ``min_gain`` (target
    AUC; 0.001 = 0.1 points: the gain is confidently at least that large). Each greedy step
    keeps a class only if the new set also beats the current set (paired, same test).
    ``max_classes`` bounds the plan; ``greedy_width`` is how many of the best remaining singles
    are tried at each step. ``random_draws``: random class sets of equal cost trained for the
    control.
    """

    alpha: float = 0.05
    min_gain: float = 0.0
    max_classes: int = 3
    greedy_width: int = 3
    random_draws: int = 2

    def __post_init__(self) -> None:
        check_number("selection.alpha", self.alpha, low=0, high=0.5, low_open=True, high_open=True)
        check_number("selection.min_gain", self.min_gain, low=0, high=1, high_open=True)
        for key in ("max_classes", "greedy_width", "random_draws"):
            check_int(f"selection.{key}", getattr(self, key), low=1)


@dataclass(frozen=True)
class RecommendConfig:
    """Everything ``budgetplan recommend`` needs.

    ``method`` and ``device`` are set at the top level and copied into ``train`` (the typed
    :class:`TrainConfig` every simulated run trains with). ``costs``: a recipe's cost mapping
    (``label_cost``/``default_label_cost``/``image_read_cost``/``unit``, or flat class: cost).
    ``seeds``: draws behind the best candidates (``--seeds``; None = ``simulation.max_seeds``).
    """

    recipe: str = DEFAULT_RECIPE
    target: str = "Nodule"
    budget: float | None = None
    target_positives: int | None = None
    method: str = "label-assemble"
    seeds: int | None = None
    device: str = "auto"
    seed: int = 0
    screen_relation: str | None = None
    cost_file: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    costs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_text("recipe", self.recipe)
        check_text("target", self.target)
        check_number("budget", self.budget, low=0, low_open=True, none=True)
        check_int("target_positives", self.target_positives, low=1, none=True)
        check_choice("method", self.method, METHOD_NAMES)
        check_int("seeds", self.seeds, low=2, none=True)
        check_device("device", self.device)
        check_int("seed", self.seed, low=0)
        if self.screen_relation is not None:
            from budgetplan.relations.names import canonical_relation

            object.__setattr__(
                self, "screen_relation", canonical_relation(self.screen_relation, "screen_relation")
            )
        check_text("cost_file", self.cost_file, none=True)
        for name, cls in (
            ("data", DataConfig),
            ("simulation", SimulationConfig),
            ("selection", SelectionConfig),
            ("train", TrainConfig),
        ):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(name, getattr(self, name), f"must be a {cls.__name__}")
        _check_costs(self.costs)
        object.__setattr__(self, "costs", dict(self.costs))
        if self.budget is not None:
            object.__setattr__(self, "budget", float(self.budget))
        if self.train.method != self.method or self.train.device != self.device:
            train = dataclasses.replace(self.train, method=self.method, device=self.device)
            object.__setattr__(self, "train", train)

    @property
    def max_seeds(self) -> int:
        """Draws behind the best candidates (``--seeds`` over ``simulation.max_seeds``)."""
        return int(self.seeds) if self.seeds else self.simulation.max_seeds

    def with_overrides(self, **values: Any) -> RecommendConfig:
        """A validated copy with the non-None ``values`` replaced (CLI flags over the recipe).

        ``target_positives=0`` means every target positive the data has (None). Section fields
        are given as ``section={...}`` mappings, e.g. ``simulation={"executor": "process"}``.
        """
        given = {k: v for k, v in values.items() if v is not None}
        if given.get("target_positives") == 0:
            given["target_positives"] = None
        top = {f.name for f in dataclasses.fields(self)}
        for key in given:
            if key not in top:
                raise ConfigError(key, given[key], f"unknown setting; known: {', '.join(top)}")
        for name in (*_SECTIONS, "train"):
            if isinstance(given.get(name), Mapping):
                given[name] = _replace(getattr(self, name), given[name], name)
        return dataclasses.replace(self, **given)

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any], where: str | os.PathLike[str] = "<recipe>"
    ) -> RecommendConfig:
        """Build from a plain mapping (a parsed recipe); errors name ``where`` and the key."""
        return config_from_mapping(raw, where)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    @property
    def hash(self) -> str:
        return config_hash(self)


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "simulation": SimulationConfig,
    "selection": SelectionConfig,
}

# One "quick" profile (``--quick`` and the app's quick mode): seconds on a few thousand images.
QUICK_SIMULATION: dict[str, Any] = {
    "pool_images": 3000,
    "val_images": 1000,
    "dim": 32,
    "initial_seeds": 2,
    "max_seeds": 2,
    "confirm_seeds": None,  # quick: no confirmation round
}
QUICK_SELECTION: dict[str, Any] = {"greedy_width": 1, "random_draws": 1}
QUICK_TRAIN: dict[str, Any] = {
    "hidden": 64,
    "max_epochs": 8,
    "patience": 3,
    "batch_size": 128,
    "lr": 3e-3,
}


def quick_config(cfg: RecommendConfig) -> RecommendConfig:
    """Tiny settings for tests, smoke runs and the app's quick mode: 2 seeds, small pools."""
    sim = {
        **QUICK_SIMULATION,
        "pool_images": min(cfg.simulation.pool_images or 3000, 3000),
        "val_images": min(cfg.simulation.val_images or 1000, 1000),
        "dim": min(cfg.simulation.dim or 32, 32),
    }
    sel = {**QUICK_SELECTION, "max_classes": min(cfg.selection.max_classes, 2)}
    return cfg.with_overrides(simulation=sim, selection=sel, train=QUICK_TRAIN, seeds=2)


def config_hash(obj: Any) -> str:
    """Stable sha256 (first 16 hex) of a config dataclass or plain mapping."""
    data = (
        dataclasses.asdict(obj)
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type)
        else obj
    )
    text = json.dumps(_plain(data), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def recipe_path(name_or_path: str | os.PathLike[str]) -> Path:
    """``recipes/<name>.yaml`` for a bare name, else the given file; missing ones raise."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix not in (".yaml", ".yml"):
        path = RECIPE_DIR / f"{text}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))
        raise InputFileError(path, f"no such recipe; known recipes: {', '.join(known)}")
    return path


def load_recipe(name_or_path: str | os.PathLike[str] = DEFAULT_RECIPE) -> RecommendConfig:
    """Read a recipe (``yaml.safe_load``) into a :class:`RecommendConfig`; errors name the file."""
    path = recipe_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputFileError(path, "not a text (UTF-8) file; a recipe is YAML") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot read ({exc.strerror or exc})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputFileError(path, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InputFileError(path, f"a recipe must be a mapping of keys, got {type(raw).__name__}")
    return config_from_mapping(raw, path)


def config_from_mapping(
    raw: Mapping[str, Any], where: str | os.PathLike[str] = "<recipe>"
) -> RecommendConfig:
    """Build a :class:`RecommendConfig` from a plain mapping, rejecting unknown keys."""
    try:
        top = [f.name for f in dataclasses.fields(RecommendConfig)]
        values: dict[str, Any] = {}
        for key, value in raw.items():
            key = str(key)
            if key not in top:
                raise ConfigError(key, value, f"unknown key; known keys: {', '.join(top)}")
            if key in _SECTIONS:
                values[key] = _section(_SECTIONS[key], value, key)
            elif key == "train":
                values[key] = _train_section(value)
            elif key == "costs":
                values[key] = dict(check_mapping("costs", {} if value is None else value))
            else:
                values[key] = value
        values.setdefault("recipe", Path(str(where)).stem)
        return RecommendConfig(**values)
    except ConfigError as exc:
        raise InputFileError(where, str(exc)) from None


def _section(cls: type[T], value: Any, name: str) -> T:
    if value is None:
        return cls()
    check_mapping(name, value)
    return _replace(cls(), value, name)


def _train_section(value: Any) -> TrainConfig:
    if value is None:
        return TrainConfig()
    check_mapping("train", value)
    for key in ("method", "device"):
        if key in value:
            raise ConfigError(f"train.{key}", value[key], f"set {key!r} at the top level")
    return _replace(TrainConfig(), value, "train")


def _replace(obj: T, values: Mapping[str, Any], name: str) -> T:
    """``dataclasses.replace`` with unknown keys named (``section.key``)."""
    names = [f.name for f in dataclasses.fields(obj)]  # type: ignore[arg-type]
    for key, value in values.items():
        if key not in names:
            raise ConfigError(f"{name}.{key}", value, f"unknown key; known: {', '.join(names)}")
    return dataclasses.replace(obj, **dict(values))  # type: ignore[type-var]


def _check_costs(costs: Any) -> None:
    """The shape of a ``costs`` mapping (class names are checked against the data later)."""
    check_mapping("costs", costs)
    structured = any(k in COST_KEYS[:3] for k in costs)
    for key, value in costs.items():
        check_text("costs key", key)
        if key == "unit":
            check_text("costs.unit", value)
        elif key == "label_cost" and structured:
            check_mapping("costs.label_cost", value)
            for cls, cost in value.items():
                check_number(f"costs.label_cost.{cls}", cost, low=0)
        elif structured and key not in COST_KEYS:
            raise ConfigError(f"costs.{key}", value, f"unknown key; known: {', '.join(COST_KEYS)}")
        else:
            check_number(f"costs.{key}", value, low=0)


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj
