"""Trustworthy gains: a seed is a draw of the study, racing on confidence bounds, a decoy in
every run, and significance controlled over the candidates (issue 10)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from budgetplan.config import RecommendConfig, SimulationConfig
from budgetplan.planner.allocation import Evidence, still_in_race
from budgetplan.planner.cache import RunCache
from budgetplan.planner.problem import DECOY
from budgetplan.planner.recommend import recommend
from budgetplan.planner.stats import GainStats, benjamini_hochberg
from budgetplan.planner.study import StudyPlanner

from .conftest import toy_config

SIM = SimulationConfig(pool_images=None, val_images=None, dim=None, initial_seeds=3, max_seeds=6)


def _cfg(**kw) -> RecommendConfig:
    return toy_config(SIM, **kw)


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


def test_the_decoy_labels_are_redrawn_in_every_draw(toy_data, fake_trainer) -> None:
    planner = StudyPlanner(_cfg(), toy_data, job_fn=fake_trainer)
    decoy = next(c for c in planner.trained if c.class_name == DECOY)
    p = planner.problem

    def labels(draw: int) -> np.ndarray:
        a = planner.draws.assembly(planner.sized[decoy], draw)
        y = a.apply((p.y_train, p.train_ids, p.classes))
        return y[:, p.classes.index(DECOY)]

    l0, l0_again, l1 = labels(0), labels(0), labels(1)
    np.testing.assert_array_equal(l0, l0_again)  # a draw is reproducible
    both = ~np.isnan(l0) & ~np.isnan(l1)
    assert both.sum() > 20 and (l0[both] != l1[both]).any()  # same images, other labels
    prevalence = float(np.nanmean(p.y_train[:, p.classes.index(DECOY)]))
    assert abs(np.nanmean(l1) - prevalence) < 0.15
    # the reference labels of the decoy column are never what a draw trains on
    a1 = planner.draws.assembly(planner.sized[decoy], 1)
    assert a1.actions[0].labels is not None
    assert a1.key() != replace(a1.actions[0], labels=None).key()


def test_action_labels_by_hand() -> None:
    from budgetplan.planner.assembly import Action, Assembly

    values = np.array([[1, 0], [0, 0], [0, 1]], np.float32)
    a = Assembly("T", ("a",), (Action("D", ("c", "zz", "b"), labels=(0.0, 1.0, 1.0)),))
    out = a.apply((values, ["a", "b", "c"], ["T", "D"]))
    np.testing.assert_array_equal(out[:, 0], [1, np.nan, np.nan])
    np.testing.assert_array_equal(out[:, 1], [np.nan, 1, 0])  # own labels, "zz" is absent
    with pytest.raises(Exception, match="2 labels for 1 images"):
        Action("D", ("a",), labels=(0.0, 1.0))


def test_redraw_split_leaves_out_whole_patients_per_draw(toy_data, fake_trainer) -> None:
    cfg = _cfg(target_positives=10).with_overrides(simulation={"redraw_split": True})
    planner = StudyPlanner(cfg, toy_data, job_fn=fake_trainer)
    draws, table = planner.draws, planner.problem.train_table
    share = draws.left_out_share
    assert 0 < share < 0.5
    patients = dict(zip(table.ids, np.asarray(table.patient).astype(str), strict=True))
    n_patients = len(set(patients.values()))
    out0, out1 = set(draws.draw(0).left_out), set(draws.draw(1).left_out)
    assert out0 != out1
    for out in (out0, out1):
        gone = {patients[i] for i in out}
        assert len(gone) == round(share * n_patients)
        assert out == {i for i, q in patients.items() if q in gone}  # every image of a patient
    good = next(c for c in planner.trained if c.class_name == "good")
    a0 = draws.assembly(planner.sized[good], 0)
    assert not out0 & set(a0.base_ids)
    assert not out0 & set(a0.actions[0].image_ids)
    off = StudyPlanner(_cfg(target_positives=10), toy_data, job_fn=fake_trainer)
    assert off.draws.draw(0).left_out.size == 0


def test_significant_needs_the_lower_bound_above_min_gain() -> None:
    # mean above the floor but the CI straddles it: not confidently worth it
    borderline = GainStats(gain=0.012, ci_low=0.004, ci_high=0.020, p_value=0.001, n_draws=12)
    assert borderline.significant(0.05)
    assert not borderline.significant(0.05, min_gain=0.005)
    assert replace(borderline, ci_low=0.006).significant(0.05, min_gain=0.005)


def test_undecided_candidates_by_hand() -> None:
    from budgetplan.planner.allocation import undecided

    def ev(gain: float, low: float, p: float) -> Evidence:
        return Evidence(sized=None, stats=GainStats(gain, low, gain + 0.01, p, 12))  # type: ignore[arg-type]

    clear = ev(0.02, 0.01, 0.0001)  # q = 0.0004: significant, decided
    borderline = ev(0.01, 0.001, 0.02)  # q = 0.04 ... 4 tests: 0.02 * 4 / 2 = 0.04 < 0.05
    straddles = ev(0.004, -0.002, 0.10)  # positive, not significant: undecided
    harmful = ev(-0.01, -0.02, 0.99)  # negative: nothing to confirm
    assert undecided([clear, borderline, straddles, harmful]) == [False, False, True, False]
    # a floor makes the borderline one undecided (its lower bound is below 0.005)
    assert undecided([clear, borderline, straddles, harmful], min_gain=0.005) == [
        False,
        True,
        False,
        False,
    ]


def test_confirmation_adds_draws_to_undecided_candidates_only(toy_data, fake_trainer) -> None:
    cfg = _cfg().with_overrides(simulation={"confirm_seeds": 10})
    planner = StudyPlanner(cfg, toy_data, job_fn=fake_trainer)
    sim = planner.simulate()
    assert len(sim.base_runs) in (6, 10)
    for e in sim.evidence.values():
        assert e.n_runs in (3, 6, 10)
        assert sorted(r.seed for r in e.runs) == list(range(e.n_runs))  # each draw once
        if e.n_runs == 10:
            assert e.gain > 0
    good = next(e for c, e in sim.evidence.items() if c.class_name == "good")
    assert good.stats.significant(0.05) and good.n_runs == 6  # decided: no extra draws
    # rounds train only the draws a candidate lacks: 3 + 3 new draws, never 3 + 6
    assert planner.runner.n_trained == sum(e.n_runs for e in sim.evidence.values()) + len(
        sim.base_runs
    )
