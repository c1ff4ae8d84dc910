"""How many target positives an "annotate the target on more images" step should bring.

The simulation often knows the chosen images' target labels (it masked them); where it does,
the expectation is their count of positives. Images whose label nobody knows count at the real
prevalence: that of the whole dataset's training split, never of a pool enriched with positives
(``nih-nodule-quick``'s pool holds about half positives; NIH's Nodule prevalence is 5.6 %).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from budgetplan.data.label_table import LabelTable


@dataclass(frozen=True)
class ExpectedPositives:
    """``expected`` positives among ``n_images``: ``known_positives`` among ``n_known`` known
    labels, plus the rest at ``prevalence``."""

    expected: float
    n_images: int
    n_known: int
    known_positives: int
    prevalence: float

    def phrase(self) -> str:
        """E.g. "about 3500 new positives (their labels are known)"."""
        n = round(self.expected)
        if self.n_known == self.n_images:
            return f"about {n} new positives (their labels are known)"
        if self.n_known == 0:
            return f"about {n} new positives at the real prevalence {100 * self.prevalence:.1f}%"
        return (
            f"about {n} new positives ({self.known_positives} known among {self.n_known} images, "
            f"the other {self.n_images - self.n_known} at the real prevalence "
            f"{100 * self.prevalence:.1f}%)"
        )


def real_prevalence(table: LabelTable, target: str, split: str | None = "train") -> float:
    """The target's share of positives among its known labels in ``split`` of the whole table
    (None: every row); NaN when no label is known."""
    col = table.column(target)
    if split is not None:
        col = col[table.split == split]
    known = col[~np.isnan(col)]
    return float(np.mean(known, dtype=np.float64)) if known.size else math.nan


def expected_positives(
    image_ids: Sequence[str], table: LabelTable, target: str, prevalence: float
) -> ExpectedPositives:
    """Positives expected among ``image_ids``: known target labels in ``table`` where present,
    ``prevalence`` (e.g. :func:`real_prevalence` of the full dataset) for the rest.

    Ids missing from ``table`` count as unknown.
    """
    pos = pd.Index(table.ids).get_indexer(np.asarray(image_ids, dtype=object))
    col = table.column(target)
    vals = np.where(pos >= 0, col[np.clip(pos, 0, None)], np.nan) if len(pos) else np.zeros(0)
    known = ~np.isnan(vals)
    n_known, known_pos = int(known.sum()), int(np.nansum(vals[known]))
    rest = len(image_ids) - n_known
    expected = known_pos + (rest * prevalence if rest else 0.0)
    return ExpectedPositives(float(expected), len(image_ids), n_known, known_pos, float(prevalence))
