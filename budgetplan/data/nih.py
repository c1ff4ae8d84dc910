"""NIH ChestX-ray14 labels (Wang et al. 2017) from the CSV torchxrayvision ships.

``Data_Entry_2017_v2020.csv.gz``: 112,120 frontal images of 30,805 patients; "Finding Labels"
holds the findings joined by "|" or "No Finding". Every image is annotated for all 14 findings
(the labels are text-mined from the reports), so the table has no missing values: "No Finding"
means all 14 are 0. Class names keep the NIH spellings ("Pleural_Thickening");
``LabelTable.class_index`` forgives case and "_" vs " ".
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from budgetplan.data.csv_labels import read_csv_checked
from budgetplan.data.label_table import LabelTable
from budgetplan.data.shipped import NIH_FILE, ages, check_columns, torchxrayvision_data_file
from budgetplan.data.splits import patient_split
from budgetplan.errors import InputFileError

NIH_CLASSES: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)
NO_FINDING = "No Finding"
_COLUMNS = (
    "Image Index",
    "Finding Labels",
    "Patient ID",
    "Patient Age",
    "Patient Gender",
    "View Position",
)


def nih_csv_path() -> Path:
    """The ``Data_Entry_2017_v2020.csv.gz`` inside the installed torchxrayvision package."""
    return torchxrayvision_data_file(NIH_FILE)


def load_nih(
    path: str | os.PathLike[str] | None = None,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
) -> LabelTable:
    """Load NIH ChestX-ray14 as a fully annotated 14-class :class:`LabelTable`.

    Args:
        path: the Data_Entry CSV (``.csv`` or ``.csv.gz``); default: the copy torchxrayvision ships.
        seed, fractions: the patient-wise train / val / test split (:func:`patient_split`).

    Returns:
        Table with ids = "Image Index", source "nih", patient = "Patient ID", and meta columns
        ``path`` ("images/<Image Index>"), ``view`` (PA / AP), ``age`` (years), ``sex`` (M / F).
    """
    path = Path(path) if path is not None else nih_csv_path()
    df = read_csv_checked(path, usecols=lambda c: c in _COLUMNS, dtype={"Patient ID": str})
    check_columns(df, _COLUMNS, path, "an NIH Data_Entry CSV")

    findings = df["Finding Labels"].fillna("").astype(str)
    dummies = findings.str.get_dummies(sep="|")  # one vectorised pass over the "|" lists
    known = set(NIH_CLASSES) | {NO_FINDING}
    unknown = [c for c in dummies.columns if c.strip() not in known]
    if unknown:
        r = int(np.argmax(dummies[unknown[0]].to_numpy() > 0))
        raise InputFileError(
            path,
            f"row {r + 1} (line {r + 2}), column 'Finding Labels': unknown finding {unknown[0]!r}; "
            f"expected {NO_FINDING!r} or some of {', '.join(NIH_CLASSES)}",
        )
    dummies.columns = [c.strip() for c in dummies.columns]
    values = np.zeros((len(df), len(NIH_CLASSES)), dtype=np.float32)
    for j, name in enumerate(NIH_CLASSES):
        if name in dummies.columns:
            values[:, j] = dummies[name].to_numpy(dtype=np.float32)
    empty = (findings.str.strip() == "").to_numpy()
    if empty.any():
        r = int(np.argmax(empty))
        raise InputFileError(path, f"row {r + 1} (line {r + 2}), column 'Finding Labels': blank")
    if NO_FINDING in dummies.columns:
        contradicts = (dummies[NO_FINDING].to_numpy() > 0) & (values.sum(axis=1) > 0)
        if contradicts.any():
            r = int(np.argmax(contradicts))
            raise InputFileError(
                path,
                f"row {r + 1} (line {r + 2}), column 'Finding Labels': "
                "'No Finding' together with findings",
            )

    ids = df["Image Index"].astype(str).to_numpy()
    patient = df["Patient ID"].astype(str).str.strip().to_numpy()
    meta = pd.DataFrame(
        {
            "path": "images/" + df["Image Index"].astype(str),
            "view": df["View Position"].astype(str).to_numpy(),
            "age": ages(df["Patient Age"]),
            "sex": df["Patient Gender"].astype(str).to_numpy(),
        }
    )
    dup = pd.Series(ids).duplicated()
    if dup.any():
        r = int(np.argmax(dup.to_numpy()))
        raise InputFileError(
            path, f"row {r + 1} (line {r + 2}): duplicate Image Index {str(ids[r])!r}"
        )
    return LabelTable(
        values=values,
        classes=list(NIH_CLASSES),
        ids=ids,
        source=np.full(len(df), "nih"),
        patient=patient,
        split=patient_split(patient, fractions=fractions, seed=seed),
        meta=meta,
    )
