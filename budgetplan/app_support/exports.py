"""The plan's exports as downloads: the bytes ``budgetplan.planner.export`` writes, per format."""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from budgetplan.data.label_table import LabelTable
    from budgetplan.planner.plan import AnnotationPlan

MIME = {
    "csv": "text/csv",
    "json": "application/json",
    "labelstudio": "application/json",
    "cvat": "application/zip",
    "markdown": "text/markdown",
}


@dataclass(frozen=True)
class Download:
    """One file to offer for download: its name, bytes and MIME type."""

    format: str
    filename: str
    data: bytes
    mime: str


def export_download(
    plan: AnnotationPlan, format: str, labels: LabelTable | None = None, **options: Any
) -> Download:
    """The bytes ``budgetplan.planner.export.export_plan`` writes for ``format``.

    Formats that write a companion file (Label Studio config, CVAT labels) come as one zip of
    all written files (fixed timestamps: equal plans give equal bytes); the others as the file.
    ``options`` go to ``export_plan`` (``url_prefix``, ``image_root``, ``image_size``).
    """
    from budgetplan.planner.export import default_path, export_plan

    with tempfile.TemporaryDirectory(prefix="budgetplan-export-") as tmp:
        path = default_path(plan, format, tmp)
        written = [Path(p) for p in export_plan(plan, format, path, labels, **options)]
        if len(written) == 1:
            return Download(
                format,
                written[0].name,
                written[0].read_bytes(),
                MIME.get(format, "application/octet-stream"),
            )
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for p in written:
                info = zipfile.ZipInfo(p.name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, p.read_bytes())
        return Download(format, path.name + ".zip", buf.getvalue(), "application/zip")


def export_downloads(
    plan: AnnotationPlan, labels: LabelTable | None = None, **options: Any
) -> list[Download]:
    """:func:`export_download` for every export format, in ``export.FORMATS`` order."""
    from budgetplan.planner.export import FORMATS

    return [export_download(plan, f, labels, **options) for f in FORMATS]
