"""The fault-injection table (issue 11): every case must end ``clear`` (see cases.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cases import CASES, Case, run_case


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault_is_handled(case: Case, tmp_path: Path) -> None:
    grade = run_case(case, tmp_path)
    if grade == "skipped":
        pytest.skip("this machine cannot stage the fault (e.g. no tmpfs mount)")
    assert grade == "clear", f"{case.fault}: {case.name} -> {grade}"
