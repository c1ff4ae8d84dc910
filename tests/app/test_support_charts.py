"""The numbers behind the charts, and valid charts (``budgetplan.app_support.charts``)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from budgetplan import app_support as sup

from .conftest import CLASSES, make_labels


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


def test_rank_correlation_and_predictor_chart() -> None:
    frame = pd.DataFrame(
        {"class": list("abcde"), "pmi": [1, 2, 3, 4, 5], "gain": [0.0, 0.1, 0.05, 0.2, 0.3]}
    )
    rho, n = sup.rank_correlation(frame.pmi, frame.gain)
    assert n == 5 and rho == pytest.approx(0.9)
    spec = sup.predictor_chart(frame, "pmi").to_dict()
    assert "+0.90" in json.dumps(spec["title"])
    assert np.isnan(sup.rank_correlation([1, 1, 1], [1, 2, 3])[0])
