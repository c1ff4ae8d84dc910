"""load_chexpert: the shipped table and the uncertain / blank / No Finding policies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from budgetplan.data.chexpert import CHEXPERT_CLASSES, load_chexpert
from budgetplan.data.label_table import LabelTable
from budgetplan.errors import BudgetplanError, InputFileError

NAN = np.nan
HEADER = (
    "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,"
    "Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,"
    "Pleural Effusion,Pleural Other,Fracture,Support Devices\n"
)
P = "CheXpert-v1.0-small/train"
# columns after "No Finding": EC, Cardiomegaly, LO, LL, Edema, Cons, Pneu, Atel, Ptx, PE, PO, Fx, SD
ROWS = (
    f"{P}/patient00001/study1/view1_frontal.jpg,Female,68,Frontal,AP,1.0,,,,,,,,,0.0,,,,1.0\n"
    f"{P}/patient00002/study2/view1_frontal.jpg,Female,87,Frontal,PA,,,-1.0,1.0,,-1.0,,,,,0.0,,1.0,\n"
    f"{P}/patient00002/study2/view2_lateral.jpg,Female,87,Lateral,,,,1.0,,,,,,,,-1.0,,,0.0\n"
)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    f = tmp_path / "chexpert_small.csv"
    f.write_text(HEADER + ROWS)
    return f


def _row(table: LabelTable, i: int) -> dict[str, float]:
    return dict(zip(table.classes, table.values[i].tolist(), strict=True))


def test_small_file_default_policies(small: Path) -> None:
    t = load_chexpert(small)
    assert t.classes == list(CHEXPERT_CLASSES) and len(t.classes) == 13
    assert "No Finding" not in t.classes and "Support Devices" in t.classes
    assert t.patient.tolist() == ["patient00001", "patient00002", "patient00002"]
    assert t.split[1] == t.split[2]
    assert t.meta["view"].tolist() == ["AP", "PA", "LATERAL"]
    assert t.meta["no_finding"].tolist() == [True, False, False]
    r1 = _row(t, 1)
    assert np.isnan(r1["Cardiomegaly"]) and np.isnan(r1["Edema"])  # uncertain -> ignored
    assert r1["Lung Opacity"] == 1 and r1["Pleural Effusion"] == 0 and r1["Fracture"] == 1
    assert np.isnan(r1["Pneumonia"]) and np.isnan(r1["Support Devices"])  # blank -> missing
    # "No Finding": blank pathologies become negatives, Support Devices keeps its label
    r0 = _row(t, 0)
    assert all(r0[c] == 0 for c in CHEXPERT_CLASSES[:-1])
    assert r0["Support Devices"] == 1


def test_no_finding_rule_can_be_turned_off(small: Path) -> None:
    r0 = _row(load_chexpert(small, no_finding_negative=False), 0)
    assert r0["Pneumothorax"] == 0 and np.isnan(r0["Cardiomegaly"])


@pytest.mark.parametrize(
    ("uncertain", "blank", "cardiomegaly", "pneumonia"),
    [
        ("ignore", "missing", NAN, NAN),
        ("ones", "missing", 1.0, NAN),
        ("zeros", "negative", 0.0, 0.0),
    ],
)
def test_uncertain_and_blank_policies(
    small: Path, uncertain: str, blank: str, cardiomegaly: float, pneumonia: float
) -> None:
    r1 = _row(load_chexpert(small, uncertain=uncertain, blank=blank), 1)  # type: ignore[arg-type]
    np.testing.assert_equal([r1["Cardiomegaly"], r1["Pneumonia"]], [cardiomegaly, pneumonia])
    assert r1["Lung Opacity"] == 1 and r1["Pleural Effusion"] == 0  # certain labels untouched


def test_bad_policy_and_bad_cells(small: Path, tmp_path: Path) -> None:
    with pytest.raises(BudgetplanError, match="uncertain must be one of ignore, ones, zeros"):
        load_chexpert(small, uncertain="maybe")  # type: ignore[arg-type]
    with pytest.raises(BudgetplanError, match="blank must be one of missing, negative"):
        load_chexpert(small, blank="zero")  # type: ignore[arg-type]
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + ROWS.replace(",1.0,,-1.0,,,,,0.0,,1.0,", ",1.0,,2.0,,,,,0.0,,1.0,"))
    with pytest.raises(
        InputFileError,
        match=r"bad\.csv: row 2 \(line 3\), column 'Edema': label '2\.0' is not 1, 0, -1",
    ):
        load_chexpert(bad)
    nopatient = tmp_path / "nopatient.csv"
    nopatient.write_text(HEADER + ROWS.replace("patient00001", "someone"))
    with pytest.raises(InputFileError, match=r"row 1 \(line 2\), column 'Path': no 'patientNNNNN'"):
        load_chexpert(nopatient)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("Path,Sex\nx,Male\n")
    with pytest.raises(InputFileError, match=r"wrong\.csv: not a CheXpert label CSV.*'Age'"):
        load_chexpert(wrong)


def test_shipped_table(chexpert_table: LabelTable) -> None:
    t = chexpert_table
    assert t.n_images == 223_414 and t.n_classes == 13
    assert set(t.source) == {"chexpert"}
    assert len(set(t.patient)) == 64_540
    assert int(np.nansum(t.column("Pleural Effusion"))) == 86_187
    # Atelectasis in the file: 33,376 x 1, 1,328 x 0, 33,739 x -1, 154,971 blank, of which 21,898
    # on "No Finding" images. Uncertain -> NaN; blank -> NaN except under No Finding -> 0.
    atelectasis = t.column("Atelectasis")
    assert int((atelectasis == 1).sum()) == 33_376
    assert int((atelectasis == 0).sum()) == 1_328 + 21_898
    assert int(np.isnan(atelectasis).sum()) == 33_739 + 154_971 - 21_898
    assert t.meta["no_finding"].sum() == 22_381
    # no patient in two splits
    first: dict[str, str] = {}
    assert all(first.setdefault(p, s) == s for p, s in zip(t.patient, t.split, strict=True))
