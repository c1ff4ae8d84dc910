"""Simulate page: train the candidates (simulated label assemblies), gains with CIs, predictor."""

from __future__ import annotations

import streamlit as st
import ui

from budgetplan import app_support as sup

ds = ui.dataset()
ui.header("Simulate", ds)
st.caption(
    "For each other class, train the target with that class's labels added (a simulated "
    "assembly of the fully labelled store) over several draws of the study, paired with the "
    "baseline (target only). Candidates are screened by relation and raced over draws."
)
target = ui.target_picker(ds)
settings = ui.simulation_settings(ds)
cfg = ui.study_config(ds, target, settings)
st.caption(
    f"Budget {cfg.budget:,.0f} {cfg.costs.get('unit') or 'units'} and the costs from the Plan "
    "page (or the recipe's until you set them there)."
)
with st.expander("Why Simulate and Plan show the same runs"):
    st.markdown(ui.SHARED_NOTE)
rec = ui.recommend_on_click(
    ds,
    cfg,
    button="Run the simulation",
    button_key="run_simulation",
    progress_text="simulating",
    fail_text="Cannot simulate",
    empty_text=(
        "Choose the settings and run the simulation. Runs already in the cache show at once."
    ),
    stale_text="These results are for earlier settings; run again to update them.",
)

c1, c2, c3, c4 = st.columns(4)
c1.metric("Target", rec.plan.target)
c2.metric("Baseline AUC", sup.describe(rec.plan.baseline.get("auc"), 3))
c3.metric("Runs trained / from cache", f"{rec.runs_trained} / {rec.runs_cached}")
c4.metric("Seconds", f"{rec.seconds:.1f}")

measured = sup.candidate_frame(rec.table)
st.subheader("Measured gain per candidate")
ui.chart(sup.gain_chart(measured, simulated=rec.simulated))

st.subheader("Do the cheap relations predict the gain?")
relations = sup.predictor_relations(measured)
if relations:
    best = rec.predictor.best if rec.predictor.best in relations else relations[0]
    rel = st.selectbox(
        "Relation",
        relations,
        index=relations.index(best),
        key="predictor_relation",
        format_func=sup.plain_name,
    )
    rho = rec.predictor.rho.get(rel)
    ui.chart(sup.predictor_chart(measured, rel, rho=rho))
    st.caption(sup.predictor_caption(rec.predictor.rho, rec.predictor.n, rec.predictor.best))
ui.glossary()
with st.expander("The ranked table (gains in AUC points)"):
    st.dataframe(sup.candidate_view(rec.table), hide_index=True)
