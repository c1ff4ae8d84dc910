"""The shipped NIH and CheXpert tables, loaded once per test session (a few seconds each)."""

from __future__ import annotations

import time

import pytest

from budgetplan.data.chexpert import load_chexpert
from budgetplan.data.label_table import LabelTable
from budgetplan.data.nih import load_nih


@pytest.fixture(scope="session")
def nih_loaded() -> tuple[LabelTable, float]:
    """``(load_nih(), seconds it took)``; do not modify the table."""
    start = time.perf_counter()
    table = load_nih()
    return table, time.perf_counter() - start


@pytest.fixture(scope="session")
def chexpert_table() -> LabelTable:
    """``load_chexpert()`` with the default policies; do not modify the table."""
    return load_chexpert()
