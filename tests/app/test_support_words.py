"""Plain names, glossary, captions and the candidate view (``app_support.words``)."""

from __future__ import annotations

import pandas as pd

from budgetplan import app_support as sup
from budgetplan.relations.names import RELATION_NAMES


def test_every_relation_has_a_plain_name_and_a_glossary_line() -> None:
    g = sup.glossary()
    assert set(g["name in files and the CLI"]) == set(RELATION_NAMES)
    for name in RELATION_NAMES:
        assert sup.plain_name(name) != name
    assert sup.plain_name("unknown") == "unknown"


def test_predictor_caption_follows_the_data() -> None:
    rho = {"phi": -0.4, "pmi": -0.1, "adapter": float("nan")}
    none = sup.predictor_caption(rho, 6, None)
    assert "no relation predicts" in none
    assert "best" not in none and "strongest" not in none
    inverse = sup.predictor_caption(rho, 6, "phi")
    assert "(rho -0.40, checked leave-one-out): classes with higher values helped less" in inverse
    positive = sup.predictor_caption({"phi": 0.5, "prototype-mean": 0.7}, 6, "prototype-mean")
    assert "embedding similarity (mean) predicts it (rho +0.70" in positive
    assert "0.83" not in positive and "NIH" not in positive
    assert "too few" in sup.predictor_caption({"phi": 0.9}, 2, "phi")


def test_candidate_view_in_points_with_plain_columns() -> None:
    table = pd.DataFrame(
        {
            "class": ["Mass"],
            "source": [""],
            "prototype-mean": [0.4],
            "knn-share": [0.2],
            "conditional": [0.3],
            "gain": [0.0128],
            "gain_ci_low": [0.002],
            "gain_ci_high": [0.02],
            "gain_per_cost": [0.0128 / 100],
        }
    )
    view = sup.candidate_view(table)
    assert round(view["gain (points)"].iloc[0], 6) == 1.28  # 0.0128 AUC = 1.28 points
    assert round(view["points per 1,000 cost units"].iloc[0], 6) == 12.8  # 1.28 per 100
    for raw in ("gain", "knn-share", "conditional", "p_given_target", "knn_share", "source"):
        assert raw not in view.columns
    assert "neighbour share" in view.columns


def test_store_caption_is_words_not_a_repr() -> None:
    text = sup.store_caption("/data/store", 12000, ["a", "b"], 1024)
    assert text == "Store: /data/store · 12,000 images, 2 classes, 1,024-d embeddings"
