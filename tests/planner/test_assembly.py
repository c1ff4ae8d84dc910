from __future__ import annotations

import numpy as np

from budgetplan.config import SimulationConfig
from budgetplan.planner.assembly import Action, Assembly, base_state
from budgetplan.planner.problem import prepare_problem


def test_apply_masks_everything_not_included(toy_data) -> None:
    t = toy_data.labels
    train = t.subset(t.split == "train")
    base, dropped = base_state(train, "T")
    assert len(dropped) == 0
    v = base.apply(train)
    assert np.array_equal(v[:, 0], train.values[:, 0])  # target kept everywhere
    assert np.isnan(v[:, 1:]).all()  # nothing else
    some = tuple(train.ids[:10])
    v2 = base.plus(Action("good", some)).apply(train)
    assert np.array_equal(v2[:10, 1], train.values[:10, 1])
    assert np.isnan(v2[10:, 1]).all() and np.isnan(v2[:, 2:]).all()


def test_target_positives_dropped_become_unlabelled(toy_data) -> None:
    t = toy_data.labels
    train = t.subset(t.split == "train")
    n_pos = int(np.nansum(train.values[:, 0] == 1))
    base, dropped = base_state(train, "T", target_positives=5, seed=1)
    v = base.apply(train)
    assert int(np.nansum(v[:, 0] == 1)) == 5
    assert len(dropped) == n_pos - 5
    rows = np.isin(train.ids, dropped)
    assert np.isnan(v[rows, 0]).all()  # dropped positives: target unlabelled, image stays
    assert (v[~rows, 0] == train.values[~rows, 0]).all()  # every negative stays labelled


def test_key_ignores_name_and_action_order() -> None:
    a = Assembly("T", ("a", "b"), (Action("x", ("1",)), Action("y", ("2",))), name="one")
    b = Assembly("T", ("b", "a"), (Action("y", ("2",)), Action("x", ("1",))), name="two")
    c = Assembly("T", ("a", "b"), (Action("x", ("1", "3")),))
    assert a.key() == b.key() != c.key()


def test_problem_keeps_test_labels_and_val_target_only(toy_data) -> None:
    p = prepare_problem(
        toy_data.labels, toy_data.vectors, "t", SimulationConfig(pool_images=200, dim=4)
    )
    assert p.target == "T"  # case forgiven
    test = toy_data.labels.split == "test"
    assert np.array_equal(p.y_test, toy_data.labels.values[test, 0])
    assert np.isnan(p.y_val[:, 1:]).all() and not np.isnan(p.y_val[:, 0]).any()
    # every training positive of the target is kept in the pool
    n_pos = int(np.nansum(toy_data.labels.values[toy_data.labels.split == "train", 0] == 1))
    assert int(np.sum(p.y_train[:, 0] == 1)) == n_pos
    assert len(p.train_ids) == 200 and p.x_train.shape[1] == 4


def test_small_pool_keeps_negatives_when_positives_would_fill_it(toy_data) -> None:
    # a --quick pool smaller than the target's positives used to hold only positives
    t = toy_data.labels
    n_pos = int(np.nansum(t.column("T")[t.split == "train"] == 1))
    p = prepare_problem(t, toy_data.vectors, "T", SimulationConfig(pool_images=n_pos, dim=None))
    col = p.y_train[:, p.target_index]
    assert len(col) == n_pos and (col == 0).sum() >= n_pos // 2 and (col == 1).sum() >= 1
