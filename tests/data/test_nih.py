"""load_nih: the shipped ChestX-ray14 table and small NIH-style files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from budgetplan.data.label_table import LabelTable
from budgetplan.data.nih import NIH_CLASSES, load_nih, nih_csv_path
from budgetplan.errors import InputFileError, UnknownClassError

HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position\n"
)


@pytest.fixture
def nih(nih_loaded: tuple[LabelTable, float]) -> tuple[LabelTable, float]:
    return nih_loaded


def test_shipped_table_counts(nih: tuple[LabelTable, float]) -> None:
    table, seconds = nih
    assert nih_csv_path().name == "Data_Entry_2017_v2020.csv.gz"
    assert table.n_images == 112_120
    assert table.classes == list(NIH_CLASSES) and table.n_classes == 14
    assert int(np.nansum(table.column("Nodule"))) == 6_331
    assert not np.isnan(table.values).any()  # NIH is fully annotated
    assert set(table.source) == {"nih"}
    assert len(set(table.ids)) == 112_120
    assert seconds < 10, f"load_nih took {seconds:.1f} s"


def test_shipped_table_meta_and_split(nih: tuple[LabelTable, float]) -> None:
    table, _ = nih
    assert list(table.meta.columns) == ["path", "view", "age", "sex"]
    assert table.ids[0] == "00000001_000.png" and table.meta["path"][0] == "images/00000001_000.png"
    assert set(table.meta["view"]) == {"PA", "AP"}
    assert set(table.meta["sex"]) == {"M", "F"}
    assert len(set(table.patient)) == 30_805
    # no patient in two splits, and about 70/10/20 of the images
    splits_per_patient = {}
    for p, s in zip(table.patient, table.split, strict=True):
        splits_per_patient.setdefault(p, set()).add(s)
    assert max(len(s) for s in splits_per_patient.values()) == 1
    shares = [np.mean(table.split == s) for s in ("train", "val", "test")]
    np.testing.assert_allclose(shares, [0.7, 0.1, 0.2], atol=0.01)


def test_class_lookup_forgives_spelling_and_suggests(nih: tuple[LabelTable, float]) -> None:
    table, _ = nih
    assert table.class_index("pleural thickening") == NIH_CLASSES.index("Pleural_Thickening")
    with pytest.raises(UnknownClassError, match="Did you mean 'Nodule'"):
        table.class_index("Nodules")


def test_small_file_parses_findings(tmp_path: Path) -> None:
    f = tmp_path / "Data_Entry_small.csv"
    f.write_text(
        HEADER
        + "a.png,Nodule|Mass,0,7,50,M,PA\n"
        + "b.png,No Finding,1,7,51,M,AP\n"
        + "c.png,Pleural_Thickening,0,8,30,F,PA\n"
    )
    table = load_nih(f)
    assert table.ids.tolist() == ["a.png", "b.png", "c.png"]
    assert table.patient.tolist() == ["7", "7", "8"]
    assert table.split[0] == table.split[1]
    expected = np.zeros((3, 14), dtype=np.float32)
    expected[0, [NIH_CLASSES.index("Nodule"), NIH_CLASSES.index("Mass")]] = 1
    expected[2, NIH_CLASSES.index("Pleural_Thickening")] = 1
    np.testing.assert_array_equal(table.values, expected)
    assert table.meta["view"].tolist() == ["PA", "AP", "PA"]
    assert table.meta["age"].tolist() == [50, 51, 30]


def test_unknown_finding_names_row(tmp_path: Path) -> None:
    f = tmp_path / "nih.csv"
    f.write_text(HEADER + "a.png,Nodule,0,7,50,M,PA\nb.png,Nodule|Nodle,0,8,50,M,PA\n")
    with pytest.raises(
        InputFileError, match=r"nih\.csv: row 2 \(line 3\).*unknown finding 'Nodle'"
    ):
        load_nih(f)


def test_not_an_nih_file(tmp_path: Path) -> None:
    f = tmp_path / "other.csv"
    f.write_text("id,Nodule\na,1\n")
    with pytest.raises(
        InputFileError, match=r"other\.csv: not an NIH Data_Entry CSV: no column.*'Image Index'"
    ):
        load_nih(f)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="nope.csv: file not found"):
        load_nih(tmp_path / "nope.csv")
