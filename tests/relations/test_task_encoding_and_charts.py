"""Task-encoding relation (seed 000 Fig. 14) and the altair charts the app reuses."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import pytest

from budgetplan.relations import charts
from budgetplan.relations.task_encoding import (
    AdapterRelationConfig,
    adapter_similarity,
    encoding_similarity,
)


def test_encoding_similarity_is_row_cosine() -> None:
    # rows (1, 0, 0), (1, 1, 0), (0, 0, 2): cos(r0, r1) = 1 / sqrt(2), r2 orthogonal to both
    q = np.array([[1.0, 0, 0], [1, 1, 0], [0, 0, 2]])
    sim = encoding_similarity(q, shift_origin=False)
    assert sim[0, 1] == pytest.approx(1 / np.sqrt(2)) and sim[0, 2] == pytest.approx(0.0)
    # origin shifted: mean row (2/3, 1/3, 2/3); r0 - m = (1, -1, -2) / 3, r1 - m = (1, 2, -2) / 3
    # cos = (1 - 2 + 4) / (sqrt(6) * 3) = 1 / sqrt(6)
    shifted = encoding_similarity(q)
    assert shifted[0, 1] == pytest.approx(1 / np.sqrt(6))
    # the identity (the adapter's initial q) relates nothing: every pair alike (-1 / (C - 1))
    np.testing.assert_allclose(encoding_similarity(np.eye(4), shift_origin=False), np.eye(4))
    off = encoding_similarity(np.eye(4))[~np.eye(4, dtype=bool)]
    np.testing.assert_allclose(off, -1 / 3, atol=1e-6)
    # a direction every row moved along is removed by the shift, not by the plain cosine
    moved = np.eye(4) + 2.0
    assert encoding_similarity(moved, shift_origin=False)[0, 1] > 0.9
    same = encoding_similarity(np.eye(4))
    np.testing.assert_allclose(encoding_similarity(moved), same, atol=1e-6)
    assert encoding_similarity(np.stack([q, np.eye(3)])).shape == (2, 3, 3)


def test_adapter_similarity_trains_and_returns_a_relation(gen_arrays) -> None:
    x, y = gen_arrays
    cfg = AdapterRelationConfig(max_rows=600, epochs=2, hidden=16, seeds=(0, 1), device="cpu")
    mean, std = adapter_similarity(x, y, cfg)
    assert mean.shape == (5, 5) and std.shape == (5, 5)
    np.testing.assert_allclose(np.diag(mean), 1.0, atol=1e-5)
    np.testing.assert_allclose(mean, mean.T, atol=1e-6)
    assert not np.allclose(mean, np.eye(5))  # q moved away from its identity start


def _table() -> pd.DataFrame:
    t = pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "class": ["B", "C", "D"],
            "prototype-mean": [0.9, 0.2, np.nan],
            "pmi": [0.5, -np.inf, 0.1],
            "n_class_pos": [10, 20, 30],
        }
    )
    t.attrs.update({"target": "A", "simulated": True})
    return t


def test_ranked_bar_sorts_by_the_relation_and_drops_infinities() -> None:
    chart = charts.ranked_bar(_table(), "pmi")
    spec = chart.to_dict()
    assert spec["encoding"]["y"]["sort"] == ["B", "D", "C"]
    assert "simulated" in str(spec["title"])
    data = chart.data
    assert np.isnan(data.loc[data["class"] == "C", "pmi"]).all()  # -inf is not drawable
    with pytest.raises(Exception, match="no 'phi' column"):
        charts.ranked_bar(_table(), "phi")


def test_ranked_bar_of_the_knn_lift_marks_the_random_level() -> None:
    t = _table().assign(**{"knn-lift": [2.5, 0.4, 1.1]})
    spec = charts.ranked_bar(t, "knn-lift").to_dict()
    assert spec["layer"][0]["encoding"]["y"]["sort"] == ["B", "D", "C"]
    assert "random" in str(spec["layer"][1]["encoding"]["x"])  # the rule at lift 1


def test_heatmap_and_save(tmp_path) -> None:
    m = pd.DataFrame([[1.0, 0.3], [0.3, 1.0]], index=["A", "B"], columns=["A", "B"])
    chart = charts.relation_heatmap(m, "prototype-mean", order=["B", "A"])
    assert isinstance(chart, alt.LayerChart)
    assert len(chart.data) == 4
    path = charts.save_chart(chart, tmp_path / "h.html", inline=False)
    assert "vega" in path.read_text()
    with pytest.raises(Exception, match=r"\.html or \.png"):
        charts.save_chart(chart, tmp_path / "h.svg")
