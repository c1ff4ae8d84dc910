"""Relations page: the ranked relations of the target, the relation heatmap, the class graph."""

from __future__ import annotations

import streamlit as st
import ui

from budgetplan import app_support as sup
from budgetplan.errors import BudgetplanError
from budgetplan.relations import charts
from budgetplan.relations.table import RELATIONS

ds = ui.dataset()
ui.header("Relations", ds)
target = ui.target_picker(ds)

SHOWN = ("prototype-mean", "prototype-median", "pmi", "phi", "knn-share", "knn-lift")


@st.cache_data(show_spinner=False, max_entries=16)
def _table(checksum: str, target: str, _ds):
    from budgetplan.relations.table import relation_table

    return relation_table(_ds, target)


@st.cache_data(show_spinner=False, max_entries=16)
def _matrix(checksum: str, relation: str, _ds):
    from budgetplan.relations.table import relation_matrices

    return relation_matrices(_ds, relations=(relation,))[relation]


try:
    with ui.progress_bar("computing relations"):
        table = _table(ds.checksum, target, ds)
except BudgetplanError as exc:
    ui.fail(exc, "Cannot compute the relations")
    st.stop()

st.subheader(f"How related each class is to {target}")
st.caption(
    "On the training split; counts behind each number in the tooltips and the table. Charts: "
    + "; ".join(f"{r} = {sup.plain_name(r)}" for r in SHOWN if r in table.columns)
    + " (glossary below)."
)
cols = st.columns(2)
for i, rel in enumerate(r for r in SHOWN if r in table.columns):
    with cols[i % 2]:
        ui.chart(charts.ranked_bar(table, rel, target=target))
with st.expander("The relation table"):
    st.dataframe(table.rename(columns=sup.PLAIN_NAMES), hide_index=True)
ui.glossary()

st.subheader("Between all classes")
matrix_choices = [r for r in RELATIONS if r not in ("knn-share", "knn-lift", "adapter")]
relation = st.selectbox(
    "Relation", matrix_choices, index=0, key="heatmap_relation", format_func=sup.plain_name
)
try:
    matrix = _matrix(ds.checksum, relation, ds)
except BudgetplanError as exc:
    ui.fail(exc, "Cannot compute the relation matrix")
    st.stop()

from budgetplan.relations import graph as rg  # noqa: E402

_, clusters = rg.hierarchical_clusters(matrix, relation)
order = clusters.sort_values("order")["class"].tolist()
# the heatmap above the graph: side by side, a wide heatmap ran into the graph column
ui.chart(charts.relation_heatmap(matrix, relation, order=order, simulated=ds.simulated))
right, _ = st.columns([2, 1])
with right:
    default_thr = rg.resolve_threshold(rg.symmetric(matrix), relation, None)
    thr = st.slider(
        "Edge threshold",
        min_value=float(min(default_thr, 0.0) if relation in ("pmi", "phi") else 0.0),
        max_value=float(max(1.0, default_thr * 2)),
        value=float(default_thr),
        step=0.01,
        key="graph_threshold",
    )
    counts = ds.labels.subset(ds.labels.split == "train").counts()
    g = sup.neighbourhood_graph(matrix, relation, target, counts=counts, threshold=thr)
    ui.chart(charts.graph_chart(g, target))
    st.caption(
        f"{target}'s neighbourhood: {g.number_of_nodes() - 1} classes linked by "
        f"{sup.plain_name(relation)} > {thr:.3g};"
        " colour = community in the whole class graph, size = training positives."
    )
