"""What the Streamlit app shows, as pure functions over library objects (tested without Streamlit).

The app (``app/``) is a thin shell: every table, chart and download it shows is built here from
budgetplan's own results (label tables, relation matrices, simulation results, plans), so the
numbers on screen are the library's numbers. Nothing here imports Streamlit.

- Store choice: :func:`parse_store` / :func:`open_store` (``"demo"``, ``"demo:N"`` = a small demo
  of N images, or a dataset directory); ``$BUDGETPLAN_APP_STORE`` sets the app's default.
- Upload and ingest: :func:`ingest_upload` (label CSV + ``.npy`` embeddings, never unpickled).
- Data page: :func:`prevalence_frame` / :func:`prevalence_chart`, :func:`missing_frame` /
  :func:`missing_chart`.
- Relations page: :func:`neighbourhood_graph` (the target's neighbourhood with communities).
- Simulate page: :func:`gain_chart` (bars with CI error bars), :func:`predictor_chart`.
- Plan page: :func:`plan_actions_frame`, :func:`plan_vs_random_frame` / :func:`plan_vs_random_chart`,
  :func:`export_download` (bytes of every export format).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import altair as alt
import networkx as nx
import numpy as np
import pandas as pd

from budgetplan.errors import BudgetplanError, DataMismatchError, InputFileError
from budgetplan.notices import SIMULATED_SUBTITLE

if TYPE_CHECKING:
    from budgetplan.data.label_table import LabelTable
    from budgetplan.dataset import Dataset
    from budgetplan.planner.plan import AnnotationPlan

ProgressFn = Callable[[int, int, str], None]

STORE_ENV = "BUDGETPLAN_APP_STORE"
QUICK_ENV = "BUDGETPLAN_APP_QUICK"


# ---------------------------------------------------------------------- store choice
@dataclass(frozen=True)
class StoreChoice:
    """Which dataset the app works on: the demo (optionally small) or a directory."""

    kind: str  # "demo" | "path"
    path: str | None = None
    n_images: int | None = None

    @property
    def label(self) -> str:
        if self.kind == "demo":
            size = f", {self.n_images} images" if self.n_images else ""
            return f"embedded default (NIH labels, simulated features{size})"
        return str(self.path)

    @property
    def spec(self) -> str:
        if self.kind == "demo":
            return f"demo:{self.n_images}" if self.n_images else "demo"
        return str(self.path)


def parse_store(spec: str | None) -> StoreChoice:
    """``None``/``""``/``"demo"`` -> the demo; ``"demo:N"`` -> a demo of N images; else a path."""
    text = (spec or "").strip()
    if not text or text == "demo":
        return StoreChoice("demo")
    m = re.fullmatch(r"demo:(\d+)", text)
    if m:
        n = int(m.group(1))
        if n < 1:
            raise BudgetplanError(f"store {text!r}: the demo needs at least 1 image")
        return StoreChoice("demo", n_images=n)
    if text.startswith("demo:"):
        raise BudgetplanError(f"store {text!r}: write demo:N with N a number of images")
    return StoreChoice("path", path=text)


def default_store() -> StoreChoice:
    """The store the app opens first: ``$BUDGETPLAN_APP_STORE`` or the embedded default."""
    return parse_store(os.environ.get(STORE_ENV))


def quick_mode() -> bool:
    """``$BUDGETPLAN_APP_QUICK`` set to 1/true: the app offers tiny simulations (tests, demos)."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def open_store(choice: StoreChoice, progress: ProgressFn | None = None) -> Dataset:
    """Open (building the demo once if needed) the dataset of ``choice``."""
    if choice.kind == "demo":
        try:
            from budgetplan.demo import demo_dataset
        except ImportError as exc:  # pragma: no cover - a partial install
            raise BudgetplanError(f"the embedded default store is not available ({exc})") from None
        if choice.n_images:
            return demo_dataset(progress=progress, n_images=choice.n_images)
        return demo_dataset(progress=progress)
    from budgetplan.dataset import open_dataset

    return open_dataset(choice.path)


def prepare_store(choice: StoreChoice, progress: ProgressFn | None = None) -> None:
    """Make sure the store of ``choice`` exists on disk (builds the demo once, reporting
    progress); a directory is only checked. Raises a one-line error for a bad store."""
    open_store(choice, progress=progress)


# ---------------------------------------------------------------------- upload and ingest
def uploads_root() -> Path:
    """Where datasets ingested from the app's uploads are kept (under the budgetplan cache)."""
    from budgetplan.paths import cache_dir

    return cache_dir() / "app-datasets"


def load_uploaded_vectors(data: bytes, name: str) -> np.ndarray:
    """An (N, d) float array from the bytes of an uploaded ``.npy`` (``allow_pickle=False``)."""
    from budgetplan.embeddings.files import embeddings_from_bytes

    return embeddings_from_bytes(data, name)


def ingest_upload(
    labels_data: bytes,
    labels_name: str,
    vectors_data: bytes,
    vectors_name: str,
    ids_data: bytes | None = None,
    ids_name: str = "ids.txt",
    *,
    root: str | os.PathLike[str] | None = None,
    name: str | None = None,
    progress: ProgressFn | None = None,
) -> Dataset:
    """Build a dataset from uploaded files: a label CSV and an (N, d) ``.npy`` of embeddings.

    Row ``i`` of the embeddings is the image of row ``i`` of the label CSV, unless an ids file
    (one id per line, in row order) is given. Written (atomically) under ``root`` (default
    :func:`uploads_root`) in a directory named after the content, so uploading the same files
    again reopens the same dataset. Every problem raises a one-line ``BudgetplanError``.
    """
    import hashlib

    from budgetplan.data.csv_labels import load_label_csv
    from budgetplan.dataset import Dataset
    from budgetplan.embeddings.files import ids_from_bytes

    safe = Path(labels_name).name or "labels.csv"
    if not safe.lower().endswith((".csv", ".csv.gz", ".tsv")):
        raise InputFileError(labels_name, "the labels must be a .csv (or .csv.gz) file")
    vectors = load_uploaded_vectors(vectors_data, vectors_name)
    with tempfile.TemporaryDirectory(prefix="budgetplan-upload-") as tmp:
        path = Path(tmp) / safe
        path.write_bytes(labels_data)
        try:
            labels = load_label_csv(path)
        except InputFileError as exc:  # name the upload, not the temp file
            raise InputFileError(labels_name, exc.problem) from None
    ids = ids_from_bytes(ids_data, ids_name) if ids_data is not None else list(labels.ids)
    if len(ids) != vectors.shape[0]:
        what = (
            f"{ids_name} lists {len(ids)} ids"
            if ids_data is not None
            else (f"{labels_name} has {len(ids)} rows")
        )
        raise DataMismatchError(
            f"{what} but {vectors_name} has {vectors.shape[0]} rows; they must match row for row"
        )
    digest = hashlib.sha256()
    for part in (labels_data, vectors_data, ids_data or b""):
        digest.update(hashlib.sha256(part).digest())
    base = Path(root) if root is not None else uploads_root()
    out = base / f"upload-{digest.hexdigest()[:16]}"
    if (out / "dataset.json").is_file():
        return Dataset.open(out)
    return Dataset.create(
        out,
        labels,
        vectors,
        ids,
        name=name or Path(safe).name.split(".")[0],
        overwrite=out.exists(),
        progress=progress,
        backbone="uploaded",
        source_files={"labels": labels_name, "embeddings": vectors_name},
    )


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
    return chart.facet(row=alt.Row("source:N", title=None)).properties(
        title=alt.TitleParams("Class prevalence per source and split", subtitle=subtitle)
    )


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
    return (rect + text).properties(
        title="Missing labels (share of images without the label), source x class",
        width=max(300, 40 * len(order)),
        height=max(60, 40 * frame["source"].nunique()),
    )


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
    title: str = "Measured gain over the baseline",
    simulated: bool = False,
) -> alt.LayerChart:
    """Horizontal bars of the measured gain per candidate with CI error bars and a zero rule.

    ``frame`` has one row per candidate (columns ``name``, ``gain``, ``low``, ``high``, and, if
    present, ``runs``, ``significant``)."""
    data = frame.copy()
    for c in (gain, low, high):
        data[c] = pd.to_numeric(data[c], errors="coerce").astype(float)
    data = data[np.isfinite(data[gain])]
    order = data.sort_values(gain, ascending=False)[name].astype(str).tolist()
    tips = [
        f"{name}:N",
        alt.Tooltip(f"{gain}:Q", format="+.4f"),
        alt.Tooltip(f"{low}:Q", format="+.4f"),
        alt.Tooltip(f"{high}:Q", format="+.4f"),
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
    x_title = "gain in target AUC (bars: mean over seeds; lines: 95% CI)"
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
    return (bars + err + zero).properties(
        title=alt.TitleParams(title, subtitle=subtitle, anchor="start"),
        width=460,
        height=max(90, 26 * len(data)),
    )


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> tuple[float, int]:
    """Spearman rank correlation of the finite pairs and how many pairs there are."""
    from scipy.stats import spearmanr

    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan"), int(ok.sum())
    return float(spearmanr(a[ok], b[ok]).statistic), int(ok.sum())


def predictor_chart(
    frame: pd.DataFrame,
    relation: str,
    name: str = "class",
    gain: str = "gain",
    rho: float | None = None,
) -> alt.LayerChart:
    """Scatter of a relation score against the measured gain, with a linear fit and the rank
    correlation in the title (``rho`` from the planner's predictor when given, else Spearman)."""
    data = frame[[name, relation, gain]].copy()
    data[relation] = pd.to_numeric(data[relation], errors="coerce").astype(float)
    data[gain] = pd.to_numeric(data[gain], errors="coerce").astype(float)
    data = data[np.isfinite(data[relation]) & np.isfinite(data[gain])]
    if rho is None:
        rho, n = rank_correlation(data[relation], data[gain])
    else:
        n = len(data)
    base = alt.Chart(data).encode(
        x=alt.X(f"{relation}:Q", title=relation, scale=alt.Scale(zero=False)),
        y=alt.Y(f"{gain}:Q", title="measured gain in AUC"),
    )
    points = base.mark_circle(size=70).encode(
        tooltip=[
            f"{name}:N",
            alt.Tooltip(f"{relation}:Q", format=".3f"),
            alt.Tooltip(f"{gain}:Q", format="+.4f"),
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
        title=f"{relation} vs measured gain: rank correlation {rho_text} (n = {n})",
        width=420,
        height=300,
    )


# ---------------------------------------------------------------------- plan page
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


MIME = {
    "csv": "text/csv",
    "json": "application/json",
    "labelstudio": "application/json",
    "cvat": "application/zip",
    "markdown": "text/markdown",
}


@dataclass(frozen=True)
class Download:
    """One file to offer for download: its name, bytes and MIME type."""

    format: str
    filename: str
    data: bytes
    mime: str


def export_download(
    plan: AnnotationPlan, format: str, labels: LabelTable | None = None, **options: Any
) -> Download:
    """The bytes ``budgetplan.planner.export.export_plan`` writes for ``format``.

    Formats that write a companion file (Label Studio config, CVAT labels) come as one zip of
    all written files (fixed timestamps: equal plans give equal bytes); the others as the file.
    ``options`` go to ``export_plan`` (``url_prefix``, ``image_root``, ``image_size``).
    """
    from budgetplan.planner.export import default_path, export_plan

    with tempfile.TemporaryDirectory(prefix="budgetplan-export-") as tmp:
        path = default_path(plan, format, tmp)
        written = [Path(p) for p in export_plan(plan, format, path, labels, **options)]
        if len(written) == 1:
            return Download(
                format,
                written[0].name,
                written[0].read_bytes(),
                MIME.get(format, "application/octet-stream"),
            )
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for p in written:
                info = zipfile.ZipInfo(p.name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, p.read_bytes())
        return Download(format, path.name + ".zip", buf.getvalue(), "application/zip")


def export_downloads(
    plan: AnnotationPlan, labels: LabelTable | None = None, **options: Any
) -> list[Download]:
    """:func:`export_download` for every export format, in ``export.FORMATS`` order."""
    from budgetplan.planner.export import FORMATS

    return [export_download(plan, f, labels, **options) for f in FORMATS]


def describe(value: Any, digits: int = 4) -> str:
    """A number for a sentence: signed for gains, 'n/a' for None/NaN."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not np.isfinite(x) else f"{x:.{digits}f}"


# ---------------------------------------------------------------------- simulate and plan pages
def app_config(
    target: str,
    *,
    method: str = "label-assemble",
    seeds: int | None = None,
    target_positives: int | None = None,
    budget: float | None = None,
    costs: dict[str, Any] | None = None,
    quick: bool = False,
    recipe: str | None = None,
    classes: Sequence[str] | None = None,
) -> Any:
    """The ``RecommendConfig`` of the app's choices: the recipe (default ``nih-nodule`` when
    present, else the config defaults), the quick simulation settings when ``quick``, then the
    page's choices on top. Without ``costs``, the recipe's costs are kept only if they name
    ``classes`` of this store (else every label costs 1)."""
    import dataclasses

    from budgetplan.config import (
        DEFAULT_RECIPE,
        RecommendConfig,
        load_recipe,
        quick_config,
        recipe_path,
    )

    try:
        recipe_path(recipe or DEFAULT_RECIPE)
        cfg = load_recipe(recipe or DEFAULT_RECIPE)
    except InputFileError:
        if recipe is not None:
            raise
        cfg = RecommendConfig()
    cfg = cfg.with_overrides(data={"kind": "demo", "store": None})
    if quick:
        cfg = quick_config(cfg)
    values: dict[str, Any] = {
        "target": target,
        "method": method,
        "seeds": seeds,
        "target_positives": target_positives,
        "budget": budget,
    }
    cfg = cfg.with_overrides(**values)
    if seeds is not None and cfg.simulation.initial_seeds > seeds:
        cfg = cfg.with_overrides(simulation={"initial_seeds": seeds})
    if costs is None:  # the recipe's costs when they fit this store's classes, else unit costs
        costs = default_costs(cfg, classes)
    return dataclasses.replace(cfg, costs=dict(costs), cost_file=None)


def default_costs(config: Any, classes: Sequence[str] | None) -> dict[str, Any]:
    """The recipe's ``costs`` mapping if it is valid for ``classes`` (None = any), else ``{}``
    (every label costs 1 unit)."""
    from budgetplan.planner.costs import CostModel

    mapping = dict(config.costs or {})
    if not mapping:
        return {}
    try:
        CostModel.from_mapping(mapping, list(classes) if classes is not None else None)
    except BudgetplanError:
        return {}
    return mapping


def recipe_cost_model(classes: Sequence[str], recipe: str | None = None) -> Any:
    """The cost model the Plan page starts from: the recipe's costs when they name only classes
    of this store, else one unit per label."""
    from budgetplan.planner.costs import CostModel

    cfg = app_config(classes[0] if classes else "", recipe=recipe, classes=classes)
    return CostModel.from_mapping(default_costs(cfg, classes) or None, list(classes))


def cost_table(classes: Sequence[str], cost_model: Any = None) -> pd.DataFrame:
    """The editable cost table: one row per class with its cost per label."""
    from budgetplan.planner.costs import CostModel

    cm = cost_model or CostModel()
    return pd.DataFrame(
        {"class": list(classes), "cost per label": [cm.label_cost_of(c) for c in classes]}
    )


def cost_mapping(
    table: pd.DataFrame, image_read_cost: float = 0.0, unit: str = "units"
) -> dict[str, Any]:
    """A recipe-style ``costs`` mapping from the edited cost table (validated by building the
    ``CostModel``; a negative, empty or non-numeric cost raises a one-line ``BudgetError``)."""
    from budgetplan.errors import BudgetError
    from budgetplan.planner.costs import CostModel

    label_cost: dict[str, float] = {}
    for row in table.itertuples(index=False):
        name, value = str(row[0]), row[1]
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise BudgetError(f"cost table: cost of {name!r} is {value!r}, not a number") from None
        if not np.isfinite(x):
            raise BudgetError(f"cost table: cost of {name!r} is missing")
        label_cost[name] = x
    mapping = {"label_cost": label_cost, "image_read_cost": float(image_read_cost), "unit": unit}
    CostModel.from_mapping(mapping, list(table.iloc[:, 0].astype(str)), where="cost table")
    return mapping


def budget_range(
    labels: LabelTable,
    target: str,
    max_cost_per_label: float = 1.0,
    preferred: float | None = None,
) -> tuple[float, float, float]:
    """(low, high, default) for the budget slider: from one label to labelling every training
    image once; the default is ``preferred`` (the recipe's budget) when it lies in that range,
    else what buys a tenth of the training images."""
    n_train = int(np.sum(labels.split == "train"))
    c = max(float(max_cost_per_label), 1e-9)
    high = max(1.0, float(n_train) * c)
    if preferred is not None and c <= preferred <= high:
        return float(c), high, float(preferred)
    return float(c), high, max(float(c), round(high / 10.0))


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
