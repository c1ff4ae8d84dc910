"""Priority orders of a draw (``selection.build_orders``): the kept pool/rest split and the
orders shared by the candidates of a source give the orders of the plain definition."""

from __future__ import annotations

import numpy as np
import pytest

from budgetplan.config import SimulationConfig
from budgetplan.planner.images import prioritise_images
from budgetplan.planner.selection import ANNOTATE_TARGET, Candidate, build_orders
from budgetplan.planner.study import StudyPlanner

from .conftest import toy_config

SIM = SimulationConfig(pool_images=300, val_images=None, dim=None, initial_seeds=2, max_seeds=2)


def _plain_orders(problem, candidates, base, full_ids, pool_ids, knn, seed, full_source):
    """The definition, written out pass by pass (as build_orders was before its caches)."""
    rng = np.random.default_rng(seed)
    values = base.apply((problem.y_train, problem.train_ids, problem.classes))
    pool_set = set(problem.train_ids.tolist())
    rest = np.array([i for i in full_ids if i not in pool_set], dtype=object)
    rest = rest[rng.permutation(len(rest))]
    source_of = dict(zip(map(str, full_ids), map(str, full_source), strict=True))
    pool_source = np.asarray(problem.train_table.source).astype(str)
    full, pool = {}, {}
    for cand in candidates:
        if cand.kind == ANNOTATE_TARGET:
            allowed = set(pool_ids.tolist())
            in_pool = np.array([i for i in problem.train_ids if i in allowed], dtype=object)
            in_pool = in_pool[rng.permutation(len(in_pool))]
            out_pool = np.array([i for i in rest if i in allowed], dtype=object)
            pool[cand], full[cand] = in_pool, np.concatenate([in_pool, out_pool])
            continue
        allowed_rows = np.arange(len(problem.train_ids))
        cand_rest = rest
        if cand.source:
            allowed_rows = np.flatnonzero(pool_source == cand.source)
            cand_rest = np.array([i for i in rest if source_of.get(str(i)) == cand.source])
        c = problem.classes.index(cand.class_name)
        rows = prioritise_images(
            values, problem.train_ids, problem.target_index, c, allowed_rows, knn, seed=seed
        )
        pool[cand] = problem.train_ids[rows]
        full[cand] = np.concatenate([pool[cand], cand_rest])
    return full, pool


@pytest.mark.parametrize("seed", [3, 11])
def test_orders_are_those_of_the_plain_definition(toy_data, fake_trainer, seed) -> None:
    planner = StudyPlanner(toy_config(SIM, target_positives=10), toy_data, job_fn=fake_trainer)
    draws, labels, problem = planner.draws, toy_data.labels, planner.problem
    train = labels.split == "train"
    full_ids = labels.ids[train]
    assert len(full_ids) > len(problem.train_ids)  # some training images lie outside the pool
    # two sources over the whole training split; the pool's own source is "toy"
    full_source = np.where(np.arange(len(full_ids)) % 3 == 0, "a", "toy")
    candidates = [
        *draws.candidates,
        Candidate("good", source="a"),
        Candidate("bad", source="a"),
        Candidate("n1", source="toy"),
    ]
    assert any(c.kind == ANNOTATE_TARGET for c in candidates)
    base = draws.draw(0).base
    target_pool = np.asarray(problem.train_ids[::2])
    args = (problem, candidates, base)
    kw = dict(full_train_ids=full_ids, target_pool_ids=target_pool, knn_indices=draws.knn)
    want_full, want_pool = _plain_orders(*args, full_ids, target_pool, draws.knn, seed, full_source)
    for _ in range(2):  # the second call reads the kept split
        got = build_orders(*args, **kw, seed=seed, full_train_source=full_source)
        for cand in candidates:
            assert got.pool[cand].tolist() == want_pool[cand].tolist(), cand
            assert got.full[cand].tolist() == want_full[cand].tolist(), cand
    sourced = got.full[Candidate("good", source="a")]
    assert len(sourced) and set(sourced) <= set(full_ids[full_source == "a"])
