"""Label files that the installed torchxrayvision package ships in ``torchxrayvision/data/``.

We locate them through the package's import spec, without importing torchxrayvision (which would
import torch and take seconds) and never download anything.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from budgetplan.errors import BudgetplanError, InputFileError

NIH_FILE = "Data_Entry_2017_v2020.csv.gz"
CHEXPERT_FILE = "chexpert_train.csv.gz"


def torchxrayvision_data_file(name: str) -> Path:
    """Path of ``torchxrayvision/data/<name>`` in the installed package."""
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise BudgetplanError(
            f"cannot find {name}: the torchxrayvision package is not installed "
            "(pip install torchxrayvision), or pass the CSV's path explicitly"
        )
    for root in spec.submodule_search_locations:
        path = Path(root) / "data" / name
        if path.is_file():
            return path
    raise InputFileError(
        Path(next(iter(spec.submodule_search_locations))) / "data" / name,
        "not shipped by this torchxrayvision installation; pass the CSV's path explicitly",
    )


def check_columns(df: pd.DataFrame, wanted: Iterable[str], path: Path, kind: str) -> None:
    """One-line error naming ``path`` when ``df`` lacks a ``wanted`` column or has no rows
    (``kind`` names the expected file, e.g. "an NIH Data_Entry CSV")."""
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise InputFileError(path, f"not {kind}: no column(s) {', '.join(map(repr, missing))}")
    if len(df) == 0:
        raise InputFileError(path, "has a header but no rows")


def ages(column: pd.Series) -> np.ndarray:
    """Ages in years: whole numbers (int64) when every row has one, else float with NaN."""
    age = pd.to_numeric(column, errors="coerce").to_numpy()
    return age.astype(np.int64) if not np.isnan(age).any() else age
