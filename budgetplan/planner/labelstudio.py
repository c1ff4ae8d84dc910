"""Label Studio tasks and labelling config for a plan: per image, only the classes to read there.

One task per worklist image (``export.worklist``). The config puts the image on the left and the
question on the right (a flex row, so the choices never sit below a tall, zoomable image), with
one ``<Choices name="findings" choice="multiple" required="true" value="$choices">``: its options
come from the task (Label Studio's dynamic choices), so each image lists only the classes the plan
reads on it, plus ``NONE_OF_THESE``. A submitted annotation therefore answers every listed class:
ticked = present (1), not ticked = absent (0); ``required`` stops an empty submission, and
"none of these" ticked with a class is a contradiction that ``answers`` reports. A skipped task
(``was_cancelled``) answers nothing.

Model scores, where given (``scores``: image id -> {class: probability}), become one prediction
per task (Label Studio's pre-annotations): the classes with score >= ``threshold`` ticked, else
"none of these"; the prediction's ``score`` is the highest class score.

Image values: Label Studio loads ``http(s)://``, ``/data/...`` (its uploads and local-files
storage), cloud storage URIs and ``data:`` URIs. A bare id or a relative path is not one of them:
``unloadable_images`` finds those so that callers can say to pass ``url_prefix``.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from budgetplan.planner.export_errors import ExportError

CONTROL = "findings"
OBJECT = "image"
NONE_OF_THESE = "none of these"
MODEL_VERSION = "budgetplan-scores"
LOADABLE_PREFIXES = ("http://", "https://", "/data/", "s3://", "gs://", "azure-blob://", "data:")
URL_PREFIX_HINT = (
    "pass --url-prefix: e.g. 'http://HOST/images/' where a web server serves the images (allowing "
    "cross-origin requests: CORS), or "
    "'/data/local-files/?d=images/' with Label Studio's local-files storage "
    "(LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true)"
)
TASK_DATA_KEYS = (
    "image",
    "image_id",
    "patient",
    "labels_to_annotate",
    "labels_text",
    "choices",
    "rank",
    "plan_id",
)


def labelstudio_config() -> str:
    """The labelling config XML (one for every plan: the choices come from each task)."""
    view = ET.Element("View")
    row = ET.SubElement(
        view, "View", style="display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap"
    )
    left = ET.SubElement(row, "View", style="flex: 3 1 420px; min-width: 0")
    ET.SubElement(left, "Image", name=OBJECT, value="$image", zoom="true", zoomControl="true")
    right = ET.SubElement(
        row, "View", style="flex: 1 1 220px; position: sticky; top: 0; padding: 8px"
    )
    ET.SubElement(right, "Header", value="Tick every finding you see on this image")
    ET.SubElement(
        right,
        "Choices",
        name=CONTROL,
        toName=OBJECT,
        choice="multiple",
        value="$choices",
        required="true",
        requiredMessage=f"Tick the findings you see, or '{NONE_OF_THESE}'",
    )
    ET.SubElement(right, "Header", value="Image", size="6")
    ET.SubElement(right, "Header", value="$image_id", size="6")
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def task_choices(classes: Sequence[str]) -> list[dict[str, str]]:
    """The dynamic ``<Choice>`` options of one task: its classes, then ``NONE_OF_THESE``."""
    if NONE_OF_THESE in classes:
        raise ExportError(f"a class may not be called {NONE_OF_THESE!r}")
    return [{"value": c} for c in classes] + [{"value": NONE_OF_THESE}]


def task(
    data: Mapping[str, Any],
    classes: Sequence[str],
    scores: Mapping[str, float] | None = None,
    *,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """One task: ``data`` plus the choices of ``classes`` and, given scores, a prediction."""
    out: dict[str, Any] = {"data": {**data, "choices": task_choices(classes)}}
    if scores:
        known = {c: float(scores[c]) for c in classes if c in scores and _finite(scores[c])}
        if known:
            ticked = [c for c in classes if known.get(c, -1.0) >= threshold] or [NONE_OF_THESE]
            out["predictions"] = [
                {
                    "model_version": MODEL_VERSION,
                    "score": max(known.values()),
                    "result": [
                        {
                            "from_name": CONTROL,
                            "to_name": OBJECT,
                            "type": "choices",
                            "value": {"choices": ticked},
                        }
                    ],
                }
            ]
    return out


def unloadable_images(values: Sequence[str]) -> list[str]:
    """The image values Label Studio cannot load (see the module doc), in order."""
    return [v for v in values if not str(v).startswith(LOADABLE_PREFIXES)]


def unloadable_message(values: Sequence[str]) -> str | None:
    """A one-line warning naming examples and the fix, or None when every image can load."""
    bad = unloadable_images(values)
    if not bad:
        return None
    return (
        f"{len(bad)} of {len(values)} Label Studio image values are not URLs Label Studio can load "
        f"(e.g. {bad[0]!r}); {URL_PREFIX_HINT}"
    )


def validate_labelstudio(tasks: Any, config_xml: str) -> None:
    """Check tasks and config against Label Studio's documented import format.

    Tasks: a JSON list of objects, each with a ``data`` object holding every ``$variable`` the
    config uses (and no reserved ``id``); predictions, if any, name a control of the config.
    Config: a ``<View>`` whose control tags' ``toName`` name an object tag and whose ``name`` s
    are unique. Raises ExportError.
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
                f"Label Studio config: <{c.tag} name={c.get('name')!r}> "
                f"points to unknown {c.get('toName')!r}"
            )
    if not isinstance(tasks, list):
        raise ExportError(f"Label Studio tasks must be a JSON list, got {type(tasks).__name__}")
    for i, t in enumerate(tasks):
        if not isinstance(t, dict) or not isinstance(t.get("data"), dict):
            raise ExportError(f"Label Studio task {i}: expected an object with a 'data' object")
        if "id" in t:
            raise ExportError(f"Label Studio task {i}: 'id' is reserved by Label Studio")
        missing = variables - set(t["data"])
        if missing:
            raise ExportError(
                f"Label Studio task {i}: data lacks {sorted(missing)} used by the config"
            )
        for p in t.get("predictions", []):
            for r in p.get("result", []):
                if r.get("from_name") not in names:
                    raise ExportError(
                        f"Label Studio task {i}: "
                        f"prediction names unknown control {r.get('from_name')!r}"
                    )


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def legacy_choices_name(cls: str) -> str:
    """The ``<Choices name>`` of a class in budgetplan's first config (one group per class)."""
    return "label_" + re.sub(r"[^A-Za-z0-9_]+", "_", cls).strip("_")
