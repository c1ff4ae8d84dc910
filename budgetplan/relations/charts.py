"""Altair charts of the relations (the CLI writes them to HTML; the app shows them directly).

Every function takes DataFrames and returns an ``alt.Chart`` (or layered / concatenated chart),
so the app can embed them with ``st.altair_chart``. ``save_chart`` writes HTML (self-contained
when vl-convert is installed, so it opens offline) or PNG (needs vl-convert), atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import altair as alt
import networkx as nx
import numpy as np
import pandas as pd

from budgetplan.errors import BudgetplanError
from budgetplan.io import write_bytes_atomic, write_text_atomic
from budgetplan.notices import SIMULATED_SUBTITLE
from budgetplan.relations.names import ALIASES
from budgetplan.relations.table import COUNT_COLUMNS

LABELS = {
    "prototype-mean": "prototype cosine (mean, origin-shifted)",
    "prototype-median": "prototype cosine (median, origin-shifted)",
    "pmi": "PMI",
    "phi": "phi",
    "knn-share": "kNN share",
    "knn-lift": "kNN lift (x random neighbours)",
    "adapter": "task-encoding cosine",
    "conditional": "P(column | row)",
    "cooccurrence": "images positive for both",
    "pairs": "images annotated for both",
}


def _finite(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    out = frame.copy()
    out[column] = out[column].astype(float).replace([np.inf, -np.inf], np.nan)
    return out


def relation_heatmap(
    matrix: pd.DataFrame,
    relation: str = "prototype-mean",
    order: list[str] | None = None,
    title: str | None = None,
    simulated: bool = False,
) -> alt.LayerChart:
    """Heatmap of a C x C relation matrix (rows x columns, value as colour and as text).

    ``order``: class order of both axes (e.g. the hierarchical clustering's leaf order).
    """
    names = order or [str(c) for c in matrix.index]
    long = (
        matrix.rename_axis(index="row", columns="column")
        .stack(future_stack=True)
        .rename("value")
        .reset_index()
    )
    long = _finite(long, "value")
    label = LABELS.get(relation, relation)
    subtitle = [SIMULATED_SUBTITLE] if simulated else []
    base = alt.Chart(long).encode(
        x=alt.X("column:N", sort=names, title=None),
        y=alt.Y("row:N", sort=names, title=None),
    )
    rect = base.mark_rect().encode(
        color=alt.Color("value:Q", title=label, scale=alt.Scale(scheme="viridis")),
        tooltip=["row:N", "column:N", alt.Tooltip("value:Q", format=".3f", title=label)],
    )
    text = base.mark_text(fontSize=9).encode(
        text=alt.Text("value:Q", format=".2f"),
        color=alt.value("white"),
    )
    return (rect + text).properties(
        title=alt.TitleParams(title or f"{label} between classes", subtitle=subtitle),
        width=max(200, 28 * len(names)),
        height=max(200, 28 * len(names)),
    )


def ranked_bar(
    table: pd.DataFrame,
    relation: str = "prototype-mean",
    target: str | None = None,
    threshold: float | None = None,
) -> alt.TopLevelMixin:
    """The target's relation to every other class as bars, strongest first, with the label
    counts in the tooltip (and, for kNN, the share random neighbours would give as ticks)."""
    column = ALIASES.get(relation, relation)
    if column not in table.columns:
        raise BudgetplanError(f"the relation table has no {relation!r} column")
    target = target or table.attrs.get("target", "target")
    data = _finite(table, column)
    label = LABELS.get(relation, relation)
    order = data.sort_values(column, ascending=False, na_position="last")["class"].tolist()
    counts = [c for c in COUNT_COLUMNS if c in data]
    tips = [
        "class:N",
        alt.Tooltip(f"{column}:Q", format=".3f", title=label),
        *[f"{c}:Q" for c in counts],
    ]
    subtitle = [SIMULATED_SUBTITLE] if table.attrs.get("simulated") else []
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("class:N", sort=order, title=None),
            x=alt.X(f"{column}:Q", title=label),
            tooltip=tips,
        )
    )
    layers: list[alt.Chart] = [bars]
    if relation == "knn-share" and "knn-share-random" in data:
        layers.append(
            alt.Chart(_finite(data, "knn-share-random"))
            .mark_tick(color="black", thickness=2)
            .encode(
                y=alt.Y("class:N", sort=order),
                x=alt.X("knn-share-random:Q"),
                tooltip=[alt.Tooltip("knn-share-random:Q")],
            )
        )
    if relation == "knn-lift":  # 1 = the class is as frequent among the neighbours as anywhere
        layers.append(
            alt.Chart(pd.DataFrame({"as random": [1.0]}))
            .mark_rule(color="black")
            .encode(x="as random:Q")
        )
    if threshold is not None and np.isfinite(threshold):
        layers.append(
            alt.Chart(pd.DataFrame({"threshold": [threshold]}))
            .mark_rule(strokeDash=[4, 4], color="firebrick")
            .encode(x="threshold:Q")
        )
    chart = layers[0] if len(layers) == 1 else alt.layer(*layers)
    return chart.properties(
        title=alt.TitleParams(f"{label}: {target} vs the other classes", subtitle=subtitle),
        width=360,
        height=max(120, 18 * len(data)),
    )


def graph_chart(g: nx.Graph, target: str | None = None, seed: int = 0) -> alt.LayerChart:
    """Node-link drawing of a class graph (spring layout on the edges' ``affinity``, seeded):
    node size = positives, colour = community, edge width = weight, edge text = its label
    (weight, +- spread over draws for the adapter)."""
    strength = "affinity" if all("affinity" in d for *_, d in g.edges(data=True)) else "weight"
    pos = nx.spring_layout(g, seed=seed, weight=strength) if len(g) else {}
    nodes = pd.DataFrame(
        [
            {
                "class": n,
                "x": float(pos[n][0]),
                "y": float(pos[n][1]),
                "positives": int(a.get("positives", 1) or 1),
                "prevalence": float(a.get("prevalence", np.nan)),
                "community": str(a.get("community", 0)),
                "is_target": bool(n == target),
            }
            for n, a in g.nodes(data=True)
        ]
    )
    edges = pd.DataFrame(
        [
            {
                "x": pos[a][0],
                "y": pos[a][1],
                "x2": pos[b][0],
                "y2": pos[b][1],
                "mx": (pos[a][0] + pos[b][0]) / 2,
                "my": (pos[a][1] + pos[b][1]) / 2,
                "weight": d["weight"],
                "label": str(d.get("label") or f"{d['weight']:.2f}"),
                "pair": f"{a} - {b}",
            }
            for a, b, d in g.edges(data=True)
        ],
        columns=["x", "y", "x2", "y2", "mx", "my", "weight", "label", "pair"],
    )
    axis = alt.Axis(labels=False, ticks=False, grid=False, title=None, domain=False)
    e = (
        alt.Chart(edges)
        .mark_rule(color="gray", opacity=0.6)
        .encode(
            x=alt.X("x:Q", axis=axis),
            y=alt.Y("y:Q", axis=axis),
            x2="x2:Q",
            y2="y2:Q",
            strokeWidth=alt.StrokeWidth("weight:Q", legend=None),
            tooltip=["pair:N", alt.Tooltip("weight:Q", format=".3f"), "label:N"],
        )
    )
    el = (
        alt.Chart(edges)
        .mark_text(fontSize=8, color="dimgray")
        .encode(x="mx:Q", y="my:Q", text="label:N")
    )
    n = (
        alt.Chart(nodes)
        .mark_circle(opacity=0.9, stroke="black")
        .encode(
            x=alt.X("x:Q", axis=axis),
            y=alt.Y("y:Q", axis=axis),
            size=alt.Size("positives:Q", legend=None),
            color=alt.Color("community:N"),
            strokeWidth=alt.condition("datum.is_target", alt.value(3), alt.value(0)),
            tooltip=[
                "class:N",
                "positives:Q",
                alt.Tooltip("prevalence:Q", format=".3f"),
                "community:N",
            ],
        )
    )
    t = alt.Chart(nodes).mark_text(dy=-12, fontSize=10).encode(x="x:Q", y="y:Q", text="class:N")
    relation = LABELS.get(str(g.graph.get("relation", "")), g.graph.get("relation", ""))
    thr = g.graph.get("threshold")
    rule = g.graph.get("rule") or (f"> {thr:.3g}" if isinstance(thr, float) else "")
    return (e + el + n + t).properties(
        title=f"class graph: {relation}, {rule}" if rule else "class graph",
        width=420,
        height=360,
    )


def save_chart(
    chart: alt.TopLevelMixin, path: str | os.PathLike[str], inline: bool | None = None
) -> Path:
    """Write ``chart`` to ``path`` (.html or .png), atomically.

    HTML embeds the Vega libraries when vl-convert is installed (``inline`` None = if
    available), so it opens without network; otherwise it loads them from a CDN. PNG needs
    vl-convert (``pip install budgetplan[png]``).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        try:
            import vl_convert as vlc
        except ImportError:
            raise BudgetplanError(
                f"{path}: writing PNG needs vl-convert (pip install vl-convert-python)"
            ) from None
        write_bytes_atomic(path, vlc.vegalite_to_png(chart.to_json(), scale=2))
        return path
    if suffix not in (".html", ".htm"):
        raise BudgetplanError(f"{path}: charts are written as .html or .png")
    if inline is None:
        inline = png_available()
    write_text_atomic(path, chart.to_html(inline=inline))
    return path


def png_available() -> bool:
    """True when vl-convert is installed (PNG export, self-contained HTML)."""
    try:
        import vl_convert  # noqa: F401
    except ImportError:
        return False
    return True
