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
- ``labelstudio``: a JSON list of tasks in Label Studio's import format, one per image, and the
  labelling config beside it as ``<path minus .json>.xml``
  (:mod:`budgetplan.planner.labelstudio`: each task lists only the classes to read on its image,
  required, beside the image; model scores, if given, as predictions). Image values Label Studio
  cannot load (no ``url_prefix``) give an :class:`ExportWarning` naming the fix.
- ``cvat``: a CVAT dataset manifest (JSONL, "images" sub-format, ``{"version": "1.0"}``,
  ``{"type": "images"}``, then ``{"name", "extension", "width", "height"}`` per image, in
  priority order: create the task with sorting method *predefined* to keep it); beside it
  ``<path minus .jsonl>.labels.json``, the task's labels for CVAT's *Raw* label editor or
  ``cvat-cli create --labels`` (one ``"tag"`` label per class, attribute ``present``:
  ``unknown`` / ``yes`` / ``no``); and ``<path minus .jsonl>.annotations.xml`` in "CVAT for
  images 1.1" format, to upload as the task's annotations: on each image one tag per class to read
  there, ``present=unknown``, which the annotator sets to yes or no (``budgetplan answers import``
  reads the exported file back). Names are the image paths relative to ``manifest_root`` (default:
  the paths as the dataset gives them). Width and height come from the image files
  (``image_root``) or ``image_size`` (an :class:`ExportWarning` says how many were filled in). A
  dataset without image files (ids only) cannot be given to CVAT: one error says so up front.
- ``markdown``: a report: verdict, the plan, the worklist (the first ``MARKDOWN_WORKLIST`` images
  with rank, classes to read and reason; thumbnails of image files that resolve, and, given the
  embeddings, each image's place on a 2-D map with a character scatter), baseline / expected
  AUC with CIs, the random control, the ranked candidate table, the numbers behind the charts,
  the provenance, and a notice when the features are simulated.

Every file is written atomically (``budgetplan.io``): an interrupted export leaves the old file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from budgetplan.data.label_table import LabelTable
from budgetplan.errors import DataMismatchError, InputFileError
from budgetplan.io import check_not_inputs, check_writable, write_text_atomic, write_with_atomic
from budgetplan.notices import SIMULATED_NOTICE
from budgetplan.planner import labelstudio as ls
from budgetplan.planner.choices import FORMATS
from budgetplan.planner.export_errors import ExportError, ExportWarning
from budgetplan.planner.labelstudio import validate_labelstudio
from budgetplan.planner.plan import AnnotationPlan

Scores = Mapping[str, Mapping[str, float]]
"""Model scores: image id -> {class: probability}."""

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
LABELSTUDIO_DATA_KEYS = ls.TASK_DATA_KEYS
MARKDOWN_WORKLIST = 25
__all__ = [
    "FORMATS",
    "ExportError",
    "ExportWarning",
    "WorkItem",
    "export_plan",
    "markdown_report",
    "path_beside_plan",
    "read_scores",
    "validate_cvat_manifest",
    "validate_labelstudio",
    "worklist",
]


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
            f"{int((pos < 0).sum())} image ids of the plan are not in the label table, "
            f"e.g. {missing}:"
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
    scores: Scores | None = None,
    manifest_root: str | os.PathLike[str] | None = None,
    inputs: Sequence[str | os.PathLike[str] | None] = (),
    vectors: np.ndarray | None = None,
) -> list[Path]:
    """Write ``plan`` in ``format`` to ``path`` (and its companion files); returns the files
    written.

    ``labels`` gives image paths and patients (else ids are used). Label Studio: ``url_prefix``
    is put before each image path; ``scores`` (image id -> {class: probability}, e.g.
    :func:`read_scores`) become predictions. CVAT: ``image_root`` is where image paths are read
    to get their width and height, ``image_size`` (width, height) is used for images that cannot
    be read there, and names are relative to ``manifest_root``. Markdown: ``vectors`` (the
    store's embeddings, rows as ``labels``) add the 2-D map of the worklist, and images that
    resolve (under ``image_root``) show as thumbnails. Problems the user must fix later
    (unloadable image URLs, filled-in sizes) are :class:`ExportWarning` s.

    Refused before writing: a file that is one of ``inputs`` (the plan file, the store) or
    a directory, and, when ``labels`` is given, a plan whose target or action classes the
    labels do not have.
    """
    _check_format(format)
    path = Path(path)
    outputs = output_paths(format, path)
    check_not_inputs(outputs, inputs)
    for out in outputs:
        check_writable(out)
    if labels is not None:
        plan.check_classes(labels.classes)
    if format == "csv":
        return [_write_csv(plan, path, labels)]
    if format == "json":
        write_text_atomic(path, plan.to_json())
        return [path]
    if format == "labelstudio":
        return _write_labelstudio(plan, path, labels, url_prefix, scores)
    if format == "cvat":
        return _write_cvat(
            plan,
            path,
            worklist(plan, labels),
            CvatFiles(image_root, image_size, manifest_root),
        )
    write_text_atomic(path, markdown_report(plan, labels, vectors=vectors, image_root=image_root))
    return [path]


def output_paths(fmt: str, path: str | os.PathLike[str]) -> list[Path]:
    """The files :func:`export_plan` writes for ``fmt`` at ``path`` (with companions)."""
    path = Path(path)
    if fmt == "labelstudio":
        return [path, labelstudio_config_path(path)]
    if fmt == "cvat":
        return [path, cvat_labels_path(path), cvat_annotations_path(path)]
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
    plan: AnnotationPlan,
    labels: LabelTable | None = None,
    url_prefix: str = "",
    scores: Scores | None = None,
) -> list[dict[str, Any]]:
    """The Label Studio tasks (one per image; see :mod:`budgetplan.planner.labelstudio`)."""
    plan_id = plan.plan_id
    scores = scores or {}
    return [
        ls.task(
            _labelstudio_data(item, plan_id, url_prefix), item.classes, scores.get(item.image_id)
        )
        for item in worklist(plan, labels)
    ]


def _labelstudio_data(item: WorkItem, plan_id: str, url_prefix: str) -> dict[str, Any]:
    return {
        "image": f"{url_prefix}{item.image_path}",
        "image_id": item.image_id,
        "patient": item.patient,
        "labels_to_annotate": list(item.classes),
        "labels_text": ", ".join(item.classes),
        "rank": item.rank,
        "plan_id": plan_id,
    }


def labelstudio_config_path(path: str | os.PathLike[str]) -> Path:
    """Where the config is written beside the tasks file: ``x.labelstudio.json`` ->
    ``x.labelstudio.xml``."""
    return Path(path).with_suffix(".xml")


def _write_labelstudio(
    plan: AnnotationPlan,
    path: Path,
    labels: LabelTable | None,
    url_prefix: str,
    scores: Scores | None,
) -> list[Path]:
    tasks = labelstudio_tasks(plan, labels, url_prefix, scores)
    config = ls.labelstudio_config()
    validate_labelstudio(tasks, config)
    problem = ls.unloadable_message([t["data"]["image"] for t in tasks])
    if problem:
        warnings.warn(ExportWarning(problem), stacklevel=3)
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


def read_scores(path: str | os.PathLike[str], id_column: str = "id") -> Scores:
    """Model scores per image from a CSV (``id`` column + one column per class, in [0, 1])."""
    from budgetplan.data.csv_labels import read_csv_checked

    frame = read_csv_checked(path, dtype={id_column: str})
    if id_column not in frame.columns:
        raise InputFileError(path, f"no {id_column!r} column (columns: {list(frame.columns)[:8]})")
    classes = [c for c in frame.columns if c != id_column]
    values = frame[classes].apply(pd.to_numeric, errors="coerce")
    bad = values.notna() & ((values < 0) | (values > 1))
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise InputFileError(
            path, f"row {row + 2}, column {classes[col]!r}: scores must lie in [0, 1]"
        )
    ids = frame[id_column].astype(str).str.strip().tolist()
    return {
        i: {c: float(v) for c, v in zip(classes, row, strict=True) if math.isfinite(v)}
        for i, row in zip(ids, values.to_numpy(dtype=float), strict=True)
    }


def _plan_classes(plan: AnnotationPlan) -> list[str]:
    seen: list[str] = []
    for a in plan.actions:
        if a.class_name not in seen:
            seen.append(a.class_name)
    return seen


# ---------------------------------------------------------------------- cvat
CVAT_MANIFEST_VERSION = "1.0"
CVAT_ANNOTATIONS_VERSION = "1.1"
CVAT_ATTRIBUTE = "present"
CVAT_VALUES = ("unknown", "yes", "no")


@dataclass(frozen=True)
class CvatFiles:
    """Where CVAT export finds image files (``image_root``), the size of missing ones
    (``image_size``, width x height) and the folder manifest names are relative to."""

    image_root: str | os.PathLike[str] | None = None
    image_size: tuple[int, int] | None = None
    manifest_root: str | os.PathLike[str] | None = None


def cvat_labels(classes: Sequence[str]) -> list[dict[str, Any]]:
    """CVAT task labels: one frame-level tag per class with a ``present`` attribute."""
    return [
        {
            "name": cls,
            "type": "tag",
            "attributes": [
                {
                    "name": CVAT_ATTRIBUTE,
                    "mutable": False,
                    "input_type": "radio",
                    "default_value": CVAT_VALUES[0],
                    "values": list(CVAT_VALUES),
                }
            ],
        }
        for cls in classes
    ]


def cvat_labels_path(path: str | os.PathLike[str]) -> Path:
    """``x.cvat.jsonl`` -> ``x.cvat.labels.json``."""
    return Path(path).with_suffix(".labels.json")


def cvat_annotations_path(path: str | os.PathLike[str]) -> Path:
    """``x.cvat.jsonl`` -> ``x.cvat.annotations.xml``."""
    return Path(path).with_suffix(".annotations.xml")


def check_cvat_images(items: Sequence[WorkItem]) -> None:
    """One error, up front, when the images have no file paths (a store of ids only)."""
    no_file = [it for it in items if not PurePosixPath(it.image_path.replace("\\", "/")).suffix]
    if no_file:
        raise ExportError(
            f"CVAT needs image files, but {len(no_file)} of {len(items)} images have only an id, no"
            f" file path (e.g. {no_file[0].image_id!r});"
            " export csv, labelstudio or markdown instead,"
            " or export with --store of a dataset whose labels have a 'path' column"
        )


def cvat_manifest_lines(
    items: Sequence[WorkItem],
    image_root: str | os.PathLike[str] | None = None,
    image_size: tuple[int, int] | None = None,
    *,
    manifest_root: str | os.PathLike[str] | None = None,
    filled: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The manifest as JSON objects (header lines first), in priority order.

    Images whose size came from ``image_size`` are appended to ``filled`` when given.
    """
    check_cvat_images(items)
    lines: list[dict[str, Any]] = [{"version": CVAT_MANIFEST_VERSION}, {"type": "images"}]
    for item in items:
        p = PurePosixPath(cvat_name(item.image_path, image_root, manifest_root))
        width, height, read = _image_size(item.image_path, image_root, image_size)
        if not read and filled is not None:
            filled.append(item.image_id)
        lines.append(
            {
                "name": str(p.with_suffix("")),
                "extension": p.suffix,
                "width": width,
                "height": height,
            }
        )
    return lines


def cvat_name(
    image_path: str,
    image_root: str | os.PathLike[str] | None,
    manifest_root: str | os.PathLike[str] | None,
) -> str:
    """An image's name in the manifest: its path relative to ``manifest_root`` (POSIX form)."""
    raw = image_path.replace("\\", "/")
    if manifest_root is None:
        return raw
    file = Path(raw)
    if not file.is_absolute() and image_root is not None:
        file = Path(image_root) / file
    root = Path(manifest_root)
    rel = os.path.relpath(os.path.abspath(file), os.path.abspath(root))
    if rel == ".." or rel.startswith("../") or os.path.isabs(rel):
        raise ExportError(
            f"image {str(file)!r} is not under the manifest root {str(root)!r}; choose a"
            " --manifest-root that holds every image"
        )
    return PurePosixPath(Path(rel)).as_posix()


def _image_size(
    image_path: str, root: str | os.PathLike[str] | None, default: tuple[int, int] | None
) -> tuple[int, int, bool]:
    """(width, height, read from the file)."""
    file = Path(root) / image_path if root is not None else Path(image_path)
    if file.is_file():
        try:
            from PIL import Image

            with Image.open(file) as im:  # reads the header only
                return int(im.width), int(im.height), True
        except OSError:
            pass
    if default is not None:
        return int(default[0]), int(default[1]), False
    raise ExportError(
        "CVAT manifests need each image's width and height: "
        f"cannot read {str(file)!r}; give the image"
        " folder (--image-root) or one size for all images (--image-size 1024x1024)"
    )


def cvat_annotations(items: Sequence[WorkItem], manifest: Sequence[Mapping[str, Any]]) -> str:
    """The "CVAT for images 1.1" annotations: per image one tag per class to read, unknown."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = CVAT_ANNOTATIONS_VERSION
    frames = [m for m in manifest if "name" in m]
    for frame, (item, m) in enumerate(zip(items, frames, strict=True)):
        image = ET.SubElement(
            root,
            "image",
            id=str(frame),
            name=f"{m['name']}{m['extension']}",
            width=str(m["width"]),
            height=str(m["height"]),
        )
        for cls in item.classes:
            tag = ET.SubElement(image, "tag", label=cls, source="manual")
            ET.SubElement(tag, "attribute", name=CVAT_ATTRIBUTE).text = CVAT_VALUES[0]
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


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
    plan: AnnotationPlan, path: Path, items: Sequence[WorkItem], files: CvatFiles
) -> list[Path]:
    filled: list[str] = []
    lines = cvat_manifest_lines(
        items,
        files.image_root,
        files.image_size,
        manifest_root=files.manifest_root,
        filled=filled,
    )
    if filled:
        w, h = files.image_size or (0, 0)
        where = files.image_root if files.image_root is not None else "the working folder"
        warnings.warn(
            ExportWarning(
                f"{len(filled)} of {len(items)} image files were not found under {where} (e.g."
                f" {filled[0]!r}): their size in the CVAT manifest is the --image-size {w}x{h}"
            ),
            stacklevel=3,
        )
    labels_path = cvat_labels_path(path)
    annotations_path = cvat_annotations_path(path)
    if path in (labels_path, annotations_path):
        raise ExportError(
            f"{path}: give the CVAT manifest a .jsonl name (the labels go to .labels.json)"
        )
    write_text_atomic(labels_path, json.dumps(cvat_labels(_plan_classes(plan)), indent=2) + "\n")
    write_text_atomic(annotations_path, cvat_annotations(items, lines))
    _stream(path, (json.dumps(obj, separators=(",", ":")) + "\n" for obj in lines))
    return [path, labels_path, annotations_path]


# ---------------------------------------------------------------------- markdown
def markdown_report(
    plan: AnnotationPlan,
    labels: LabelTable | None = None,
    *,
    vectors: np.ndarray | None = None,
    image_root: str | os.PathLike[str] | None = None,
) -> str:
    """A self-contained report of the plan (see the module doc); ``labels`` gives image paths,
    ``vectors`` (rows as ``labels``) the worklist's 2-D map, ``image_root`` where the image paths
    resolve for thumbnails."""
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
            f"{n_images} distinct images to open; "
            f"reading cost {_fmt(plan.cost_model.image_read_cost)} {unit} per image, paid once."
        )
    else:
        out.append("Nothing to annotate: no candidate is worth its cost within this budget.")
    out.append("")
    if plan.actions:
        out += _worklist_section(plan, labels, vectors=vectors, image_root=image_root)

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


def _worklist_section(
    plan: AnnotationPlan,
    labels: LabelTable | None,
    *,
    vectors: np.ndarray | None = None,
    image_root: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The first ``MARKDOWN_WORKLIST`` images to open: rank, image, classes to read, reason; a
    thumbnail where the image file resolves, the map position when ``vectors`` are given."""
    from budgetplan.planner.report_map import resolve_image, text_map, worklist_map

    items = worklist(plan, labels)
    shown = items[:MARKDOWN_WORKLIST]
    with_path = any(it.image_path != it.image_id for it in shown)
    thumbs = {it.image_id: resolve_image(it.image_path, image_root) for it in shown}
    with_thumbs = any(v is not None for v in thumbs.values())
    points = None
    if vectors is not None and labels is not None:
        points = worklist_map(vectors, labels, items, plan.target, seed=0)
    where = (
        {}
        if points is None
        else {r.image_id: f"({r.x:+.2f}, {r.y:+.2f})" for r in points.itertuples() if r.rank > 0}
    )
    header = [
        "rank",
        *(["thumbnail"] if with_thumbs else []),
        "image",
        *(["file"] if with_path else []),
        "classes to read",
        "reason",
        *(["map (x, y)"] if where else []),
    ]
    rows = [
        [
            it.rank,
            *([_thumbnail(thumbs[it.image_id])] if with_thumbs else []),
            it.image_id,
            *([it.image_path] if with_path else []),
            ", ".join(it.classes),
            "; ".join(it.reasons),
            *([where.get(it.image_id, "")] if where else []),
        ]
        for it in shown
    ]
    title = f"## Worklist: the first {len(shown)} of {len(items)} images"
    if len(shown) == len(items):
        title = f"## Worklist: all {len(items)} images"
    out = [title, "", "Open the images in this order (the export formats list them all).", ""]
    out += [*_table(header, rows), ""]
    if points is not None:
        n_back = int((points["rank"].isna()).sum())
        out += [
            "### Where they sit: a 2-D map of the embeddings",
            "",
            f"PCA of the embeddings to two axes; `1`-`9` = the first nine images to open, `*` = "
            f"the other images of the plan, `.` = {n_back:,} other images of the store (a sample).",
            "",
            "```text",
            *text_map(points),
            "```",
            "",
        ]
    return out


def _thumbnail(path: Path | None) -> str:
    """An HTML thumbnail for a Markdown table cell (empty when the file did not resolve)."""
    return "" if path is None else f'<img src="{path.as_posix()}" width="64">'


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
        v = float(x)
        if not math.isfinite(v):
            return "–"
        if v.is_integer() and abs(v) < 1e15:  # costs and budgets: 20,000, never 2e+04
            return f"{v:+,.0f}" if signed else f"{v:,.0f}"
        return f"{v:+.4g}" if signed else f"{v:.4g}"
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
