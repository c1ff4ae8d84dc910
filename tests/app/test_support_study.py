"""What the Plan page computes around a study: budget bounds the simulation accepts, run counts
and time estimates, and the budget curve (tiny store, quick settings: seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from budgetplan import app_support as sup
from budgetplan.dataset import open_dataset
from budgetplan.errors import BudgetError
from budgetplan.planner.budget_curve import CURVE_COLUMNS, budget_curve, curve_budgets, curve_runs
from budgetplan.planner.cache import RunCache
from budgetplan.planner.recommend import recommend

from .conftest import CLASSES


def config(budget: float, **kw):
    costs = sup.cost_mapping(sup.cost_table(CLASSES), 0.0, "labels")
    return sup.app_config(
        "Nodule", seeds=2, quick=True, classes=CLASSES, budget=budget, costs=costs, **kw
    )


def test_budget_bounds_are_what_the_simulation_accepts(small_store: Path) -> None:
    ds = open_dataset(small_store)
    costs = sup.cost_mapping(sup.cost_table(CLASSES), 0.0, "labels")
    cfg = config(10.0, target_positives=None).with_overrides(simulation={"pool_images": 60})
    low, high, step = sup.budget_bounds(ds.labels, "Nodule", costs, cfg)
    n_train = int(np.sum(ds.labels.split == "train"))
    assert (low, high) == (3.0, float(n_train))  # 3 x 60/240 rounds to one pool image
    assert step in (1.0, 10.0)
    from budgetplan.planner.study import StudyPlanner

    StudyPlanner(cfg.with_overrides(budget=low), ds, cache=RunCache(enabled=False))  # accepted
    with pytest.raises(BudgetError, match="buys nothing"):
        StudyPlanner(cfg.with_overrides(budget=low - 1), ds, cache=RunCache(enabled=False))


def test_run_bounds_hold_the_runs_a_plan_trains(
    small_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUDGETPLAN_CACHE", str(tmp_path / "cache"))  # no timings from others
    ds = open_dataset(small_store)
    cfg = config(60.0)
    low, high = sup.run_bounds(cfg, ds.labels, "Nodule")
    rec = recommend(ds, cfg, cache=RunCache(tmp_path / "runs"))
    assert low <= rec.runs_trained <= high, (low, rec.runs_trained, high)
    key = sup.timing_key(ds.checksum, cfg)
    assert sup.seconds_per_run(key) is None
    sup.record_seconds(key, rec.seconds, rec.runs_trained)
    per_run = sup.seconds_per_run(key)
    assert per_run == pytest.approx(rec.seconds / rec.runs_trained)
    text = sup.estimate_text((low, high), per_run)
    assert text.startswith("Estimate: this plan trains") and "measured" in text
    assert "no time estimate" in sup.estimate_text((low, high), None)
    sup.record_seconds(key, 5.0, 0)  # nothing trained (all cached): the measurement stays
    assert sup.seconds_per_run(key) == per_run


def test_budget_curve_plan_and_random_in_points(small_store: Path, tmp_path: Path) -> None:
    ds = open_dataset(small_store)
    cfg = config(60.0)
    cache = RunCache(tmp_path / "runs")
    rec = recommend(ds, cfg, cache=cache)
    budgets = curve_budgets(60.0, 1.0, 240.0, fractions=(0.5, 1.0, 4.0, 5.0))
    assert budgets == [30.0, 60.0, 240.0]
    frame = budget_curve(ds, cfg, rec.plan, budgets, cache=cache)
    assert list(frame.columns) == list(CURVE_COLUMNS)
    assert set(frame["choice"]) == {"plan", "random classes"}
    plan_rows = frame[frame["choice"] == "plan"]
    assert plan_rows["budget"].tolist() == budgets
    assert (plan_rows["cost"] <= plan_rows["budget"] + 1e-9).all()
    assert plan_rows["n_images"].is_monotonic_increasing
    assert (frame["gain_ci_low"] <= frame["gain"]).all() and (
        frame["gain"] <= frame["gain_ci_high"]
    ).all()
    if rec.plan.actions:  # at the plan's own budget the curve is the plan (same draws and runs)
        at_plan = plan_rows[plan_rows["budget"] == 60.0].iloc[0]
        assert at_plan["gain"] == pytest.approx(rec.plan.expected["gain"])
    assert curve_runs(3, 2, cfg.selection.random_draws) == 3 * 2 * (1 + cfg.selection.random_draws)
    spec = sup.budget_curve_chart(frame, 60.0, unit="labels", simulated=True).to_dict()
    assert spec["title"]["text"] == "Budget curve: what more budget buys"
    shown = sup.curve_points(frame)
    assert np.allclose(shown["gain (points)"], frame["gain"] * 100)


def test_recommend_writes_the_budget_curve_as_html(
    small_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from budgetplan.cli import main

    # HTML that loads vega from its CDN: inlining it with vl-convert takes seconds
    monkeypatch.setattr("budgetplan.relations.charts.png_available", lambda: False)

    out = tmp_path / "curve.html"
    argv = ["recommend", "--store", str(small_store), "--target", "Nodule", "--quick"]
    argv += ["--seeds", "2", "--budget", "60", "--budget-curve", str(out)]
    assert main(argv) == 0
    assert f"budget curve saved to {out}" in capsys.readouterr().out
    html = out.read_text()
    assert "Budget curve: what more budget buys" in html and "random classes" in html
