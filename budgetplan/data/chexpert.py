"""CheXpert labels (Irvin et al. 2019) from the ``chexpert_train.csv.gz`` torchxrayvision ships.

223,414 training images of 64,540 patients (the small-image variant: "Path" is
``CheXpert-v1.0-small/train/patientXXXXX/studyN/viewM_frontal.jpg``). The CheXpert labeler marks
14 observations per report as 1 (positive), 0 (negative), -1 (uncertain) or blank (not
mentioned).

Classes: the 13 observations of Label-Assemble (seed 000, Sec. 2.2, footnote 2): the 12
pathologies plus "Support Devices". "No Finding" is not a class (it is the absence of the others,
not a finding a model should learn to detect); it is kept in ``meta["no_finding"]`` (bool) and,
by default, it turns the blank pathology labels of its image into negatives: the labeler sets
No Finding only when no pathology is positive or uncertain, so "not mentioned" there means
"absent". "Support Devices" is exempt (8,808 No Finding images do carry a device).

Policies (DESIGN "Data model"):
- ``uncertain``: -1 -> NaN ("ignore", the default), 1 ("ones") or 0 ("zeros") (Irvin et al.
  U-Ignore, U-Ones, U-Zeros).
- ``blank``: not mentioned -> NaN ("missing", the default) or 0 ("negative").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from budgetplan.data.csv_labels import read_csv_checked
from budgetplan.data.label_table import LabelTable
from budgetplan.data.shipped import (
    CHEXPERT_FILE,
    ages,
    check_columns,
    torchxrayvision_data_file,
)
from budgetplan.data.splits import patient_split
from budgetplan.errors import BudgetplanError, InputFileError

CHEXPERT_PATHOLOGIES: tuple[str, ...] = (
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
)
SUPPORT_DEVICES = "Support Devices"
NO_FINDING = "No Finding"
CHEXPERT_CLASSES: tuple[str, ...] = (*CHEXPERT_PATHOLOGIES, SUPPORT_DEVICES)
_META = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA")

UncertainPolicy = Literal["ignore", "ones", "zeros"]
BlankPolicy = Literal["missing", "negative"]
_UNCERTAIN = {"ignore": np.nan, "ones": 1.0, "zeros": 0.0}
_BLANK = {"missing": np.nan, "negative": 0.0}


def chexpert_csv_path() -> Path:
    """The ``chexpert_train.csv.gz`` inside the installed torchxrayvision package."""
    return torchxrayvision_data_file(CHEXPERT_FILE)


def load_chexpert(
    path: str | os.PathLike[str] | None = None,
    uncertain: UncertainPolicy = "ignore",
    blank: BlankPolicy = "missing",
    seed: int = 0,
    *,
    no_finding_negative: bool = True,
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
) -> LabelTable:
    """Load CheXpert as a 13-class partial-label :class:`LabelTable`.

    Args:
        path: a CheXpert train/valid CSV; default: the copy torchxrayvision ships.
        uncertain: what -1 becomes: "ignore" (NaN), "ones" (1) or "zeros" (0).
        blank: what a blank cell becomes: "missing" (NaN) or "negative" (0).
        seed, fractions: the patient-wise train / val / test split (:func:`patient_split`).
        no_finding_negative: on images marked "No Finding", blank pathology labels become 0
            (whatever ``blank`` says; "Support Devices" is left alone).

    Returns:
        Table with ids = "Path", source "chexpert", patient "patientXXXXX" from the path, and meta
        ``path``, ``view`` (AP / PA for frontal images, "LATERAL" for lateral ones),
        ``frontal_lateral``, ``age``, ``sex`` and ``no_finding``.
    """
    if uncertain not in _UNCERTAIN:
        raise BudgetplanError(
            f"uncertain must be one of {', '.join(_UNCERTAIN)}, got {uncertain!r}"
        )
    if blank not in _BLANK:
        raise BudgetplanError(f"blank must be one of {', '.join(_BLANK)}, got {blank!r}")
    path = Path(path) if path is not None else chexpert_csv_path()
    df = read_csv_checked(
        path, dtype={"Path": str, "Sex": str, "AP/PA": str, "Frontal/Lateral": str}
    )
    wanted = (*_META, NO_FINDING, *CHEXPERT_CLASSES)
    check_columns(df, wanted, path, "a CheXpert label CSV")

    raw = df[list(CHEXPERT_CLASSES)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    nonnumeric = np.isnan(raw) & df[list(CHEXPERT_CLASSES)].notna().to_numpy()
    invalid = nonnumeric | ~(np.isnan(raw) | np.isin(raw, (-1.0, 0.0, 1.0)))
    if invalid.any():
        r, c = (int(x) for x in np.argwhere(invalid)[0])
        cell = df[CHEXPERT_CLASSES[c]].iloc[r]
        raise InputFileError(
            path,
            f"row {r + 1} (line {r + 2}), column {CHEXPERT_CLASSES[c]!r}: "
            f"label {str(cell)!r} is not 1, 0, -1 or blank",
        )
    no_finding = (pd.to_numeric(df[NO_FINDING], errors="coerce") == 1).to_numpy()

    values = raw.astype(np.float32)
    is_blank = np.isnan(raw)
    values[raw == -1] = _UNCERTAIN[uncertain]
    values[is_blank] = _BLANK[blank]
    if no_finding_negative:
        n_path = len(CHEXPERT_PATHOLOGIES)  # pathologies come first in CHEXPERT_CLASSES
        values[:, :n_path][is_blank[:, :n_path] & no_finding[:, None]] = 0.0

    ids = df["Path"].astype(str).to_numpy()
    patient = df["Path"].astype(str).str.extract(r"(patient\d+)", expand=False)
    if patient.isna().any():
        r = int(np.argmax(patient.isna().to_numpy()))
        raise InputFileError(
            path, f"row {r + 1} (line {r + 2}), column 'Path': no 'patientNNNNN' in {str(ids[r])!r}"
        )
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        r = int(np.argmax(dup))
        raise InputFileError(path, f"row {r + 1} (line {r + 2}): duplicate Path {str(ids[r])!r}")
    frontal = df["Frontal/Lateral"].fillna("").astype(str)
    view = np.where(frontal == "Frontal", df["AP/PA"].fillna("").astype(str), "LATERAL")
    meta = pd.DataFrame(
        {
            "path": ids,
            "view": view,
            "frontal_lateral": frontal.to_numpy(),
            "age": ages(df["Age"]),
            "sex": df["Sex"].fillna("").astype(str).to_numpy(),
            "no_finding": no_finding,
        }
    )
    patient_arr = patient.to_numpy(dtype=str)
    return LabelTable(
        values=values,
        classes=list(CHEXPERT_CLASSES),
        ids=ids,
        source=np.full(len(df), "chexpert"),
        patient=patient_arr,
        split=patient_split(patient_arr, fractions=fractions, seed=seed),
        meta=meta,
    )
