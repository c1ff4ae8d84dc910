"""The Plan page's budget curve: expected gain in AUC points (with its 95% CI band) against the
money spent, for the plan's classes and for random classes (``planner.budget_curve``)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from budgetplan.notices import SIMULATED_SUBTITLE

POINT_COLUMNS = ("gain", "gain_ci_low", "gain_ci_high")


def curve_points(frame: pd.DataFrame) -> pd.DataFrame:
    """The curve in AUC points (gains x 100), with readable column names for the page's table."""
    out = frame.copy()
    for c in POINT_COLUMNS:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float) * 100.0
    return out.rename(
        columns={
            "gain": "gain (points)",
            "gain_ci_low": "CI low (points)",
            "gain_ci_high": "CI high (points)",
            "n_images": "images",
            "p_value": "p",
        }
    )


def saturation(frame: pd.DataFrame, choice: str = "plan") -> float | None:
    """The smallest budget after which the ``choice`` rows buy no more images (more budget
    cannot pay there), or None when every budget still buys more."""
    rows = frame[frame["choice"] == choice].sort_values("budget")
    n = rows["n_images"].to_numpy()
    b = rows["budget"].to_numpy(float)
    for i in range(1, len(n)):
        if n[i] <= n[i - 1]:
            return float(b[i - 1])
    return None


def budget_curve_chart(
    frame: pd.DataFrame,
    budget: float | None = None,
    *,
    unit: str = "units",
    simulated: bool = False,
) -> alt.LayerChart:
    """Lines of the mean gain (points) against cost, one per choice, with 95% CI bands, and a
    vertical rule at the plan's ``budget``."""
    data = frame.copy()
    for c in POINT_COLUMNS:
        data[c] = pd.to_numeric(data[c], errors="coerce").astype(float) * 100.0
    data = data[np.isfinite(data["gain"])]
    x = alt.X("budget:Q", title=f"budget ({unit})")
    colour = alt.Color(
        "choice:N",
        title=None,
        scale=alt.Scale(domain=["plan", "random classes"], range=["#2a9d8f", "#e76f51"]),
    )
    tips = [
        alt.Tooltip("choice:N"),
        alt.Tooltip("budget:Q", format=",.0f"),
        alt.Tooltip("cost:Q", format=",.0f", title=f"cost ({unit})"),
        alt.Tooltip("n_images:Q", format=",", title="images"),
        alt.Tooltip("classes:N"),
        alt.Tooltip("gain:Q", format="+.1f", title="gain (AUC points)"),
        alt.Tooltip("gain_ci_low:Q", format="+.1f", title="95% CI low"),
        alt.Tooltip("gain_ci_high:Q", format="+.1f", title="95% CI high"),
    ]
    y_title = "gain in target AUC (points; band: 95% CI)"
    base = alt.Chart(data).encode(x=x, color=colour)
    layers: list[alt.Chart] = [
        base.mark_area(opacity=0.18).encode(
            y=alt.Y("gain_ci_low:Q", title=y_title), y2="gain_ci_high:Q"
        ),
        base.mark_line(point=True).encode(y=alt.Y("gain:Q", title=y_title), tooltip=tips),
        alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="black").encode(y="y:Q"),
    ]
    if budget is not None:
        layers.append(
            alt.Chart(pd.DataFrame({"budget": [float(budget)], "what": ["this plan's budget"]}))
            .mark_rule(strokeDash=[5, 4], color="gray")
            .encode(x="budget:Q", tooltip=["what:N", alt.Tooltip("budget:Q", format=",.0f")])
        )
    subtitle = ["gain over the baseline at each budget, paired over the same draws"]
    if simulated:
        subtitle.append(SIMULATED_SUBTITLE)
    return alt.LayerChart(layer=layers).properties(
        title=alt.TitleParams(
            "Budget curve: what more budget buys", subtitle=subtitle, anchor="start"
        ),
        width=520,
        height=300,
    )
