"""Typed configuration of the planner; recipes (YAML in ``recipes/``) fill it.

A recipe is a YAML mapping whose top-level keys are the fields of :class:`RecommendConfig` and
whose sections (``data``, ``simulation``, ``selection``, ``train``, ``costs``) fill the nested
dataclasses. Unknown keys are errors that name the key and the file, so a typo never silently
falls back to a default. Command-line flags override recipe values (``with_overrides``).

Every config object is frozen and has a stable hash (:func:`config_hash`, sha256 of its
canonical JSON) that goes into the plan's provenance and into the simulation cache key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from budgetplan.errors import InputFileError
from budgetplan.paths import PROJECT_ROOT

RECIPE_DIR = PROJECT_ROOT / "recipes"
DEFAULT_RECIPE = "nih-nodule"
DATA_KINDS = ("demo", "store", "digits", "nih-chexpert")


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


@dataclass(frozen=True)
class SimulationConfig:
    """What the simulated trainings run on and how many runs each candidate gets.

    ``pool_images``: training images kept (all kept target positives plus a random sample of the
    rest; None = all). ``val_images``: validation images kept for early stopping (None = all).
    ``dim``: PCA dimension the embeddings are projected to, fitted on the training pool (None =
    keep). Successive halving: every candidate gets ``initial_seeds`` runs, then the top
    ``1/eta`` get ``eta`` times more, until ``max_seeds``. ``max_candidates``: how many of the
    relation-screened candidates are trained at all (the rest are ordered by the gain predictor).
    ``max_replicas``: replicas per batched training call (memory bound). ``per_source``: when a
    class is labelled in several sources (NIH + CheXpert), offer one candidate per source x class
    ("Effusion @ nih", "Effusion @ chexpert") instead of one for the class.
    """

    pool_images: int | None = 12000
    val_images: int | None = 4000
    dim: int | None = 64
    initial_seeds: int = 2
    max_seeds: int = 6
    eta: int = 2
    max_candidates: int | None = None
    max_replicas: int = 64
    executor: str = "local"
    workers: int = 2
    per_source: bool = True


@dataclass(frozen=True)
class SelectionConfig:
    """Greedy budgeted selection and the honesty rules.

    A candidate is recommendable only if its gain over the baseline is significantly above zero:
    one-sided paired test across seeds with p < ``alpha`` AND the lower end of the two-sided
    ``1 - alpha`` CI above 0, AND a mean gain above ``min_gain`` (target AUC; 0.001 = 0.1
    points: a negligible but very regular difference can pass the test alone). Each greedy step keeps a class only if the new set also beats the
    current set (paired, same test). ``max_classes`` bounds the plan; ``greedy_width`` is how many
    of the best remaining singles are tried at each step. ``random_draws``: random class sets of
    equal cost trained for the control.
    """

    alpha: float = 0.05
    min_gain: float = 0.0
    max_classes: int = 3
    greedy_width: int = 3
    random_draws: int = 2


@dataclass(frozen=True)
class RecommendConfig:
    """Everything ``budgetplan recommend`` needs; ``train`` holds TrainConfig field overrides."""

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
    train: Mapping[str, Any] = field(default_factory=dict)
    costs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def max_seeds(self) -> int:
        """Seeds behind the best candidates (``--seeds`` overrides the recipe's simulation.max_seeds)."""
        return int(self.seeds) if self.seeds else self.simulation.max_seeds

    def with_overrides(self, **values: Any) -> RecommendConfig:
        """A copy with the non-None ``values`` replaced (CLI flags over the recipe);
        ``target_positives=0`` means every target positive the data has (None)."""
        out = dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})
        if out.target_positives == 0:
            out = dataclasses.replace(out, target_positives=None)
        return out

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
_FREEFORM = ("train", "costs")


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
    """Read a recipe (``yaml.safe_load``) into a :class:`RecommendConfig`; bad keys name the file."""
    path = recipe_path(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
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
    top = {f.name: f for f in dataclasses.fields(RecommendConfig)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        key = str(key)
        if key not in top:
            raise InputFileError(where, f"unknown key {key!r}; known keys: {', '.join(top)}")
        if key in _SECTIONS:
            values[key] = _section(_SECTIONS[key], value, key, where)
        elif key in _FREEFORM:
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                raise InputFileError(
                    where, f"{key!r} must be a mapping, got {type(value).__name__}"
                )
            values[key] = dict(value)
        else:
            values[key] = value
    values.setdefault("recipe", Path(str(where)).stem)
    cfg = RecommendConfig(**values)
    _check_types(cfg, where)
    return cfg


def _section(cls: type, value: Any, name: str, where: str | os.PathLike[str]) -> Any:
    if value is None:
        return cls()
    if not isinstance(value, Mapping):
        raise InputFileError(
            where, f"section {name!r} must be a mapping, got {type(value).__name__}"
        )
    names = {f.name for f in dataclasses.fields(cls)}
    for key in value:
        if key not in names:
            raise InputFileError(
                where,
                f"unknown key {key!r} in section {name!r}; known keys: {', '.join(sorted(names))}",
            )
    return cls(**dict(value))


def _check_types(cfg: RecommendConfig, where: str | os.PathLike[str]) -> None:
    """Light checks of values a typo would break (one line naming the key)."""

    def bad(key: str, problem: str) -> InputFileError:
        return InputFileError(where, f"{key}: {problem}")

    if cfg.data.kind not in DATA_KINDS:
        raise bad("data.kind", f"{cfg.data.kind!r} is not one of {', '.join(DATA_KINDS)}")
    if cfg.data.n_images is not None and (
        not isinstance(cfg.data.n_images, int) or cfg.data.n_images < 100
    ):
        raise bad("data.n_images", f"{cfg.data.n_images!r} must be an integer >= 100")
    if cfg.data.kind == "store" and not cfg.data.store:
        raise bad("data.store", "kind 'store' needs a store directory")
    if cfg.budget is not None and (not isinstance(cfg.budget, int | float) or cfg.budget <= 0):
        raise bad("budget", f"{cfg.budget!r} must be a positive number")
    if cfg.target_positives is not None and (
        not isinstance(cfg.target_positives, int) or cfg.target_positives < 1
    ):
        raise bad("target_positives", f"{cfg.target_positives!r} must be a positive integer")
    sim = cfg.simulation
    for key in ("initial_seeds", "max_seeds", "eta", "max_replicas", "workers"):
        v = getattr(sim, key)
        if not isinstance(v, int) or v < 1:
            raise bad(f"simulation.{key}", f"{v!r} must be a positive integer")
    if sim.initial_seeds < 2:
        raise bad("simulation.initial_seeds", "needs at least 2 seeds for a paired comparison")
    if sim.executor not in ("local", "process"):
        raise bad("simulation.executor", f"{sim.executor!r} is not 'local' or 'process'")
    mg = cfg.selection.min_gain
    if isinstance(mg, bool) or not isinstance(mg, int | float) or not 0 <= mg < 1:
        raise bad("selection.min_gain", f"{mg!r} must be a number in [0, 1) (target AUC)")
    if not isinstance(sim.per_source, bool):
        raise bad("simulation.per_source", f"{sim.per_source!r} must be true or false")
    if not 0 < cfg.selection.alpha < 0.5:
        raise bad("selection.alpha", f"{cfg.selection.alpha!r} must be in (0, 0.5)")


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def quick_config(cfg: RecommendConfig) -> RecommendConfig:
    """Tiny settings for tests and smoke runs (``--quick``): 2 seeds, few epochs, small pools."""
    sim = dataclasses.replace(
        cfg.simulation,
        pool_images=min(cfg.simulation.pool_images or 3000, 3000),
        val_images=min(cfg.simulation.val_images or 1000, 1000),
        dim=min(cfg.simulation.dim or 32, 32),
        initial_seeds=2,
        max_seeds=2,
    )
    sel = dataclasses.replace(
        cfg.selection, max_classes=min(cfg.selection.max_classes, 2), greedy_width=1, random_draws=1
    )
    train = {**dict(cfg.train), "max_epochs": 3, "patience": 2, "hidden": 32}
    return dataclasses.replace(cfg, simulation=sim, selection=sel, train=train, seeds=2)
