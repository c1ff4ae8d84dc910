"""load_label_csv / save_label_csv: the generic label CSV and its one-line errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from budgetplan.data.csv_labels import load_label_csv, save_label_csv
from budgetplan.data.label_table import LabelTable
from budgetplan.errors import InputFileError

NAN = np.nan


def _write(tmp_path: Path, text: str, name: str = "labels.csv") -> Path:
    f = tmp_path / name
    if name.endswith(".gz"):
        f.write_bytes(gzip.compress(text.encode()))
    else:
        f.write_text(text)
    return f


def test_minimal_file(tmp_path: Path) -> None:
    f = _write(tmp_path, "id,Nodule,Mass\na,1,0\nb,,1.0\nc,0.0,\nd,TRUE,false\n")
    t = load_label_csv(f)
    assert t.classes == ["Nodule", "Mass"]
    assert t.ids.tolist() == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(
        t.values, np.array([[1, 0], [NAN, 1], [0, NAN], [1, 0]], dtype=np.float32)
    )
    assert set(t.source) == {"labels"}  # the file name
    assert t.patient.tolist() == t.ids.tolist()  # each image its own patient
    assert set(t.split) <= {"train", "val", "test"}


def test_optional_columns_meta_and_gzip(tmp_path: Path) -> None:
    text = (
        "image,source,patient,split,path,view,age,Nodule,Effusion\n"
        "x1,hosp,p1,Train,img/x1.png,PA,60,1,0\n"
        "x2,,p1,train,img/x2.png,AP,61,0,\n"
        "x3,hosp,,validation,img/x3.png,PA,,0,1\n"
        "x4,hosp,p4,TEST,img/x4.png,PA,40,,\n"
    )
    t = load_label_csv(_write(tmp_path, text, "mine.csv.gz"), id_column="image", source="fallback")
    assert t.classes == ["Nodule", "Effusion"]
    assert t.source.tolist() == ["hosp", "fallback", "hosp", "hosp"]
    assert t.patient.tolist() == ["p1", "p1", "x3", "p4"]  # blank patient -> the id
    assert t.split.tolist() == ["train", "train", "val", "test"]
    assert list(t.meta.columns) == ["path", "view", "age"]
    assert t.meta["age"].iloc[0] == 60 and np.isnan(t.meta["age"].iloc[2])


def test_classes_argument_selects_and_orders(tmp_path: Path) -> None:
    f = _write(tmp_path, "id,notes,Nodule,Mass\na,hello,1,0\n")
    t = load_label_csv(f, classes=["Mass", "Nodule"])
    assert t.classes == ["Mass", "Nodule"]
    np.testing.assert_array_equal(t.values, [[0, 1]])


def test_missing_split_is_patient_wise_and_seeded(tmp_path: Path) -> None:
    rows = "".join(f"i{k},p{k // 3},{k % 2}\n" for k in range(300))
    f = _write(tmp_path, "id,patient,Nodule\n" + rows)
    a, b = load_label_csv(f, seed=1), load_label_csv(f, seed=1)
    assert np.array_equal(a.split, b.split)
    frame = pd.DataFrame({"p": a.patient, "s": a.split})
    assert frame.groupby("p")["s"].nunique().max() == 1
    assert not np.array_equal(a.split, load_label_csv(f, seed=2).split)


def _table() -> LabelTable:
    return LabelTable(
        values=np.array([[1, NAN, 0], [0, 1, NAN], [NAN, NAN, NAN]], dtype=np.float32),
        classes=["Nodule", "Pleural Effusion", "Pleural_Thickening"],
        ids=["a/1.png", "b,2.png", "c 3.png"],
        source=["nih", "chexpert", "nih"],
        patient=["001", "p2", "001"],
        split=["train", "test", "train"],
        meta=pd.DataFrame(
            {
                "path": ["x/1", "x/2", "x/3"],
                "view": ["PA", "AP", "PA"],
                "age": [1, 2, 3],
                "no_finding": ["0", "1", "0"],
            }
        ),
    )


@pytest.mark.parametrize("name", ["labels.csv", "labels.csv.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    t = _table()
    f = tmp_path / name
    save_label_csv(t, f)
    if name.endswith(".gz"):
        assert f.read_bytes()[:2] == b"\x1f\x8b"
    u = load_label_csv(f)
    np.testing.assert_array_equal(u.values, t.values)  # NaN positions equal too
    assert u.classes == t.classes
    for attr in ("ids", "source", "patient", "split"):
        assert getattr(u, attr).tolist() == getattr(t, attr).tolist(), attr
    assert list(u.meta.columns) == list(t.meta.columns)
    for c in t.meta.columns:
        assert u.meta[c].tolist() == t.meta[c].tolist(), c
    # same table, same bytes (the Dataset checksum relies on it)
    save_label_csv(t, tmp_path / ("again-" + name))
    assert (tmp_path / ("again-" + name)).read_bytes() == f.read_bytes()


def test_save_is_atomic_on_failure(tmp_path: Path) -> None:
    f = tmp_path / "labels.csv"
    f.write_text("old content\n")
    bad = _table()
    bad.classes[0] = "split"  # clashes with a reserved column
    with pytest.raises(InputFileError, match="clash"):
        save_label_csv(bad, f)
    assert f.read_text() == "old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.csv"]


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("", {}, r"labels\.csv: file is empty"),
        ("id,Nodule\n", {}, r"labels\.csv: has a header but no rows"),
        ("image_id,Nodule\na,1\n", {}, r"labels\.csv: no id column 'id'; did you mean 'image_id'"),
        (
            "id,Nodule\na,1\nb,0\na,0\nc,1\nb,1\n",
            {},
            r"labels\.csv: duplicate ids: 'a' \(rows 1, 3\); 'b' \(rows 2, 5\)",
        ),
        (
            "id,Nodule,Mass\na,1,0\nb,0,2\n",
            {},
            r"labels\.csv: row 2 \(line 3\), column 'Mass': label '2' is not 1, 0 or blank",
        ),
        ("id,Nodule\na,1\nb,-1\n", {}, r"row 2 \(line 3\), column 'Nodule': label '-1'.*uncertain"),
        (
            "id,split,Nodule\na,train,1\nb,holdout,0\n",
            {},
            r"row 2 \(line 3\), column 'split': unknown split 'holdout'",
        ),
        (
            "id,split,Nodule\na,train,1\nb,,0\n",
            {},
            r"row 2 \(line 3\), column 'split': blank split",
        ),
        (
            "id,patient,split,Nodule\na,p,train,1\nb,p,test,0\n",
            {},
            r"patient 'p' is in more than one split \(rows 1, 2\)",
        ),
        ("id,Nodule\na,1\n,0\n", {}, r"row 2 \(line 3\): blank id"),
        (
            "id,Nodule,Nodule\na,1,0\n",
            {},
            r"repeated column names in the header: 'Nodule' \(2 times\)",
        ),
        (
            "id,Nodule\na,1\n",
            {"classes": ["Nodules"]},
            r"no class column 'Nodules'; did you mean 'Nodule'",
        ),
        ("id,path\na,x.png\n", {}, r"no class columns"),
    ],
)
def test_bad_input_names_file_row_column(
    tmp_path: Path, text: str, kwargs: dict, message: str
) -> None:
    f = _write(tmp_path, text)
    with pytest.raises(InputFileError, match=message):
        load_label_csv(f, **kwargs)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"nope\.csv: file not found"):
        load_label_csv(tmp_path / "nope.csv")
    with pytest.raises(InputFileError, match="is a directory"):
        load_label_csv(tmp_path)
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(b"this is not gzip")
    with pytest.raises(InputFileError, match=r"broken\.csv\.gz: cannot read"):
        load_label_csv(broken)
    binary = tmp_path / "image.csv"
    binary.write_bytes(b"id,Nodule\n\xff\xfe\x00\x81,1\n")
    with pytest.raises(InputFileError, match=r"image\.csv: not UTF-8"):
        load_label_csv(binary)


def test_bom_crlf_and_tsv_are_read(tmp_path: Path) -> None:
    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbfid, Nodule \r\na,1\r\nb,\r\n")
    t = load_label_csv(bom)
    assert t.ids.tolist() == ["a", "b"] and t.classes == ["Nodule"]  # header names stripped
    tsv = _write(tmp_path, "id\tNodule\tMass\na\t1\t0\n", "labels.tsv.gz")
    assert load_label_csv(tsv).classes == ["Nodule", "Mass"]


def test_wrong_separator_and_ragged_rows(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"semi\.csv: one column only: .*semicolons"):
        load_label_csv(_write(tmp_path, "id;Nodule\na;1\n", "semi.csv"))
    with pytest.raises(InputFileError, match=r"ragged\.csv: malformed CSV: .*line 3"):
        load_label_csv(_write(tmp_path, "id,Nodule\na,1\nb,1,0\n", "ragged.csv"))
