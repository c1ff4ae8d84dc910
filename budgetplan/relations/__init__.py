"""Relations between classes: cheap estimates of how much another class's labels may help the
target (DESIGN.md, "Relations").

Modules (import the one you need; this package does not import them eagerly, so that e.g. the
trainer's use of ``soft_exposure`` does not load altair or networkx):

- ``prototypes``: class prototypes (mean with origin shift, seed 000; median, seed 001), cosine.
- ``cooccurrence``: 2 x 2 counts, P(c | target), PMI, phi (missing labels excluded pairwise).
- ``knn``: kNN share of the target's neighbourhood, hard-negative images, neighbour lists.
- ``soft_exposure``: d_L+/-, d_I+/- and signed temperatures of seed 001 Eq. 4-8.
- ``task_encoding``: cosine of the learned adapter task encodings q (seed 000 Fig. 14).
- ``table``: the ranked relation table of a target and the C x C matrices.
- ``graph``, ``charts``, ``outputs``: class graph, altair charts, CLI text and files.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "prototypes": "prototypes",
    "cosine_matrix": "prototypes",
    "pair_counts": "cooccurrence",
    "pmi": "cooccurrence",
    "phi": "cooccurrence",
    "conditional_probability": "cooccurrence",
    "knn_share": "knn",
    "hard_negative_images": "knn",
    "soft_exposure_temperatures": "soft_exposure",
    "label_distance": "soft_exposure",
    "SoftExposureRelations": "soft_exposure",
    "relation_table": "table",
    "relation_table_from_arrays": "table",
    "relation_matrices": "table",
    "class_graph": "graph",
    "communities": "graph",
    "hierarchical_clusters": "graph",
    "relation_heatmap": "charts",
    "ranked_bar": "charts",
    "graph_chart": "charts",
    "adapter_similarity": "task_encoding",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'budgetplan.relations' has no attribute {name!r}")
    return getattr(importlib.import_module(f"budgetplan.relations.{module}"), name)
