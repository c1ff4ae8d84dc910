"""Expected new positives: known labels of the chosen images, else the real prevalence."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from budgetplan.data.label_table import LabelTable
from budgetplan.planner.positives import expected_positives, real_prevalence


def table() -> LabelTable:
    # 10 training images, 1 positive (10 %); 2 test images, both positive.
    target = np.array([1] + [0] * 9 + [1, 1], dtype=np.float32)
    target[5] = np.nan  # one unknown training label
    n = len(target)
    return LabelTable(
        values=target[:, None],
        classes=["Nodule"],
        ids=np.array([f"i{k}" for k in range(n)]),
        source=np.array(["nih"] * n),
        patient=np.array([f"p{k}" for k in range(n)]),
        split=np.array(["train"] * 10 + ["test"] * 2),
        meta=pd.DataFrame(index=range(n)),
    )


def test_known_labels_first_then_the_real_prevalence() -> None:
    t = table()
    prev = real_prevalence(t, "Nodule")
    assert math.isclose(prev, 1 / 9)  # the unknown label does not count; test rows do not either
    known = expected_positives(["i0", "i1", "i10"], t, "Nodule", prev)
    assert (known.expected, known.n_known, known.known_positives) == (2.0, 3, 2)
    assert known.phrase() == "about 2 new positives (their labels are known)"
    mixed = expected_positives(["i0", "i5", "new"], t, "Nodule", 0.5)
    assert (mixed.expected, mixed.n_known) == (2.0, 1)
    assert "1 known among 1 images, the other 2 at the real prevalence 50.0%" in mixed.phrase()
    none = expected_positives(["x"] * 100, t, "Nodule", 0.056)
    assert none.phrase() == "about 6 new positives at the real prevalence 5.6%"
