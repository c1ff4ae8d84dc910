"""Answers read back from Label Studio / CVAT exports and merged into the labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from budgetplan.cli import main
from budgetplan.data.csv_labels import load_label_csv, save_label_csv
from budgetplan.errors import DataMismatchError, InputFileError
from budgetplan.planner.answers import (
    AnswerConflictError,
    ImageIndex,
    merge_answers,
    read_answers,
    read_labelstudio_export,
)
from budgetplan.planner.export import export_plan, labelstudio_tasks

from .test_export import label_table, tiny_plan


def annotate(task: dict, ticked: list[str], **extra) -> dict:
    """A task as Label Studio exports it after an annotator ticked ``ticked``."""
    result = [
        {
            "from_name": "findings",
            "to_name": "image",
            "type": "choices",
            "value": {"choices": ticked},
        }
    ]
    return {**task, "id": 1, "annotations": [{"id": 7, "result": result, **extra}]}


def test_labelstudio_answers_every_listed_class() -> None:
    tasks = labelstudio_tasks(tiny_plan(), label_table())
    # c.png asks about Pleural Thickening only; a.png about Mass and Pleural Thickening.
    export = [
        annotate(tasks[1], ["Mass"]),
        annotate(tasks[2], ["none of these"]),
        annotate(tasks[0], ["Mass"], was_cancelled=True),  # skipped: answers nothing
        tasks[0],  # never annotated
    ]
    read = read_labelstudio_export(export)
    got = {(a.image, a.cls): a.value for a in read.answers}
    assert got == {
        ("a.png", "Mass"): 1,
        ("a.png", "Pleural Thickening"): 0,
        ("c.png", "Pleural Thickening"): 0,
    }
    assert read.images == 4 and read.problems == []

    bad = read_labelstudio_export([annotate(tasks[1], ["Mass", "none of these"])], where="x.json")
    assert bad.answers == [] and "'none of these' ticked together with ['Mass']" in bad.problems[0]


def test_older_labelstudio_config_is_read_too() -> None:
    task = {"data": {"image_id": "a.png", "labels_to_annotate": ["Mass"]}}
    result = [{"from_name": "label_Mass", "type": "choices", "value": {"choices": ["absent"]}}]
    read = read_labelstudio_export([{**task, "annotations": [{"result": result}]}])
    assert [(a.image, a.cls, a.value) for a in read.answers] == [("a.png", "Mass", 0)]


def test_merge_fills_missing_labels_and_refuses_silent_overwrites() -> None:
    table = label_table()  # Mass: a=0, b=1, c=NaN, d=1
    tasks = labelstudio_tasks(tiny_plan(), table)
    c_task = next(t for t in tasks if t["data"]["image_id"] == "c.png")
    b_task = next(t for t in tasks if t["data"]["image_id"] == "b.png")
    answers = read_labelstudio_export(
        [annotate(c_task, ["Pleural Thickening"]), annotate(b_task, ["none of these"])]
    ).answers
    # c.png Pleural Thickening is 1 already; b.png Mass is 1 but the answer says absent.
    with pytest.raises(
        AnswerConflictError, match="1 answers contradict.*b.png Mass: label 1, answer 0"
    ):
        merge_answers(table, answers)
    kept = merge_answers(table, answers, prefer="existing")
    assert kept.labels.column("Mass")[1] == 1 and kept.overwritten == 0
    assert kept.conflicts == [("b.png", "Mass", 1.0, 0)] and kept.same == 1
    taken = merge_answers(table, answers, prefer="answers")
    assert taken.labels.column("Mass")[1] == 0 and taken.overwritten == 1
    # A missing label is filled; two annotators who disagree leave it alone.
    a_task = next(t for t in tasks if t["data"]["image_id"] == "a.png")
    one = read_labelstudio_export([annotate(a_task, ["Pleural Thickening"])]).answers
    other = read_labelstudio_export([annotate(a_task, ["none of these"])]).answers
    merged = merge_answers(table, one + other, prefer="existing")
    assert ("a.png", "Pleural Thickening") in merged.disagreements
    assert np.isnan(merged.labels.column("Pleural Thickening")[0])
    filled = merge_answers(table, one, prefer="existing")
    assert filled.labels.column("Pleural Thickening")[0] == 1 and filled.new == 1


@pytest.mark.filterwarnings("ignore::budgetplan.planner.export_errors.ExportWarning")
def test_cvat_xml_round_trip_and_image_names(tmp_path) -> None:
    (_, _, xml_path) = export_plan(
        tiny_plan(), "cvat", tmp_path / "p.jsonl", label_table(), image_size=(8, 8)
    )
    # The annotator sets the pre-made tags: b.png Mass yes, a.png Mass no; the rest stay unknown.
    text = xml_path.read_text()
    text = text.replace(">unknown<", ">yes<", 1).replace(">unknown<", ">no<", 1)
    xml_path.write_text(text)
    read = read_answers(xml_path)
    assert [(a.image, a.cls, a.value) for a in read.answers] == [
        ("images/b.png", "Mass", 1),
        ("images/a.png", "Mass", 0),
    ]
    merged = merge_answers(label_table(), read.answers)
    assert merged.same == 2 and merged.new == 0
    index = ImageIndex(label_table())
    assert [index.row(n) for n in ("b.png", "images/b.png", "b", "images/b", "zz")] == [
        1,
        1,
        1,
        1,
        None,
    ]
    with pytest.raises(DataMismatchError, match="1 answered images match no label row"):
        merge_answers(label_table(), [read.answers[0].__class__("zz.png", "Mass", 1, "x")])
    (tmp_path / "bad.xml").write_text("<annotations><image/></annotations>")
    with pytest.raises(InputFileError, match="has no name"):
        read_answers(tmp_path / "bad.xml")


def test_cli_answers_import_writes_new_labels_and_a_new_store(tmp_path, capsys) -> None:
    from budgetplan.dataset import Dataset

    table = label_table()
    rng = np.random.default_rng(0)
    store = Dataset.create(
        tmp_path / "store",
        table,
        rng.normal(size=(4, 8)).astype(np.float32),
        table.ids,
        index="flat",
    )
    plan_path = tiny_plan().save(tmp_path / "plan.json")
    labels_csv = tmp_path / "labels.csv"
    save_label_csv(table, labels_csv)
    tasks = labelstudio_tasks(tiny_plan(), table)
    a_task = next(t for t in tasks if t["data"]["image_id"] == "a.png")
    export = tmp_path / "export.json"
    export.write_text(json.dumps([annotate(a_task, ["Pleural Thickening"])]))

    args = ["answers", "import", str(export), "--labels", str(labels_csv)]
    assert main([*args, "--out", str(labels_csv)]) == 2  # never the input unless asked
    assert "pass --overwrite" in capsys.readouterr().err
    out_csv = tmp_path / "answered.csv"
    assert main([*args, "--out", str(out_csv)]) == 0
    assert "1 new labels, 1 equal to labels you had" in capsys.readouterr().out
    assert load_label_csv(out_csv).column("Pleural Thickening")[0] == 1
    assert load_label_csv(labels_csv).column("Pleural Thickening")[0] != 1  # input untouched

    new_store = tmp_path / "store2"
    assert (
        main(
            [
                "answers",
                "import",
                str(export),
                "--store",
                str(store.root),
                "--out-store",
                str(new_store),
                "--plan",
                str(plan_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"budgetplan recommend --store {new_store} --target Nodule --budget 8" in out
    again = Dataset.open(new_store)
    assert again.labels.column("Pleural Thickening")[0] == 1
    assert np.array_equal(again.vectors, store.vectors) and again.checksum != store.checksum
