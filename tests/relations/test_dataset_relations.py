"""Relations on a Dataset, the class graph and the two CLI commands, on a generated store."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from budgetplan.cli import main
from budgetplan.errors import UnknownClassError
from budgetplan.relations import graph
from budgetplan.relations.knn import exact_self_knn
from budgetplan.relations.table import (
    relation_matrices,
    relation_table,
    relation_table_from_arrays,
    target_neighbours,
    training_rows,
)


def test_relation_table_uses_train_rows_and_ranks_twin_first(small_dataset) -> None:
    table = relation_table(small_dataset, "Target")
    assert list(table["class"])[0] == "Twin"
    assert len(table) == 4 and "Target" not in set(table["class"])
    train = small_dataset.labels.split == "train"
    y = small_dataset.labels.values[train]
    assert table.attrs["n_rows"] == train.sum()
    assert table["n_target_pos"].iloc[0] == (y[:, 0] == 1).sum()
    assert table.attrs["simulated"] is True
    for col in ("prototype-mean", "prototype-median", "pmi", "phi", "knn-share", "n_pairs"):
        assert col in table.columns


def test_knn_by_search_equals_knn_from_the_full_graph(small_dataset) -> None:
    rows = training_rows(small_dataset)
    t = small_dataset.labels.class_index("Target")
    q, _, by_search = target_neighbours(small_dataset, rows, t, k=10)
    full = exact_self_knn(np.asarray(small_dataset.vectors), 40)
    q2, _, by_graph = target_neighbours(small_dataset, rows, t, k=10, knn=full)
    np.testing.assert_array_equal(q, q2)
    np.testing.assert_array_equal(by_search, by_graph)
    # neighbours are training rows other than the query itself
    assert (by_search >= 0).all() and (by_search != q[:, None]).all()
    # the array-level table over the train rows' own graph gives the same kNN share
    y = small_dataset.labels.values[rows]
    own = exact_self_knn(np.asarray(small_dataset.vectors)[rows], 10)[1]
    a = relation_table_from_arrays(
        y, small_dataset.classes, t, knn_indices=own, relations="knn-share"
    )
    b = relation_table(small_dataset, "Target", relations="knn-share")
    pd.testing.assert_series_equal(a["knn-share"], b["knn-share"])


def test_unknown_target_suggests_names(small_dataset) -> None:
    with pytest.raises(UnknownClassError, match="Did you mean 'Target'"):
        relation_table(small_dataset, "Targte")


def test_graph_communities_recover_planted_groups() -> None:
    rng = np.random.default_rng(0)
    groups = [["a1", "a2", "a3", "a4"], ["b1", "b2", "b3"], ["c1", "c2", "c3", "c4"]]
    names = [n for g in groups for n in g]
    member = np.array([i for i, g in enumerate(groups) for _ in g])
    sim = np.where(member[:, None] == member[None, :], 0.8, 0.1) + rng.normal(0, 0.05, (11, 11))
    sim = (sim + sim.T) / 2
    np.fill_diagonal(sim, 1.0)
    matrix = pd.DataFrame(sim, index=names, columns=names)
    g = graph.class_graph(matrix, "prototype-mean")  # threshold 0.6 (seed 000)
    assert sorted(map(sorted, graph.communities(g))) == sorted(map(sorted, groups))
    _, clusters = graph.hierarchical_clusters(matrix, n_clusters=3)
    found = clusters.groupby("cluster")["class"].apply(sorted).tolist()
    assert sorted(found) == sorted(map(sorted, groups))
    assert set(graph.target_neighbourhood(g, "b1").nodes) == {"b1", "b2", "b3"}


def test_graph_exports_round_trip(tmp_path, small_dataset) -> None:
    mats = relation_matrices(small_dataset, relations=("prototype-mean", "pmi"))
    counts = small_dataset.labels.subset(training_rows(small_dataset)).counts()
    g = graph.annotate(graph.class_graph(mats["prototype-mean"], counts=counts), "Target")
    graph.write_graphml(g, tmp_path / "g.graphml")
    graph.write_node_link(g, tmp_path / "g.json")
    back = nx.read_graphml(tmp_path / "g.graphml")
    assert set(back.nodes) == set(small_dataset.classes)
    assert back.has_edge("Target", "Twin")
    assert back.nodes["Target"]["positives"] == counts.set_index("class").loc["Target", "positives"]
    data = json.loads((tmp_path / "g.json").read_text())
    assert {n["id"] for n in data["nodes"]} == set(small_dataset.classes)


def test_cli_relations_prints_table_counts_and_simulated(tmp_path, small_dataset, capsys) -> None:
    out = tmp_path / "rel"
    code = main(
        ["relations", "--target", "Target", "--store", str(small_dataset.root), "--out", str(out)]
    )
    text = capsys.readouterr().out
    assert code == 0
    lines = text.splitlines()
    assert any(line.split()[:2] == ["1", "Twin"] for line in lines)
    assert "n(t,c)" in text and "SIMULATED" in text.upper()
    table = pd.read_csv(out / "relations_Target.csv")
    assert table["class"].iloc[0] == "Twin"
    assert (out / "matrix_prototype-mean.csv").is_file() and (out / "matrix_pmi.csv").is_file()
    assert (out / "heatmap_prototype-mean.html").is_file()
    assert (out / "ranked_Target_prototype-mean.html").is_file()


def test_cli_graph_writes_files(tmp_path, small_dataset, capsys) -> None:
    out = tmp_path / "graph"
    code = main(
        ["graph", "--target", "Target", "--store", str(small_dataset.root), "--out", str(out)]
    )
    text = capsys.readouterr().out
    assert code == 0 and "Neighbourhood of Target: Twin" in text
    for name in ("class_graph.graphml", "class_graph.json", "clusters.csv", "graph.html"):
        assert (out / name).is_file()


def test_cli_unknown_target_is_one_line_error(small_dataset, capsys) -> None:
    code = main(["relations", "--target", "Nodule", "--store", str(small_dataset.root)])
    err = capsys.readouterr().err
    assert code == 2 and "unknown class 'Nodule'" in err and len(err.strip().splitlines()) == 1


def test_soft_exposure_inputs_from_the_store_graph_match_the_train_rows_own(small_dataset) -> None:
    from budgetplan.relations.soft_exposure import SoftExposureRelations

    rows = training_rows(small_dataset)
    x = np.asarray(small_dataset.vectors)
    y = small_dataset.labels.values[rows]
    sims, idx = exact_self_knn(x, 40)  # a store-wide graph, as EmbeddingStore.self_knn gives
    from_graph = SoftExposureRelations.from_store_knn(x, y, rows, sims, idx, k=10)
    own = SoftExposureRelations.from_vectors(x[rows], y, k=10)
    np.testing.assert_array_equal(from_graph.knn_indices, own.knn_indices)
    np.testing.assert_allclose(from_graph.knn_distances, own.knn_distances, atol=1e-5)
    np.testing.assert_allclose(from_graph.label_distance, own.label_distance, atol=1e-5)
    temps = from_graph.temperatures(y[None], mode="both")
    assert temps.shape == (1, *y.shape) and np.isnan(temps[0][~np.isnan(y)]).all()


def test_store_search_path_equals_exact_path(small_dataset, monkeypatch) -> None:
    from budgetplan.relations.knn import exact_search, query_knn

    rows = training_rows(small_dataset)
    x = small_dataset.vectors
    queries = rows[small_dataset.labels.values[rows, 0] == 1]
    s1, i1 = query_knn(x, rows, queries, 10)  # exact
    s2, i2 = query_knn(
        x, rows, queries, 10, search=small_dataset.embeddings.search, exact_pairs_max=0
    )
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2, atol=1e-5)
    # chunked exact search over the base equals one chunk, for both ways of reading the base
    import budgetplan.relations.knn as knn_module

    a = exact_search(x, np.asarray(x[:50]), 7, rows=rows)
    b = exact_search(x, np.asarray(x[:50]), 7, rows=rows, base_chunk=64, query_batch=16)
    np.testing.assert_array_equal(a[1], b[1])
    monkeypatch.setattr(knn_module, "GATHER_MIN_QUERIES", 0)
    c = exact_search(x, np.asarray(x[:50]), 7, rows=rows, base_chunk=64, query_batch=16)
    np.testing.assert_array_equal(a[1], c[1])
    np.testing.assert_allclose(a[0], c[0], atol=1e-5)
