"""Exports: every format round-trips or validates, and a failed export never half-writes a file."""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

import budgetplan.planner.export as export_mod
from budgetplan.cli import main
from budgetplan.data.label_table import LabelTable
from budgetplan.errors import DataMismatchError, InputFileError
from budgetplan.planner.costs import CostModel
from budgetplan.planner.export import (
    ExportError,
    ExportWarning,
    export_plan,
    labelstudio_config_path,
    read_scores,
    validate_cvat_manifest,
    validate_labelstudio,
    worklist,
)
from budgetplan.planner.plan import AnnotationPlan, PlanAction, provenance_now

COSTS = CostModel({"Mass": 2.0}, default_label_cost=1.0, image_read_cost=0.5, unit="min")
IDS = ["a.png", "b.png", "c.png", "d.png"]


def tiny_plan(simulated: bool = True) -> AnnotationPlan:
    """Mass on b, a (priority order) then Pleural Thickening on a, c: a is read once."""
    actions = [
        PlanAction(
            "annotate-class", "Mass", "nih", ["b.png", "a.png"], 2, 5.0, "hard negatives of Nodule"
        ),
        PlanAction(
            "annotate-class",
            "Pleural Thickening",
            "nih",
            ["a.png", "c.png"],
            2,
            2.5,
            "cheap, related",
        ),
    ]
    return AnnotationPlan(
        target="Nodule",
        budget=8.0,
        unit="min",
        cost_model=COSTS,
        actions=actions,
        baseline={"auc": 0.70, "auc_ci_low": 0.66, "auc_ci_high": 0.74},
        expected={
            "gain": 0.031,
            "gain_ci_low": 0.012,
            "gain_ci_high": 0.05,
            "auc": 0.731,
            "auc_ci_low": 0.69,
            "auc_ci_high": 0.77,
        },
        random_control={
            "classes": ["Hernia"],
            "cost": 7.5,
            "gain": 0.002,
            "gain_ci_low": -0.02,
            "gain_ci_high": 0.02,
        },
        candidates=[
            {
                "class": "Mass",
                "cosine": 0.81,
                "gain": 0.02,
                "gain_ci_low": 0.01,
                "gain_ci_high": 0.03,
                "runs": 8,
                "cost": 5.0,
                "gain_per_cost": 0.004,
                "chosen": True,
            },
            {
                "class": "Hernia",
                "cosine": 0.05,
                "gain": -0.001,
                "gain_ci_low": -0.01,
                "gain_ci_high": 0.01,
                "runs": 3,
                "cost": 5.0,
                "gain_per_cost": None,
                "chosen": False,
            },
        ],
        verdict="Annotate Mass on 2 images, then Pleural Thickening on 2.",
        evidence={
            "runs_trained": 22,
            "predictor": {
                "best": "cosine",
                "rho": {"cosine": 0.83, "phi": 0.1},
                "p_value": {"cosine": 0.01, "phi": 0.7},
            },
            "greedy": [{"set": "Mass", "gain": 0.02}],
        },
        provenance=provenance_now(seeds=[0, 1], simulated=simulated, method="ne"),
    )


def label_table() -> LabelTable:
    values = np.array([[1, 0, np.nan], [0, 1, np.nan], [0, np.nan, 1], [1, 1, 0]], dtype=np.float32)
    return LabelTable(
        values=values,
        classes=["Nodule", "Mass", "Pleural Thickening"],
        ids=np.array(IDS),
        source=np.array(["nih"] * 4),
        patient=np.array(["p1", "p2", "p2", "p3"]),
        split=np.array(["train"] * 4),
        meta=pd.DataFrame({"path": [f"images/{i}" for i in IDS]}),
    )


def test_worklist_one_row_per_image_in_priority_order() -> None:
    items = worklist(tiny_plan())
    # Position 0 of each action first (b from Mass, then a from PT), then position 1 (c).
    assert [i.image_id for i in items] == ["b.png", "a.png", "c.png"]
    assert items[1].classes == ("Mass", "Pleural Thickening")
    assert sum(i.cost for i in items) == pytest.approx(tiny_plan().total_cost)


def test_csv_round_trips_with_pandas(tmp_path) -> None:
    plan = tiny_plan()
    (path,) = export_plan(plan, "csv", tmp_path / "w.csv", label_table())
    df = pd.read_csv(path, dtype={"patient": str})
    assert list(df.columns) == [
        "plan_id",
        "rank",
        "image_id",
        "image_path",
        "patient",
        "labels_to_annotate",
        "reason",
        "cost",
    ]
    assert (df["plan_id"] == plan.plan_id).all()
    assert df["rank"].tolist() == [1, 2, 3]
    got = {r.image_id: r.labels_to_annotate.split("|") for r in df.itertuples()}
    assert got == plan.assignments()
    assert df.set_index("image_id").loc["a.png", "image_path"] == "images/a.png"
    assert df.set_index("image_id").loc["c.png", "patient"] == "p2"
    assert df["cost"].sum() == pytest.approx(plan.total_cost)  # read cost counted once per image
    assert df.set_index("image_id").loc["a.png", "cost"] == pytest.approx(0.5 + 2 + 1)
    assert "Mass: hard negatives of Nodule" in df.set_index("image_id").loc["a.png", "reason"]


def test_csv_without_labels_uses_ids(tmp_path) -> None:
    (path,) = export_plan(tiny_plan(), "csv", tmp_path / "w.csv")
    df = pd.read_csv(path)
    assert (df["image_path"] == df["image_id"]).all()


def test_json_export_round_trips(tmp_path) -> None:
    plan = tiny_plan()
    (path,) = export_plan(plan, "json", tmp_path / "p.json")
    again = AnnotationPlan.load(path)
    assert again.to_dict() == plan.to_dict()
    assert json.loads(path.read_text())["provenance"]["simulated"] is True


def test_labelstudio_tasks_and_config(tmp_path) -> None:
    plan = tiny_plan()
    paths = export_plan(
        plan, "labelstudio", tmp_path / "ls.json", label_table(), url_prefix="/data/local-files/?d="
    )
    tasks_path, xml_path = paths
    assert xml_path == labelstudio_config_path(tasks_path) == tmp_path / "ls.xml"
    tasks = json.loads(tasks_path.read_text())
    # Label Studio's import format: a JSON list of tasks, each an object with a "data" object.
    assert isinstance(tasks, list) and len(tasks) == 3
    for task in tasks:
        assert set(task) == {"data"}
        assert {"image", "image_id", "labels_to_annotate"} <= set(task["data"])
    first = tasks[0]["data"]
    assert first["image"] == "/data/local-files/?d=images/b.png"
    assert first["image_id"] == "b.png" and first["patient"] == "p2"
    assert tasks[1]["data"]["labels_to_annotate"] == ["Mass", "Pleural Thickening"]

    # Each task offers only the classes to read on its image, plus "none of these".
    assert [c["value"] for c in first["choices"]] == ["Mass", "none of these"]
    assert [c["value"] for c in tasks[1]["data"]["choices"]] == [
        "Mass",
        "Pleural Thickening",
        "none of these",
    ]

    root = ET.fromstring(xml_path.read_text())
    assert root.tag == "View"
    image = root.find(".//Image")
    assert image is not None and image.get("name") == "image" and image.get("value") == "$image"
    (group,) = root.findall(".//Choices")
    assert group.get("toName") == "image" and group.get("value") == "$choices"
    assert group.get("required") == "true" and group.get("choice") == "multiple"
    # Beside the image: image and choices are two columns of one flex row.
    row = next(v for v in root.iter("View") if "display: flex" in (v.get("style") or ""))
    image_col, question_col = list(row)
    assert image_col.find("Image") is not None and question_col.find("Choices") is not None
    validate_labelstudio(tasks, xml_path.read_text())


def test_labelstudio_warns_on_unloadable_images_and_exports_scores(tmp_path) -> None:
    scores = {"b.png": {"Mass": 0.9}, "a.png": {"Mass": 0.2, "Pleural Thickening": 0.4}}
    with pytest.warns(ExportWarning, match="3 of 3 Label Studio image values.*--url-prefix"):
        (tasks_path, _) = export_plan(
            tiny_plan(), "labelstudio", tmp_path / "ls.json", label_table(), scores=scores
        )
    tasks = json.loads(tasks_path.read_text())
    (pred,) = tasks[0]["predictions"]
    assert pred["result"][0]["value"]["choices"] == ["Mass"] and pred["score"] == 0.9
    assert tasks[1]["predictions"][0]["result"][0]["value"]["choices"] == ["none of these"]
    assert "predictions" not in tasks[2]  # no score for c.png
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        export_plan(
            tiny_plan(), "labelstudio", tmp_path / "ok.json", label_table(), url_prefix="http://h/"
        )


def test_read_scores(tmp_path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text("id,Mass,Pleural Thickening\nb.png,0.9,\na.png,0.2,0.4\n")
    assert read_scores(path) == {
        "b.png": {"Mass": 0.9},
        "a.png": {"Mass": 0.2, "Pleural Thickening": 0.4},
    }
    path.write_text("id,Mass\nb.png,1.5\n")
    with pytest.raises(InputFileError, match="row 2, column 'Mass': scores must lie in"):
        read_scores(path)


def test_labelstudio_validator_catches_a_broken_task() -> None:
    config = (
        "<View><Image name='image' value='$image'/>"
        "<Choices name='c' toName='image'><Choice value='x'/></Choices></View>"
    )
    validate_labelstudio([{"data": {"image": "x.png"}}], config)
    with pytest.raises(ExportError, match="task 0: data lacks \\['image'\\]"):
        validate_labelstudio([{"data": {"img": "x.png"}}], config)
    with pytest.raises(ExportError, match="must be a JSON list"):
        validate_labelstudio({"data": {}}, config)
    with pytest.raises(ExportError, match="points to unknown 'img'"):
        validate_labelstudio([], config.replace("toName='image'", "toName='img'"))


def test_cvat_manifest_labels_and_annotations(tmp_path) -> None:
    from PIL import Image

    (tmp_path / "images").mkdir()
    for i, name in enumerate(IDS):
        Image.new("L", (20 + i, 10 + i)).save(tmp_path / "images" / name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every size was read: no warning
        paths = export_plan(
            tiny_plan(),
            "cvat",
            tmp_path / "out" / "plan.cvat.jsonl",
            label_table(),
            image_root=tmp_path,
        )
    manifest, labels_file, annotations = paths
    assert labels_file == tmp_path / "out" / "plan.cvat.labels.json"
    assert annotations == tmp_path / "out" / "plan.cvat.annotations.xml"
    text = manifest.read_text()
    validate_cvat_manifest(text)
    lines = [json.loads(x) for x in text.splitlines()]
    assert lines[:2] == [{"version": "1.0"}, {"type": "images"}]
    assert lines[2:] == [
        {"name": "images/b", "extension": ".png", "width": 21, "height": 11},
        {"name": "images/a", "extension": ".png", "width": 20, "height": 10},
        {"name": "images/c", "extension": ".png", "width": 22, "height": 12},
    ]
    labels = json.loads(labels_file.read_text())
    assert [lab["name"] for lab in labels] == ["Mass", "Pleural Thickening"]
    assert all(
        lab["type"] == "tag" and lab["attributes"][0]["values"] == ["unknown", "yes", "no"]
        for lab in labels
    )
    # The classes to read per image, as CVAT for images 1.1 tags (frame order = manifest order).
    root = ET.fromstring(annotations.read_text())
    images = root.findall("image")
    assert [(im.get("id"), im.get("name")) for im in images] == [
        ("0", "images/b.png"),
        ("1", "images/a.png"),
        ("2", "images/c.png"),
    ]
    assert [t.get("label") for t in images[1].findall("tag")] == ["Mass", "Pleural Thickening"]
    assert {a.text for a in root.iter("attribute")} == {"unknown"}
    # --manifest-root: names relative to the folder the user uploads.
    (path, _, _) = export_plan(
        tiny_plan(),
        "cvat",
        tmp_path / "m.jsonl",
        label_table(),
        image_root=tmp_path,
        manifest_root=tmp_path / "images",
    )
    names = [json.loads(x).get("name") for x in path.read_text().splitlines()[2:]]
    assert names == ["b", "a", "c"]
    with pytest.raises(ExportError, match="is not under the manifest root"):
        export_plan(
            tiny_plan(),
            "cvat",
            tmp_path / "m.jsonl",
            label_table(),
            image_root=tmp_path,
            manifest_root=tmp_path / "elsewhere",
        )


def test_cvat_needs_sizes_and_files(tmp_path) -> None:
    with pytest.raises(ExportError, match="need each image's width and height"):
        export_plan(tiny_plan(), "cvat", tmp_path / "x.jsonl", label_table(), image_root=tmp_path)
    with pytest.warns(ExportWarning, match="3 of 3 image files were not found.*1024x1024"):
        (path, _, _) = export_plan(
            tiny_plan(), "cvat", tmp_path / "x.jsonl", label_table(), image_size=(1024, 1024)
        )
    validate_cvat_manifest(path.read_text())
    # A store of ids only: one clear error, whatever else is given.
    items = [
        export_mod.WorkItem(i, f"digit-{i}", f"digit-{i}", "", ("8",), ("",), 1.0) for i in (1, 2)
    ]
    for size in (None, (8, 8)):
        with pytest.raises(ExportError, match="CVAT needs image files, but 2 of 2 images have"):
            export_mod.cvat_manifest_lines(items, image_size=size)
    with pytest.raises(ExportError, match="must start with"):
        validate_cvat_manifest('{"type": "images"}\n')
    with pytest.raises(ExportError, match="line 3: needs name, extension"):
        validate_cvat_manifest(
            '{"version": "1.0"}\n{"type": "images"}\n'
            '{"name": "a", "extension": ".png", "width": 0, "height": 5}'
        )


def test_markdown_report(tmp_path, monkeypatch) -> None:
    (path,) = export_plan(tiny_plan(), "markdown", tmp_path / "r.md")
    text = path.read_text()
    assert "# Annotation plan for Nodule" in text
    assert "SIMULATED" in text
    assert (
        "| class | cosine | gain | gain_ci_low | gain_ci_high | runs | cost | gain_per_cost "
        "| chosen |" in text
    )
    assert "| Hernia | 0.05 | -0.001 |" in text
    assert "| baseline (labels you have) | 0.7 | [0.66, 0.74] |" in text
    assert "| gain | +0.031 (+3.1 points) | [0.012, 0.05] |" in text
    assert "| Hernia | 7.5 | +0.002 (+0.2 points) | [-0.02, 0.02] |" in text  # the random control
    assert "Mass,0.02,0.01,0.03,5.0,0.004,8" in text  # chart numbers
    assert "config_hash" in text and "numpy" in text
    # Evidence as tables: scalars together, nested relation scores one row per relation.
    assert "| runs trained | 22 |" in text
    assert "|  | rho | p_value |" in text and "| cosine | 0.83 | 0.01 |" in text
    assert "| set | gain |" in text and "| Mass | 0.02 |" in text
    # The worklist: images in priority order with the classes to read and why.
    assert "## Worklist: all 3 images" in text
    assert "| rank | image | classes to read | reason |" in text
    assert "| 2 | a.png | Mass, Pleural Thickening | Mass: hard negatives of Nodule;" in text
    with_paths = export_mod.markdown_report(tiny_plan(), label_table())
    assert "| 1 | b.png | images/b.png | Mass |" in with_paths
    monkeypatch.setattr(export_mod, "MARKDOWN_WORKLIST", 2)
    assert "## Worklist: the first 2 of 3 images" in export_mod.markdown_report(tiny_plan())
    real = export_mod.markdown_report(tiny_plan(simulated=False))
    assert "SIMULATED" not in real


def test_unknown_format_and_foreign_ids(tmp_path) -> None:
    with pytest.raises(ExportError, match="unknown export format 'xlsx'"):
        export_plan(tiny_plan(), "xlsx", tmp_path / "x")
    other = label_table().subset([0, 3])
    with pytest.raises(
        DataMismatchError, match="2 image ids of the plan are not in the label table"
    ):
        export_plan(tiny_plan(), "csv", tmp_path / "w.csv", other)


def _fail_on_call(n: int, real):
    calls = {"n": 0}

    def wrapped(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= n:
            raise RuntimeError("disk full (simulated)")
        return real(*args, **kwargs)

    return wrapped


@pytest.mark.filterwarnings("ignore::budgetplan.planner.export_errors.ExportWarning")
@pytest.mark.parametrize("fmt", ["csv", "labelstudio", "cvat"])
def test_interrupted_export_keeps_the_old_file(tmp_path, monkeypatch, fmt: str) -> None:
    path = tmp_path / {"csv": "w.csv", "labelstudio": "ls.json", "cvat": "m.jsonl"}[fmt]
    path.write_text("old content\n")
    if fmt == "csv":  # fail on the second row, after the header was written
        monkeypatch.setattr(export_mod, "_worklist_row", _fail_on_call(2, export_mod._worklist_row))
    else:  # fail while serialising the second task / manifest line

        class FailingJson:
            dumps = staticmethod(_fail_on_call(2 if fmt == "labelstudio" else 4, json.dumps))

        monkeypatch.setattr(export_mod, "json", FailingJson)
    with pytest.raises(RuntimeError, match="disk full"):
        export_plan(tiny_plan(), fmt, path, label_table(), image_size=(8, 8))
    assert path.read_text() == "old content\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.filterwarnings("ignore::budgetplan.planner.export_errors.ExportWarning")
def test_cli_export_writes_and_lists_files(tmp_path, capsys) -> None:
    plan_path = tiny_plan().save(tmp_path / "nodule.plan.json")
    assert main(["export", str(plan_path), "--format", "csv"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [str(tmp_path / "nodule.worklist.csv")]
    assert len(pd.read_csv(out[0])) == 3
    assert (
        main(["export", str(plan_path), "-f", "labelstudio", "--out", str(tmp_path / "t.json")])
        == 0
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [str(tmp_path / "t.json"), str(tmp_path / "t.xml")]


def test_cli_export_bad_plan_is_one_line(tmp_path, capsys) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('{"target": "Nodule"}')
    assert main(["export", str(bad), "--format", "markdown"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "field 'budget': missing" in err


def test_cli_export_with_store_uses_paths(tmp_path, capsys) -> None:
    from budgetplan.dataset import Dataset

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    Dataset.create(tmp_path / "store", label_table(), vectors, IDS, simulated=False)
    plan_path = tiny_plan().save(tmp_path / "p.json")
    out_csv = tmp_path / "w.csv"
    assert (
        main(
            [
                "export",
                str(plan_path),
                "-f",
                "csv",
                "--out",
                str(out_csv),
                "--store",
                str(tmp_path / "store"),
            ]
        )
        == 0
    )
    df = pd.read_csv(out_csv, dtype={"patient": str})
    assert df["image_path"].tolist() == ["images/b.png", "images/a.png", "images/c.png"]
    assert df["patient"].tolist() == ["p2", "p1", "p2"]


def test_exports_land_beside_the_plan_by_default(tmp_path) -> None:
    from budgetplan.planner.export import ExportError, path_beside_plan

    assert path_beside_plan(tmp_path / "nodule.plan.json", "csv").parent == tmp_path
    assert path_beside_plan("x/nodule.json", "csv").name.startswith("nodule.")
    with pytest.raises(ExportError, match="unknown export format 'pdf'"):
        path_beside_plan("nodule.json", "pdf")


def test_cli_export_prints_warnings_as_lines(tmp_path, capsys) -> None:
    plan_path = tiny_plan().save(tmp_path / "nodule.plan.json")
    assert main(["export", str(plan_path), "-f", "labelstudio"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("budgetplan: warning: 3 of 3 Label Studio image")
    assert main(["export", str(plan_path), "-f", "labelstudio", "--url-prefix", "http://h/"]) == 0
    assert capsys.readouterr().err == ""


def test_markdown_numbers_are_readable() -> None:
    from budgetplan.planner.blocks import format_p
    from budgetplan.planner.export import _fmt

    assert _fmt(20000.0) == "20,000" and _fmt(0.0123) == "0.0123" and _fmt(3.0, signed=True) == "+3"
    assert format_p(0.0001) == "p < 0.001" and format_p(0.0123) == "p = 0.012"
