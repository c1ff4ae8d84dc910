"""Downloads carry the library's export bytes (``budgetplan.app_support.exports``)."""

from __future__ import annotations

import io
import json
import zipfile

import pandas as pd

from budgetplan import app_support as sup
from budgetplan.planner.export import FORMATS, validate_labelstudio

from .conftest import make_labels, tiny_plan


def test_export_download_gives_the_library_export_bytes() -> None:
    plan = tiny_plan()
    table, _ = make_labels(20)
    downloads = {d.format: d for d in sup.export_downloads(plan, table, image_size=(64, 48))}
    assert set(downloads) == set(FORMATS)
    rows = pd.read_csv(io.BytesIO(downloads["csv"].data))
    assert rows["image_id"].tolist() == ["img0001.png", "img0002.png"]
    assert json.loads(downloads["json"].data)["plan_id"] == plan.plan_id
    with zipfile.ZipFile(io.BytesIO(downloads["labelstudio"].data)) as zf:
        names = zf.namelist()
        tasks = json.loads(zf.read(next(n for n in names if n.endswith(".json"))))
        config = zf.read(next(n for n in names if n.endswith(".xml"))).decode()
    validate_labelstudio(tasks, config)
    assert "Mass" in downloads["markdown"].data.decode()
    assert downloads["csv"].filename.endswith(".csv")
    with zipfile.ZipFile(io.BytesIO(downloads["cvat"].data)) as zf:
        manifest = next(n for n in zf.namelist() if n.endswith(".jsonl"))
        lines = [json.loads(x) for x in zf.read(manifest).decode().splitlines() if x.strip()]
    assert [ln.get("width") for ln in lines if "name" in ln] == [64, 64]
    assert sup.export_download(plan, "csv", table).data == downloads["csv"].data  # deterministic
