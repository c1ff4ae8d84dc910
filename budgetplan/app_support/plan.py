"""The Simulate and Plan pages' view of a recommendation: its candidates, actions and control.

:func:`candidate_frame` and :func:`predictor_relations` (the ranked table),
:func:`plan_actions_frame`, :func:`plan_vs_random_frame` / :func:`plan_vs_random_chart` (the plan
against a random choice of equal cost), :func:`describe` (a number for a sentence).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import altair as alt
import numpy as np
import pandas as pd

from budgetplan.app_support.charts import gain_chart

if TYPE_CHECKING:
    from budgetplan.planner.plan import AnnotationPlan


def plan_actions_frame(plan: AnnotationPlan) -> pd.DataFrame:
    """One row per action of the plan: what to annotate, on how many images, at what cost."""
    rows = [
        {
            "step": i + 1,
            "kind": a.kind,
            "class": a.class_name,
            "source": a.source,
            "images": a.n_images,
            "cost": a.cost,
            "reason": a.reason,
        }
        for i, a in enumerate(plan.actions)
    ]
    return pd.DataFrame(
        rows, columns=["step", "kind", "class", "source", "images", "cost", "reason"]
    )


def plan_vs_random_frame(plan: AnnotationPlan) -> pd.DataFrame:
    """The plan's expected gain next to the random control of equal cost (with CIs)."""
    e = plan.expected
    rows = [
        {
            "choice": "plan: " + (", ".join(plan.chosen_classes) or "nothing"),
            "what": "plan",
            "cost": plan.total_cost,
            "gain": e.get("gain"),
            "gain_ci_low": e.get("gain_ci_low"),
            "gain_ci_high": e.get("gain_ci_high"),
        }
    ]
    rc = plan.random_control
    if rc is not None:
        rows.append(
            {
                "choice": "random: " + (", ".join(map(str, rc.get("classes") or [])) or "nothing"),
                "what": "random control",
                "cost": rc.get("cost"),
                "gain": rc.get("gain"),
                "gain_ci_low": rc.get("gain_ci_low"),
                "gain_ci_high": rc.get("gain_ci_high"),
            }
        )
    out = pd.DataFrame(rows)
    for c in ("cost", "gain", "gain_ci_low", "gain_ci_high"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    return out


def plan_vs_random_chart(frame: pd.DataFrame, simulated: bool = False) -> alt.LayerChart:
    """Gain of the plan and of the random control of equal cost, with CI error bars."""
    return gain_chart(
        frame,
        name="choice",
        title="The plan against a random choice of equal cost",
        simulated=simulated,
    )


def describe(value: Any, digits: int = 4) -> str:
    """A number for a sentence: signed for gains, 'n/a' for None/NaN."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not np.isfinite(x) else f"{x:.{digits}f}"


def points(value: Any) -> str:
    """A gain in target AUC points, as the CLI prints it: ``+1.3 points``; 'n/a' for None/NaN."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not np.isfinite(x) else f"{x * 100:+.1f} points"


def candidate_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The measured candidates of a recommendation (rows trained, not predicted)."""
    if "predicted" in table:
        return table[~table["predicted"].astype(bool)].reset_index(drop=True)
    return table


def predictor_relations(table: pd.DataFrame) -> list[str]:
    """The relation columns of a recommendation table that carry numbers."""
    from budgetplan.planner.screen import RELATIONS

    return [
        r
        for r in RELATIONS
        if r in table and pd.to_numeric(table[r], errors="coerce").notna().any()
    ]
