"""The kNN share corrected for prevalence (``knn-lift``), on a case computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from budgetplan.errors import BudgetplanError
from budgetplan.relations.knn import knn_share
from budgetplan.relations.table import knn_share_matrix, relation_table_from_arrays

NAN = np.nan
# columns T (target), c, f (a finding on every image); row 5's c label is missing
LABELS = np.array(
    [
        [1, 0, 1],
        [1, 0, 1],
        [0, 1, 1],
        [0, 1, 1],
        [0, 0, 1],
        [0, NAN, 1],
    ],
    dtype=np.float32,
)
# k = 2 neighbours of every row (a full graph of the rows)
GRAPH = np.array([[2, 4], [3, 2], [3, 0], [2, 1], [5, 0], [4, 1]])


def test_lift_by_hand() -> None:
    ks = knn_share(LABELS, GRAPH, target=0)
    # neighbours of the T-positives 0, 1: rows 2, 4 and 3, 2 -> c-positive 3 of 4 = 0.75;
    # c's prevalence among its 5 annotated rows is 2 / 5, so lift = 0.75 / 0.4 = 1.875
    assert ks.neighbour_rate[1] == pytest.approx(0.75)
    assert ks.prevalence[1] == pytest.approx(0.4)
    assert ks.lift[1] == pytest.approx(1.875)
    # the raw share cannot tell c from f: both are on some neighbour of every T-positive (1.0),
    # but f is on every image, so its lift is 1 (as random), while c's is 1.875
    assert ks.share[1] == ks.share[2] == pytest.approx(1.0)
    assert ks.lift[2] == pytest.approx(1.0)
    # T itself is on none of its positives' neighbours here: lift 0 (2 / 6 prevalence)
    assert ks.lift[0] == pytest.approx(0.0)


def test_lift_matrix_and_table_column() -> None:
    names = ["T", "c", "f"]
    lift = knn_share_matrix(LABELS, GRAPH, names, value="knn-lift")
    share = knn_share_matrix(LABELS, GRAPH, names)
    assert lift.loc["T", "c"] == pytest.approx(1.875)
    assert share.loc["T", "c"] == pytest.approx(1.0)
    # c-positives 2, 3 have neighbours 3, 0, 2, 1: T-positive 2 of 4 = 0.5; prevalence 2/6
    assert lift.loc["c", "T"] == pytest.approx(0.5 / (2 / 6))
    table = relation_table_from_arrays(
        LABELS, names, "T", knn_indices=GRAPH, relations=("knn-share", "knn-lift")
    )
    by = table.set_index("class")
    assert by.loc["c", "knn-lift"] == pytest.approx(1.875)
    assert by.loc["f", "knn-lift"] == pytest.approx(1.0)
    assert list(table["class"]) == ["c", "f"]  # ranked by the first relation asked
    with pytest.raises(BudgetplanError, match="kNN relation"):
        knn_share_matrix(LABELS, GRAPH, names, value="knn")
