"""What the app says in words: plain names of the relations with a glossary, the candidate
table with readable columns and gains in AUC points, captions that follow the data, and the
first-run guide."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Plain names of the relations (``relations.names.RELATION_NAMES``) for pages and tables.
PLAIN_NAMES = {
    "prototype-mean": "embedding similarity (mean)",
    "prototype-median": "embedding similarity (median)",
    "conditional": "share of target positives with the class",
    "pmi": "label association (PMI)",
    "phi": "label correlation (phi)",
    "cooccurrence": "images positive for both",
    "knn-share": "neighbour share",
    "knn-share-random": "neighbour share by chance",
    "knn-lift": "neighbour lift (times chance)",
    "adapter": "learned task similarity",
    "combined": "all relations combined (linear fit)",
}

GUIDE = (
    "**First time here? Work through the pages in this order.**\n\n"
    "1. **Data**: pick the store (the embedded demo, a store built with `budgetplan ingest` or "
    "`embed`, or upload a label CSV + embeddings) and check which labels each source has.\n"
    "2. **Relations**: pick the target class and see which classes are close to it (cheap, no "
    "training).\n"
    "3. **Simulate**: train the target with each candidate class added, over several draws "
    "(minutes; the time estimate is shown before you start). Switch on *Quick simulation* for a "
    "first look in seconds.\n"
    "4. **Plan**: set the costs and the budget, make the plan (it reuses every run Simulate "
    "trained), read the worklist and the budget curve, and download the plan for Label Studio "
    "or CVAT.\n\n"
    "Gains are in **AUC points** everywhere: +1.0 point = +0.01 target AUC."
)


def plain_name(name: str) -> str:
    """The plain name of a relation (the name itself when it has none)."""
    return PLAIN_NAMES.get(name, name)


def glossary() -> pd.DataFrame:
    """One row per relation: plain name, what it measures, and the name the CLI and files use."""
    from budgetplan.relations.names import GLOSSARY

    rows = [
        {"relation": plain_name(k), "what it measures": v, "name in files and the CLI": k}
        for k, v in GLOSSARY.items()
    ]
    return pd.DataFrame(rows, columns=["relation", "what it measures", "name in files and the CLI"])


CANDIDATE_COLUMNS = {
    "class": "candidate",
    "kind": "kind",
    "gain": "gain (points)",
    "gain_ci_low": "CI low (points)",
    "gain_ci_high": "CI high (points)",
    "p_value": "p",
    "q_value": "q (over candidates)",
    "runs": "draws",
    "significant": "significant",
    "n_images": "images",
    "cost": "cost",
    "gain_per_cost": "points per 1,000 cost units",
    "chosen": "in the plan",
    "predicted": "predicted, not trained",
}


def candidate_view(table: pd.DataFrame) -> pd.DataFrame:
    """The ranked candidate table as the pages show it: gains in AUC points, relations and
    other columns under plain names (the raw table keeps the library's names)."""
    out = table.copy()
    for c in ("gain", "gain_ci_low", "gain_ci_high"):
        if c in out:
            out[c] = pd.to_numeric(out[c], errors="coerce").astype(float) * 100.0
    if "gain_per_cost" in out:
        out["gain_per_cost"] = (
            pd.to_numeric(out["gain_per_cost"], errors="coerce").astype(float) * 100.0 * 1000.0
        )
    names = {**CANDIDATE_COLUMNS, **{k: v for k, v in PLAIN_NAMES.items() if k in out}}
    if "source" in out and (out["source"].astype(str) == "").all():
        out = out.drop(columns=["source"])
    return out.rename(columns=names)


def predictor_caption(rho: Mapping[str, float], n: int, best: str | None) -> str:
    """What the predictor chart's caption says, following the predictor's own choice: the model
    that predicts the gain out of sample (``best``; its sign said in words), or that none does."""
    finite = {k: float(v) for k, v in rho.items() if v is not None and np.isfinite(v)}
    if n < 3 or not finite:
        return (
            f"Rank correlation (Spearman) of each relation with the measured gains: {n} "
            "measured candidates are too few to say which relation predicts the gain."
        )
    head = f"Rank correlation (Spearman) of each relation with the measured gains, {n} candidates:"
    if best is None or best not in finite:
        return (
            f"{head} no relation predicts the gain of a candidate left out of the fit "
            "(leave-one-out), so the planner does not order untrained candidates by one; "
            "trust the measured gains."
        )
    direction = "more" if finite[best] > 0 else "less"
    return (
        f"{head} {plain_name(best)} predicts it (rho {finite[best]:+.2f}, checked leave-one-out): "
        f"classes with higher values helped {direction}. The planner uses it to order the "
        "candidates it did not train."
    )


def store_caption(label: str, n_images: int, classes: Sequence[str], dim: Any) -> str:
    """The caption under every page title: which store, its size, classes and embedding size."""
    dim_text = f", {int(dim):,}-d embeddings" if dim else ""
    return f"Store: {label} · {n_images:,} images, {len(classes)} classes{dim_text}"
