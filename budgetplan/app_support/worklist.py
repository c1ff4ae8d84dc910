"""The Plan page's worklist view: the first images to open, their thumbnails, and where they sit
on a 2-D map of the embeddings (computed in ``planner.report_map``, drawn here with altair)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import altair as alt
import numpy as np
import pandas as pd

from budgetplan.notices import SIMULATED_SUBTITLE

if TYPE_CHECKING:
    from budgetplan.data.label_table import LabelTable
    from budgetplan.planner.plan import AnnotationPlan

WORKLIST_SHOWN = 50  # rows of the worklist table on the page (the downloads list them all)
THUMBNAILS_SHOWN = 8


def worklist_view(
    plan: AnnotationPlan,
    labels: LabelTable | None = None,
    *,
    top: int = WORKLIST_SHOWN,
    image_root: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """The first ``top`` images of the plan's worklist: rank, image, classes to read, reason,
    cost, and ``file`` (the resolved image file, or empty when it does not resolve)."""
    from budgetplan.planner.export import worklist
    from budgetplan.planner.report_map import resolve_image

    items = worklist(plan, labels)[:top]
    rows = []
    for it in items:
        found = resolve_image(it.image_path, image_root)
        rows.append(
            {
                "rank": it.rank,
                "image": it.image_id,
                "classes to read": ", ".join(it.classes),
                "reason": "; ".join(it.reasons),
                f"cost ({plan.unit})": it.cost,
                "file": "" if found is None else str(found),
            }
        )
    cols = ["rank", "image", "classes to read", "reason", f"cost ({plan.unit})", "file"]
    return pd.DataFrame(rows, columns=cols)


def thumbnails(view: pd.DataFrame, limit: int = THUMBNAILS_SHOWN) -> list[tuple[Path, str]]:
    """(file, caption) of the first ``limit`` worklist images whose file resolved."""
    found = view[view["file"].astype(str) != ""].head(limit)
    return [
        (Path(r["file"]), f"{int(r['rank'])}. {r['image']}: {r['classes to read']}")
        for _, r in found.iterrows()
    ]


def map_frame(
    vectors: np.ndarray,
    labels: LabelTable,
    plan: AnnotationPlan,
    *,
    background: int = 1500,
    seed: int = 0,
) -> pd.DataFrame:
    """The worklist map's points (``planner.report_map.worklist_map`` on the plan's worklist)."""
    from budgetplan.planner.export import worklist
    from budgetplan.planner.report_map import worklist_map

    return worklist_map(
        vectors, labels, worklist(plan, labels), plan.target, background=background, seed=seed
    )


def map_chart(frame: pd.DataFrame, *, top: int = 20, simulated: bool = False) -> alt.LayerChart:
    """Scatter of the 2-D map: other images in grey (a sample), the plan's images coloured by
    the classes to read, the first ``top`` with their rank written beside them."""
    from budgetplan.planner.report_map import BACKGROUND_ROLE, WORKLIST_ROLE

    back = frame[frame["role"] == BACKGROUND_ROLE]
    work = frame[frame["role"] == WORKLIST_ROLE].sort_values("rank")
    x = alt.X("x:Q", title="map axis 1 (PCA of the embeddings)", axis=alt.Axis(labels=False))
    y = alt.Y("y:Q", title="map axis 2", axis=alt.Axis(labels=False))
    tips_back = [alt.Tooltip("image_id:N", title="image"), alt.Tooltip("target_label:N")]
    tips = [
        alt.Tooltip("rank:Q", format="d"),
        alt.Tooltip("image_id:N", title="image"),
        alt.Tooltip("classes:N", title="classes to read"),
        alt.Tooltip("target_label:N", title="target label"),
    ]
    layers: list[alt.Chart] = [
        alt.Chart(back)
        .mark_circle(size=12, color="#c8c8c8", opacity=0.6)
        .encode(x=x, y=y, tooltip=tips_back),
        alt.Chart(work)
        .mark_circle(size=55, opacity=0.9)
        .encode(
            x=x,
            y=y,
            color=alt.Color("classes:N", title="classes to read"),
            tooltip=tips,
        ),
        alt.Chart(work[work["rank"] <= top])
        .mark_text(dx=7, dy=-6, fontSize=10, fontWeight="bold")
        .encode(x=x, y=y, text=alt.Text("rank:Q", format="d"), tooltip=tips),
    ]
    n_work = len(work)
    subtitle = [
        f"{n_work:,} images to annotate (ranks 1-{min(top, n_work)} written), "
        f"{len(back):,} other images of the store in grey (a sample)"
    ]
    if simulated:
        subtitle.append(SIMULATED_SUBTITLE)
    return alt.LayerChart(layer=layers).properties(
        title=alt.TitleParams(
            "Where the images to annotate sit", subtitle=subtitle, anchor="start"
        ),
        width=520,
        height=380,
    )
