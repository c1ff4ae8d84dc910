"""Answers from annotators, read back from Label Studio and CVAT exports and merged into the labels.

Readers give :class:`Answer` s (image, class, 1 / 0, where it came from):

- ``read_labelstudio_export``: Label Studio's JSON export (a list of tasks with ``annotations``),
  made from budgetplan's tasks (:mod:`budgetplan.planner.labelstudio`): on each submitted,
  not-cancelled annotation, the classes the task listed are 1 if ticked and 0 if not; "none of
  these" ticked with a class contradicts itself and is reported, not read. Older exports with one
  ``label_<class>`` group of ``present`` / ``absent`` per class are read too.
- ``read_cvat_xml``: "CVAT for images 1.1" XML: each ``<tag label=C>`` with attribute
  ``present`` yes / no (``unknown`` = not answered); a tag without that attribute means present.

Images are named by id, or (CVAT) by file name: ``ImageIndex`` resolves a name to a label row by
id, by the ``path`` column, by file name, or by id / file name without the extension.

``merge_answers(labels, answers, prefer=None)`` fills the label table. Two annotators disagreeing
on one label leave it as it was and are reported. An answer that differs from a label the table
already has is a conflict: with ``prefer=None`` the merge refuses (``AnswerConflictError`` with
the count and examples), ``"answers"`` takes the answer, ``"existing"`` keeps the label; either
way every conflict is listed in the result. Nothing is overwritten silently.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np

from budgetplan.data.label_table import LabelTable
from budgetplan.errors import BudgetplanError, DataMismatchError, InputFileError
from budgetplan.planner.choices import PREFER
from budgetplan.planner.labelstudio import CONTROL, NONE_OF_THESE

Prefer = Literal["answers", "existing"]


class AnswerConflictError(BudgetplanError):
    """Answers that contradict labels the table already has, with no rule to settle them."""


@dataclass(frozen=True)
class Answer:
    """One label read from an annotation tool: ``value`` 1 (present) or 0 (absent)."""

    image: str
    cls: str
    value: int
    where: str


@dataclass
class ReadResult:
    """Answers read from one export, and what could not be read (one line each)."""

    answers: list[Answer] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    images: int = 0


@dataclass(frozen=True)
class MergeResult:
    """The merged table and what happened to each answer."""

    labels: LabelTable
    new: int
    same: int
    conflicts: list[tuple[str, str, float, int]]  # (image id, class, existing, answer)
    disagreements: list[tuple[str, str]]  # (image id, class) where annotators differ
    overwritten: int


# ---------------------------------------------------------------------- readers
def read_answers(path: str | os.PathLike[str], format: str = "auto") -> ReadResult:
    """Answers from a Label Studio JSON export or a CVAT for images 1.1 XML export."""
    path = Path(path)
    if format == "auto":
        format = "cvat" if path.suffix.lower() == ".xml" else "labelstudio"
    if format == "labelstudio":
        return read_labelstudio_export(_read_json(path), where=str(path))
    if format == "cvat":
        return read_cvat_xml(path)
    raise InputFileError(path, f"unknown answers format {format!r}; use labelstudio or cvat")


def read_labelstudio_export(tasks: Any, where: str = "Label Studio export") -> ReadResult:
    """Answers of a Label Studio JSON export (see the module doc)."""
    if not isinstance(tasks, list):
        raise InputFileError(where, "expected a JSON list of tasks (Label Studio's JSON export)")
    out = ReadResult()
    for n, t in enumerate(tasks):
        data = t.get("data") if isinstance(t, dict) else None
        if not isinstance(data, dict):
            raise InputFileError(where, f"task {n}: expected an object with a 'data' object")
        image = str(data.get("image_id") or data.get("image") or "")
        if not image:
            raise InputFileError(where, f"task {n}: data has no 'image_id'")
        out.images += 1
        listed = [str(c) for c in data.get("labels_to_annotate") or []]
        for k, ann in enumerate(t.get("annotations") or []):
            if not isinstance(ann, dict) or ann.get("was_cancelled"):
                continue
            here = f"{where}: task {t.get('id', n)} annotation {ann.get('id', k)}"
            out.answers += _labelstudio_result(ann.get("result") or [], image, listed, here, out)
    return out


def _labelstudio_result(
    result: Iterable[Any], image: str, listed: Sequence[str], where: str, out: ReadResult
) -> list[Answer]:
    ticked: set[str] = set()
    per_class: list[Answer] = []
    for r in result:
        if not isinstance(r, dict) or r.get("type") != "choices":
            continue
        choices = [str(c) for c in (r.get("value") or {}).get("choices") or []]
        name = str(r.get("from_name", ""))
        if name == CONTROL:
            ticked.update(choices)
        elif name.startswith("label_") and choices:  # older config: label_<class> present/absent
            cls = _class_of_group(name, listed)
            if cls is None:
                out.problems.append(f"{where}: group {name!r} names no class of this task")
            elif choices[0] in ("present", "absent"):
                per_class.append(Answer(image, cls, int(choices[0] == "present"), where))
    if not ticked:
        return per_class
    unknown = ticked - set(listed) - {NONE_OF_THESE}
    if unknown:
        out.problems.append(f"{where}: ticked {sorted(unknown)}, not a class this task asked about")
    if NONE_OF_THESE in ticked and ticked & set(listed):
        out.problems.append(
            f"{where}: '{NONE_OF_THESE}' ticked together with "
            f"{sorted(ticked & set(listed))}; not read"
        )
        return per_class
    return per_class + [Answer(image, c, int(c in ticked), where) for c in listed]


def _class_of_group(name: str, classes: Sequence[str]) -> str | None:
    from budgetplan.planner.labelstudio import legacy_choices_name

    return next((c for c in classes if legacy_choices_name(c) == name), None)


def read_cvat_xml(path: str | os.PathLike[str]) -> ReadResult:
    """Answers of a "CVAT for images 1.1" export (see the module doc)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except (ET.ParseError, OSError) as exc:
        raise InputFileError(path, f"not CVAT for images 1.1 XML ({exc})") from None
    if root.tag != "annotations":
        raise InputFileError(
            path, f"expected <annotations> (CVAT for images 1.1), got <{root.tag}>"
        )
    out = ReadResult()
    for image in root.iter("image"):
        name = image.get("name")
        if not name:
            raise InputFileError(path, f"<image id={image.get('id')!r}> has no name")
        out.images += 1
        for tag in image.findall("tag"):
            cls = tag.get("label")
            if not cls:
                continue
            where = f"{path}: image {name!r} tag {cls!r}"
            attr = next((a for a in tag.findall("attribute") if a.get("name") == "present"), None)
            value = (attr.text or "").strip().lower() if attr is not None else "yes"
            if value in ("yes", "no"):
                out.answers.append(Answer(name, cls, int(value == "yes"), where))
            elif value not in ("unknown", ""):
                out.problems.append(f"{where}: present={value!r} is not yes, no or unknown")
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except json.JSONDecodeError as exc:
        raise InputFileError(path, f"not JSON (line {exc.lineno}: {exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read ({exc})") from None


# ---------------------------------------------------------------------- matching images
class ImageIndex:
    """Find a label row from an image name: id, path, file name, or either without extension."""

    def __init__(self, labels: LabelTable) -> None:
        self._exact: dict[str, int] = {}
        self._loose: dict[str, set[int]] = defaultdict(set)
        paths = (
            labels.meta["path"].astype(str).tolist()
            if "path" in labels.meta.columns
            else [""] * labels.n_images
        )
        for row, (image_id, p) in enumerate(zip(labels.ids.tolist(), paths, strict=True)):
            self._exact.setdefault(str(image_id), row)
            for key in _loose_keys(str(image_id)) + (
                _loose_keys(p) if p not in ("", "nan") else []
            ):
                self._loose[key].add(row)

    def row(self, name: str) -> int | None:
        """The row of ``name``; None when no row or more than one row matches."""
        if name in self._exact:
            return self._exact[name]
        rows: set[int] = set()
        for key in _loose_keys(name):
            rows |= self._loose.get(key, set())
            if rows:
                break
        return next(iter(rows)) if len(rows) == 1 else None


def _loose_keys(name: str) -> list[str]:
    p = PurePosixPath(name.replace("\\", "/"))
    keys = [p.as_posix(), p.name, p.with_suffix("").as_posix() if p.suffix else p.as_posix()]
    keys.append(PurePosixPath(p.name).stem if p.suffix else p.name)
    return list(dict.fromkeys(keys))


# ---------------------------------------------------------------------- merging
def merge_answers(
    labels: LabelTable, answers: Sequence[Answer], prefer: Prefer | None = None
) -> MergeResult:
    """Fill ``labels`` with ``answers`` (see the module doc for conflicts and disagreements)."""
    if prefer is not None and prefer not in PREFER:
        raise BudgetplanError(f"prefer must be one of {PREFER} or None, not {prefer!r}")
    index = ImageIndex(labels)
    votes: dict[tuple[int, int], set[int]] = defaultdict(set)
    unmatched: list[str] = []
    for a in answers:
        row = index.row(a.image)
        if row is None:
            unmatched.append(a.image)
            continue
        votes[(row, labels.class_index(a.cls))].add(a.value)
    if unmatched:
        raise DataMismatchError(
            f"{len(set(unmatched))} answered images match no label row (by id, path or file name),"
            f" e.g. {sorted(set(unmatched))[:3]}: are these answers for another dataset?"
        )
    values = labels.values.copy()
    ids = labels.ids.tolist()
    new = same = overwritten = 0
    conflicts: list[tuple[str, str, float, int]] = []
    disagreements: list[tuple[str, str]] = []
    for (r, c), vals in votes.items():
        if len(vals) > 1:
            disagreements.append((str(ids[r]), labels.classes[c]))
            continue
        (v,) = vals
        old = float(values[r, c])
        if np.isnan(old):
            values[r, c] = v
            new += 1
        elif old == v:
            same += 1
        else:
            conflicts.append((str(ids[r]), labels.classes[c], old, v))
            if prefer == "answers":
                values[r, c] = v
                overwritten += 1
    if conflicts and prefer is None:
        examples = "; ".join(f"{i} {c}: label {o:g}, answer {v}" for i, c, o, v in conflicts[:3])
        raise AnswerConflictError(
            f"{len(conflicts)} answers contradict labels you already have ({examples}); nothing"
            " was written: choose --prefer answers or --prefer existing"
        )
    return MergeResult(labels.with_values(values), new, same, conflicts, disagreements, overwritten)


def summary(result: MergeResult, read: Mapping[str, ReadResult]) -> list[str]:
    """Lines for the terminal: what was read, merged, and left out."""
    lines = []
    for where, r in read.items():
        lines.append(f"{where}: {len(r.answers)} answers on {r.images} images")
        lines += [f"  not read: {p}" for p in r.problems[:10]]
        if len(r.problems) > 10:
            lines.append(f"  ... and {len(r.problems) - 10} more not read")
    lines.append(f"{result.new} new labels, {result.same} equal to labels you had")
    if result.conflicts:
        kept = "taken from the answers" if result.overwritten else "kept as they were"
        lines.append(f"{len(result.conflicts)} answers contradicted your labels ({kept}):")
        lines += [f"  {i} {c}: label {o:g}, answer {v}" for i, c, o, v in result.conflicts[:10]]
    if result.disagreements:
        lines.append(
            f"{len(result.disagreements)} labels left as they were: annotators disagree, e.g. "
            + ", ".join(f"{i} {c}" for i, c in result.disagreements[:3])
        )
    return lines
