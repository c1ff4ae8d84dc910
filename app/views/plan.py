"""Plan page: budget, editable costs, the recommended plan against the random control, exports."""

from __future__ import annotations

import streamlit as st
import ui

from budgetplan import app_support as sup
from budgetplan.errors import BudgetplanError
from budgetplan.planner.export import FORMATS

LABELS = {
    "csv": "CSV worklist",
    "json": "JSON plan",
    "labelstudio": "Label Studio tasks",
    "cvat": "CVAT manifest",
    "markdown": "Markdown report",
}

ds = ui.dataset()
ui.header("Plan", ds)
target = ui.target_picker(ds)
settings = ui.simulation_settings(ds)

left, right = st.columns([1, 1])
with right:
    st.markdown("**Costs**")
    start_model = sup.recipe_cost_model(ds.classes)
    unit = st.text_input(
        "Unit", value=st.session_state.get("cost_unit", start_model.unit), key="w_unit"
    )
    st.session_state["cost_unit"] = unit
    read_cost = st.number_input(
        "Reading cost per image (shared by the classes read on it)",
        min_value=0.0,
        value=float(st.session_state.get("read_cost", start_model.image_read_cost)),
        key="w_read_cost",
    )
    st.session_state["read_cost"] = read_cost
    base_costs = st.session_state.get("cost_frame")
    if base_costs is None or list(base_costs["class"]) != list(ds.classes):
        base_costs = sup.cost_table(ds.classes, start_model)
    edited = st.data_editor(
        base_costs,
        disabled=["class"],
        hide_index=True,
        key="w_costs",
        column_config={"cost per label": st.column_config.NumberColumn(min_value=0.0)},
    )
    st.session_state["cost_frame"] = edited
with left:
    try:
        costs = sup.cost_mapping(edited, read_cost, unit or "units")
    except BudgetplanError as exc:
        ui.fail(exc, "Fix the cost table")
        st.stop()
    top = max([*costs["label_cost"].values(), 1.0]) + read_cost
    recipe_budget = sup.app_config(target, quick=settings["quick"], classes=ds.classes).budget
    low, high, default = sup.budget_range(ds.labels, target, top, preferred=recipe_budget)
    budget = st.slider(
        f"Budget ({unit or 'units'})",
        min_value=float(low),
        max_value=float(high),
        value=float(min(max(st.session_state.get("budget", default), low), high)),
        step=float(max(1.0, round(high / 200.0))),
        key="w_budget",
    )
    st.session_state["budget"] = budget
    st.caption(
        f"Method {settings['method']}, {settings['seeds']} seeds"
        + (", quick simulation" if settings["quick"] else "")
        + " (change them on the Simulate page or above)."
    )

cfg = sup.app_config(
    target,
    method=settings["method"],
    seeds=settings["seeds"],
    target_positives=settings["target_positives"],
    budget=float(budget),
    costs=costs,
    quick=settings["quick"],
    executor=settings["executor"],
    ray_address=settings["ray_address"],
)
rec = ui.recommend_on_click(
    ds,
    cfg,
    button="Make the plan",
    button_key="make_plan",
    state_key="plan_result",
    progress_text="planning",
    fail_text="Cannot make a plan",
    empty_text="Set the budget and the costs, then make the plan.",
    stale_text="This plan was made with other settings; press 'Make the plan' to update it.",
)
plan = rec.plan

st.subheader(
    f"Plan for {plan.target}: {len(plan.actions)} action(s), "
    f"{plan.total_cost:,.0f} of {plan.budget:,.0f} {plan.unit}"
)
(st.success if plan.actions else st.info)(plan.verdict)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Baseline AUC", sup.describe(plan.baseline.get("auc"), 3))
c2.metric("Expected AUC", sup.describe(plan.expected.get("auc"), 3))
gain = plan.expected.get("gain")
c3.metric(
    "Expected gain",
    sup.points(gain),
    help=(
        f"target AUC points; 95 % CI {sup.points(plan.expected.get('gain_ci_low'))} "
        f"to {sup.points(plan.expected.get('gain_ci_high'))}"
    ),
)
c4.metric("Cost", f"{plan.total_cost:,.0f} {plan.unit}")

vs = sup.plan_vs_random_frame(plan)
ui.chart(sup.plan_vs_random_chart(vs, simulated=bool(plan.simulated)))
st.dataframe(sup.plan_actions_frame(plan), hide_index=True)
with st.expander("All candidates"):
    st.dataframe(rec.table, hide_index=True)

st.subheader("Download the plan")
with st.expander("Export options"):
    url_prefix = st.text_input(
        "Label Studio: prefix before image paths", value="", key="w_url_prefix"
    )
    w = st.number_input(
        "CVAT: image width (when images cannot be read)", min_value=1, value=1024, key="w_img_w"
    )
    h = st.number_input("CVAT: image height", min_value=1, value=1024, key="w_img_h")
options = {"url_prefix": url_prefix, "image_size": (int(w), int(h))}
cache_key = (plan.plan_id, url_prefix, int(w), int(h))
downloads = st.session_state.get("downloads")
if downloads is None or downloads[0] != cache_key:
    files: dict[str, object] = {}
    for fmt in FORMATS:
        try:
            files[fmt] = sup.export_download(plan, fmt, ds.labels, **options)
        except BudgetplanError as exc:
            files[fmt] = exc
    downloads = (cache_key, files)
    st.session_state["downloads"] = downloads
cols = st.columns(len(FORMATS))
for col, fmt in zip(cols, FORMATS, strict=True):
    item = downloads[1][fmt]
    with col:
        if isinstance(item, BudgetplanError):
            st.error(f"{LABELS[fmt]}: {item}")
        else:
            st.download_button(
                LABELS[fmt],
                data=item.data,
                file_name=item.filename,
                mime=item.mime,
                key=f"dl_{fmt}",
            )
