"""Streamlit glue shared by the pages: the open dataset, the simulated-features notice, the
target picker and progress bars. Only presentation lives here; numbers come from budgetplan."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st

from budgetplan import app_support as sup
from budgetplan.errors import BudgetplanError
from budgetplan.notices import simulated_notice

#: Errors a page shows as one line (st.error), never as a traceback: bad input and the
#: operating system's (a full disk, a read-only cache).
ERRORS = (BudgetplanError, OSError)
#: Datasets ingested from uploads kept in the cache (the most recently used); older ones go.
UPLOADS_KEPT = 5

RESULT_KEY = "recommendation"  # the study both Simulate and Plan show: (settings key, result)
RESULT_CONFIG_KEY = "recommendation_config"  # the RecommendConfig of RESULT_KEY's result
CURVE_KEY = "budget_curve"  # the Plan page's budget curve: (settings key, frame)
STORE_KEY = "store_spec"  # session state: the spec of the store in use ("demo", "demo:N", path)
TARGET_KEY = "target"


def store_spec() -> str:
    """The store in use: chosen on the Data page, else ``$BUDGETPLAN_APP_STORE`` / the demo."""
    if STORE_KEY not in st.session_state:
        st.session_state[STORE_KEY] = sup.default_store().spec
    return str(st.session_state[STORE_KEY])


@st.cache_resource(show_spinner=False, max_entries=4)
def _open(spec: str) -> Any:
    """Open a store once per process (no Streamlit calls inside: the result is shared)."""
    return sup.open_store(sup.parse_store(spec))


_PREPARED: set[str] = set()  # specs whose store is built on disk (the demo builds once)


@contextmanager
def progress_bar(text: str) -> Iterator[Callable[[int, int, str], None]]:
    """A ``progress(done, total, message)`` that drives an ``st.progress`` bar, removed after."""
    slot = st.empty()
    bar = slot.progress(0.0, text=text)

    def update(done: int, total: int, message: str = "") -> None:
        frac = 0.0 if not total else min(1.0, max(0.0, done / total))
        label = f"{text}: {message} ({done}/{total})" if message else f"{text} ({done}/{total})"
        bar.progress(frac, text=label)

    try:
        yield update
    finally:
        slot.empty()


def dataset() -> Any:
    """The open dataset (built / opened once per process); errors stop the page with one line."""
    spec = store_spec()
    try:
        if spec not in _PREPARED:  # build the demo (minutes, once) with a live progress bar
            with progress_bar(f"preparing {sup.parse_store(spec).label}") as progress:
                sup.prepare_store(sup.parse_store(spec), progress)
            _PREPARED.add(spec)
        return _open(spec)
    except ERRORS as exc:
        st.error(f"Cannot open the store {spec!r}: {one_line(exc)}")
        st.stop()


def header(title: str, ds: Any) -> None:
    """Page title, the store in use, the first-run guide (open until a study has run in this
    session) and, when the features are simulated, the notice."""
    st.title(title)
    dim = ds.embeddings.dim if ds.embeddings is not None else None
    st.caption(sup.store_caption(sup.parse_store(store_spec()).label, len(ds), ds.classes, dim))
    with st.expander("How to use budgetplan", expanded=RESULT_KEY not in st.session_state):
        st.markdown(sup.GUIDE)
    notice = simulated_notice(ds, demo=sup.parse_store(store_spec()).kind == "demo")
    if notice:
        st.warning(notice, icon=":material/warning:")


def glossary() -> None:
    """The relations' plain names and what each measures (an expander)."""
    with st.expander("Glossary of the relations"):
        st.dataframe(sup.glossary(), hide_index=True)


def target_picker(ds: Any, label: str = "Target class") -> str:
    """Select box of the classes; the choice is shared by every page."""
    classes = list(ds.classes)
    current = st.session_state.get(TARGET_KEY)
    if current not in classes:
        current = ds.default_target if ds.default_target in classes else classes[0]
    target = st.selectbox(label, classes, index=classes.index(current), key="target_select")
    st.session_state[TARGET_KEY] = target
    return str(target)


def one_line(exc: BaseException) -> str:
    """The one line the app shows for an error (an OSError as the CLI prints it)."""
    from budgetplan.io import describe_error

    return describe_error(exc)


def fail(exc: BaseException, what: str) -> None:
    """Show a library or OS error as one line on the page (never a traceback)."""
    st.error(f"{what}: {one_line(exc)}")


SETTINGS_KEY = "sim_settings"  # method, seeds, target positives, quick: shared by Simulate and Plan


def simulation_settings(ds: Any) -> dict[str, Any]:
    """Method, seeds, target positives and quick mode (widgets; kept across pages)."""
    from budgetplan.methods.registry import METHODS

    saved = st.session_state.setdefault(
        SETTINGS_KEY,
        {
            "method": "label-assemble",
            "seeds": None,
            "target_positives": None,  # None: the recipe's value
            "quick": sup.quick_mode(),
            "executor": "auto",
            "ray_address": "",
        },
    )
    methods = list(METHODS)
    c1, c2, c3, c4 = st.columns(4)
    method = c1.selectbox("Method", methods, index=methods.index(saved["method"]), key="w_method")
    quick = c4.toggle(
        "Quick simulation",
        value=bool(saved["quick"]),
        key="w_quick",
        help="2 seeds, a small trunk and a reduced pool: seconds instead of minutes",
    )
    default_cfg = sup.app_config(target_default(ds), quick=quick, classes=ds.classes)
    default_seeds = default_cfg.max_seeds
    if saved["target_positives"] is None:
        saved["target_positives"] = int(default_cfg.target_positives or 0)
    seeds = c2.number_input(
        "Seeds",
        min_value=2,
        max_value=20,
        value=int(saved["seeds"] or default_seeds),
        key="w_seeds",
        help="draws of the study behind the leading candidates (raced on confidence bounds)",
    )
    tpos = c3.number_input(
        "Target positives (0 = all)",
        min_value=0,
        value=int(saved["target_positives"] or 0),
        step=10,
        key="w_tpos",
        help="how many target positives you really have; the rest are masked",
    )
    with st.expander("Where the runs train"):
        e1, e2 = st.columns(2)
        executors = ["auto", "local", "process", "ray"]
        executor = e1.selectbox(
            "Executor",
            executors,
            index=executors.index(saved["executor"]),
            key="w_executor",
            help="auto (a worker process per core for problems of 5,000 training images or "
            "more, else this process), local (this process), process (a pool of worker "
            "processes), "
            'ray (pip install -e ".[ray]")',
        )
        address = e2.text_input(
            "Ray address",
            value=saved["ray_address"],
            key="w_ray_address",
            help="empty: a local Ray with this machine's cores; auto or host:port: a cluster",
            disabled=executor != "ray",
        )
    saved.update(
        method=method,
        seeds=int(seeds),
        target_positives=int(tpos),
        quick=bool(quick),
        executor=executor,
        ray_address=address.strip(),
    )
    return dict(saved)


def target_default(ds: Any) -> str:
    t = st.session_state.get(TARGET_KEY)
    if t in ds.classes:
        return str(t)
    return str(ds.default_target or ds.classes[0])


def recommend(ds: Any, cfg: Any, text: str) -> Any:
    """``planner.recommend`` with a live progress bar. Every trained run is in the on-disk
    simulation cache (keyed by store checksum, assembly, method, parameters, seed), so the same
    settings answer at once, in this session or any other. The seconds per trained run are kept
    for the next time estimate."""
    from budgetplan.planner.recommend import recommend as run

    with progress_bar(text) as progress:
        rec = run(ds, cfg, progress=progress)
    sup.record_seconds(sup.timing_key(ds.checksum, cfg), rec.seconds, rec.runs_trained)
    return rec


def study_costs_and_budget(ds: Any, target: str, quick: bool) -> tuple[dict[str, Any], float]:
    """The costs and budget of the study: what the Plan page set, else the recipe's costs and
    budget (so Simulate and Plan run the same study and share every run)."""
    costs = st.session_state.get(COSTS_KEY)
    if costs is None:
        model = sup.recipe_cost_model(ds.classes)
        costs = sup.cost_mapping(
            sup.cost_table(ds.classes, model), model.image_read_cost, model.unit
        )
    budget = st.session_state.get("budget")
    if budget is None:
        preferred = sup.app_config(target, quick=quick, classes=ds.classes).budget
        top = max([*costs["label_cost"].values(), 1.0]) + float(costs["image_read_cost"])
        budget = sup.budget_range(ds.labels, target, top, preferred=preferred)[2]
    return costs, float(budget)


def study_config(ds: Any, target: str, settings: dict[str, Any]) -> Any:
    """The one ``RecommendConfig`` behind both the Simulate and the Plan page."""
    costs, budget = study_costs_and_budget(ds, target, settings["quick"])
    return sup.app_config(
        target,
        method=settings["method"],
        seeds=settings["seeds"],
        target_positives=settings["target_positives"],
        budget=budget,
        costs=costs,
        quick=settings["quick"],
        classes=ds.classes,
        executor=settings["executor"],
        ray_address=settings["ray_address"],
    )


COSTS_KEY = "cost_mapping"  # the Plan page's validated costs (a recipe-style mapping)

SHARED_NOTE = (
    "Simulate and Plan run one study with the same settings (target, method, draws, and the "
    "budget and costs set on the Plan page): Simulate shows each candidate class measured "
    "alone, sized to the budget; Plan adds the best combination (greedy selection) and a random "
    "choice of equal cost. Running either page answers the other at once. A new budget or new "
    "costs resize every candidate (more or fewer images each), so gains and their order change."
)


def time_estimate(ds: Any, cfg: Any) -> None:
    """A caption before a long run: runs it may train x measured seconds per run."""
    runs = sup.run_bounds(cfg, ds.labels, cfg.target)
    per_run = sup.seconds_per_run(sup.timing_key(ds.checksum, cfg))
    st.caption(sup.estimate_text(runs, per_run))


def recommend_on_click(
    ds: Any,
    cfg: Any,
    *,
    button: str,
    button_key: str,
    progress_text: str,
    fail_text: str,
    empty_text: str,
    stale_text: str,
) -> Any:
    """A primary button that runs :func:`recommend` and keeps the result in
    ``st.session_state[RESULT_KEY]`` (shared by the Simulate and Plan pages) with the settings
    it was made for, after a time estimate. Returns the last result; stops the page with
    ``empty_text`` when there is none yet and warns with ``stale_text`` when the settings
    changed since."""
    key = (store_spec(), cfg.hash)
    result = st.session_state.get(RESULT_KEY)
    if result is None or result[0] != key:
        time_estimate(ds, cfg)
    if st.button(button, type="primary", key=button_key):
        try:
            rec = recommend(ds, cfg, progress_text)
        except ERRORS as exc:
            fail(exc, fail_text)
        else:
            st.session_state[RESULT_KEY] = (key, rec)
            st.session_state[RESULT_CONFIG_KEY] = cfg  # what the shown result was made with
    result = st.session_state.get(RESULT_KEY)
    if result is None or result[0][0] != key[0]:  # nothing yet, or made on another store
        st.info(empty_text)
        st.stop()
    shown_key, rec = result
    if shown_key != key:
        st.warning(stale_text)
    return rec


def chart(c: Any) -> None:
    """Show an altair chart at its natural size: ``autosize: pad`` keeps Streamlit from fitting
    the whole chart (axes, titles, legend) into the plot's width and height, which squashes it."""
    import altair as alt

    st.altair_chart(
        c.properties(autosize=alt.AutoSizeParams(type="pad", contains="padding")), width="content"
    )
