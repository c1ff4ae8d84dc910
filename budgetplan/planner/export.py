"""Export an AnnotationPlan for annotators and readers: CSV, JSON, Label Studio, CVAT, Markdown.

Every format lists one entry per **image** with all classes to read on it, so an annotator opens
each image once (the reading cost is paid once, as the cost model counts it). Images come in
priority order: by their best position in any action's list (an annotator who stops early has
done the top of every class), ties by action order. Image paths come from the label table's
``meta["path"]`` when given, else the image id; patients from ``LabelTable.patient``.

Formats (``export_plan(plan, format, path, labels=None)``):

- ``csv``: worklist with columns ``plan_id, rank, image_id, image_path, patient,
  labels_to_annotate`` ("|"-joined), ``reason``, ``cost`` (of that image: reading cost once plus
  its label costs; the column sums to the plan's total cost).
- ``json``: the whole plan with provenance (``AnnotationPlan.to_json``; reload with
  ``AnnotationPlan.load``).
- ``labelstudio``: a JSON list of tasks in Label Studio's import format, one per image::

      [{"data": {"image": "<url_prefix><path>", "image_id": ..., "patient": ...,
                 "labels_to_annotate": ["Effusion", "Mass"], "labels_text": "Effusion, Mass",
                 "rank": 1, "plan_id": ...}}, ...]

  plus the labelling config to paste into the project's *Labeling Interface > Code*, written
  beside it as ``<path minus .json>.xml``: an ``<Image name="image" value="$image"/>``, a header
  that shows ``$labels_text`` (the classes to read on this image) and, per class of the plan, a
  ``<Choices>`` group (``choice="single-radio"``) with ``present`` / ``absent`` so that an
  unanswered class stays "not annotated", never "absent". For images served by Label Studio's
  local-files storage, pass ``url_prefix="/data/local-files/?d="``.
- ``cvat``: a CVAT dataset manifest (JSONL, "images" sub-format, ``{"version": "1.0"}``,
  ``{"type": "images"}``, then ``{"name", "extension", "width", "height"}`` per image, in
  priority order: create the task with sorting method *predefined* to keep it) and, beside it
  as ``<path minus .jsonl>.labels.json``, the task's labels for CVAT's *Raw* label editor or
  ``cvat-cli create --labels``: one ``"tag"`` label per class with a ``radio`` attribute
  ``present`` (``yes`` / ``no``). Width and height come from the image files (``image_root``)
  or ``image_size``; the CSV worklist says which classes to read on which image.
- ``markdown``: a report: verdict, the plan, baseline / expected AUC with CIs, the random control,
  the ranked candidate table, the numbers behind the charts, the provenance, and a notice when
  the features are simulated.

Every file is written atomically (``budgetplan.io``): an interrupted export leaves the old file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from budgetplan.data.label_table import LabelTable
from budgetplan.errors import BudgetplanError, DataMismatchError
from budgetplan.io import write_text_atomic, write_with_atomic
from budgetplan.notices import SIMULATED_NOTICE
from budgetplan.planner.plan import AnnotationPlan

FORMATS = ("csv", "json", "labelstudio", "cvat", "markdown")
SUFFIXES = {
    "csv": ".worklist.csv",
    "json": ".plan.json",
    "labelstudio": ".labelstudio.json",
    "cvat": ".cvat.jsonl",
    "markdown": ".md",
}
WORKLIST_COLUMNS = (
    "plan_id",
    "rank",
    "image_id",
    "image_path",
    "patient",
    "labels_to_annotate",
    "reason",
    "cost",
)
LABELSTUDIO_DATA_KEYS = (
    "image",
    "image_id",
    "patient",
    "labels_to_annotate",
    "labels_text",
    "rank",
    "plan_id",
)


class ExportError(BudgetplanError, ValueError):
    """An export that cannot be made as asked (unknown format, missing image sizes, ...)."""


@dataclass(frozen=True)
class WorkItem:
    """One image of the worklist: all classes to read on it, and what that costs."""

    rank: int
    image_id: str
    image_path: str
    patient: str
    classes: tuple[str, ...]
    reasons: tuple[str, ...]
    cost: float


# ---------------------------------------------------------------------- worklist
def worklist(plan: AnnotationPlan, labels: LabelTable | None = None) -> list[WorkItem]:
    """The plan as one item per image, in priority order (see the module doc)."""
    best: dict[str, tuple[int, int]] = {}
    classes: dict[str, list[str]] = {}
    reasons: dict[str, list[str]] = {}
    for a_i, action in enumerate(plan.actions):
        text = _action_reason(action)
        cls = action.class_name
        for pos, image in enumerate(action.image_ids):
            key = (pos, a_i)
            if image not in best:
                best[image] = key
                classes[image] = [cls]
                reasons[image] = [text]
                continue
            if key < best[image]:
                best[image] = key
            classes[image].append(cls)
            if text not in reasons[image]:
                reasons[image].append(text)
    order = sorted(best, key=best.__getitem__)
    paths, patients = _image_info(order, labels)
    cm = plan.cost_model
    items = []
    for rank, image in enumerate(order, start=1):
        cost = cm.image_read_cost + sum(cm.label_cost_of(c) for c in set(classes[image]))
        items.append(
            WorkItem(
                rank,
                image,
                paths[image],
                patients[image],
                tuple(classes[image]),
                tuple(reasons[image]),
                cost,
            )
        )
    return items


def worklist_frame(plan: AnnotationPlan, labels: LabelTable | None = None) -> pd.DataFrame:
    """The CSV worklist as a DataFrame (columns ``WORKLIST_COLUMNS``)."""
    rows = [_worklist_row(plan.plan_id, item) for item in worklist(plan, labels)]
    return pd.DataFrame(rows, columns=list(WORKLIST_COLUMNS))


def _worklist_row(plan_id: str, item: WorkItem) -> list[Any]:
    return [
        plan_id,
        item.rank,
        item.image_id,
        item.image_path,
        item.patient,
        "|".join(item.classes),
        "; ".join(item.reasons),
        round(item.cost, 10),
    ]


def _action_reason(action: Any) -> str:
    return f"{action.class_name}: {action.reason}" if action.reason else action.class_name


def _image_info(
    ids: Sequence[str], labels: LabelTable | None
) -> tuple[dict[str, str], dict[str, str]]:
    if labels is None:
        return {i: i for i in ids}, {i: "" for i in ids}
    pos = pd.Index(labels.ids).get_indexer(np.asarray(ids, dtype=object))
    if (pos < 0).any():
        missing = [ids[j] for j in np.flatnonzero(pos < 0)[:3]]
        raise DataMismatchError(
            f"{int((pos < 0).sum())} image ids of the plan are not in the label table, e.g. {missing}:"
            " was the plan made on another store?"
        )
    if "path" in labels.meta.columns:
        raw = labels.meta["path"].to_numpy(dtype=object)[pos]
        paths = {
            i: (str(p) if isinstance(p, str) and p else i) for i, p in zip(ids, raw, strict=True)
        }
    else:
        paths = {i: i for i in ids}
    patients = dict(zip(ids, labels.patient[pos].tolist(), strict=True))
    return paths, patients


# ---------------------------------------------------------------------- entry point
def path_beside_plan(plan_path: str | os.PathLike[str], fmt: str) -> Path:
    """Beside a saved plan: ``x.json`` -> ``x.worklist.csv`` / ``x.labelstudio.json`` / ..."""
    _check_format(fmt)
    plan_path = Path(plan_path)
    stem = plan_path.name
    for suffix in (".plan.json", ".json"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return plan_path.with_name(stem + SUFFIXES[fmt])


def default_path(plan: AnnotationPlan, fmt: str, directory: str | os.PathLike[str] = ".") -> Path:
    """``<directory>/<target>-<plan_id><suffix>`` for a format."""
    _check_format(fmt)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", plan.target)
    return Path(directory) / f"{safe}-{plan.plan_id}{SUFFIXES[fmt]}"


def export_plan(
    plan: AnnotationPlan,
    format: str,
    path: str | os.PathLike[str],
    labels: LabelTable | None = None,
    *,
    url_prefix: str = "",
    image_root: str | os.PathLike[str] | None = None,
    image_size: tuple[int, int] | None = None,
) -> list[Path]:
    """Write ``plan`` in ``format`` to ``path`` (and its companion file); returns the files written.

    ``labels`` gives image paths and patients (else ids are used). ``url_prefix`` is put before
    each image path in Label Studio tasks. For CVAT, ``image_root`` is where image paths are read
    to get their width and height, and ``image_size`` (width, height) is used for images that
    cannot be read there.
    """
    _check_format(format)
    path = Path(path)
    if format == "csv":
        return [_write_csv(plan, path, labels)]
    if format == "json":
        write_text_atomic(path, plan.to_json())
        return [path]
    if format == "labelstudio":
        return _write_labelstudio(plan, path, labels, url_prefix)
    if format == "cvat":
        return _write_cvat(plan, path, labels, image_root, image_size)
    write_text_atomic(path, markdown_report(plan))
    return [path]


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _stream(path: Path, chunks: Iterator[str]) -> None:
    """Write text chunks to ``path`` atomically (a failure mid-way leaves the old file)."""

    def writer(fh: BinaryIO) -> None:
        for chunk in chunks:
            fh.write(chunk.encode("utf-8"))

    write_with_atomic(path, writer)


# ---------------------------------------------------------------------- csv
def _write_csv(plan: AnnotationPlan, path: Path, labels: LabelTable | None) -> Path:
    items = worklist(plan, labels)
    plan_id = plan.plan_id

    def chunks() -> Iterator[str]:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(WORKLIST_COLUMNS)
        for item in items:
            w.writerow(_worklist_row(plan_id, item))
            if buf.tell() > 1 << 16:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    _stream(path, chunks())
    return path


# ---------------------------------------------------------------------- label studio
def labelstudio_tasks(
    plan: AnnotationPlan, labels: LabelTable | None = None, url_prefix: str = ""
) -> list[dict[str, Any]]:
    """The Label Studio tasks (one per image, see the module doc)."""
    plan_id = plan.plan_id
    return [_labelstudio_task(item, plan_id, url_prefix) for item in worklist(plan, labels)]


def _labelstudio_task(item: WorkItem, plan_id: str, url_prefix: str) -> dict[str, Any]:
    return {
        "data": {
            "image": f"{url_prefix}{item.image_path}",
            "image_id": item.image_id,
            "patient": item.patient,
            "labels_to_annotate": list(item.classes),
            "labels_text": ", ".join(item.classes),
            "rank": item.rank,
            "plan_id": plan_id,
        }
    }


def choices_name(cls: str) -> str:
    """The ``<Choices name>`` of a class in the Label Studio config (letters, digits, _)."""
    return "label_" + re.sub(r"[^A-Za-z0-9_]+", "_", cls).strip("_")


def labelstudio_config(classes: Sequence[str]) -> str:
    """The labelling config XML: the image, the classes to read, present / absent per class."""
    names = [choices_name(c) for c in classes]
    if len(set(names)) != len(names):
        raise ExportError(f"two classes map to the same Label Studio name: {classes}")
    view = ET.Element("View")
    # Header shows static text or one $field (Label Studio docs, Header tag): two headers.
    ET.SubElement(view, "Header", value="Read this image for (leave the other classes blank):")
    ET.SubElement(view, "Header", value="$labels_text")
    ET.SubElement(view, "Image", name="image", value="$image", zoom="true")
    for cls, name in zip(classes, names, strict=True):
        ET.SubElement(view, "Header", value=cls, size="5")
        group = ET.SubElement(
            view, "Choices", name=name, toName="image", choice="single-radio", showInline="true"
        )
        ET.SubElement(group, "Choice", value="present")
        ET.SubElement(group, "Choice", value="absent")
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def labelstudio_config_path(path: str | os.PathLike[str]) -> Path:
    """Where the config is written beside the tasks file: ``x.labelstudio.json`` -> ``x.labelstudio.xml``."""
    return Path(path).with_suffix(".xml")


def validate_labelstudio(tasks: Any, config_xml: str) -> None:
    """Check tasks and config against Label Studio's documented import format.

    Tasks: a JSON list of objects, each with a ``data`` object holding every ``$variable`` the
    config uses (and no reserved ``id``); config: a ``<View>`` whose control tags' ``toName``
    name an object tag and whose ``name`` s are unique. Raises ExportError.
    """
    try:
        root = ET.fromstring(config_xml)
    except ET.ParseError as exc:
        raise ExportError(f"Label Studio config is not XML: {exc}") from None
    if root.tag != "View":
        raise ExportError(f"Label Studio config must start with <View>, not <{root.tag}>")
    variables = set()
    objects, controls = set(), []
    for el in root.iter():
        for value in el.attrib.values():
            variables.update(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", value))
        if el.tag in ("Image", "Text", "HyperText"):
            objects.add(el.get("name"))
        if "toName" in el.attrib:
            controls.append(el)
    names = [c.get("name") for c in controls]
    if len(set(names)) != len(names):
        raise ExportError("Label Studio config: control tag names are not unique")
    for c in controls:
        if c.get("toName") not in objects:
            raise ExportError(
                f"Label Studio config: <{c.tag} name={c.get('name')!r}> points to unknown {c.get('toName')!r}"
            )
    if not isinstance(tasks, list):
        raise ExportError(f"Label Studio tasks must be a JSON list, got {type(tasks).__name__}")
    for i, task in enumerate(tasks):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise ExportError(f"Label Studio task {i}: expected an object with a 'data' object")
        if "id" in task:
            raise ExportError(f"Label Studio task {i}: 'id' is reserved by Label Studio")
        missing = variables - set(task["data"])
        if missing:
            raise ExportError(
                f"Label Studio task {i}: data lacks {sorted(missing)} used by the config"
            )


def _write_labelstudio(
    plan: AnnotationPlan, path: Path, labels: LabelTable | None, url_prefix: str
) -> list[Path]:
    tasks = labelstudio_tasks(plan, labels, url_prefix)
    config = labelstudio_config(_plan_classes(plan))
    validate_labelstudio(tasks, config)
    xml_path = labelstudio_config_path(path)
    if xml_path == path:
        raise ExportError(
            f"{path}: give the Label Studio tasks file a .json name (the config goes to .xml)"
        )
    write_text_atomic(xml_path, config)

    def chunks() -> Iterator[str]:
        yield "[\n"
        for i, task in enumerate(tasks):
            yield ("  " if i == 0 else ",\n  ") + json.dumps(task, ensure_ascii=False)
        yield "\n]\n"

    _stream(path, chunks())
    return [path, xml_path]


def _plan_classes(plan: AnnotationPlan) -> list[str]:
    seen: list[str] = []
    for a in plan.actions:
        if a.class_name not in seen:
            seen.append(a.class_name)
    return seen


# ---------------------------------------------------------------------- cvat
CVAT_MANIFEST_VERSION = "1.0"


def cvat_labels(classes: Sequence[str]) -> list[dict[str, Any]]:
    """CVAT task labels: one frame-level tag per class with a present yes / no attribute."""
    return [
        {
            "name": cls,
            "type": "tag",
            "attributes": [
                {
                    "name": "present",
                    "mutable": False,
                    "input_type": "radio",
                    "default_value": "yes",
                    "values": ["yes", "no"],
                }
            ],
        }
        for cls in classes
    ]


def cvat_labels_path(path: str | os.PathLike[str]) -> Path:
    """``x.cvat.jsonl`` -> ``x.cvat.labels.json``."""
    return Path(path).with_suffix(".labels.json")


def cvat_manifest_lines(
    items: Sequence[WorkItem],
    image_root: str | os.PathLike[str] | None = None,
    image_size: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """The manifest as JSON objects (header lines first), in priority order."""
    lines: list[dict[str, Any]] = [{"version": CVAT_MANIFEST_VERSION}, {"type": "images"}]
    for item in items:
        p = PurePosixPath(item.image_path.replace("\\", "/"))
        if not p.suffix:
            raise ExportError(
                f"CVAT manifests list image files, but image {item.image_id!r} has no file path with an"
                f" extension ({item.image_path!r}); image paths come from the dataset's 'path' column"
                " (export with --store)"
            )
        width, height = _image_size(item.image_path, image_root, image_size)
        lines.append(
            {
                "name": str(p.with_suffix("")),
                "extension": p.suffix,
                "width": width,
                "height": height,
            }
        )
    return lines


def _image_size(
    image_path: str, root: str | os.PathLike[str] | None, default: tuple[int, int] | None
) -> tuple[int, int]:
    file = Path(root) / image_path if root is not None else Path(image_path)
    if file.is_file():
        try:
            from PIL import Image

            with Image.open(file) as im:  # reads the header only
                return int(im.width), int(im.height)
        except OSError:
            pass
    if default is not None:
        return int(default[0]), int(default[1])
    raise ExportError(
        f"CVAT manifests need each image's width and height: cannot read {str(file)!r}; give the image"
        " folder (--image-root) or one size for all images (--image-size 1024x1024)"
    )


def validate_cvat_manifest(text: str) -> None:
    """Check a manifest against CVAT's "images" sub-format (one JSON object per line)."""
    raw = text.splitlines()
    if any(not ln.strip() for ln in raw):
        raise ExportError("CVAT manifest: empty lines are not allowed")
    try:
        objs = [json.loads(ln) for ln in raw]
    except json.JSONDecodeError as exc:
        raise ExportError(f"CVAT manifest: a line is not JSON ({exc})") from None
    if (
        len(objs) < 2
        or not isinstance(objs[0].get("version"), str)
        or objs[1] != {"type": "images"}
    ):
        raise ExportError(
            'CVAT manifest: must start with {"version": "..."} and {"type": "images"}'
        )
    for n, obj in enumerate(objs[2:], start=3):
        ok = (
            isinstance(obj.get("name"), str)
            and obj["name"]
            and isinstance(obj.get("extension"), str)
            and obj["extension"].startswith(".")
            and all(isinstance(obj.get(k), int) and obj[k] > 0 for k in ("width", "height"))
        )
        if not ok:
            raise ExportError(
                f"CVAT manifest line {n}: needs name, extension ('.png'), width and height > 0"
            )


def _write_cvat(
    plan: AnnotationPlan,
    path: Path,
    labels: LabelTable | None,
    image_root: str | os.PathLike[str] | None,
    image_size: tuple[int, int] | None,
) -> list[Path]:
    lines = cvat_manifest_lines(worklist(plan, labels), image_root, image_size)
    labels_path = cvat_labels_path(path)
    if labels_path == path:
        raise ExportError(
            f"{path}: give the CVAT manifest a .jsonl name (the labels go to .labels.json)"
        )
    write_text_atomic(labels_path, json.dumps(cvat_labels(_plan_classes(plan)), indent=2) + "\n")
    _stream(path, (json.dumps(obj, separators=(",", ":")) + "\n" for obj in lines))
    return [path, labels_path]


# ---------------------------------------------------------------------- markdown
def markdown_report(plan: AnnotationPlan) -> str:
    """A self-contained report of the plan (see the module doc)."""
    out: list[str] = []
    unit = plan.unit
    out.append(f"# Annotation plan for {plan.target}")
    out.append("")
    budget = (
        "no budget given"
        if plan.provenance.get("budget_given") is False
        else f"budget {_fmt(plan.budget)} {unit}"
    )
    out.append(f"Plan `{plan.plan_id}`, {budget}, total cost {_fmt(plan.total_cost)} {unit}.")
    out.append("")
    simulated = plan.provenance.get("simulated")
    if simulated:
        out += [f"> **Simulated features.** {SIMULATED_NOTICE.removeprefix('NOTE: ')}", ""]
    elif simulated is None:
        out += ["> Whether the features were real or simulated is not recorded in this plan.", ""]
    if plan.verdict:
        out += ["## Verdict", "", plan.verdict, ""]

    out += ["## The plan", ""]
    if plan.actions:
        rows = [
            [i, a.kind, a.class_name, a.source, a.n_images, _fmt(a.cost), a.reason]
            for i, a in enumerate(plan.actions, start=1)
        ]
        out += _table(
            ["step", "action", "class", "source", "images", f"cost ({unit})", "reason"], rows
        )
        out.append("")
        n_images = len(plan.assignments())
        out.append(
            f"{n_images} distinct images to open; reading cost {_fmt(plan.cost_model.image_read_cost)} {unit} per image, paid once."
        )
    else:
        out.append("Nothing to annotate: no candidate is worth its cost within this budget.")
    out.append("")

    out += ["## Expected target AUC", ""]
    b, e = plan.baseline, plan.expected
    rows = [
        ["baseline (labels you have)", _fmt(b.get("auc")), _ci(b, "auc")],
        ["with the plan", _fmt(e.get("auc")), _ci(e, "auc")],
        ["gain", _gain(e.get("gain")), _ci(e, "gain")],
    ]
    out += _table(["", "AUC", "95% CI"], rows)
    out.append("")

    out += ["## Random control of equal cost", ""]
    rc = plan.random_control
    if rc is None:
        out.append("No random control (the plan is empty).")
    else:
        draws = rc.get("draws") or [rc.get("classes") or []]
        cls = "; ".join(", ".join(map(str, d)) for d in draws) or "none"
        out += _table(
            ["classes (each random draw)", f"cost ({unit})", "gain", "95% CI"],
            [[cls, _fmt(rc.get("cost")), _gain(rc.get("gain")), _ci(rc, "gain")]],
        )
    out.append("")

    if plan.candidates:
        out += ["## Candidates, ranked", ""]
        cols = _columns(plan.candidates)
        out += _table(cols, [[_fmt(row.get(c)) for c in cols] for row in plan.candidates])
        out.append("")

    out += ["## Numbers behind the charts", ""]
    chart_cols = [
        c
        for c in ("class", "gain", "gain_ci_low", "gain_ci_high", "cost", "gain_per_cost", "runs")
        if plan.candidates and c in _columns(plan.candidates)
    ]
    if chart_cols:
        out += ["Gain per candidate (bar chart with CI whiskers):", "", "```csv"]
        out += [",".join(chart_cols)] + [
            ",".join(_csv_cell(r.get(c)) for c in chart_cols) for r in plan.candidates
        ]
        out += ["```", ""]
    out += _evidence_blocks(plan.evidence)
    out += ["## Provenance", ""]
    prov = dict(plan.provenance)
    versions = prov.pop("versions", None)
    prov.pop("config", None)
    out += _table(
        ["", ""],
        [
            [k, _fmt(v) if not isinstance(v, dict | list) else json.dumps(v)]
            for k, v in prov.items()
        ],
    )
    if isinstance(versions, Mapping):
        out += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v)]
    out.append("")
    return "\n".join(out)


def _evidence_blocks(evidence: Mapping[str, Any]) -> list[str]:
    """Evidence as readable tables: scalars in one table, each structured entry in its own."""
    out: list[str] = []
    scalars = [[str(k).replace("_", " "), _fmt(v)] for k, v in evidence.items() if _is_scalar(v)]
    if scalars:
        out += ["### Run summary", "", *_table(["", ""], scalars), ""]
    for key, value in evidence.items():
        if not _is_scalar(value) and value not in ([], {}):
            out += [f"### {str(key).replace('_', ' ')}", "", *_structured(value), ""]
    return out


def _structured(value: Any) -> list[str]:
    if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
        cols = _columns(value)
        return _table(cols, [[_fmt(r.get(c)) for c in cols] for r in value])
    if isinstance(value, list) and all(_is_scalar(v) for v in value):
        return ["; ".join(_fmt(v) for v in value)]
    if isinstance(value, Mapping):
        out: list[str] = []
        flat = [[str(k), _fmt(v)] for k, v in value.items() if _is_scalar(v)]
        if flat:
            out += _table(["", ""], flat)
        nested = {
            str(k): v
            for k, v in value.items()
            if isinstance(v, Mapping) and all(_is_scalar(x) for x in v.values())
        }
        if nested:  # e.g. {"rho": {relation: x}, "p_value": {relation: y}}: one row per inner key
            rows = _columns(list(nested.values()))
            out += [""] if out else []
            out += _table(
                ["", *nested], [[r, *(_fmt(nested[c].get(r)) for c in nested)] for r in rows]
            )
        for k, v in value.items():
            if not _is_scalar(v) and str(k) not in nested:
                out += ["", f"{k}:", "", *_structured(v)]
        return out
    return ["```json", json.dumps(value, indent=1, default=str), "```"]


def _is_scalar(x: Any) -> bool:
    return x is None or isinstance(x, str | int | float | bool | np.generic)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(str(k))
    return cols


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(cell(x) for x in r) + " |" for r in rows]
    return lines


def _fmt(x: Any, signed: bool = False) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float | np.floating):
        if not math.isfinite(float(x)):
            return "–"
        return f"{float(x):+.4g}" if signed else f"{float(x):.4g}"
    if isinstance(x, list | tuple):
        return ", ".join(_fmt(v) for v in x)
    return str(x)


def _gain(x: Any) -> str:
    """An AUC difference, also in AUC points (x 100) as the terminal output shows it."""
    if isinstance(x, int | float | np.number) and math.isfinite(float(x)):
        return f"{float(x):+.4g} ({100 * float(x):+.1f} points)"
    return _fmt(x)


def _ci(block: Mapping[str, Any], name: str) -> str:
    lo, hi = block.get(f"{name}_ci_low"), block.get(f"{name}_ci_high")
    if lo is None and hi is None:
        return "–"
    return f"[{_fmt(lo)}, {_fmt(hi)}]"


def _csv_cell(x: Any) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ""
    s = str(x)
    return '"' + s.replace('"', '""') + '"' if ("," in s or '"' in s) else s
