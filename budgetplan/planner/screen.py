"""Cheap relation scores of every candidate class to the target, used to screen and to predict.

Computed on the reference training labels (what a public or fully labelled reference tells about
how classes relate) with the array-level functions of ``budgetplan.relations``:

- ``prototype-mean``: cosine of origin-shifted mean prototypes (seed 000 Sec. 5.5) on the full
  embeddings of the training split;
- ``prototype-median``: cosine of median prototypes (seed 001 Sec. 3), origin shifted like the
  mean (plain median cosines crowd at 0.94-0.99 on the demo and rank nothing, issue 14);

Both come from ``budgetplan.relations.table.prototype_matrices``, the definition the relations
table uses, so the planner and ``budgetplan relations``
never disagree;
- ``conditional``: P(c | target) from co-occurrence; ``pmi``; ``phi``;
- ``knn-share``: share of target positives whose k = 10 neighbours carry c (on the simulation
  pool: ``planner.neighbours.pool_knn``, the store's cached kNN on full vectors, else exact
  search in the reduced space).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from budgetplan.data.label_table import LabelTable

# The relations the planner screens and predicts with (names: budgetplan.relations.names).
RELATIONS = ("prototype-mean", "prototype-median", "conditional", "pmi", "phi", "knn-share")


def relation_scores(
    table: LabelTable,
    vectors: np.ndarray,
    target: str,
    *,
    pool_x: np.ndarray | None = None,
    pool_y: np.ndarray | None = None,
    k: int = 10,
    max_rows: int = 30000,
    seed: int = 0,
    knn_indices: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per class other than the target: the relations above plus positive counts.

    ``knn_indices``: the pool's precomputed kNN lists (N_pool, k), else computed here.
    """
    from budgetplan.relations.cooccurrence import conditional_probability, pair_counts, phi, pmi
    from budgetplan.relations.table import prototype_matrices

    t = table.class_index(target)
    rows = np.flatnonzero(table.split == "train")
    if len(rows) > max_rows:  # prototypes are means: a 30k sample is exact to ~1e-3
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_rows, replace=False))
    x = np.asarray(vectors[rows], dtype=np.float32)
    y = table.values[rows]
    protos = prototype_matrices(x, y, table.classes, ("mean", "median"))
    sim = protos["prototype-mean"].to_numpy()[t]
    med = protos["prototype-median"].to_numpy()[t]
    counts = pair_counts(table.values[table.split == "train"])
    cond = conditional_probability(counts)
    # conditional_probability[i, j] = P(j | i); use the target's row
    p_c = np.asarray(cond)[t]
    pm = np.asarray(pmi(counts))[t]
    ph = np.asarray(phi(counts))[t]
    share = np.full(table.n_classes, np.nan)
    if pool_x is not None and pool_y is not None:
        from budgetplan.relations.knn import exact_self_knn, knn_share

        if knn_indices is None:  # array path; recommend passes planner.neighbours.pool_knn's
            _, knn_indices = exact_self_knn(np.ascontiguousarray(pool_x, dtype=np.float32), k=k)
        idx = knn_indices
        share = np.asarray(knn_share(pool_y, idx, t).share, dtype=float)
    pos = np.nansum(table.values[table.split == "train"] == 1, axis=0)
    df = pd.DataFrame(
        {
            "class": table.classes,
            "prototype-mean": sim,
            "prototype-median": med,
            "conditional": p_c,
            "pmi": pm,
            "phi": ph,
            "knn-share": share,
            "train_positives": pos.astype(int),
        }
    )
    return df.drop(index=t).reset_index(drop=True)
