"""The prepared-problem cache: keyed on the data and the config fields the set-up reads; a
corrupt entry is recomputed; a warm run gives the same plan."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from budgetplan.config import RecommendConfig, SimulationConfig
from budgetplan.planner.cache import RunCache
from budgetplan.planner.prepared import PreparedCache, prepared_key
from budgetplan.planner.problem import prepare_problem
from budgetplan.planner.recommend import recommend
from budgetplan.planner.study import StudyPlanner

from .conftest import make_data, toy_config

SIM = SimulationConfig(
    pool_images=None, val_images=None, dim=8, initial_seeds=2, max_seeds=4, eta=2
)


def _cfg(**kw) -> RecommendConfig:
    return toy_config(SIM, **kw)


def _files(root: Path) -> set[str]:
    return {p.name for p in (root / "prepared").glob("*.npz")}


def _planner(cfg: RecommendConfig, data, root: Path, job_fn=None) -> StudyPlanner:
    """A planner whose runs and prepared problem are cached under ``root``."""
    kw = {"job_fn": job_fn} if job_fn is not None else {}
    prepared = PreparedCache(root / "prepared")
    return StudyPlanner(cfg, data, cache=RunCache(root / "runs"), prepared=prepared, **kw)


def _plan(rec) -> dict:
    """The plan without what differs between a cold and a warm run (time, run counts, the id
    hashed from them)."""
    body = json.loads(rec.plan.to_json())
    body.pop("plan_id", None)
    body.get("provenance", {}).pop("created", None)
    for k in ("runs_cached", "runs_trained", "seconds"):
        body.get("evidence", {}).pop(k, None)
    return body


def test_key_follows_data_and_relevant_config(tmp_path, fake_trainer) -> None:
    data = make_data()
    _planner(_cfg(), data, tmp_path, fake_trainer)
    first = _files(tmp_path)
    assert {n.split("-")[0] for n in first} == {"pca", "knn", "relations"}
    # a training setting does not touch the set-up: every entry is reused
    again = _planner(_cfg().with_overrides(train={"lr": 0.01}), data, tmp_path)
    assert (again.prepared.hits, again.prepared.misses) == (3, 0)
    assert _files(tmp_path) == first
    # another PCA dimension, seed or data: new keys for every stage
    for cfg, d in (
        (_cfg(simulation=replace(SIM, dim=6)), data),
        (_cfg(seed=1), data),
        (_cfg(), make_data(seed=1)),
    ):
        s = _planner(cfg, d, tmp_path)
        assert (s.prepared.hits, s.prepared.misses) == (0, 3)
    assert len(_files(tmp_path)) == 12
    assert not [p for p in (tmp_path / "runs").rglob("*") if p.suffix == ".npz"]
    parts = {"data": "a", "rows": ["x"], "dim": 8, "seed": 0}
    assert prepared_key("pca", parts) != prepared_key("pca", {**parts, "data": "b"})
    assert prepared_key("pca", parts) != prepared_key("knn", parts)


def test_corrupt_entries_are_recomputed(tmp_path, fake_trainer) -> None:
    data = make_data()
    cold = _planner(_cfg(), data, tmp_path, fake_trainer).recommend()
    files = sorted((tmp_path / "prepared").glob("*.npz"))
    assert len(files) == 3
    files[0].write_bytes(b"not a zip file")  # truncated / garbage
    files[1].write_bytes(files[1].read_bytes()[:100])
    np.savez(files[2], other=np.zeros(3))  # a whole file with the wrong arrays
    planner = _planner(_cfg(), data, tmp_path, fake_trainer)
    assert (planner.prepared.hits, planner.prepared.misses) == (0, 3)
    assert _plan(planner.recommend()) == _plan(cold)
    # rewritten: the next run reads all three
    again = _planner(_cfg(), data, tmp_path, fake_trainer)
    assert (again.prepared.hits, again.prepared.misses) == (3, 0)


def test_warm_run_gives_the_identical_plan(tmp_path, fake_trainer) -> None:
    data = make_data()
    cold = _planner(_cfg(), data, tmp_path, fake_trainer).recommend()
    planner = _planner(_cfg(), data, tmp_path, fake_trainer)
    warm = planner.recommend()
    off = recommend(data, _cfg(), cache=RunCache(enabled=False), job_fn=fake_trainer)
    assert warm.runs_trained == 0 and warm.runs_cached > 0
    assert (planner.prepared.hits, planner.prepared.misses) == (3, 0)
    assert _plan(warm) == _plan(cold) == _plan(off)
    assert warm.table.equals(cold.table)


def test_problem_arrays_round_trip_exactly(tmp_path) -> None:
    data = make_data()
    cache = PreparedCache(tmp_path)
    kw = dict(seed=0, data_checksum=data.checksum)
    a = prepare_problem(data.labels, data.vectors, "T", SIM, cache=cache, **kw)
    b = prepare_problem(data.labels, data.vectors, "T", SIM, cache=cache, **kw)
    c = prepare_problem(data.labels, data.vectors, "T", SIM, **kw)
    assert (cache.hits, cache.misses) == (1, 1)
    for name in ("x_train", "x_val", "x_test"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
        assert np.array_equal(getattr(b, name), getattr(c, name))
    assert a.checksum == b.checksum == c.checksum


def test_a_change_to_the_stage_code_is_a_new_key(tmp_path) -> None:
    """An upgrade that changes how a relation is computed never reuses the old entries."""
    import shutil
    from pathlib import Path

    import budgetplan
    from budgetplan.planner.prepared import code_digest

    package = Path(budgetplan.__file__).parent
    for part in ("planner/problem.py", "planner/neighbours.py", "planner/screen.py"):
        (tmp_path / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(package / part, tmp_path / part)
    shutil.copytree(package / "relations", tmp_path / "relations")
    before = code_digest(tmp_path)
    assert before == code_digest(package)
    changed = tmp_path / "relations" / "prototypes.py"
    changed.write_text(changed.read_text() + "\n# a new definition\n")
    code_digest.cache_clear()
    assert code_digest(tmp_path) != before


def test_each_stage_keeps_only_its_most_recently_used_entries(tmp_path) -> None:
    import os

    cache = PreparedCache(tmp_path, max_entries=3)
    shapes = {"x": (2,)}
    for i in range(5):
        cache.get_or_compute("pca", f"k{i}", lambda: {"x": np.zeros(2)}, shapes)
        os.utime(cache.path("pca", f"k{i}"), (1_000 + i, 1_000 + i))
    cache.get_or_compute("knn", "other", lambda: {"x": np.zeros(2)}, shapes)
    # a hit on the oldest survivor makes it the most recent; the next save drops k3, not k2
    assert cache.get_or_compute("pca", "k2", lambda: {"x": np.ones(2)}, shapes)["x"].sum() == 0
    cache.get_or_compute("pca", "k5", lambda: {"x": np.zeros(2)}, shapes)
    left = sorted(p.name for p in tmp_path.glob("pca-*.npz"))
    assert left == ["pca-k2.npz", "pca-k4.npz", "pca-k5.npz"]
    assert cache.path("knn", "other").exists()  # another stage is not touched


def test_workers_start_early_only_when_the_set_up_is_not_cached(tmp_path) -> None:
    """A cold set-up starts the workers' imports while it runs (the fork server imports torch
    meanwhile); a set-up found in the prepared cache leaves them to the first round that trains,
    so a fully cached run never starts them."""
    from budgetplan.planner.executor import ProcessExecutor

    data = make_data()
    cfg = _cfg().with_overrides(simulation={"executor": "process"})
    with _planner(cfg, data, tmp_path) as cold:
        assert isinstance(cold.runner.executor, ProcessExecutor)
        assert cold.runner.executor.started  # during the set-up
    with _planner(cfg, data, tmp_path) as warm:
        assert warm.prepared.misses == 0 and warm.prepared.hits > 0
        assert not warm.runner.executor.started
