"""Benchmark of the relations stage on the embedded default (112,120 x 1024, simulated features).

Times every relation on the training split; the kNN relation of the target both by an exact
BLAS search of the target positives and by the store's index; the store's full self-kNN graph
(computed once, then cached by the store) and the kNN share matrix from it; ``relation_table``
before and after the graph is cached (a second run reads the cached graph); and the
soft-exposure temperatures of the training rows. Ratios are against peers measured in the same
run (the machine is shared).

Run:  nice python bench/relations.py [--store demo] [--target Nodule] [--replicas 8]
      [--graph store|skip] [--no-index-search] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def timed(results: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    out = fn()
    results[name] = round(time.perf_counter() - t0, 3)
    print(f"{name:<58s} {results[name]:9.2f} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--store", default="demo")
    ap.add_argument("--target", default="Nodule")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--replicas", type=int, default=8, help="label matrices for soft exposure")
    ap.add_argument("--graph", choices=["store", "skip"], default="store")
    ap.add_argument("--no-index-search", action="store_true", help="skip the store-index peer")
    ap.add_argument("--json", default=None, help="also write the timings here")
    args = ap.parse_args()

    from budgetplan.dataset import open_dataset
    from budgetplan.relations import graph
    from budgetplan.relations.knn import query_knn, restrict_knn
    from budgetplan.relations.soft_exposure import (
        knn_distances_from_similarities,
        label_distance,
        soft_exposure_temperatures,
    )
    from budgetplan.relations.table import (
        KNN_GRAPH_K,
        knn_share_matrix,
        label_relation_matrices,
        prototype_matrices,
        relation_table,
        training_rows,
    )

    r: dict[str, float] = {}
    ds = timed(r, "open dataset", lambda: open_dataset(args.store))
    store = ds.embeddings
    rows = training_rows(ds)
    y = ds.labels.values[rows]
    t = ds.labels.class_index(args.target)
    names = ds.classes
    print(
        f"{ds!r}; index {store.manifest['index']}; {len(rows)} training rows; "
        f"{int((y[:, t] == 1).sum())} {names[t]} positives; {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    timed(r, "warm-up: read all vectors once", lambda: float(np.asarray(ds.vectors[:]).sum()))
    timed(
        r, "label relations (counts, PMI, phi, P(c|t))", lambda: label_relation_matrices(y, names)
    )
    timed(
        r,
        "prototype-mean (origin shifted) C x C",
        lambda: prototype_matrices(ds.vectors, ds.labels.values, names, ("mean",), rows=rows),
    )
    timed(
        r,
        "prototype-median C x C",
        lambda: prototype_matrices(ds.vectors, ds.labels.values, names, ("median",), rows=rows),
    )
    q = rows[y[:, t] == 1]
    exact_name = f"kNN of the {len(q)} target positives, exact BLAS"
    _, exact_idx = timed(r, exact_name, lambda: query_knn(ds.vectors, rows, q, args.k))
    index_name = f"kNN of the {len(q)} target positives, store index"
    if not args.no_index_search:
        _, index_idx = timed(
            r,
            index_name,
            lambda: query_knn(ds.vectors, rows, q, args.k, search=store.search, exact_pairs_max=0),
        )
        r["index search recall@k vs exact"] = round(
            float(
                np.mean(
                    [
                        len(set(a) & set(b)) / args.k
                        for a, b in zip(exact_idx, index_idx, strict=True)
                    ]
                )
            ),
            4,
        )
        print(f"{'index search recall@k vs exact':<58s} {r['index search recall@k vs exact']:9.4f}")
    table_name = "relation_table (default relations), no cached graph"
    cached_before = store._load_knn(KNN_GRAPH_K) is not None
    if not cached_before:
        table = timed(r, table_name, lambda: relation_table(ds, names[t]))
    sims = idx = None
    if args.graph == "store":
        how = "cached" if cached_before else "computed"
        graph_name = f"full self-kNN graph k={KNN_GRAPH_K}, store ({how})"
        sims, idx = timed(r, graph_name, lambda: store.self_knn(KNN_GRAPH_K))

        def knn_matrix() -> Any:
            _, local = restrict_knn(sims[rows], idx[rows], rows, args.k, exclude=rows)
            return knn_share_matrix(y, local, names)

        mat = timed(r, "kNN share matrix C x C from the graph", knn_matrix)
        timed(
            r,
            "class graph + communities + clustering (kNN share)",
            lambda: (
                graph.communities(graph.class_graph(mat, "knn-share")),
                graph.hierarchical_clusters(mat, "knn-share"),
            ),
        )
        sims2, idx2 = timed(
            r, "second run: self-kNN graph (cache hit)", lambda: store.self_knn(KNN_GRAPH_K)
        )
        assert np.array_equal(idx2, idx)
        table = timed(
            r, "second run: relation_table, cached graph", lambda: relation_table(ds, names[t])
        )

    # soft exposure of the training rows: label distance + kNN within the rows + temperatures
    ld = timed(
        r,
        "soft exposure: label distance (median prototypes)",
        lambda: label_distance(ds.vectors, ds.labels.values, rows=rows),
    )
    if sims is not None and idx is not None:
        s_in, i_in = timed(
            r,
            "soft exposure: kNN within train rows (from the graph)",
            lambda: restrict_knn(sims[rows], idx[rows], rows, args.k, exclude=rows),
        )
        dist = knn_distances_from_similarities(s_in)
        dist[i_in < 0] = np.inf
        mode = "both"
    else:
        i_in = dist = None
        mode = "label"
    timed(
        r,
        f"soft exposure ({mode}): temperatures, 1 label matrix",
        lambda: soft_exposure_temperatures(y, ld, i_in, dist, mode=mode),
    )
    rng = np.random.default_rng(0)
    ys = np.repeat(y[None], args.replicas, axis=0)
    ys[rng.random(ys.shape) < 0.5] = np.nan
    timed(
        r,
        f"soft exposure ({mode}): temperatures, {args.replicas} label matrices",
        lambda: soft_exposure_temperatures(ys, ld, i_in, dist, mode=mode),
    )
    print()
    print(table.to_string(index=False))
    ratios: dict[str, float] = {}
    if index_name in r:
        ratios["store index search / exact BLAS (target positives)"] = r[index_name] / r[exact_name]
    if args.graph == "store":
        graph_key = next(k for k in r if k.startswith("full self-kNN"))
        ratios["full graph / exact target search"] = r[graph_key] / r[exact_name]
        ratios["graph computed / cache hit"] = r[graph_key] / max(
            r["second run: self-kNN graph (cache hit)"], 1e-3
        )
        if table_name in r:
            ratios["relation_table without / with cached graph"] = r[table_name] / max(
                r["second run: relation_table, cached graph"], 1e-3
            )
    one = r[f"soft exposure ({mode}): temperatures, 1 label matrix"]
    many = r[f"soft exposure ({mode}): temperatures, {args.replicas} label matrices"]
    ratios[f"soft exposure {args.replicas} matrices / 1 matrix"] = many / max(one, 1e-3)
    for k, v in ratios.items():
        print(f"ratio {k:<60s} {v:8.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if args.json:
        from budgetplan.io import write_json_atomic

        write_json_atomic(
            args.json,
            {
                "timings_s": r,
                "ratios": ratios,
                "cached_before": cached_before,
                "machine": platform.platform(),
            },
        )


if __name__ == "__main__":
    main()
