"""The budget curve: expected gain (with CI) against cost, for the plan's classes and for random
classes, so a study designer sees where more budget stops paying.

At each budget ``b`` the plan's classes are sized to ``b`` exactly as the planner sizes them
(``selection.Sizer``: the largest common number of images whose cost fits) and trained over the
same draws of the study as the baseline; the random control is the planner's own
(``selection.random_control``: the same number of random classes, sized to ``b``, averaged over
``selection.random_draws`` sets). Gains are paired over draws (``stats.gain_stats``), as in the
plan. The classes are held fixed: at a larger budget the planner might add a class, so the curve
answers "what do more images of these classes buy", not "what would a new plan buy".

Cost: ``len(budgets) x seeds x (1 + random_draws)`` runs (:func:`curve_runs`); runs already in
the run cache (the plan's own budget, a repeated curve) are answered at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from budgetplan.errors import BudgetplanError
from budgetplan.planner.assembly import ANNOTATE_CLASS
from budgetplan.planner.selection import Candidate, random_control
from budgetplan.planner.stats import GainStats, gain_stats

if TYPE_CHECKING:
    from budgetplan.config import RecommendConfig
    from budgetplan.dataset import Dataset
    from budgetplan.planner.cache import RunCache
    from budgetplan.planner.plan import AnnotationPlan
    from budgetplan.planner.runner import JobFn
    from budgetplan.planner.study import StudyPlanner
    from budgetplan.progress import ProgressFn

CURVE_COLUMNS = (
    "budget",
    "choice",
    "classes",
    "n_images",
    "cost",
    "gain",
    "gain_ci_low",
    "gain_ci_high",
    "p_value",
    "runs",
)
PLAN = "plan"
RANDOM = "random classes"
FRACTIONS = (0.25, 0.5, 1.0, 1.5, 2.0)


def curve_budgets(
    budget: float, low: float, high: float, fractions: Sequence[float] = FRACTIONS
) -> list[float]:
    """Budgets to draw the curve at: ``fractions`` of ``budget``, kept within [low, high]
    (what the simulation accepts), rounded, without repeats, ascending."""
    out = {float(round(min(max(f * budget, low), high))) for f in fractions}
    return sorted(b for b in out if b >= low)


def curve_runs(n_budgets: int, seeds: int, random_draws: int) -> int:
    """How many runs a curve of ``n_budgets`` points trains at most (cached runs are free)."""
    return int(n_budgets) * int(seeds) * (1 + int(random_draws))


def plan_candidates(planner: StudyPlanner, plan: AnnotationPlan) -> list[Candidate]:
    """The planner's candidates the plan's actions annotate (matched by class, kind, source)."""
    out: list[Candidate] = []
    for action in plan.actions:
        kind = ANNOTATE_CLASS if action.kind == "annotate-class" else action.kind
        same = [c for c in planner.sized if c.class_name == action.class_name and c.kind == kind]
        exact = [c for c in same if c.source == (action.source or "")]
        pick = exact or same
        if not pick:
            raise BudgetplanError(
                f"the plan's class {action.class_name!r} is not a candidate on this data and "
                "settings; make the plan again before drawing its budget curve"
            )
        if pick[0] not in out:
            out.append(pick[0])
    return out


def best_measured(planner: StudyPlanner, plan: AnnotationPlan) -> list[Candidate]:
    """For an empty plan: the measured class candidate with the largest gain (its curve shows
    whether a larger budget would make it pay)."""
    by_label = {c.label: c for c in planner.sized if c.kind == ANNOTATE_CLASS}
    measured = [
        r
        for r in plan.candidates
        if str(r.get("class")) in by_label
        and not r.get("predicted")
        and np.isfinite(float(r.get("gain") or np.nan))
    ]
    if not measured:
        raise BudgetplanError("no class was measured: there is no budget curve to draw")
    best = max(measured, key=lambda r: float(r["gain"]))
    return [by_label[str(best["class"])]]


def budget_curve(
    data: Dataset,
    config: RecommendConfig,
    plan: AnnotationPlan,
    budgets: Sequence[float],
    *,
    cache: RunCache | None = None,
    job_fn: JobFn | None = None,
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """Gain over the baseline at each of ``budgets`` for the plan's classes and for random
    classes (module doc). One row per budget and choice (columns ``CURVE_COLUMNS``); rows whose
    budget buys no simulated image are left out. An empty plan draws its best measured class
    instead (:func:`best_measured`). ``attrs``: target, unit, seeds, drawn (what the plan rows
    are, in words), baseline_auc."""
    from budgetplan.planner.runner import execute_job
    from budgetplan.planner.study import StudyPlanner

    with StudyPlanner(
        config, data, cache=cache, job_fn=job_fn or execute_job, progress=progress
    ) as planner:
        return _curve(planner, plan, budgets, config)


def _curve(
    planner: StudyPlanner,
    plan: AnnotationPlan,
    budgets: Sequence[float],
    config: RecommendConfig,
) -> pd.DataFrame:
    """The curve's rows, trained through ``planner``'s runner (see :func:`budget_curve`)."""
    members = plan_candidates(planner, plan)
    drawn = "the plan's classes"
    if not members:
        members = best_measured(planner, plan)
        drawn = f"the best measured class ({members[0].label}; the plan is empty)"
    seeds = config.max_seeds
    seed_list = list(range(seeds))
    alpha = config.selection.alpha
    draws, runner = planner.draws, planner.runner
    base = runner.run(draws.specs(planner.sizer.size([]), seed_list), label="baseline")
    rows: list[dict[str, object]] = []
    for b in sorted(float(x) for x in budgets):
        sizer = dataclasses.replace(planner.sizer, budget=b)
        sized = sizer.size(members)
        if not sizer.buys_pool_image(sized):
            continue
        runs = runner.run(draws.specs(sized, seed_list), label=f"budget {b:,.0f}: the plan")
        rows.append(
            _row(b, PLAN, members, sized.n_images, sized.cost, gain_stats(runs, base, alpha))
        )
        control = random_control(
            runner,
            sizer,
            draws,
            base,
            list(planner.sized),
            n_classes=len(members),
            seeds=seeds,
            n_sets=config.selection.random_draws,
            seed=config.seed,
            alpha=alpha,
        )
        n_img = int(np.mean([s.n_images for s in control.sets]))
        cost = float(np.mean([s.cost for s in control.sets]))
        picked = sorted({c for s in control.sets for c in s.members}, key=lambda c: c.label)
        rows.append(_row(b, RANDOM, picked, n_img, cost, control.stats))
    frame = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    frame.attrs.update(
        target=planner.problem.target,
        unit=planner.cost_model.unit,
        seeds=seeds,
        drawn=drawn,
        baseline_auc=float(np.nanmean([r.auc for r in base])),
    )
    return frame


def _row(
    budget: float,
    choice: str,
    members: Sequence[Candidate],
    n_images: int,
    cost: float,
    st: GainStats,
) -> dict[str, object]:
    return {
        "budget": budget,
        "choice": choice,
        "classes": ", ".join(c.label for c in members),
        "n_images": int(n_images),
        "cost": float(cost),
        "gain": st.gain,
        "gain_ci_low": st.ci_low,
        "gain_ci_high": st.ci_high,
        "p_value": st.p_value,
        "runs": st.n_draws,
    }
