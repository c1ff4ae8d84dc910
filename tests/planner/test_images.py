"""Which images first: the target's hard-negative neighbourhood, then the rest; sized to budget."""

from __future__ import annotations

import numpy as np
import pytest

from budgetplan.planner.costs import CostModel
from budgetplan.planner.images import prioritise_images, rows_cost, size_to_budget
from budgetplan.relations.knn import exact_self_knn


def clustered(seed: int = 0):
    """60 images in 3 well-separated clusters; the target is positive on 5 images of cluster 0."""
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 16) * 10
    x = np.concatenate([c + rng.normal(size=(20, 16)) for c in centres]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.full((60, 2), np.nan, dtype=np.float32)  # columns: target, class to annotate
    labels[:, 0] = 0
    labels[:5, 0] = 1
    _, knn = exact_self_knn(x, k=5)
    return labels, np.array([f"img{i}" for i in range(60)]), knn


def test_hard_negatives_come_first() -> None:
    labels, ids, knn = clustered()
    candidates = np.arange(60)
    order = prioritise_images(labels, ids, 0, 1, candidates, knn, seed=1)
    assert sorted(order.tolist()) == candidates.tolist()
    # Exactly the non-positive images listed among the positives' neighbours come first, most
    # hits first, all from the positives' cluster (rows 0-19).
    hood = {int(j) for i in range(5) for j in knn[i] if j >= 5}
    assert hood, "the generated graph must have a neighbourhood"
    first = order[: len(hood)]
    assert set(first.tolist()) == hood
    hits = [sum(int(r) in knn[i] for i in range(5)) for r in first]
    assert hits == sorted(hits, reverse=True)
    assert all(r < 20 for r in first)
    # Then the target positives, then the rest.
    assert set(order[len(hood) : len(hood) + 5].tolist()) == set(range(5))


def test_rest_is_seeded_random() -> None:
    labels, ids, knn = clustered()
    a = prioritise_images(labels, ids, 0, 1, np.arange(60), knn, seed=1)
    b = prioritise_images(labels, ids, 0, 1, np.arange(60), knn, seed=1)
    c = prioritise_images(labels, ids, 0, 1, np.arange(60), knn, seed=2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    far = a[-30:]  # the tail is not sorted by row (a random order, not the input order)
    assert not np.array_equal(far, np.sort(far))


def test_without_knn_positives_first_then_random() -> None:
    labels, ids, _ = clustered()
    order = prioritise_images(labels, ids, 0, 1, np.arange(10, 60).tolist() + [0, 1], seed=0)
    assert set(order[:2].tolist()) == {0, 1}
    assert len(order) == 52


def test_candidate_rows_are_respected() -> None:
    labels, ids, knn = clustered()
    candidates = np.arange(30, 60)  # none in the target's cluster
    order = prioritise_images(labels, ids, 0, 1, candidates, knn, seed=0)
    assert sorted(order.tolist()) == candidates.tolist()


def test_bad_inputs() -> None:
    labels, ids, knn = clustered()
    with pytest.raises(ValueError, match="lists a row twice"):
        prioritise_images(labels, ids, 0, 1, [1, 1], knn)
    with pytest.raises(ValueError, match="knn_indices has shape"):
        prioritise_images(labels, ids, 0, 1, [1, 2], knn[:10])
    with pytest.raises(ValueError, match="class_index 5 is out of range"):
        prioritise_images(labels, ids, 0, 5, [1, 2], knn)


def test_size_to_budget_hand_computed() -> None:
    cm = CostModel({"Mass": 2.0}, image_read_cost=1.0)
    rows = [5, 6, 7, 8, 9]
    assert size_to_budget(rows, "Mass", cm, 9.0).tolist() == [5, 6, 7]  # 3 x 3 = 9
    # Row 9 is already read (costs 2): after 5, 6 (6 spent) 3 is left: 7 and 8 cost 3 -> 7 only.
    assert size_to_budget(rows, "Mass", cm, 9.0, already_read={9}).tolist() == [5, 6, 7]
    assert size_to_budget(rows, "Mass", cm, 8.0, already_read={9}).tolist() == [5, 6, 9]
    assert size_to_budget(rows, "Mass", cm, 2.0).tolist() == []
    taken = size_to_budget(rows, "Mass", cm, 8.0, already_read={9})
    assert rows_cost(taken, "Mass", cm, already_read={9}) == pytest.approx(8.0)


def test_size_to_budget_matches_images_affordable() -> None:
    cm = CostModel({"Mass": 1.5}, image_read_cost=0.7)
    for budget in (0.0, 2.2, 5.0, 13.3, 100.0):
        assert len(size_to_budget(range(1000), "Mass", cm, budget)) == cm.images_affordable(
            "Mass", budget
        )


def test_chained_actions_add_up_to_the_plan_cost() -> None:
    from budgetplan.planner.images import make_action
    from budgetplan.planner.plan import AnnotationPlan

    cm = CostModel({"Mass": 2.0}, image_read_cost=1.0)
    ids = np.array([f"img{i}" for i in range(10)])
    first = make_action("annotate-class", "Mass", "nih", [0, 1, 2], ids, cm, reason="r")
    second = make_action(
        "annotate-class", "Effusion", "nih", [2, 3], ids, cm, already_read={0, 1, 2}
    )
    assert first.cost == pytest.approx(9.0) and second.cost == pytest.approx(3.0)  # img2 read once
    block = {"auc": 0.5, "auc_ci_low": 0.4, "auc_ci_high": 0.6}
    expected = {**block, "gain": 0.0, "gain_ci_low": 0.0, "gain_ci_high": 0.0}
    plan = AnnotationPlan("Nodule", 12.0, "units", cm, [first, second], block, expected, None)
    assert plan.total_cost == pytest.approx(12.0)
    assert second.image_ids == ["img2", "img3"]
