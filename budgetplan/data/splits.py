"""Patient-wise, seeded train / val / test splits.

Images of one patient are correlated (same anatomy, follow-ups), so a split that puts a patient in
two parts leaks and inflates the test AUC. We shuffle the *patients* with a seeded generator and
cut the shuffled list where the cumulative *image* count crosses the requested fractions, so the
parts are close to the fractions in images, not merely in patients.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from budgetplan.data.label_table import SPLITS
from budgetplan.errors import BudgetplanError


def patient_split(
    patient: Sequence[object] | np.ndarray,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Assign every image to "train", "val" or "test" so that no patient is in two splits.

    Args:
        patient: (N,) patient id of each image (any hashable values; compared as strings).
        fractions: shares of images for train, val and test; non-negative, summing to 1.
        seed: seed or generator for the shuffle of patients. The same patients and seed give the
            same split whatever the row order (patients are sorted before shuffling).

    Returns:
        (N,) array of split names (dtype object-free ``<U5``).
    """
    frac = np.asarray(fractions, dtype=float)
    if frac.shape != (3,) or not np.all(np.isfinite(frac)) or (frac < 0).any():
        raise BudgetplanError(
            "split fractions must be three non-negative numbers (train, val, test), "
            f"got {list(fractions)}"
        )
    if not np.isclose(frac.sum(), 1.0, atol=1e-6):
        raise BudgetplanError(
            f"split fractions must sum to 1, got {list(fractions)} (sum {frac.sum():g})"
        )
    pat = np.asarray(patient, dtype=object).astype(str)
    if pat.ndim != 1:
        raise BudgetplanError(f"patient must be 1-D, got shape {pat.shape}")
    n = pat.shape[0]
    if n == 0:
        return np.empty(0, dtype="<U5")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    uniq, inverse, counts = np.unique(pat, return_inverse=True, return_counts=True)
    order = rng.permutation(len(uniq))
    sizes = counts[order]
    # A patient goes to the part that contains the middle of its block of images.
    middle = (np.cumsum(sizes) - sizes / 2.0) / n
    bounds = np.cumsum(frac)[:-1]
    part_of_shuffled = np.searchsorted(bounds, middle, side="right")
    part = np.empty(len(uniq), dtype=np.intp)
    part[order] = part_of_shuffled
    return np.asarray(SPLITS)[part[inverse]]
