"""Issue 14: task encodings that learn, and a class graph that recovers planted structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from budgetplan.errors import BudgetplanError
from budgetplan.methods.trainer import TrainConfig
from budgetplan.relations import graph
from budgetplan.relations.graph_inputs import rank_note, target_note
from budgetplan.relations.outputs import describe_graph, neighbourhood_line
from budgetplan.relations.task_encoding import AdapterRelationConfig, adapter_relation

NAMES = ["a1", "a2", "a3", "b1", "b2", "b3"]
FAST = {"device": "cpu", "threads": 1}  # one thread: seconds even on a loaded machine


def planted(n: int = 600, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One-hot images of 6 classes in two clusters: a-classes share one latent direction,
    b-classes another; each class adds a weaker own direction, so classes of a cluster are
    the ones a classifier confuses."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0][:, :8].T
    cls = rng.integers(0, 6, n)
    shared = np.where(cls[:, None] < 3, basis[0], basis[1])
    x = shared + 0.45 * basis[2 + cls] + 0.35 * rng.normal(size=(n, d))
    y = np.eye(6, dtype=np.float32)[cls]
    return x.astype(np.float32), y


@pytest.fixture(scope="module")
def encodings():
    x, y = planted()
    cfg = AdapterRelationConfig(
        max_rows=600, epochs=40, patience=40, hidden=16, batch_size=64, seeds=(0, 1), **FAST
    )
    return adapter_relation(x, y, cfg)


def test_encodings_move_from_the_identity_and_recover_the_clusters(encodings) -> None:
    assert (encodings.movement > 0.1).all()  # q left its identity start in every draw
    sim = pd.DataFrame(encodings.mean, index=NAMES, columns=NAMES)
    within = [sim.loc[a, b] for a in NAMES for b in NAMES if a != b and a[0] == b[0]]
    across = [sim.loc[a, b] for a in NAMES for b in NAMES if a[0] != b[0]]
    assert min(within) > max(across)
    g = graph.class_graph(sim, "adapter", spread=pd.DataFrame(encodings.std, NAMES, NAMES))
    assert sorted(graph.communities(g)) == [["a1", "a2", "a3"], ["b1", "b2", "b3"]]
    label = g.edges["a1", "a2"]["label"]
    assert "±" in label and encodings.stability > 0.5
    assert "draws" in encodings.describe()


def test_default_graph_links_every_class_to_its_top_neighbours() -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(0.94, 0.99, (6, 6))  # a relation crowded near 1 still ranks
    a = (a + a.T) / 2
    np.fill_diagonal(a, 1.0)
    m = pd.DataFrame(a, index=NAMES, columns=NAMES)
    g = graph.class_graph(m, "prototype-median")
    assert all(g.degree(n) >= graph.DEFAULT_TOP for n in NAMES)
    assert g.graph["rule"] == "top-2 neighbours per class"
    assert 0 < min(d["affinity"] for *_, d in g.edges(data=True))
    # a numeric threshold above every pair: the neighbourhood says why it is empty
    h = graph.class_graph(m, "prototype-median", 0.999)
    assert h.number_of_edges() == 0
    assert "no edge at all" in neighbourhood_line(h, "a1")
    _, clusters = graph.hierarchical_clusters(m, "prototype-median")
    assert "Neighbourhood of a1: " in describe_graph(g, "a1", clusters, notes=["note"])


def test_parse_threshold() -> None:
    assert graph.parse_threshold(None) == ("top", 2.0)
    assert graph.parse_threshold("top3") == ("top", 3.0)
    assert graph.parse_threshold("auto") == ("quantile", 0.75)
    assert graph.parse_threshold(0.6) == ("value", 0.6)
    with pytest.raises(BudgetplanError, match="topK"):
        graph.parse_threshold("top")
    assert graph.canonical_name("knn") == "knn-share"


def test_notes_for_relations_that_cannot_rank() -> None:
    one_hot = np.eye(6)  # co-occurrence of one-hot labels: every pair 0
    m = pd.DataFrame(one_hot * 10, index=NAMES, columns=NAMES)
    assert "cannot rank" in (rank_note(m, "cooccurrence") or "")
    counts = pd.DataFrame({"class": NAMES, "positives": [0, 5, 5, 5, 5, 5]})
    nan_row = m.astype(float).copy()
    nan_row.loc["a1"] = np.nan
    nan_row["a1"] = np.nan
    assert "0 positives" in (target_note(nan_row, "a1", counts) or "")
    assert target_note(m, "a2", counts) is None


def test_encoding_lr_moves_q_faster_and_keeps_cache_keys() -> None:
    base = TrainConfig(method="label-assemble", head="adapter")
    assert (
        TrainConfig(method="label-assemble", head="adapter", encoding_lr=None).key() == base.key()
    )
    assert (
        TrainConfig(method="label-assemble", head="adapter", encoding_lr=1e-2).key() != base.key()
    )
    with pytest.raises(BudgetplanError, match="encoding_lr"):
        TrainConfig(encoding_lr=0.0)
    x, y = planted(n=300)
    moves = []
    for lr in (None, 1e-2):
        cfg = AdapterRelationConfig(
            max_rows=300, epochs=2, patience=2, hidden=8, seeds=(0,), encoding_lr=lr, **FAST
        )
        moves.append(float(adapter_relation(x, y, cfg).movement[0]))
    assert moves[1] > 3 * moves[0]


def test_graph_chart_labels_the_edges(encodings) -> None:
    from budgetplan.relations import charts

    sim = pd.DataFrame(encodings.mean, index=NAMES, columns=NAMES)
    g = graph.annotate(
        graph.class_graph(sim, "adapter", spread=pd.DataFrame(encodings.std, NAMES, NAMES))
    )
    chart = charts.graph_chart(g, "a1")
    text = chart.to_json()
    assert "top-2 neighbours per class" in text and "±" in text


def test_knn_lift_graph_recovers_the_planted_clusters_despite_a_frequent_class() -> None:
    from budgetplan.relations.knn import query_knn
    from budgetplan.relations.table import knn_share_matrix

    x, y = planted(n=900)
    more_x, more_y = planted(n=6000, seed=3)
    b3 = np.flatnonzero(more_y[:, 5] == 1)  # ~1,000 more b3 images: half of all images
    x, y = np.concatenate([x, more_x[b3]]), np.concatenate([y, more_y[b3]])
    x = x + 0.5 * np.random.default_rng(4).normal(size=x.shape).astype(np.float32)
    rows = np.arange(len(y))
    _, local = query_knn(x, rows, rows, 10)
    share = knn_share_matrix(y, local, NAMES)
    lift = knn_share_matrix(y, local, NAMES, value="knn-lift")
    a_classes = ["a1", "a2", "a3"]
    # the raw share makes the frequent b3 every a-class's top neighbour; the lift does not
    assert [share.loc[a].drop(a).idxmax() for a in a_classes] == ["b3"] * 3
    assert all(lift.loc[a].drop(a).idxmax() in a_classes for a in a_classes)
    g = graph.class_graph(lift, "knn-lift")
    assert sorted(graph.communities(g)) == [a_classes, ["b1", "b2", "b3"]]
