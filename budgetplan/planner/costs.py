"""Cost model: what annotating a label costs, with a reading overhead shared per image.

An annotator who opens an image pays a reading cost once (finding the study, windowing, reading
the film) and then a label cost for each class they mark on it. So annotating classes A and B on
the same image costs ``read + cost(A) + cost(B)``, not ``2 * read + ...``. Costs and the budget
share one unit (euros, minutes, "units").

Cost CSV (``CostModel.from_csv``)::

    class,cost,unit
    Effusion,1.5,minutes
    Nodule,3,minutes
    *image*,0.5,minutes
    *default*,1,minutes

- ``class`` and ``cost`` columns are required (header names are case-insensitive); ``unit`` is
  optional and, when given, must be the same on every row where it is not blank.
- ``*image*`` is the per-image reading cost (default 0); ``*default*`` is the label cost of every
  class the file does not list (default 1).
- Blank lines and lines starting with ``#`` are ignored. Costs are non-negative numbers.

The same content as a mapping (``CostModel.from_mapping``, for a recipe's YAML)::

    costs:
      unit: minutes
      image_read_cost: 0.5
      default_label_cost: 1
      label_cost: {Effusion: 1.5, Nodule: 3}

or flat, ``{Effusion: 1.5, Nodule: 3, "*image*": 0.5}``.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from budgetplan.errors import BudgetError, InputFileError, UnknownClassError

IMAGE_KEY = "*image*"
DEFAULT_KEY = "*default*"


@dataclass(frozen=True)
class CostModel:
    """Per-class label cost, default label cost, per-image reading cost, and their unit."""

    label_cost: Mapping[str, float] = field(default_factory=dict)
    default_label_cost: float = 1.0
    image_read_cost: float = 0.0
    unit: str = "units"

    def __post_init__(self) -> None:
        costs = {str(k): float(v) for k, v in dict(self.label_cost).items()}
        for name, value in [
            *costs.items(),
            (DEFAULT_KEY, self.default_label_cost),
            (IMAGE_KEY, self.image_read_cost),
        ]:
            if not math.isfinite(float(value)) or float(value) < 0:
                raise BudgetError(
                    f"cost model: cost of {name!r} is {value!r}; costs must be finite and >= 0"
                )
        object.__setattr__(self, "label_cost", costs)
        object.__setattr__(self, "default_label_cost", float(self.default_label_cost))
        object.__setattr__(self, "image_read_cost", float(self.image_read_cost))
        object.__setattr__(self, "unit", str(self.unit) or "units")

    # ------------------------------------------------------------------ pricing
    def label_cost_of(self, cls: str) -> float:
        """Cost of one label of class ``cls`` (the default when the class is not listed)."""
        return float(self.label_cost.get(cls, self.default_label_cost))

    def cost(self, assignments: Mapping[str, Iterable[str]]) -> float:
        """Total cost of annotating ``{image_id: classes}``.

        Each distinct image pays the reading cost once, plus the label cost of each distinct class
        read on it; an image with no classes costs nothing.
        """
        costs, default = self.label_cost, self.default_label_cost
        n_images, labels = 0, 0.0
        for classes in assignments.values():
            distinct = set(classes)
            if distinct:
                n_images += 1
                for c in distinct:
                    labels += costs.get(c, default)
        return n_images * self.image_read_cost + labels

    def image_cost(self, cls: str, already_read: bool = False) -> float:
        """Cost of annotating ``cls`` on one image (reading cost included unless already read)."""
        return self.label_cost_of(cls) + (0.0 if already_read else self.image_read_cost)

    def images_affordable(
        self,
        cls: str,
        budget: float,
        already_read: Iterable[str] = frozenset(),
        n_available: int | None = None,
    ) -> int:
        """How many images of class ``cls`` the budget buys.

        Images in ``already_read`` (ids already opened for another class of the plan) are
        bought first, since they cost only the label; the rest pay the reading cost too.
        ``n_available`` caps the answer (and tells how many images exist in total; already-read
        images are counted among them). Without it, the already-read set is assumed to be
        available for ``cls`` and the count is unbounded beyond it.
        """
        if budget <= 0:
            return 0
        label = self.label_cost_of(cls)
        full = label + self.image_read_cost
        n_read = len(set(already_read))
        if n_available is not None:
            n_read = min(n_read, n_available)
        if label == 0:
            cheap = n_read
        else:
            cheap = min(n_read, int(math.floor(budget / label + 1e-9)))
        left = budget - cheap * label
        if full == 0:
            if n_available is None:
                raise BudgetError(
                    f"class {cls!r} costs nothing per image: give n_available to bound the count"
                )
            return n_available
        more = int(math.floor(left / full + 1e-9)) if cheap == n_read else 0
        total = cheap + max(0, more)
        if n_available is not None:
            total = min(total, n_available)
        return total

    def check_budget(self, budget: float, classes: Iterable[str]) -> None:
        """Raise BudgetError (one line) when ``budget`` cannot buy one label of any class."""
        classes = list(classes)
        try:
            budget = float(budget)
        except (TypeError, ValueError):
            raise BudgetError(f"budget {budget!r} is not a number") from None
        if not math.isfinite(budget) or budget < 0:
            raise BudgetError(f"budget {budget!r} must be a finite number >= 0")
        if not classes:
            raise BudgetError("no candidate class to spend the budget on")
        cheapest = min(classes, key=self.image_cost)
        price = self.image_cost(cheapest)
        if budget < price:
            raise BudgetError(
                f"a budget of {budget:g} {self.unit} buys nothing: "
                f"the cheapest label ({cheapest!r})"
                f" costs {self.label_cost_of(cheapest):g} + {self.image_read_cost:g} reading ="
                f" {price:g} {self.unit} per image"
            )

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "label_cost": dict(sorted(self.label_cost.items())),
            "default_label_cost": self.default_label_cost,
            "image_read_cost": self.image_read_cost,
            "unit": self.unit,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostModel:
        """Inverse of ``to_dict`` (no class check; used when loading a saved plan)."""
        return cls(
            label_cost=dict(data.get("label_cost", {})),
            default_label_cost=float(data.get("default_label_cost", 1.0)),
            image_read_cost=float(data.get("image_read_cost", 0.0)),
            unit=str(data.get("unit", "units")),
        )

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any] | None,
        classes: Iterable[str] | None = None,
        where: str = "cost mapping",
    ) -> CostModel:
        """A cost model from a recipe's YAML mapping (structured or flat, see the module doc).

        ``classes`` (the label table's classes) is used to reject unknown class names with a
        suggestion; ``where`` names the origin in error messages (e.g. "recipes/x.yaml: costs").
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise BudgetError(
                f"{where}: expected a mapping of class to cost, got {type(data).__name__}"
            )
        structured = {"label_cost", "default_label_cost", "image_read_cost", "unit"}
        if any(k in structured - {"unit"} for k in data):
            extra = sorted(set(map(str, data)) - structured)
            if extra:
                raise BudgetError(
                    f"{where}: unknown key {extra[0]!r}; expected {sorted(structured)}"
                )
            label_cost_raw = data.get("label_cost") or {}
            if not isinstance(label_cost_raw, Mapping):
                raise BudgetError(f"{where}: label_cost must be a mapping of class to cost")
            default = _number(data.get("default_label_cost", 1.0), f"{where}: default_label_cost")
            read = _number(data.get("image_read_cost", 0.0), f"{where}: image_read_cost")
            unit = str(data.get("unit", "units"))
            items = dict(label_cost_raw)
        else:
            items = dict(data)
            default = _number(items.pop(DEFAULT_KEY, 1.0), f"{where}: {DEFAULT_KEY}")
            read = _number(items.pop(IMAGE_KEY, 0.0), f"{where}: {IMAGE_KEY}")
            unit = str(items.pop("unit", "units"))
        known = list(classes) if classes is not None else None
        costs: dict[str, float] = {}
        for name, value in items.items():
            try:
                canonical = _resolve_class(str(name), known)
            except UnknownClassError as exc:
                raise BudgetError(f"{where}: {exc}") from None
            costs[canonical] = _number(value, f"{where}: cost of {name!r}")
        return cls(costs, default, read, unit)

    @classmethod
    def from_csv(
        cls, path: str | os.PathLike[str], classes: Iterable[str] | None = None
    ) -> CostModel:
        """Read a cost CSV (format in the module doc); errors name the file, row and column."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise InputFileError(path, "cost file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputFileError(path, f"cannot read cost file ({exc})") from None
        lines = [
            (i + 1, ln)
            for i, ln in enumerate(text.splitlines())
            if ln.strip() and not ln.lstrip().startswith("#")
        ]
        if not lines:
            raise InputFileError(
                path, "cost file is empty; expected a header 'class,cost' and one row per class"
            )
        rows = list(csv.reader([ln for _, ln in lines]))
        header = [h.strip().lower() for h in rows[0]]
        for required in ("class", "cost"):
            if required not in header:
                raise InputFileError(
                    path,
                    f"missing column {required!r} (header is {','.join(rows[0])!r}; "
                    "expected 'class,cost[,unit]')",
                )
        unknown_cols = [h for h in header if h not in ("class", "cost", "unit")]
        if unknown_cols:
            raise InputFileError(
                path, f"unknown column {unknown_cols[0]!r}; expected 'class,cost[,unit]'"
            )
        if len(rows) == 1:
            raise InputFileError(path, "cost file has a header but no rows")
        i_cls, i_cost = header.index("class"), header.index("cost")
        i_unit = header.index("unit") if "unit" in header else None
        known = list(classes) if classes is not None else None
        costs: dict[str, float] = {}
        default, read, unit = 1.0, 0.0, None
        for (lineno, _), row in zip(lines[1:], rows[1:], strict=True):
            where = f"line {lineno}"
            if len(row) != len(header):
                raise InputFileError(
                    path,
                    f"{where}: {len(row)} fields, expected {len(header)} ({','.join(rows[0])})",
                )
            name = row[i_cls].strip()
            if not name:
                raise InputFileError(path, f"{where}, column 'class': blank class name")
            raw = row[i_cost].strip()
            try:
                value = float(raw)
            except ValueError:
                raise InputFileError(
                    path, f"{where}, column 'cost': {raw!r} is not a number"
                ) from None
            if not math.isfinite(value) or value < 0:
                raise InputFileError(
                    path, f"{where}, column 'cost': cost of {name!r} is {raw}; costs must be >= 0"
                )
            if i_unit is not None and row[i_unit].strip():
                u = row[i_unit].strip()
                if unit is not None and u != unit:
                    raise InputFileError(
                        path,
                        f"{where}, column 'unit': {u!r} differs from {unit!r} above; use one unit",
                    )
                unit = u
            if name == IMAGE_KEY:
                read = value
            elif name == DEFAULT_KEY:
                default = value
            else:
                try:
                    canonical = _resolve_class(name, known)
                except UnknownClassError as exc:
                    raise InputFileError(path, f"{where}, column 'class': {exc}") from None
                if canonical in costs:
                    raise InputFileError(
                        path, f"{where}, column 'class': class {canonical!r} listed twice"
                    )
                costs[canonical] = value
        return cls(costs, default, read, unit or "units")


def _number(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise BudgetError(f"{what}: {value!r} is not a number") from None
    if not math.isfinite(out) or out < 0:
        raise BudgetError(f"{what}: {value!r}; costs must be finite and >= 0")
    return out


def _resolve_class(name: str, known: list[str] | None) -> str:
    """``name`` as spelled in ``known`` (forgiving case and '_' vs ' '); unknown names raise."""
    if known is None or name in known:
        return name
    norm = _norm(name)
    for k in known:
        if _norm(k) == norm:
            return k
    raise UnknownClassError(name, known)


def _norm(name: str) -> str:
    return name.lower().replace("_", " ").replace("-", " ").strip()
