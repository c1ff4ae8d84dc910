"""The app's library helpers: store choice, upload ingest, the numbers behind each chart, exports."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from budgetplan import app_support as sup
from budgetplan.config import QUICK_SIMULATION, QUICK_TRAIN
from budgetplan.errors import BudgetplanError, DataMismatchError, InputFileError
from budgetplan.planner.costs import CostModel
from budgetplan.planner.export import FORMATS, validate_labelstudio
from budgetplan.planner.plan import AnnotationPlan, PlanAction

from .conftest import CLASSES, make_labels


def test_parse_store() -> None:
    assert sup.parse_store(None) == sup.StoreChoice("demo")
    assert sup.parse_store("demo") == sup.StoreChoice("demo")
    assert sup.parse_store("demo:300") == sup.StoreChoice("demo", n_images=300)
    assert sup.parse_store("demo:300").spec == "demo:300"
    assert sup.parse_store("/data/ds") == sup.StoreChoice("path", path="/data/ds")
    with pytest.raises(BudgetplanError, match="demo:N"):
        sup.parse_store("demo:many")


def test_default_store_and_quick_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sup.STORE_ENV, "demo:50")
    monkeypatch.setenv(sup.QUICK_ENV, "1")
    assert sup.default_store().n_images == 50
    assert sup.quick_mode()
    monkeypatch.delenv(sup.STORE_ENV)
    monkeypatch.setenv(sup.QUICK_ENV, "0")
    assert sup.default_store().kind == "demo" and not sup.quick_mode()


def test_prevalence_frame_counts_each_source_and_split() -> None:
    table, _ = make_labels(300)
    frame = sup.prevalence_frame(table)
    assert set(frame["source"]) == {"nih", "chex"}
    assert set(frame["split"]) == {"train", "val", "test"}
    row = frame[(frame.source == "nih") & (frame.split == "train") & (frame["class"] == "Mass")]
    rows = (table.source == "nih") & (table.split == "train")
    col = table.values[rows, CLASSES.index("Mass")]
    assert int(row.positives.iloc[0]) == int(np.sum(col == 1))
    assert row.prevalence.iloc[0] == pytest.approx(np.mean(col == 1))
    # chex never annotated Hernia: no prevalence, every label missing
    hernia = frame[(frame.source == "chex") & (frame["class"] == "Hernia")]
    assert hernia.prevalence.isna().all() and (hernia.positives == 0).all()
    sup.prevalence_chart(frame, simulated=True).to_dict()  # a valid Vega-Lite spec


def test_missing_frame_is_one_where_a_source_never_annotated() -> None:
    table, _ = make_labels(300)
    m = sup.missing_frame(table).set_index(["source", "class"])
    assert m.loc[("chex", "Hernia"), "missing_share"] == 1.0
    assert m.loc[("chex", "Hernia"), "missing"] == int(np.sum(table.source == "chex"))
    assert m.loc[("nih", "Hernia"), "missing_share"] == 0.0
    sup.missing_chart(sup.missing_frame(table), CLASSES).to_dict()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _csv(table) -> bytes:
    frame = table.to_frame()
    return frame.to_csv(index=False, na_rep="").encode()


def test_ingest_upload_builds_and_reopens_a_dataset(tmp_path) -> None:
    table, x = make_labels(200)
    ds = sup.ingest_upload(_csv(table), "mine.csv", _npy(x), "vec.npy", root=tmp_path)
    assert list(ds.classes) == CLASSES and len(ds) == 200
    np.testing.assert_array_equal(ds.labels.values, table.values)
    again = sup.ingest_upload(_csv(table), "mine.csv", _npy(x), "vec.npy", root=tmp_path)
    assert again.root == ds.root and again.checksum == ds.checksum


def test_ingest_upload_refuses_pickles_and_mismatches(tmp_path) -> None:
    table, x = make_labels(200)
    pickled = _npy(np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(InputFileError, match=r"vec\.npy: .*pickle"):
        sup.ingest_upload(_csv(table), "mine.csv", pickled, "vec.npy", root=tmp_path)
    with pytest.raises(DataMismatchError, match="mine.csv has 200 rows but vec.npy has 199"):
        sup.ingest_upload(_csv(table), "mine.csv", _npy(x[:199]), "vec.npy", root=tmp_path)
    with pytest.raises(InputFileError, match=r"^vec\.npy: expected an \(N, d\) array"):
        sup.ingest_upload(_csv(table), "mine.csv", _npy(x[:, 0]), "vec.npy", root=tmp_path)
    with pytest.raises(InputFileError, match=r"^bad\.csv: "):
        sup.ingest_upload(b"", "bad.csv", _npy(x), "vec.npy", root=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_rank_correlation_and_predictor_chart() -> None:
    frame = pd.DataFrame(
        {"class": list("abcde"), "pmi": [1, 2, 3, 4, 5], "gain": [0.0, 0.1, 0.05, 0.2, 0.3]}
    )
    rho, n = sup.rank_correlation(frame.pmi, frame.gain)
    assert n == 5 and rho == pytest.approx(0.9)
    spec = sup.predictor_chart(frame, "pmi").to_dict()
    assert "+0.90" in json.dumps(spec["title"])
    assert np.isnan(sup.rank_correlation([1, 1, 1], [1, 2, 3])[0])


def tiny_plan() -> AnnotationPlan:
    costs = CostModel({"Mass": 2.0}, default_label_cost=1.0, image_read_cost=0.5, unit="min")
    actions = [
        PlanAction(
            "annotate-class", "Mass", "nih", ["img0001.png", "img0002.png"], 2, 5.0, "related"
        )
    ]
    return AnnotationPlan(
        target="Nodule",
        budget=6.0,
        unit="min",
        cost_model=costs,
        actions=actions,
        baseline={"auc": 0.7, "auc_ci_low": 0.66, "auc_ci_high": 0.74},
        expected={
            "gain": 0.03,
            "gain_ci_low": 0.01,
            "gain_ci_high": 0.05,
            "auc": 0.73,
            "auc_ci_low": 0.69,
            "auc_ci_high": 0.77,
        },
        random_control={
            "classes": ["Hernia"],
            "cost": 5.0,
            "gain": 0.002,
            "gain_ci_low": -0.02,
            "gain_ci_high": 0.02,
        },
        provenance={"simulated": True},
    )


def test_plan_frames() -> None:
    plan = tiny_plan()
    actions = sup.plan_actions_frame(plan)
    assert actions[["class", "images", "cost"]].values.tolist() == [["Mass", 2, 5.0]]
    vs = sup.plan_vs_random_frame(plan)
    assert vs["what"].tolist() == ["plan", "random control"]
    assert vs["gain"].tolist() == [0.03, 0.002]
    assert vs["cost"].tolist() == [5.0, 5.0]
    sup.plan_vs_random_chart(vs, simulated=True).to_dict()


def test_export_download_gives_the_library_export_bytes() -> None:
    plan = tiny_plan()
    table, _ = make_labels(20)
    downloads = {d.format: d for d in sup.export_downloads(plan, table, image_size=(64, 48))}
    assert set(downloads) == set(FORMATS)
    rows = pd.read_csv(io.BytesIO(downloads["csv"].data))
    assert rows["image_id"].tolist() == ["img0001.png", "img0002.png"]
    assert json.loads(downloads["json"].data)["plan_id"] == plan.plan_id
    with zipfile.ZipFile(io.BytesIO(downloads["labelstudio"].data)) as zf:
        names = zf.namelist()
        tasks = json.loads(zf.read(next(n for n in names if n.endswith(".json"))))
        config = zf.read(next(n for n in names if n.endswith(".xml"))).decode()
    validate_labelstudio(tasks, config)
    assert "Mass" in downloads["markdown"].data.decode()
    assert downloads["csv"].filename.endswith(".csv")
    with zipfile.ZipFile(io.BytesIO(downloads["cvat"].data)) as zf:
        manifest = next(n for n in zf.namelist() if n.endswith(".jsonl"))
        lines = [json.loads(x) for x in zf.read(manifest).decode().splitlines() if x.strip()]
    assert [ln.get("width") for ln in lines if "name" in ln] == [64, 64]
    assert sup.export_download(plan, "csv", table).data == downloads["csv"].data  # deterministic


def test_cost_table_round_trips_into_the_planner_cost_model() -> None:
    from budgetplan.errors import BudgetError
    from budgetplan.planner.costs import CostModel

    table = sup.cost_table(CLASSES)
    assert table["cost per label"].tolist() == [1.0] * len(CLASSES)
    table.loc[table["class"] == "Mass", "cost per label"] = 3.0
    mapping = sup.cost_mapping(table, image_read_cost=0.5, unit="min")
    model = CostModel.from_mapping(mapping, CLASSES)
    assert (
        model.label_cost_of("Mass") == 3.0 and model.image_read_cost == 0.5 and model.unit == "min"
    )
    assert model.cost({"a": ["Mass", "Hernia"]}) == 4.5
    table.loc[0, "cost per label"] = float("nan")
    with pytest.raises(BudgetError, match="cost of 'Nodule' is missing"):
        sup.cost_mapping(table)
    table.loc[0, "cost per label"] = -1.0
    with pytest.raises(BudgetError, match="Nodule"):
        sup.cost_mapping(table)


def test_app_config_applies_quick_settings_and_page_choices() -> None:
    cfg = sup.app_config(
        "Mass",
        method="ne",
        seeds=3,
        target_positives=20,
        budget=50.0,
        quick=True,
        costs={"label_cost": {"Mass": 2.0}},
    )
    assert (cfg.target, cfg.method, cfg.max_seeds, cfg.target_positives, cfg.budget) == (
        "Mass",
        "ne",
        3,
        20,
        50.0,
    )
    assert cfg.simulation.max_seeds == QUICK_SIMULATION["max_seeds"]
    assert cfg.train.max_epochs == QUICK_TRAIN["max_epochs"]
    assert dict(cfg.costs) == {"label_cost": {"Mass": 2.0}}
    assert cfg.simulation.initial_seeds <= 3
    assert sup.app_config("Mass").hash != sup.app_config("Mass", quick=True).hash
    with pytest.raises(BudgetplanError, match="seeds = 1: must be a whole number >= 2"):
        sup.app_config("Mass", seeds=1)


def test_budget_slider_starts_at_the_recipes_budget_when_it_fits() -> None:
    from budgetplan.data.label_table import LabelTable

    n = 1000
    table = LabelTable(
        values=np.zeros((n, 2), dtype=np.float32),
        classes=["Nodule", "Mass"],
        ids=[str(i) for i in range(n)],
        source=["a"] * n,
        patient=[str(i) for i in range(n)],
        split=["train"] * n,
    )
    assert sup.budget_range(table, "Nodule", 1.0, preferred=300.0) == (1.0, 1000.0, 300.0)
    assert sup.budget_range(table, "Nodule", 1.0, preferred=20_000.0)[2] == 100.0  # out of range
    assert sup.budget_range(table, "Nodule", 1.0)[2] == 100.0  # a tenth of the training images
