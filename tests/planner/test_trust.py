"""Trustworthy gains: a seed is a draw of the study, racing on confidence bounds, a decoy in
every run, and significance controlled over the candidates (issue 10)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from budgetplan.config import RecommendConfig, SelectionConfig, SimulationConfig
from budgetplan.planner.allocation import Evidence, still_in_race
from budgetplan.planner.cache import RunCache
from budgetplan.planner.problem import DECOY
from budgetplan.planner.recommend import recommend
from budgetplan.planner.stats import GainStats, benjamini_hochberg
from budgetplan.planner.study import StudyPlanner

SIM = SimulationConfig(pool_images=None, val_images=None, dim=None, initial_seeds=3, max_seeds=6)


def _cfg(**kw) -> RecommendConfig:
    base = dict(
        recipe="toy",
        target="T",
        method="ne",
        budget=300.0,
        simulation=SIM,
        selection=SelectionConfig(max_classes=2, greedy_width=2, random_draws=2),
    )
    base.update(kw)
    return RecommendConfig(**base)


def test_a_seed_redraws_the_kept_positives_and_the_images(toy_data, fake_trainer) -> None:
    planner = StudyPlanner(_cfg(target_positives=10), toy_data, job_fn=fake_trainer)
    d0, d1 = planner.draws.draw(0), planner.draws.draw(1)
    t = planner.problem.target_index
    y, ids = planner.problem.y_train, list(planner.problem.train_ids)

    def kept(draw) -> set[str]:
        rows = [ids.index(i) for i in draw.base.base_ids]
        return {ids[r] for r in rows if y[r, t] == 1}

    assert len(kept(d0)) == len(kept(d1)) == 10
    assert kept(d0) != kept(d1)
    good = next(c for c in planner.trained if c.class_name == "good")
    a0 = planner.draws.assembly(planner.sized[good], 0)
    a1 = planner.draws.assembly(planner.sized[good], 1)
    assert a0.actions[0].n_images == a1.actions[0].n_images  # same size and cost ...
    assert a0.actions[0].image_ids != a1.actions[0].image_ids  # ... other images
    # runs of one draw share the training seed: baseline and candidates are paired
    specs = planner.draws.specs(planner.sized[good], [0, 1])
    assert [s.seed for s in specs] == [0, 1]
    assert specs[0].train_seed == planner.draws.seed(0) != planner.draws.seed(1)
    # another recipe seed draws other studies
    other = StudyPlanner(_cfg(target_positives=10, seed=1), toy_data, job_fn=fake_trainer)
    assert other.draws.seed(0) not in {planner.draws.seed(s) for s in range(6)}


@pytest.fixture
def null_job():
    """A fake trainer where no class has any effect: only draw noise."""
    import hashlib

    def job(job) -> list[dict[str, float]]:
        out = []
        for r, seed in enumerate(job.seeds):
            h = int(
                hashlib.sha256(job.y_train[r].tobytes() + str(seed).encode()).hexdigest()[:8], 16
            )
            auc = 0.7 + np.random.default_rng(seed).normal(0, 0.01)
            auc += np.random.default_rng(h).normal(0, 0.004)
            out.append({"auc": float(auc), "ap": 0.3, "best_epoch": 1})
        return out

    return job


@pytest.mark.parametrize("seed", range(6))
def test_decoy_never_recommended_in_a_planted_null(toy_data, tmp_path, null_job, seed) -> None:
    rec = recommend(toy_data, _cfg(seed=seed), cache=RunCache(tmp_path), job_fn=null_job)
    decoy = rec.table[rec.table["kind"] == "decoy"]
    assert len(decoy) == 1 and decoy["class"].iloc[0] == "decoy (random labels)"
    assert decoy["runs"].iloc[0] >= 3
    assert DECOY not in rec.plan.chosen_classes
    assert not rec.table["significant"].any()  # nothing helps under the null
    assert rec.plan.actions == []


def test_a_significant_decoy_makes_the_verdict_untrustworthy(toy_data, tmp_path) -> None:
    import hashlib

    def decoy_helps(job) -> list[dict[str, float]]:
        out = []
        for r, seed in enumerate(job.seeds):
            share = (~np.isnan(job.y_train[r][:, -1])).mean()  # the decoy column
            h = int(
                hashlib.sha256(job.y_train[r].tobytes() + str(seed).encode()).hexdigest()[:8], 16
            )
            auc = 0.7 + 0.05 * share + np.random.default_rng(seed).normal(0, 0.01)
            auc += np.random.default_rng(h).normal(0, 0.001)
            out.append({"auc": float(auc), "ap": 0.3, "best_epoch": 1})
        return out

    rec = recommend(toy_data, _cfg(), cache=RunCache(tmp_path), job_fn=decoy_helps)
    assert rec.plan.verdict.startswith("NOT TRUSTWORTHY")
    assert DECOY not in rec.plan.chosen_classes


def test_no_decoy_turns_it_off(toy_data, tmp_path, fake_trainer) -> None:
    cfg = _cfg().with_overrides(simulation={"decoy": False})
    rec = recommend(toy_data, cfg, cache=RunCache(tmp_path), job_fn=fake_trainer)
    assert "decoy" not in set(rec.table["kind"])


@pytest.mark.parametrize("seed", range(8))
def test_racing_never_drops_the_planted_helpful_candidate(toy_data, tmp_path, fake_trainer, seed):
    planner = StudyPlanner(_cfg(seed=seed), toy_data, cache=RunCache(tmp_path), job_fn=fake_trainer)
    simulation = planner.simulate()
    good = next(e for c, e in simulation.evidence.items() if c.class_name == "good")
    assert good.dropped_in is None and good.n_runs == 6
    assert good.stats.significant(0.05)


def test_racing_rule_on_bounds_not_on_point_estimates() -> None:
    def ev(gain: float, low: float, high: float) -> Evidence:
        return Evidence(sized=None, stats=GainStats(gain, low, high, 0.5, 3))  # type: ignore[arg-type]

    leader = ev(0.05, 0.02, 0.08)
    behind_but_overlapping = ev(0.00, -0.05, 0.03)  # point estimate far below, CI overlaps
    clearly_worse = ev(-0.02, -0.04, 0.01)  # upper bound below the leader's lower bound
    harmful = ev(-0.03, -0.05, -0.01)
    assert still_in_race([leader, behind_but_overlapping, clearly_worse, harmful]) == [
        True,
        True,
        False,
        False,
    ]
    # with a floor: dropped when even its upper bound cannot reach it
    assert still_in_race([ev(0.01, 0.0, 0.015)], min_gain=0.02) == [False]
    # an undefined bound keeps a candidate in
    assert still_in_race([leader, ev(float("nan"), float("nan"), float("nan"))]) == [True, True]


def test_benjamini_hochberg_by_hand() -> None:
    # p sorted: 0.01, 0.02, 0.03, 0.5 (m = 4): 0.04, 0.04, 0.04, 0.5 after the step-up minimum
    q = benjamini_hochberg([0.03, 0.5, 0.01, float("nan"), 0.02])
    np.testing.assert_allclose(q, [0.04, 0.5, 0.04, np.nan, 0.04])
    stats = GainStats(gain=0.02, ci_low=0.01, ci_high=0.03, p_value=0.01, n_draws=6)
    assert stats.significant(0.05)
    assert not replace(stats, q_value=0.2).significant(0.05)  # significant alone, not among many
