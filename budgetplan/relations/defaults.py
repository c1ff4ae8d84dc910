"""Default settings of the relations and how a graph threshold is written.

Light on purpose (no numpy, pandas or networkx): the command line reads these while it builds
its parser, before any command runs, so ``budgetplan --help`` or ``export`` never pays for the
libraries the relations themselves need.
"""

from __future__ import annotations

from budgetplan.errors import DataMismatchError

KNN_K = 10  # seed 001: k = 10 neighbours
# Default edges: each class keeps its strongest DEFAULT_TOP neighbours (the union over classes),
# so every class with a defined relation has an edge and no scale has to be guessed. Measured on
# digits (bench/README.md, "Class graph"): the top-2 graph of kNN share puts 4-9, 3-5-8 and 1-8
# together as a classifier confuses them.
DEFAULT_TOP = 2
DEFAULT_THRESHOLD = f"top{DEFAULT_TOP}"
# The default of ``budgetplan graph``: the kNN share corrected for prevalence. Of all relations
# it agreed best with label co-occurrence on the demo (rho 0.81 vs phi; the raw share 0.62, where
# the most frequent findings were every class's neighbours) and as well as the raw share with how
# classifiers confuse the digits (bench/README.md, "graph.py").
DEFAULT_GRAPH_RELATION = "knn-lift"


def parse_threshold(value: float | str | None) -> tuple[str, float]:
    """("top", k) for "topK" (each class's K strongest neighbours; None = the default),
    ("quantile", 0.75) for "auto" (upper quartile of the pairs), ("value", t) for a number."""
    if value is None:
        value = DEFAULT_THRESHOLD
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "quantile", 0.75
        if text.startswith("top") and text[3:].isdigit() and int(text[3:]) >= 1:
            return "top", float(int(text[3:]))
        try:
            return "value", float(text)
        except ValueError:
            raise DataMismatchError(
                f"threshold {value!r}: use a number, 'auto' (upper quartile) or 'topK' "
                "(each class's K strongest neighbours, e.g. top2)"
            ) from None
    return "value", float(value)
