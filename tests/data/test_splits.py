"""patient_split: patient-wise, seeded, close to the fractions in images."""

from __future__ import annotations

import numpy as np
import pytest

from budgetplan.data.splits import patient_split
from budgetplan.errors import BudgetplanError


def _patients(n_patients: int = 2000, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 12, size=n_patients)  # 1..11 images per patient
    return np.repeat([f"p{i}" for i in range(n_patients)], sizes)


def test_no_patient_in_two_splits_and_fractions_in_images() -> None:
    patient = _patients()
    split = patient_split(patient, (0.7, 0.1, 0.2), seed=3)
    per_patient = {}
    for p, s in zip(patient, split, strict=True):
        assert per_patient.setdefault(p, s) == s
    shares = [np.mean(split == s) for s in ("train", "val", "test")]
    np.testing.assert_allclose(shares, [0.7, 0.1, 0.2], atol=0.01)


def test_seeded_and_independent_of_row_order() -> None:
    patient = _patients()
    a = patient_split(patient, seed=5)
    assert np.array_equal(a, patient_split(patient, seed=5))
    assert not np.array_equal(a, patient_split(patient, seed=6))
    perm = np.random.default_rng(0).permutation(len(patient))
    assert np.array_equal(patient_split(patient[perm], seed=5), a[perm])


def test_zero_fraction_gives_empty_part() -> None:
    split = patient_split(_patients(300), (0.8, 0.0, 0.2), seed=0)
    assert set(split) == {"train", "test"}


@pytest.mark.parametrize(
    "fractions", [(0.7, 0.3), (0.5, 0.5, 0.5), (1.2, -0.1, -0.1), (0.7, float("nan"), 0.3)]
)
def test_bad_fractions_are_rejected(fractions: tuple[float, ...]) -> None:
    with pytest.raises(BudgetplanError, match="fractions"):
        patient_split(["a", "b"], fractions)
