"""Plan page: budget, editable costs, the plan against the random control, the worklist with
its map, the budget curve, exports."""

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
        height=min(600, 38 + 35 * len(ds.classes)),  # every class visible, no inner scroll
        column_config={"cost per label": st.column_config.NumberColumn(min_value=0.0)},
    )
    st.session_state["cost_frame"] = edited
with left:
    try:
        costs = sup.cost_mapping(edited, read_cost, unit or "units")
    except BudgetplanError as exc:
        ui.fail(exc, "Fix the cost table")
        st.stop()
    st.session_state[ui.COSTS_KEY] = costs
    quick_cfg = sup.app_config(target, quick=settings["quick"], classes=ds.classes)
    low, high, step = sup.budget_bounds(ds.labels, target, costs, quick_cfg)
    _, start = ui.study_costs_and_budget(ds, target, settings["quick"])
    budget = st.number_input(
        f"Budget ({unit or 'units'})",
        min_value=float(low),
        max_value=float(high),
        value=float(min(max(start, low), high)),
        step=float(step),
        format="%.0f",
        key="w_budget",
        help="type any amount; the buttons step by a round number",
    )
    st.session_state["budget"] = float(budget)
    st.caption(
        f"From {low:,.0f} (one simulated image of the cheapest class: what the simulation "
        f"accepts) to {high:,.0f} {unit or 'units'} (every training image labelled once)."
    )
    st.caption(
        f"Method {settings['method']}, {settings['seeds']} draws"
        + (", quick simulation" if settings["quick"] else "")
        + " (shared with the Simulate page)."
    )

cfg = ui.study_config(ds, target, settings)
with st.expander("Why Simulate and Plan show the same runs"):
    st.markdown(ui.SHARED_NOTE)
rec = ui.recommend_on_click(
    ds,
    cfg,
    button="Make the plan",
    button_key="make_plan",
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
c3.metric(
    "Expected gain",
    sup.points(plan.expected.get("gain")),
    help=(
        f"target AUC points; 95 % CI {sup.points(plan.expected.get('gain_ci_low'))} "
        f"to {sup.points(plan.expected.get('gain_ci_high'))}"
    ),
)
c4.metric("Cost", f"{plan.total_cost:,.0f} {plan.unit}")

vs = sup.plan_vs_random_frame(plan)
ui.chart(sup.plan_vs_random_chart(vs, simulated=bool(plan.simulated)))
st.dataframe(sup.plan_actions_frame(plan), hide_index=True)

# ---------------------------------------------------------------- worklist
st.subheader("Worklist: the images to annotate first")


@st.cache_data(show_spinner=False, max_entries=8)
def _map(checksum: str, plan_id: str, _ds, _plan):
    return sup.map_frame(_ds.vectors, _ds.labels, _plan)


if not plan.actions:
    st.info("The plan annotates nothing, so there is no worklist.")
else:
    image_root = st.text_input(
        "Image folder (optional: where the image paths resolve, for thumbnails)",
        value="",
        key="w_image_root",
    ).strip()
    view = sup.worklist_view(plan, ds.labels, image_root=image_root or None)
    n_images = len(plan.assignments())
    st.caption(
        f"The first {len(view)} of {n_images:,} images, in the order to open them (the "
        "downloads list them all): rank, the classes to read on each image, and why."
    )
    shown = view.drop(columns=["file"]) if (view["file"] == "").all() else view
    st.dataframe(shown, hide_index=True, key="worklist_table")
    thumbs = sup.thumbnails(view)
    if thumbs:
        st.image([str(p) for p, _ in thumbs], caption=[c for _, c in thumbs], width=120)
    else:
        st.caption(
            "No thumbnails: the image paths of this store do not resolve here"
            + (f" under {image_root}." if image_root else " (set the image folder above).")
        )
    try:
        points = _map(ds.checksum, plan.plan_id, ds, plan)
    except ui.ERRORS as exc:
        ui.fail(exc, "Cannot draw the map")
    else:
        ui.chart(sup.map_chart(points, simulated=ds.simulated))
        st.caption(
            "Each dot is an image placed by a PCA of its embedding to two axes: images close "
            "on the map look alike to the backbone. Hover for rank and classes."
        )

# ---------------------------------------------------------------- budget curve
st.subheader("Budget curve: where more budget stops paying")
from budgetplan.planner.budget_curve import curve_budgets, curve_runs  # noqa: E402

budgets = curve_budgets(plan.budget, low, high)
n_runs = curve_runs(len(budgets), cfg.max_seeds, cfg.selection.random_draws)
per_run = sup.seconds_per_run(sup.timing_key(ds.checksum, cfg))
curve_key = (ui.store_spec(), cfg.hash, plan.plan_id)
curve = st.session_state.get(ui.CURVE_KEY)
if curve is None or curve[0] != curve_key:
    listed = ", ".join(f"{b:,.0f}" for b in budgets)
    st.caption(
        f"Trains the plan's classes and random classes at budgets {listed} {plan.unit}. "
        + sup.estimate_text((n_runs, n_runs), per_run, "The budget curve")
    )
    if st.button("Draw the budget curve", key="draw_curve"):
        from budgetplan.planner.budget_curve import budget_curve

        try:
            with ui.progress_bar("budget curve") as progress:
                frame = budget_curve(ds, cfg, plan, budgets, progress=progress)
        except ui.ERRORS as exc:
            ui.fail(exc, "Cannot draw the budget curve")
        else:
            st.session_state[ui.CURVE_KEY] = (curve_key, frame)
            curve = st.session_state[ui.CURVE_KEY]
if curve is not None and curve[0] == curve_key:
    frame = curve[1]
    st.caption(f"Plan line: {frame.attrs.get('drawn', 'the plan')}.")
    ui.chart(sup.budget_curve_chart(frame, plan.budget, unit=plan.unit, simulated=ds.simulated))
    flat = sup.saturation(frame)
    if flat is not None:
        st.caption(
            f"Above {flat:,.0f} {plan.unit} the plan's classes buy no more images: every "
            "image with those labels is already in."
        )
    with st.expander("Numbers behind the curve"):
        st.dataframe(sup.curve_points(frame), hide_index=True)

with st.expander("All candidates (gains in AUC points)"):
    st.dataframe(sup.candidate_view(rec.table), hide_index=True)
ui.glossary()

# ---------------------------------------------------------------- downloads
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
        extra = {"vectors": ds.vectors} if fmt == "markdown" else {}
        try:
            files[fmt] = sup.export_download(plan, fmt, ds.labels, **options, **extra)
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
