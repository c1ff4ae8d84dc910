from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from budgetplan.config import SimulationConfig
from budgetplan.methods.train_config import TrainConfig
from budgetplan.planner.assembly import Action, base_state
from budgetplan.planner.cache import RunCache
from budgetplan.planner.executor import LocalExecutor, ProcessExecutor
from budgetplan.planner.problem import prepare_problem
from budgetplan.planner.runner import Runner, RunSpec
from budgetplan.planner.stats import GainStats, gain_stats

TRAIN = TrainConfig(method="ne", max_epochs=2)


class Boom(RuntimeError):
    pass


def _specs(data):
    p = prepare_problem(
        data.labels, data.vectors, "T", SimulationConfig(pool_images=None, dim=None)
    )
    base, _ = base_state(p.train_table, "T")
    cands = [base.plus(Action(c, tuple(p.train_ids))) for c in ("good", "bad", "n1")]
    specs = [RunSpec(a, s) for a in (base, *cands) for s in range(3)]
    return p, specs


def test_interrupted_run_keeps_finished_jobs_and_resumes(toy_data, tmp_path, fake_trainer) -> None:
    fake_job = fake_trainer
    p, specs = _specs(toy_data)
    cache = RunCache(tmp_path / "runs")
    calls = {"n": 0}

    def dying_job(job):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Boom("killed mid-run")
        return fake_job(job)

    runner = Runner(p, TRAIN, cache=cache, max_replicas=4, job_fn=dying_job)
    with pytest.raises(Boom):
        runner.run(specs)
    assert len(cache) == 8  # the two finished jobs of 4 replicas are on disk
    for f in (tmp_path / "runs").glob("*/*.json"):
        assert "auc" in json.loads(f.read_text())

    trained = []

    def counting_job(job):
        trained.append(len(job.seeds))
        return fake_job(job)

    resumed = Runner(p, TRAIN, cache=cache, max_replicas=4, job_fn=counting_job).run(specs)
    assert sum(trained) == len(specs) - 8  # only the missing runs are computed
    fresh = Runner(
        p, TRAIN, cache=RunCache(tmp_path / "other"), max_replicas=4, job_fn=fake_job
    ).run(specs)
    assert [r.auc for r in resumed] == pytest.approx([r.auc for r in fresh])

    again = Runner(p, TRAIN, cache=cache, job_fn=counting_job)
    n_before = sum(trained)
    again.run(specs)
    assert sum(trained) == n_before and again.n_cached == len(specs)  # a repeated run is instant


def test_cache_key_changes_with_settings_and_seed(toy_data, tmp_path, fake_trainer) -> None:
    fake_job = fake_trainer
    p, specs = _specs(toy_data)
    a = Runner(p, TRAIN, cache=RunCache(tmp_path), job_fn=fake_job)
    b = Runner(p, replace(TRAIN, max_epochs=3), cache=RunCache(tmp_path), job_fn=fake_job)
    assert a.key(specs[0]) != b.key(specs[0])
    assert a.key(specs[0]) != a.key(specs[1])  # another seed
    assert a.key(specs[0]) == Runner(p, TRAIN, job_fn=fake_job).key(specs[0])


def test_paired_gain_sees_planted_effect(toy_data, tmp_path, fake_trainer) -> None:
    fake_job = fake_trainer
    p, specs = _specs(toy_data)
    res = Runner(p, TRAIN, cache=RunCache(tmp_path), job_fn=fake_job).run(specs)
    by = {}
    for r in res:
        by.setdefault(r.name, []).append(r)
    base = by["baseline"]
    good = gain_stats(by["+ good"], base)
    bad = gain_stats(by["+ bad"], base)
    assert good.gain == pytest.approx(0.06, abs=0.01) and good.p_value < 0.05
    assert bad.gain < 0 and good.n_draws == 3


def test_process_executor_yields_every_job() -> None:
    out = dict(ProcessExecutor(2).map(abs, [-1, -2, -3]))
    assert out == {0: 1, 1: 2, 2: 3}
    assert list(LocalExecutor().map(np.negative, [1, 2])) == [(0, -1), (1, -2)]


def test_negligible_but_regular_gain_is_not_worth_recommending() -> None:
    # seen on nih-chexpert: +0.03 AUC points with near-zero spread passes the paired test
    tiny = GainStats(gain=0.0003, ci_low=0.0002, ci_high=0.0004, p_value=0.001, n_draws=4)
    assert tiny.significant(0.05)
    assert not tiny.significant(0.05, min_gain=0.001)
    assert replace(tiny, gain=0.02, ci_low=0.01).significant(0.05, min_gain=0.001)


class _TwoWorkers(LocalExecutor):
    parallelism = 2


def test_job_sizes_keep_every_worker_busy_only_where_results_cannot_move(toy_data) -> None:
    """The compiled engine trains each replica alone (the same bits in any job), so a round is cut
    into about two jobs per worker; the torch engine's cut stays ``max_replicas``."""
    p, _ = _specs(toy_data)
    fused = Runner(p, TRAIN, executor=_TwoWorkers(), max_replicas=8)
    assert [fused.job_size(n) for n in (32, 22, 4, 1)] == [8, 6, 1, 1]
    torch_engine = Runner(p, replace(TRAIN, engine="torch"), executor=_TwoWorkers(), max_replicas=8)
    assert [torch_engine.job_size(n) for n in (32, 22, 4)] == [8, 8, 8]
    assert Runner(p, TRAIN, executor=LocalExecutor(), max_replicas=8).job_size(22) == 8
    # two workers taking jobs as they free up end together: sizes differ by one, larger first
    assert fused.job_sizes(22) == [6, 6, 5, 5] and fused.job_sizes(32) == [8, 8, 8, 8]
    assert fused.job_sizes(7) == [2, 2, 2, 1] and fused.job_sizes(1) == [1]
    assert torch_engine.job_sizes(22) == [8, 8, 6]  # its numbers depend on the cut: unchanged
    for n in range(1, 40):
        assert sum(fused.job_sizes(n)) == n == sum(torch_engine.job_sizes(n))


def test_a_run_gives_the_same_numbers_in_any_cut(toy_data, tmp_path) -> None:
    p, specs = _specs(toy_data)
    cfg = TrainConfig(method="label-assemble", max_epochs=3, hidden=16)
    whole = Runner(p, cfg, cache=RunCache(tmp_path / "a"), max_replicas=12).run(specs)
    cut = Runner(p, cfg, cache=RunCache(tmp_path / "b"), max_replicas=1).run(specs)
    assert [(r.auc, r.ap, r.best_epoch) for r in whole] == [
        (r.auc, r.ap, r.best_epoch) for r in cut
    ]
