"""The parts of a plan, typed: table rows, the baseline, the expected gain, the random control.

Each block is a small frozen dataclass with ``to_dict()``; the :class:`AnnotationPlan` keeps
their dicts (its JSON contract, validated on load). :func:`build_plan` assembles them from what
a :class:`~budgetplan.planner.study.StudyPlanner` measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from budgetplan.planner.assembly import ANNOTATE_CLASS, ANNOTATE_TARGET
from budgetplan.planner.draws import redrawn
from budgetplan.planner.plan import AnnotationPlan, PlanAction, provenance_now
from budgetplan.planner.positives import expected_positives, real_prevalence
from budgetplan.planner.selection import DECOY_KIND, Candidate, GreedyStep, RandomControl
from budgetplan.planner.stats import NAN, GainStats, MeanCI, gain_stats, mean_ci

if TYPE_CHECKING:
    from budgetplan.planner.study import Simulation, StudyPlanner


def predicted_stats(gain: float) -> GainStats:
    """A gain the predictor gave (no draws behind it, so no CI and no test)."""
    return GainStats(gain=gain)


@dataclass(frozen=True)
class Row:
    """One candidate of the ranked table: relations, measured (or predicted) gain, cost."""

    candidate: Candidate
    relations: dict[str, float]
    stats: GainStats
    runs: int
    significant: bool
    n_images: int
    cost: float
    predicted: bool = False

    def to_dict(self) -> dict[str, Any]:
        c, st = self.candidate, self.stats
        return {
            "class": c.label,
            "kind": c.kind,
            "source": c.source,
            **self.relations,
            "gain": st.gain,
            "gain_ci_low": st.ci_low,
            "gain_ci_high": st.ci_high,
            "p_value": st.p_value,
            "q_value": st.q_value,
            "runs": self.runs,
            "significant": self.significant,
            "n_images": self.n_images,
            "cost": self.cost,
            "gain_per_cost": st.gain / self.cost if self.cost > 0 else NAN,
            "chosen": False,
            "predicted": self.predicted,
        }


def ranked_table(rows: list[Row]) -> pd.DataFrame:
    """Measured rows by gain (best first), then the predicted ones."""
    df = pd.DataFrame([r.to_dict() for r in rows])
    if len(df):
        df = df.sort_values(
            ["predicted", "gain"], ascending=[True, False], na_position="last"
        ).reset_index(drop=True)
    return df


@dataclass(frozen=True)
class Baseline:
    """The target alone: AUC over draws, with CI, and the mean AP."""

    auc: MeanCI
    ap: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "auc": self.auc.mean,
            "auc_ci_low": self.auc.ci_low,
            "auc_ci_high": self.auc.ci_high,
            "runs": self.auc.n_draws,
            "ap": self.ap,
        }


@dataclass(frozen=True)
class Expected:
    """What the plan is expected to give: gain over the baseline and the target AUC."""

    gain: GainStats
    auc: MeanCI
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "gain": self.gain.gain,
            "gain_ci_low": self.gain.ci_low,
            "gain_ci_high": self.gain.ci_high,
            "auc": self.auc.mean,
            "auc_ci_low": self.auc.ci_low,
            "auc_ci_high": self.auc.ci_high,
        }
        if self.steps:
            out.update(p_value=self.gain.p_value, runs=self.gain.n_draws, steps=self.steps)
        else:
            out["runs"] = 0
        return out


@dataclass(frozen=True)
class ControlBlock:
    """The random control of equal cost and how the plan compares with it."""

    control: RandomControl
    auc: MeanCI
    plan_vs_random: GainStats

    def to_dict(self) -> dict[str, Any]:
        sets = self.control.sets
        st, vs = self.control.stats, self.plan_vs_random
        return {
            "classes": [m.class_name for m in sets[0].members] if sets else [],
            "draws": [[m.class_name for m in z.members] for z in sets],
            "cost": float(np.mean([z.cost for z in sets])) if sets else 0.0,
            "gain": st.gain,
            "gain_ci_low": st.ci_low,
            "gain_ci_high": st.ci_high,
            "auc": self.auc.mean,
            "auc_ci_low": self.auc.ci_low,
            "auc_ci_high": self.auc.ci_high,
            "plan_minus_random": vs.gain,
            "plan_minus_random_ci_low": vs.ci_low,
            "plan_minus_random_ci_high": vs.ci_high,
            "plan_beats_random_p": vs.p_value,
        }


def build_plan(
    planner: StudyPlanner,
    simulation: Simulation,
    steps: list[GreedyStep],
    control: RandomControl,
) -> AnnotationPlan:
    """The plan: actions of the last greedy step, its numbers, the control, the evidence."""
    config, problem = planner.config, planner.problem
    alpha = config.selection.alpha
    base_runs = simulation.base_runs
    b_auc = mean_ci([r.auc for r in base_runs], alpha)
    baseline = Baseline(b_auc, float(np.nanmean([r.ap for r in base_runs])))
    if steps:
        last = steps[-1]
        expected = Expected(
            last.stats, mean_ci([r.auc for r in last.runs], alpha), [_step_dict(s) for s in steps]
        )
    else:
        expected = Expected(GainStats(0.0, 0.0, 0.0), b_auc)
    plan_runs = steps[-1].runs if steps else base_runs
    block = ControlBlock(
        control,
        mean_ci([r.auc for r in control.runs], alpha),
        gain_stats(plan_runs, control.runs, alpha),
    )
    actions = _actions(planner, steps)
    budget = config.budget
    # without a budget the plan annotates whole training sets; its budget is then its own cost
    plan_budget = float(budget) if budget is not None else float(sum(a.cost for a in actions))
    control_dict = block.to_dict()
    return AnnotationPlan(
        target=problem.target,
        budget=plan_budget,
        unit=planner.cost_model.unit,
        cost_model=planner.cost_model,
        actions=actions,
        baseline=baseline.to_dict(),
        expected=expected.to_dict(),
        random_control=control_dict,
        candidates=[_json_row(r) for r in simulation.table.to_dict("records")],
        verdict=verdict(planner, steps, expected, control_dict, simulation.table),
        evidence=_evidence(planner, simulation),
        provenance=provenance_now(
            config=config,
            seeds=list(range(config.max_seeds)),
            simulated=planner.data.simulated,
            store_path=config.data.store,
            store_checksum=planner.data.checksum,
            method=config.method,
            data_name=planner.data.name,
            budget_given=budget is not None,
        ),
    )


def _step_dict(s: GreedyStep) -> dict[str, Any]:
    return {
        "set": s.sized.assembly.name,
        "gain": s.stats.gain,
        "gain_ci_low": s.stats.ci_low,
        "gain_ci_high": s.stats.ci_high,
        "increment": s.increment.gain,
        "n_images": s.sized.n_images,
        "cost": s.sized.cost,
        "tried": [t.to_dict() for t in s.tried],
    }


def _actions(planner: StudyPlanner, steps: list[GreedyStep]) -> list[PlanAction]:
    """The last step's members as actions; each action's cost is its marginal cost."""
    if not steps:
        return []
    problem, cost_model = planner.problem, planner.cost_model
    last = steps[-1]
    assign: dict[str, list[str]] = {}
    actions: list[PlanAction] = []
    spent = 0.0
    for m in last.sized.members:
        ids = last.sized.assignments[m]
        for i in ids:
            assign.setdefault(i, []).append(m.class_name)
        total = cost_model.cost(assign)
        if m.kind == ANNOTATE_TARGET:
            labels = planner.data.labels
            positives = expected_positives(
                ids, labels, m.class_name, real_prevalence(labels, m.class_name)
            )
            reason = f"annotate {m.class_name} on {len(ids)} more images ({positives.phrase()})"
        else:
            where = f" on {m.source} images" if m.source else ""
            reason = (
                f"{m.class_name} labels{where}: measured gain for {problem.target}; "
                "target's kNN hard negatives first"
            )
        actions.append(
            PlanAction(
                kind=m.kind,  # type: ignore[arg-type]
                class_name=m.class_name,
                source=m.source or planner.data.name,
                image_ids=ids,
                n_images=len(ids),
                cost=total - spent,
                reason=reason,
            )
        )
        spent = total
    return actions


def _evidence(planner: StudyPlanner, simulation: Simulation) -> dict[str, Any]:
    problem, runner = planner.problem, planner.runner
    return {
        "predictor": simulation.predictor.to_dict(),
        "runs_trained": runner.n_trained,
        "runs_cached": runner.n_cached,
        "train_config": runner.config.to_dict(),
        "simulation": {
            "pool_images": len(problem.train_ids),
            "n_train_full": problem.n_train_full,
            "val_images": len(problem.y_val),
            "test_images": len(problem.y_test),
            "test_positives": int(np.sum(problem.y_test == 1)),
            "dim": int(problem.x_train.shape[1]),
            "redrawn": redrawn(planner.config.simulation.redraw_split),
        },
        "notes": planner.notes,
    }


def format_p(p: float) -> str:
    """``p = 0.012``, or ``p < 0.001`` (never the misleading ``p = 0.000``)."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _json_row(row: dict[Any, Any]) -> dict[str, Any]:
    return {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}


def verdict(
    planner: StudyPlanner,
    steps: list[GreedyStep],
    expected: Expected,
    control: dict[str, Any],
    table: pd.DataFrame,
) -> str:
    """The plan in one paragraph: what to annotate and how sure we are, or that nothing is."""
    text = _answer(planner, steps, expected, control, table)
    decoy = table[table["kind"] == DECOY_KIND] if len(table) else table
    if len(decoy) and bool(decoy["significant"].iloc[0]):
        row = decoy.iloc[0]
        return (
            f"NOT TRUSTWORTHY: the decoy (random labels, unrelated to the images) came out "
            f"significant ({row['gain'] * 100:+.1f} points over {int(row['runs'])} draws), so "
            "the gains of this run can be artefacts of training noise. Run more draws "
            f"(--seeds {2 * planner.config.max_seeds}) before acting on it. " + text
        )
    return text


def _answer(
    planner: StudyPlanner,
    steps: list[GreedyStep],
    expected: Expected,
    control: dict[str, Any],
    table: pd.DataFrame,
) -> str:
    target = planner.problem.target
    alpha, min_gain = planner.config.selection.alpha, planner.config.selection.min_gain
    if not steps:
        floor = f" and above {min_gain * 100:.1f} points" if min_gain > 0 else ""
        return (
            f"No class is worth its cost for {target}: no candidate's measured gain is "
            f"significantly above zero (one-sided paired test across draws, Benjamini-Hochberg "
            f"q < {alpha} over the candidates, and CI low > 0{floor}). Keep the budget, or "
            f"collect more {target} labels."
        )
    names = steps[-1].sized.assembly.name
    g = expected.gain
    rc = control["plan_minus_random"] * 100
    beats = control["plan_beats_random_p"]
    cmp = (
        f"beats a random choice of equal cost by {rc:+.1f} AUC points ({format_p(beats)})"
        if np.isfinite(beats) and beats < alpha
        else f"is not significantly better than a random choice of equal cost ({rc:+.1f} points)"
    )
    text = (
        f"Annotate {names}: expected {target} AUC gain {g.gain * 100:+.1f} points "
        f"(CI {g.ci_low * 100:+.1f} to {g.ci_high * 100:+.1f}); the plan {cmp}."
    )
    if all(m.kind == ANNOTATE_TARGET for m in steps[-1].sized.members):
        helpful = []
        if len(table):
            sig = table[(table["kind"] == ANNOTATE_CLASS) & table["significant"].astype(bool)]
            helpful = [f"{r['class']} ({r['gain'] * 100:+.1f})" for r in sig.to_dict("records")]
        if helpful:
            text += (
                f" Negative classes with a significant gain ({', '.join(helpful)}) help less "
                f"than more {target} labels of the same cost, and adding them to the plan did "
                "not measurably improve it."
            )
        else:
            text += f" No negative class is worth its cost here: more {target} labels are."
    return text
