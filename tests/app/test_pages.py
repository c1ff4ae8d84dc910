"""Every page of the app, driven with Streamlit's AppTest on a small simulated store."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from budgetplan import app_support as sup

from .conftest import APP, CLASSES, make_labels

TIMEOUT = 60


def start(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list:
    return list(at.get("vega_lite_chart"))


def notice_shown(at: AppTest) -> bool:
    return any("SIMULATED" in w.value for w in at.warning)


def test_data_page_shows_prevalence_and_missing_labels(app_env) -> None:
    at = start()
    assert at.title[0].value == "Data"
    assert notice_shown(at)
    assert at.metric[0].value == "600" and at.metric[1].value == str(len(CLASSES))
    specs = [c.proto.spec for c in charts(at)]
    assert any("prevalence per source and split" in s for s in specs)
    assert any("Missing labels" in s for s in specs)
    prevalence = at.dataframe[0].value
    assert set(prevalence["source"]) == {"nih", "chex"}


def test_data_page_ingests_an_upload_and_reports_bad_ones(app_env) -> None:
    at = start()
    at.sidebar.radio(key="store_choice").set_value("Upload labels + embeddings").run()
    table, x = make_labels(120, seed=3)
    csv = table.to_frame().to_csv(index=False, na_rep="").encode()
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)  # a pickle: refused
    at.sidebar.file_uploader(key="up_labels").upload("mine.csv", csv, "text/csv")
    at.sidebar.file_uploader(key="up_vectors").upload("vec.npy", buf.getvalue())
    at.run()
    at.sidebar.button[0].click().run()
    assert not at.exception
    assert any("vec.npy" in e.value and "pickle" in e.value for e in at.error)
    assert at.metric[0].value == "600"  # still on the previous store

    good = io.BytesIO()
    np.save(good, x)
    at.sidebar.file_uploader(key="up_vectors").set_value(
        ("vec.npy", good.getvalue(), "application/octet-stream")
    )
    at.run()
    at.sidebar.button[0].click().run()
    assert not at.exception and not at.error
    assert at.metric[0].value == "120"
    assert not notice_shown(at)  # real (uploaded) features: no simulated notice


def test_data_page_bad_store_directory_is_one_line(app_env, tmp_path) -> None:
    at = start()
    at.sidebar.radio(key="store_choice").set_value("A built store directory").run()
    at.sidebar.text_input[0].set_value(str(tmp_path / "nope")).run()
    at.sidebar.button[0].click().run()
    assert not at.exception
    assert any("dataset not found" in e.value for e in at.error)


def test_relations_page_ranks_charts_and_graph(app_env) -> None:
    at = start("views/relations.py")
    assert at.title[0].value == "Relations" and notice_shown(at)
    assert at.selectbox(key="target_select").value == "Nodule"
    table = at.dataframe[0].value
    assert table["class"].iloc[0] == "Mass"  # planted: Mass is Nodule's nearest class
    specs = [c.proto.spec for c in charts(at)]
    assert sum("vs the other classes" in s for s in specs) >= 4  # ranked bars side by side
    assert any("between classes" in s for s in specs)  # heatmap
    assert any("class graph" in s for s in specs)
    at.selectbox(key="target_select").set_value("Effusion").run()
    assert not at.exception
    assert at.dataframe[0].value.attrs.get("target", "Effusion") == "Effusion"
    assert "Effusion" not in set(at.dataframe[0].value["class"])


@pytest.mark.parametrize("page", ["views/relations.py", "views/simulate.py", "views/plan.py"])
def test_every_page_says_features_are_simulated(app_env, page) -> None:
    at = start(page)
    assert notice_shown(at), page


def test_embedded_default_opens_without_user_data(monkeypatch) -> None:
    """The demo path (real NIH labels, simulated embeddings), as a small subset for speed."""
    monkeypatch.setenv("BUDGETPLAN_APP_STORE", "demo:300")
    at = start()
    assert any(
        "real NIH ChestX-ray14 labels" in w.value and "SIMULATED" in w.value for w in at.warning
    )
    n = int(at.metric[0].value.replace(",", ""))
    assert 250 <= n <= 400 and at.metric[1].value == "14"
    assert "embedded default" in at.caption[0].value


def run_simulation(at: AppTest) -> AppTest:
    at.button(key="run_simulation").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def frame_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first dataframe on the page that has ``column``."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no dataframe with a {column!r} column")


def test_simulate_page_trains_shows_gains_and_answers_from_cache(app_env) -> None:
    from budgetplan.planner.recommend import recommend

    at = start("views/simulate.py")
    assert at.info and "run the simulation" in at.info[0].value.lower()
    assert any("trains up to" in c.value and "runs" in c.value for c in at.caption)  # estimate
    at.number_input(key="w_seeds").set_value(2).run()
    run_simulation(at)
    specs = [c.proto.spec for c in charts(at)]
    assert any("Measured gain over the baseline" in s for s in specs)
    assert any("target AUC points" in s for s in specs)  # one unit: points
    assert any("rank correlation" in s for s in specs)
    captions = " ".join(c.value for c in at.caption)
    assert "0.83" not in captions and "best predictor" not in captions
    shown = frame_with(at, "gain (points)")
    assert not {"gain", "knn-share", "p_given_target", "knn_share"} & set(shown.columns)
    # the numbers on the page are the library's: same config, straight from the run cache
    from budgetplan.dataset import open_dataset

    plan = at.session_state["recommendation"][1].plan
    cfg = at.session_state["recommendation_config"]
    assert cfg.hash == plan.provenance["config_hash"]
    again_rec = recommend(open_dataset(app_env), cfg)
    assert again_rec.runs_trained == 0  # everything the page trained is in the cache
    assert shown["candidate"].tolist() == again_rec.table["class"].tolist()
    assert np.allclose(shown["gain (points)"], again_rec.table["gain"] * 100, equal_nan=True)
    trained = int(at.metric[2].value.split("/")[0])
    assert trained > 0
    # a new session with the same settings: every run comes from the cache at once
    again = start("views/simulate.py")
    again.number_input(key="w_seeds").set_value(2).run()
    run_simulation(again)
    assert again.metric[2].value.replace(" ", "").startswith("0/")


def test_simulate_and_plan_share_one_study(app_env) -> None:
    at = start("views/simulate.py")
    # 10 kept Nodule positives and 6 draws: "more Nodule" and Hernia come out significant
    # (q = 0.015), so the plan has images to show
    at.number_input(key="w_seeds").set_value(6).run()
    at.number_input(key="w_tpos").set_value(10).run()
    run_simulation(at)
    at.switch_page("views/plan.py").run()
    assert not at.exception and not at.error
    # the same settings: the plan is there without pressing the button, and not stale
    assert at.subheader[0].value.startswith("Plan for Nodule")
    assert not any("other settings" in w.value for w in at.warning)
    assert any("same runs" in e.label for e in at.expander)
    # the worklist view: rank, image, classes to read, reason, and the 2-D map
    plan = at.session_state["recommendation"][1].plan
    assert plan.actions
    shown = frame_with(at, "classes to read")
    assert list(shown.columns[:4]) == ["rank", "image", "classes to read", "reason"]
    assert shown["rank"].tolist() == list(range(1, len(shown) + 1))
    assert set(shown["image"]) <= set(plan.assignments())
    specs = [c.proto.spec for c in charts(at)]
    assert any("Where the images to annotate sit" in s for s in specs)


def test_plan_page_budget_plan_and_downloads(app_env) -> None:
    from budgetplan.planner.plan import AnnotationPlan

    at = start("views/plan.py")
    assert at.info and "make the plan" in at.info[0].value.lower()
    assert at.data_editor[0].value["class"].tolist() == CLASSES
    assert at.caption[0].value.startswith("Store: ") and "Dataset(" not in at.caption[0].value
    assert any(e.label == "How to use budgetplan" for e in at.expander)
    at.number_input(key="w_seeds").set_value(2).run()
    field = at.number_input(key="w_budget")
    assert field.min == 1.0 and field.max == 240.0  # what the simulation accepts .. all images
    field.set_value(100.0).run()
    at.button(key="make_plan").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    plan = at.session_state["recommendation"][1].plan
    assert plan.budget == 100.0 and plan.total_cost <= 100.0
    assert f"{plan.total_cost:g} of 100 {plan.unit}" in at.subheader[0].value
    verdicts = [m.value for m in (*at.success, *at.info)]
    assert plan.verdict in verdicts
    assert [b.label for b in at.download_button] == [
        "CSV worklist",
        "JSON plan",
        "Label Studio tasks",
        "CVAT manifest",
        "Markdown report",
    ]
    files = at.session_state["downloads"][1]
    rows = pd.read_csv(io.BytesIO(files["csv"].data))
    assert len(rows) == len(plan.assignments())
    assert set(rows["image_id"]) == set(plan.assignments())
    assert AnnotationPlan.from_json(files["json"].data.decode()).plan_id == plan.plan_id
    markdown = files["markdown"].data.decode()
    assert plan.verdict.split(":")[0] in markdown
    if plan.actions:  # the worklist, in the page and the report, with the map
        shown = frame_with(at, "classes to read")
        assert shown["rank"].tolist()[:3] == [1, 2, 3][: len(shown)]
        assert shown["image"].tolist() == rows["image_id"].tolist()[: len(shown)]
        specs = [c.proto.spec for c in charts(at)]
        assert any("Where the images to annotate sit" in s for s in specs)
        assert "### Where they sit: a 2-D map of the embeddings" in markdown

    # a new budget: the old plan is flagged until the plan is made again
    at.number_input(key="w_budget").set_value(60.0).run()
    assert any("other settings" in w.value for w in at.warning)
    at.button(key="make_plan").click().run()
    assert not at.exception
    new = at.session_state["recommendation"][1].plan
    assert new.budget == 60.0 and new.total_cost <= 60.0
    assert f"of 60 {new.unit}" in at.subheader[0].value
    assert at.session_state["downloads"][1]["json"].data != files["json"].data


def test_plan_page_budget_curve(app_env) -> None:
    at = start("views/plan.py")
    at.number_input(key="w_seeds").set_value(2).run()
    at.number_input(key="w_budget").set_value(60.0).run()
    at.button(key="make_plan").click().run()
    assert any("budget curve trains" in c.value for c in at.caption)  # estimate first
    at.button(key="draw_curve").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    frame = at.session_state["budget_curve"][1]
    assert set(frame["choice"]) == {"plan", "random classes"}
    assert 60.0 in set(frame["budget"])
    specs = [c.proto.spec for c in charts(at)]
    assert any("Budget curve: what more budget buys" in s for s in specs)
    assert "gain (points)" in frame_with(at, "gain (points)").columns


def test_plan_page_bad_costs_give_an_error_not_a_traceback(app_env, monkeypatch) -> None:
    import pandas as pd_

    at = start("views/plan.py")
    bad = sup.cost_table(CLASSES)
    bad.loc[1, "cost per label"] = -2.0
    at.session_state["cost_frame"] = bad  # what the editor would hold after a bad edit
    at.run()
    assert not at.exception
    assert any("cost table" in e.value and "Mass" in e.value for e in at.error)
    assert isinstance(bad, pd_.DataFrame)


def test_a_bug_in_a_page_is_one_line_naming_its_saved_traceback(app_env, monkeypatch) -> None:
    """An exception no page expects (a bug) shows as one error line, not Streamlit's traceback
    box; the traceback is saved in the cache for the report."""
    from pathlib import Path

    from budgetplan.bug_report import DEBUG_ENV
    from budgetplan.paths import cache_dir

    def broken() -> object:
        raise ValueError("shapes (3,) and (4,) not aligned")

    monkeypatch.delenv(DEBUG_ENV, raising=False)
    monkeypatch.setattr(sup, "default_store", broken)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    lines = [e.value for e in at.error]
    assert len(lines) == 1 and lines[0].startswith("budgetplan: internal error: ValueError")
    saved = Path(lines[0].split("its traceback is in ")[1].rstrip(")"))
    assert saved.parent == cache_dir() / "errors"
    assert "not aligned" in saved.read_text(encoding="utf-8")
