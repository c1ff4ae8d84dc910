"""Prototype, co-occurrence and kNN relations on generated data where the answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from budgetplan.relations.cooccurrence import conditional_probability, pair_counts, phi, pmi
from budgetplan.relations.knn import (
    exact_self_knn,
    hard_negative_images,
    knn_share,
    restrict_knn,
)
from budgetplan.relations.prototypes import cosine_matrix, prototypes
from budgetplan.relations.table import relation_table_from_arrays

NAN = np.nan


@pytest.mark.parametrize("kind", ["mean", "median"])
def test_classes_from_the_same_direction_are_nearest_prototypes(
    kind: str, gen_arrays, gen_classes
) -> None:
    x, y = gen_arrays
    CLASSES = gen_classes
    sim = cosine_matrix(prototypes(x, y, kind=kind, shift_origin=(kind == "mean")))
    np.fill_diagonal(sim, -np.inf)
    assert CLASSES[int(np.argmax(sim[0]))] == "Twin"
    assert CLASSES[int(np.argmax(sim[1]))] == "Target"


def test_origin_shift_subtracts_the_mean_of_all_rows() -> None:
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    y = np.array([[1, 0], [0, 1], [NAN, NAN]], dtype=np.float32)
    p = prototypes(x, y, kind="mean", shift_origin=True)
    # mean of all rows = (2/3, 2/3): class 0 = (1, 0) - mean, class 1 = (0, 1) - mean.
    np.testing.assert_allclose(p, [[1 / 3, -2 / 3], [-2 / 3, 1 / 3]], atol=1e-6)
    # restricted to rows 0 and 1 the origin is (0.5, 0.5): cosine of (.5,-.5) and (-.5,.5) = -1
    sim = cosine_matrix(prototypes(x, y, rows=np.array([0, 1])))
    assert sim[0, 1] == pytest.approx(-1.0)


def test_class_without_positives_has_nan_prototype() -> None:
    x = np.eye(3, dtype=np.float32)
    y = np.array([[1, 0], [1, NAN], [0, 0]], dtype=np.float32)
    sim = cosine_matrix(prototypes(x, y, kind="median", shift_origin=False))
    assert np.isnan(sim[1]).all() and sim[0, 0] == pytest.approx(1.0)


def test_pmi_and_phi_of_independent_classes_are_near_zero() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random((200_000, 2)) < [0.1, 0.3]).astype(np.float32)
    counts = pair_counts(y)
    assert abs(pmi(counts)[0, 1]) < 0.03
    assert abs(phi(counts)[0, 1]) < 0.01


def test_pmi_phi_conditional_by_hand() -> None:
    # 2 x 2 table: n11 = 3, n10 = 1, n01 = 2, n00 = 4 (n = 10) plus rows with NaN.
    rows = [[1, 1]] * 3 + [[1, 0]] + [[0, 1]] * 2 + [[0, 0]] * 4 + [[1, NAN], [NAN, 1]]
    c = pair_counts(np.array(rows, dtype=np.float32))
    assert (c.n11[0, 1], c.n10[0, 1], c.n01[0, 1], c.n00[0, 1], c.n[0, 1]) == (3, 1, 2, 4, 10)
    # PMI = log(P11 / (P1. P.1)) = log(0.3 / (0.4 * 0.5)) = log(1.5)
    assert pmi(c)[0, 1] == pytest.approx(np.log(1.5))
    # phi = (3*4 - 1*2) / sqrt(4 * 6 * 5 * 5) = 10 / sqrt(600)
    assert phi(c)[0, 1] == pytest.approx(10 / np.sqrt(600))
    # P(b | a) = 3 / 4 ; positives per class count every annotated positive (5 each)
    assert conditional_probability(c)[0, 1] == pytest.approx(0.75)
    assert list(c.positives) == [5, 6]


def test_nan_labels_are_not_counted_as_negatives(gen_arrays) -> None:
    x, y = gen_arrays
    rng = np.random.default_rng(2)
    target = y[:, 0] == 1
    hide = (rng.random(len(y)) < 0.5) & target
    masked = y.copy()
    masked[hide, 3] = NAN  # Far (independent of Target) not annotated on half the positives
    as_zero = np.nan_to_num(masked, nan=0.0)  # what "missing = negative" would do
    c_nan, c_zero = pair_counts(masked), pair_counts(as_zero)
    assert c_nan.n[0, 3] == len(y) - hide.sum()
    # P(Far | Target) over the target positives where Far is annotated: the true rate there
    kept = target & ~hide
    assert conditional_probability(c_nan)[0, 3] == pytest.approx(y[kept, 3].mean())
    # zeros dilute it by the hidden half
    assert conditional_probability(c_zero)[0, 3] == pytest.approx(y[kept, 3].sum() / target.sum())
    # an independent pair keeps PMI ~ 0 only when NaN is excluded
    big = (rng.random((50_000, 2)) < [0.15, 0.2]).astype(np.float32)
    big[(rng.random(50_000) < 0.5) & (big[:, 0] == 1), 1] = NAN
    assert abs(pmi(pair_counts(big))[0, 1]) < 0.05
    assert pmi(pair_counts(np.nan_to_num(big, nan=0.0)))[0, 1] < -0.5


def test_knn_share_by_hand_and_nan_neighbours() -> None:
    # 6 rows, classes (t, c). Target positives: rows 0 and 1.
    y = np.array([[1, 0], [1, NAN], [0, 1], [0, 0], [NAN, 1], [0, NAN]], dtype=np.float32)
    knn = np.array([[2, 3], [5, -1], [0, 1], [0, 4], [1, 2], [1, 0]])
    share = knn_share(y, knn, target=0)
    # row 0's neighbours (2, 3): c positive on 2 -> carries. Row 1's (5, none): c missing ->
    # not informative, so the share is 1 of 1 (not 1 of 2).
    assert share.n_queries[1] == 1 and share.n_carrying[1] == 1 and share.share[1] == 1.0
    # neighbour labels of c: row 2 (1), row 3 (0) -> rate 0.5
    assert share.neighbour_rate[1] == pytest.approx(0.5)
    # random baseline: prevalence of c among annotated = 2 / 4; 2 annotated neighbours
    assert share.random_share[1] == pytest.approx(1 - 0.5**2)


def test_hard_negative_images_rank_by_hits() -> None:
    y = np.array([[1, 0], [1, NAN], [0, 1], [0, NAN], [NAN, 1], [1, 0]], dtype=np.float32)
    knn = np.array([[2, 3], [3, 2], [0, 1], [0, 4], [1, 2], [3, 4]])
    sims = np.array([[0.9, 0.8], [0.95, 0.7], [0, 0], [0, 0], [0, 0], [0.6, 0.5]], dtype=np.float32)
    hard = hard_negative_images(y, knn, target=0, knn_similarities=sims)
    # neighbours of target positives 0, 1, 5: row 3 (3 hits), row 2 (2 hits), row 4 (1 hit)
    assert list(hard["row"]) == [3, 2, 4]
    assert list(hard["hits"]) == [3, 2, 1]
    carriers = hard_negative_images(y, knn, 0, cls=1, class_label="positive")
    assert list(carriers["row"]) == [2, 4]
    to_annotate = hard_negative_images(y, knn, 0, cls=1, class_label="missing")
    assert list(to_annotate["row"]) == [3]


def test_self_knn_and_restriction_to_rows() -> None:
    x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.7, 0.7]], dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sims, idx = exact_self_knn(x, k=2)
    assert idx[0, 0] == 1 and idx[2, 0] == 3 and (idx != np.arange(5)[:, None]).all()
    # keep only rows 0, 2, 4 (renumbered 0, 1, 2): row 0's neighbours 1 and 4 -> only 4 is kept
    s, i = restrict_knn(sims[[0]], idx[[0]], np.array([0, 2, 4]), k=2)
    assert list(i[0]) == [2, -1] and np.isneginf(s[0, 1])


def test_relation_table_from_arrays_ranks_twin_first(gen_arrays, gen_classes) -> None:
    x, y = gen_arrays
    CLASSES = gen_classes
    knn = exact_self_knn(x, 10)[1]
    table = relation_table_from_arrays(y, CLASSES, "Target", vectors=x, knn_indices=knn)
    assert list(table["class"])[0] == "Twin"
    assert table.attrs["rank_by"] == "prototype-mean"
    twin = table.set_index("class").loc["Twin"]
    assert twin["n_target_pos"] == (y[:, 0] == 1).sum()
    assert twin["n_both_pos"] == ((y[:, 0] == 1) & (y[:, 1] == 1)).sum()
    assert twin["knn-share"] > twin["knn-share-random"]
    by_pmi = relation_table_from_arrays(y, CLASSES, "Target", relations=("pmi", "phi"))
    assert by_pmi["class"].iloc[0] == "Twin" and "prototype-mean" not in by_pmi
