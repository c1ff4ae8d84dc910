"""Label files that the installed torchxrayvision package ships in ``torchxrayvision/data/``.

We locate them through the package's import spec, without importing torchxrayvision (which would
import torch and take seconds) and never download anything.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
