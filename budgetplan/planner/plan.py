"""AnnotationPlan: the recommendation as data, saved as JSON with its provenance.

A plan says which labels to annotate on which images (``PlanAction`` s, in order), what it costs
under a ``CostModel``, the AUC the target is expected to reach (with CIs), the random control of
equal cost, the ranked candidate table and where every number came from (``provenance``).
Invariant, checked on construction and on load: the plan's total cost never exceeds its budget.

Number blocks (plain dicts so that JSON round-trips them; NaN is written as ``null``):

- ``baseline``: ``auc``, ``auc_ci_low``, ``auc_ci_high`` (+ optional ``ap``, ``runs``, ...).
- ``expected``: ``gain``, ``gain_ci_low``, ``gain_ci_high``, ``auc``, ``auc_ci_low``,
  ``auc_ci_high`` (+ optional keys).
- ``random_control``: ``classes`` (list), ``cost``, ``gain``, ``gain_ci_low``, ``gain_ci_high``
  (+ optional keys), or ``None`` when there is nothing to compare (empty plan).
- ``candidates``: one dict per row of the ranked table (``class``, relation scores, ``gain``,
  ``gain_ci_low``, ``gain_ci_high``, ``runs``, ``cost``, ``gain_per_cost``, ``chosen``, ...).

The file is JSON only (never pickle) and is validated on load: a malformed file raises
:class:`~budgetplan.errors.InputFileError` naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from budgetplan.config import config_hash
from budgetplan.errors import BudgetError, InputFileError, short_repr
from budgetplan.io import write_text_atomic
from budgetplan.planner.costs import CostModel
from budgetplan.relations.names import ALIASES as RELATION_ALIASES

FORMAT = "budgetplan-annotation-plan"
FORMAT_VERSION = 1
ACTION_KINDS = ("annotate-class", "annotate-target")
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "baseline": ("auc", "auc_ci_low", "auc_ci_high"),
    "expected": ("gain", "gain_ci_low", "gain_ci_high", "auc", "auc_ci_low", "auc_ci_high"),
    "random_control": ("classes", "cost", "gain", "gain_ci_low", "gain_ci_high"),
}
_COST_TOL = 1e-6


class PlanValidationError(BudgetError):
    """A plan that breaks an invariant (over budget, inconsistent costs, bad field)."""


@dataclass(frozen=True)
class PlanAction:
    """Annotate ``class_name`` (from ``source``) on ``image_ids`` (priority order).

    ``cost`` is the action's marginal cost given the actions before it in the plan: label costs
    plus the reading cost of the images no earlier action opened. ``kind`` is
    ``"annotate-class"`` (a negative class) or ``"annotate-target"`` (more target labels).
    """

    kind: Literal["annotate-class", "annotate-target"]
    class_name: str
    source: str
    image_ids: list[str]
    n_images: int
    cost: float
    reason: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ACTION_KINDS:
            raise PlanValidationError(
                f"plan action: kind {short_repr(self.kind)} is not one of {ACTION_KINDS}"
            )
        object.__setattr__(self, "image_ids", [str(i) for i in self.image_ids])
        object.__setattr__(self, "n_images", int(self.n_images))
        object.__setattr__(self, "cost", float(self.cost))
        if self.n_images != len(self.image_ids):
            raise PlanValidationError(
                f"plan action {short_repr(self.class_name)}: n_images is {self.n_images} "
                f"but {len(self.image_ids)} image ids are listed"
            )
        if len(set(self.image_ids)) != len(self.image_ids):
            raise PlanValidationError(
                f"plan action {short_repr(self.class_name)}: an image is listed twice"
            )
        if not math.isfinite(self.cost) or self.cost < 0:
            raise PlanValidationError(
                f"plan action {short_repr(self.class_name)}: cost {self.cost!r} must be >= 0"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "class_name": self.class_name,
            "source": self.source,
            "n_images": self.n_images,
            "cost": self.cost,
            "reason": self.reason,
            "image_ids": list(self.image_ids),
        }


@dataclass(frozen=True)
class AnnotationPlan:
    """A budgeted annotation plan with its evidence and provenance (see the module doc).

    Treat it as immutable: ``plan_id`` and ``total_cost`` are computed once.
    """

    target: str
    budget: float
    unit: str
    cost_model: CostModel
    actions: list[PlanAction]
    baseline: dict[str, Any]
    expected: dict[str, Any]
    random_control: dict[str, Any] | None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    verdict: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        budget = float(self.budget)
        if not math.isfinite(budget) or budget < 0:
            raise PlanValidationError(f"plan: budget {self.budget!r} must be a number >= 0")
        object.__setattr__(self, "budget", budget)
        if str(self.unit) != self.cost_model.unit:
            raise PlanValidationError(
                f"plan: unit {short_repr(self.unit)} differs from the cost model's unit "
                f"{short_repr(self.cost_model.unit)}"
            )
        object.__setattr__(self, "actions", list(self.actions))
        for name in ("baseline", "expected", "random_control"):
            block = getattr(self, name)
            if block is None and name == "random_control":
                continue
            if not isinstance(block, Mapping):
                raise PlanValidationError(
                    f"plan: {name} must be a mapping with keys {REQUIRED_KEYS[name]}"
                )
            missing = [k for k in REQUIRED_KEYS[name] if k not in block]
            if missing:
                raise PlanValidationError(f"plan: {name} lacks key {missing[0]!r}")
        seen: set[tuple[str, str]] = set()
        for a in self.actions:
            for i in a.image_ids:
                if (a.class_name, i) in seen:
                    raise PlanValidationError(
                        f"plan: class {short_repr(a.class_name)} on image {short_repr(i)} "
                        "appears in two actions"
                    )
                seen.add((a.class_name, i))
        total = self.total_cost
        listed = sum(a.cost for a in self.actions)
        if abs(listed - total) > _COST_TOL * max(1.0, total):
            raise PlanValidationError(
                f"plan: action costs add up to {listed:g} "
                f"but the cost model prices the images at {total:g}"
            )
        if total > budget + _COST_TOL * max(1.0, budget):
            raise PlanValidationError(
                f"plan: total cost {total:g} {self.unit} exceeds the budget {budget:g} {self.unit}"
            )

    # ------------------------------------------------------------------ derived
    def assignments(self) -> dict[str, list[str]]:
        """``{image_id: classes to annotate on it}`` in plan order (first action first)."""
        out: dict[str, list[str]] = {}
        for a in self.actions:
            for i in a.image_ids:
                out.setdefault(i, []).append(a.class_name)
        return out

    @cached_property
    def total_cost(self) -> float:
        """Cost of the whole plan: the reading cost is paid once per distinct image."""
        return self.cost_model.cost(self.assignments())

    @property
    def chosen_classes(self) -> list[str]:
        return [a.class_name for a in self.actions]

    @cached_property
    def plan_id(self) -> str:
        """Stable id ``plan-<12 hex>``: hash of the plan's content (not of when it was made)."""
        body = self._body()
        prov = dict(body.get("provenance", {}))
        prov.pop("created", None)
        body["provenance"] = prov
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
        # The "plan-" prefix keeps spreadsheets (and pandas) from reading e.g. "5426621394e0" as a
        # number.
        return "plan-" + hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def simulated(self) -> bool | None:
        return self.provenance.get("simulated")

    # ------------------------------------------------------------------ (de)serialisation
    def _body(self) -> dict[str, Any]:
        return _clean(
            {
                "target": self.target,
                "budget": self.budget,
                "unit": self.unit,
                "cost_model": self.cost_model.to_dict(),
                "total_cost": self.total_cost,
                "verdict": self.verdict,
                "baseline": dict(self.baseline),
                "expected": dict(self.expected),
                "random_control": None
                if self.random_control is None
                else dict(self.random_control),
                "actions": [a.to_dict() for a in self.actions],
                "candidates": [dict(c) for c in self.candidates],
                "evidence": dict(self.evidence),
                "provenance": dict(self.provenance),
            }
        )

    def made_on(self, store_checksum: str) -> bool:
        """Whether a store is the one this plan was made on (True when the plan recorded none)."""
        expected = (self.provenance.get("store") or {}).get("checksum")
        return not expected or expected == store_checksum

    def check_classes(self, classes: Sequence[str], where: str = "plan") -> None:
        """Refuse a plan whose target or action classes a store does not have (an edited plan,
        or a plan made on another store): its worklist would send annotators after a class
        that is not there."""
        known = set(classes)
        for name, what in [
            (self.target, "target"),
            *((a.class_name, "action class") for a in self.actions),
        ]:
            if name not in known:
                raise InputFileError(
                    where,
                    f"{what} {short_repr(name)} is not a class of the store "
                    f"({', '.join(list(classes)[:30])}); was the plan made on another store?",
                )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "plan_id": self.plan_id,
            **self._body(),
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, where: str = "plan") -> AnnotationPlan:
        """Build and validate a plan; problems raise InputFileError naming ``where`` and the
        field."""
        return _from_dict(data, where)

    @classmethod
    def from_json(cls, text: str, where: str = "plan") -> AnnotationPlan:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFileError(
                where, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
        except RecursionError:
            raise InputFileError(where, "JSON nested too deeply to be an annotation plan") from None
        return _from_dict(data, where)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the plan as JSON, atomically."""
        path = Path(path)
        write_text_atomic(path, self.to_json())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AnnotationPlan:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputFileError(path, "plan file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputFileError(path, f"cannot read plan file ({exc})") from None
        if not text.strip():
            raise InputFileError(path, "plan file is empty")
        return cls.from_json(text, where=str(path))


# ---------------------------------------------------------------------- provenance
def provenance_now(
    *,
    config: Any = None,
    seeds: Sequence[int] | None = None,
    simulated: bool | None = None,
    store_path: str | os.PathLike[str] | None = None,
    store_checksum: str | None = None,
    method: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Where a plan comes from: package versions, config hash, seeds, data store, time (UTC).

    ``config`` is a config dataclass (e.g. ``RecommendConfig``) or a mapping; it is stored with
    its hash (``budgetplan.config.config_hash``, the same hash the simulation cache uses).
    """
    if config is not None and dataclasses.is_dataclass(config) and not isinstance(config, type):
        config_dict: dict[str, Any] | None = dataclasses.asdict(config)
    else:
        config_dict = dict(config) if config is not None else None
    return {
        "versions": package_versions(),
        "config_hash": config_hash(config_dict) if config_dict is not None else None,
        "config": _clean(config_dict) if config_dict is not None else None,
        "seeds": [int(s) for s in seeds] if seeds is not None else None,
        "simulated": simulated,
        "store": {
            "path": str(store_path) if store_path is not None else None,
            "checksum": store_checksum,
        },
        "method": method,
        "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        **_clean(extra),
    }


def package_versions() -> dict[str, str | None]:
    """Versions of budgetplan and the numerical libraries behind a result."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("budgetplan", "torch", "faiss-cpu", "numpy", "scikit-learn", "torchxrayvision"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    if out.get("faiss-cpu") is None:
        try:
            out["faiss-gpu"] = version("faiss-gpu")
        except PackageNotFoundError:
            pass
    return out


# ---------------------------------------------------------------------- helpers
def _clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays to Python, non-finite floats to None, tuples to
    lists."""
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, set | frozenset):
        obj = sorted(obj, key=str)
    if isinstance(obj, list | tuple):
        if all(type(v) is str for v in obj):  # fast path: image id lists
            return list(obj)
        return [_clean(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, str | bytes):  # numpy scalar / array
        return _clean(obj.tolist())
    if isinstance(obj, bool) or obj is None or isinstance(obj, str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def _from_dict(data: Any, where: str) -> AnnotationPlan:
    def bad(fld: str, problem: str) -> InputFileError:
        return InputFileError(where, f"field {fld!r}: {problem}")

    if not isinstance(data, dict):
        raise InputFileError(
            where, f"expected a JSON object (an annotation plan), got {type(data).__name__}"
        )
    if data.get("format", FORMAT) != FORMAT:
        raise bad("format", f"{short_repr(data.get('format'))} is not {FORMAT!r}")
    version = data.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise bad(
            "format_version",
            f"{version!r} is not supported (this budgetplan reads {FORMAT_VERSION})",
        )
    for key in ("target", "budget", "cost_model", "actions", "baseline", "expected"):
        if key not in data:
            raise bad(key, "missing")
    if not isinstance(data["target"], str) or not data["target"]:
        raise bad("target", "expected a class name")
    budget = _num(data["budget"], "budget", bad)
    cm = data["cost_model"]
    if not isinstance(cm, dict):
        raise bad("cost_model", "expected an object")
    try:
        cost_model = CostModel(
            label_cost={
                str(k): _num(v, f"cost_model.label_cost.{k}", bad)
                for k, v in dict(cm.get("label_cost", {})).items()
            },
            default_label_cost=_num(
                cm.get("default_label_cost", 1.0), "cost_model.default_label_cost", bad
            ),
            image_read_cost=_num(cm.get("image_read_cost", 0.0), "cost_model.image_read_cost", bad),
            unit=str(cm.get("unit", data.get("unit", "units"))),
        )
    except BudgetError as exc:
        raise bad("cost_model", str(exc)) from None
    if not isinstance(data["actions"], list):
        raise bad("actions", "expected a list")
    actions = []
    for i, a in enumerate(data["actions"]):
        f = f"actions[{i}]"
        if not isinstance(a, dict):
            raise bad(f, "expected an object")
        for key in ("kind", "class_name", "image_ids", "cost"):
            if key not in a:
                raise bad(f"{f}.{key}", "missing")
        if not isinstance(a["image_ids"], list):
            raise bad(f"{f}.image_ids", "expected a list of image ids")
        try:
            actions.append(
                PlanAction(
                    kind=a["kind"],
                    class_name=str(a["class_name"]),
                    source=str(a.get("source", "")),
                    image_ids=[str(x) for x in a["image_ids"]],
                    n_images=int(a.get("n_images", len(a["image_ids"]))),
                    cost=_num(a["cost"], f"{f}.cost", bad),
                    reason=str(a.get("reason", "")),
                )
            )
        except (PlanValidationError, TypeError, ValueError) as exc:
            raise bad(f, str(exc)) from None
    blocks: dict[str, Any] = {}
    for name in ("baseline", "expected", "random_control"):
        block = data.get(name)
        if block is None and name == "random_control":
            blocks[name] = None
            continue
        if not isinstance(block, dict):
            raise bad(name, "expected an object")
        for key in REQUIRED_KEYS[name]:
            if key not in block:
                raise bad(f"{name}.{key}", "missing")
        blocks[name] = {
            k: (math.nan if v is None and k in REQUIRED_KEYS[name] and k != "classes" else v)
            for k, v in block.items()
        }
    for key, kind in (("candidates", list), ("evidence", dict), ("provenance", dict)):
        if key in data and not isinstance(data[key], kind):
            raise bad(key, f"expected a {'list' if kind is list else 'object'}")
    candidates = data.get("candidates", [])
    for i, row in enumerate(candidates):
        if not isinstance(row, dict):
            raise bad(f"candidates[{i}]", "expected an object")
    # plans written before the relation names were unified (``similarity``, ``knn_share``, ...)
    candidates = [{RELATION_ALIASES.get(k, k): v for k, v in row.items()} for row in candidates]
    try:
        plan = AnnotationPlan(
            target=data["target"],
            budget=budget,
            unit=str(data.get("unit", cost_model.unit)),
            cost_model=cost_model,
            actions=actions,
            baseline=blocks["baseline"],
            expected=blocks["expected"],
            random_control=blocks["random_control"],
            candidates=candidates,
            verdict=str(data.get("verdict", "")),
            evidence=data.get("evidence", {}),
            provenance=data.get("provenance", {}),
        )
    except PlanValidationError as exc:
        raise InputFileError(where, str(exc)) from None
    return plan  # plan_id is recomputed from the content, so a hand-edited plan gets a new id


def _num(value: Any, fld: str, bad: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(fld, f"expected a number, got {short_repr(value)}")
    return float(value)
