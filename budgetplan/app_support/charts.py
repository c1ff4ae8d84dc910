"""The numbers behind the Data, Relations and Simulate pages' charts, and the charts (altair).

- Data page: :func:`prevalence_frame` / :func:`prevalence_chart`, :func:`missing_frame` /
  :func:`missing_chart`.
- Relations page: :func:`neighbourhood_graph` (the target's neighbourhood with communities).
- Simulate page: :func:`gain_chart` (bars with CI error bars), :func:`predictor_chart` with
  :func:`rank_correlation`.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import networkx as nx
import numpy as np
import pandas as pd

from budgetplan.data.label_table import LabelTable
from budgetplan.notices import SIMULATED_SUBTITLE


# ---------------------------------------------------------------------- data page
def prevalence_frame(labels: LabelTable) -> pd.DataFrame:
    """Per source, split and class: positives, negatives, missing and prevalence (long form).

    Prevalence is positives / annotated labels (NaN where a source never annotated the class).
    """
    frames = []
    for source in sorted(set(labels.source.tolist())):
        for split in ("train", "val", "test"):
            rows = (labels.source == source) & (labels.split == split)
            if not rows.any():
                continue
            counts = labels.subset(np.flatnonzero(rows)).counts()
            counts.insert(0, "split", split)
            counts.insert(0, "source", source)
            frames.append(counts)
    if not frames:
        return pd.DataFrame(
            columns=["source", "split", "class", "positives", "negatives", "missing", "prevalence"]
        )
    return pd.concat(frames, ignore_index=True)


def prevalence_chart(frame: pd.DataFrame, simulated: bool = False) -> alt.FacetChart | alt.Chart:
    """Grouped bars: prevalence of each class, one bar per split, one panel per source."""
    order = frame.groupby("class", sort=False)["positives"].sum().sort_values(ascending=False).index
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("class:N", sort=list(order), title=None),
            xOffset=alt.XOffset("split:N", sort=["train", "val", "test"]),
            y=alt.Y("prevalence:Q", title="prevalence (positives / annotated)"),
            color=alt.Color("split:N", sort=["train", "val", "test"]),
            tooltip=[
                "source:N",
                "split:N",
                "class:N",
                "positives:Q",
                "negatives:Q",
                "missing:Q",
                alt.Tooltip("prevalence:Q", format=".4f"),
            ],
        )
        .properties(width=max(300, 40 * frame["class"].nunique()), height=220)
    )
    subtitle = [f"labels are real; {SIMULATED_SUBTITLE}"] if simulated else []
    faceted: alt.FacetChart = chart.facet(row=alt.Row("source:N", title=None)).properties(
        title=alt.TitleParams("Class prevalence per source and split", subtitle=subtitle)
    )
    return faceted


def missing_frame(labels: LabelTable) -> pd.DataFrame:
    """Source x class: share of images whose label is missing (1 = the source never annotated it),
    long form with the counts behind each share."""
    from budgetplan.data.harmonise import annotated_share

    share = annotated_share(labels)
    n = pd.Series(labels.source).value_counts()
    long = share.rename_axis(index="source", columns="class").stack().rename("annotated")
    out = long.reset_index()
    out["missing_share"] = 1.0 - out["annotated"]
    out["images"] = out["source"].map(n).astype(int)
    out["missing"] = np.rint(out["missing_share"] * out["images"]).astype(int)
    return out[["source", "class", "images", "missing", "missing_share"]]


def missing_chart(frame: pd.DataFrame, classes: Sequence[str] | None = None) -> alt.LayerChart:
    """Heatmap source x class of the missing-label share, with the share as text."""
    order = list(classes) if classes is not None else list(dict.fromkeys(frame["class"]))
    base = alt.Chart(frame).encode(
        x=alt.X("class:N", sort=order, title=None),
        y=alt.Y("source:N", title=None),
    )
    rect = base.mark_rect().encode(
        color=alt.Color(
            "missing_share:Q", title="missing", scale=alt.Scale(domain=[0, 1], scheme="orangered")
        ),
        tooltip=[
            "source:N",
            "class:N",
            "images:Q",
            "missing:Q",
            alt.Tooltip("missing_share:Q", format=".1%"),
        ],
    )
    text = base.mark_text(fontSize=9).encode(text=alt.Text("missing_share:Q", format=".0%"))
    layered: alt.LayerChart = (rect + text).properties(
        title="Missing labels (share of images without the label), source x class",
        width=max(300, 40 * len(order)),
        height=max(60, 40 * frame["source"].nunique()),
    )
    return layered


# ---------------------------------------------------------------------- relations page
def neighbourhood_graph(
    matrix: pd.DataFrame,
    relation: str,
    target: str,
    counts: pd.DataFrame | None = None,
    threshold: float | str | None = None,
    radius: int = 1,
) -> nx.Graph:
    """The target's neighbourhood in the class graph of ``relation``, nodes labelled with the
    communities of the WHOLE graph (``relations.graph.annotate``), ready for ``graph_chart``."""
    from budgetplan.relations import graph as rg

    g = rg.class_graph(matrix, relation, threshold, counts=counts)
    full = rg.annotate(g, target)
    hood = rg.target_neighbourhood(full, target, radius=radius).copy()
    hood.graph.update(g.graph)
    return hood


# ---------------------------------------------------------------------- simulate page
def gain_chart(
    frame: pd.DataFrame,
    name: str = "class",
    gain: str = "gain",
    low: str = "gain_ci_low",
    high: str = "gain_ci_high",
    *,
    title: str = "Measured gain over the baseline",
    simulated: bool = False,
) -> alt.LayerChart:
    """Horizontal bars of the measured gain per candidate with CI error bars and a zero rule.

    ``frame`` has one row per candidate (columns ``name``, ``gain``, ``low``, ``high`` as AUC
    differences, and, if present, ``runs``, ``significant``); the chart shows AUC points."""
    data = frame.copy()
    for c in (gain, low, high):  # AUC points, the app's one unit for gains
        data[c] = pd.to_numeric(data[c], errors="coerce").astype(float) * 100.0
    data = data[np.isfinite(data[gain])]
    order = data.sort_values(gain, ascending=False)[name].astype(str).tolist()
    tips = [
        f"{name}:N",
        alt.Tooltip(f"{gain}:Q", format="+.1f", title="gain (AUC points)"),
        alt.Tooltip(f"{low}:Q", format="+.1f", title="95% CI low"),
        alt.Tooltip(f"{high}:Q", format="+.1f", title="95% CI high"),
    ]
    tips += [f"{c}:Q" for c in ("runs", "n") if c in data]
    colour = (
        alt.Color(
            "significant:N",
            title="significant",
            scale=alt.Scale(domain=[True, False], range=["#2a9d8f", "#bbbbbb"]),
        )
        if "significant" in data
        else alt.value("#2a9d8f")
    )
    y = alt.Y(f"{name}:N", sort=order, title=None, axis=alt.Axis(labelLimit=240))
    x_title = "gain in target AUC points (bars: mean over draws; lines: 95% CI)"
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(y=y, x=alt.X(f"{gain}:Q", title=x_title), color=colour, tooltip=tips)
    )
    err = (
        alt.Chart(data)
        .mark_rule(color="black", strokeWidth=1.5)
        .encode(y=y, x=alt.X(f"{low}:Q", title=x_title), x2=f"{high}:Q", tooltip=tips)
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="black").encode(x="x:Q")
    subtitle = [SIMULATED_SUBTITLE] if simulated else []
    layered: alt.LayerChart = (bars + err + zero).properties(
        title=alt.TitleParams(title, subtitle=subtitle, anchor="start"),
        width=460,
        height=max(90, 26 * len(data)),
    )
    return layered


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> tuple[float, int]:
    """Spearman rank correlation of the finite pairs and how many pairs there are."""
    from budgetplan.methods.metrics import spearman

    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan"), int(ok.sum())
    return spearman(a[ok], b[ok])[0], int(ok.sum())


def predictor_chart(
    frame: pd.DataFrame,
    relation: str,
    name: str = "class",
    gain: str = "gain",
    rho: float | None = None,
) -> alt.LayerChart:
    """Scatter of a relation score against the measured gain, with a linear fit and the rank
    correlation in the title (``rho`` from the planner's predictor when given, else Spearman)."""
    from budgetplan.app_support.words import plain_name

    data = frame[[name, relation, gain]].copy()
    data[relation] = pd.to_numeric(data[relation], errors="coerce").astype(float)
    data[gain] = pd.to_numeric(data[gain], errors="coerce").astype(float) * 100.0
    data = data[np.isfinite(data[relation]) & np.isfinite(data[gain])]
    if rho is None:
        rho, n = rank_correlation(data[relation], data[gain])
    else:
        n = len(data)
    label = plain_name(relation)
    base = alt.Chart(data).encode(
        x=alt.X(f"{relation}:Q", title=label, scale=alt.Scale(zero=False)),
        y=alt.Y(f"{gain}:Q", title="measured gain (target AUC points)"),
    )
    points = base.mark_circle(size=70).encode(
        tooltip=[
            f"{name}:N",
            alt.Tooltip(f"{relation}:Q", format=".3f", title=label),
            alt.Tooltip(f"{gain}:Q", format="+.1f", title="gain (AUC points)"),
        ]
    )
    text = base.mark_text(dx=8, align="left", fontSize=10).encode(text=f"{name}:N")
    layers = [points, text]
    if len(data) >= 2:
        layers.insert(
            0, base.transform_regression(relation, gain).mark_line(color="gray", strokeDash=[4, 4])
        )
    rho_text = "n/a" if rho is None or not np.isfinite(rho) else f"{rho:+.2f}"
    return alt.LayerChart(layer=layers).properties(
        title=f"{label} vs measured gain: rank correlation {rho_text} (n = {n})",
        width=420,
        height=300,
    )
