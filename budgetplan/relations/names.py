"""One set of relation names, used by the relations table (as column names), the planner's
screen and predictor, the CLI, the app and the plan JSON.

=====================  =================================================================
name                   what it measures (between a class c and the target t)
=====================  =================================================================
``prototype-mean``     cosine of origin-shifted mean embeddings (seed 000 Sec. 5.5)
``prototype-median``   cosine of median embeddings (seed 001 Sec. 3)
``conditional``        P(c | t): share of target positives that are c-positive
``pmi``                pointwise mutual information of c and t positives
``phi``                phi coefficient (Pearson correlation of the two labels)
``cooccurrence``       number of images positive for both
``knn-share``          share of target positives whose k nearest neighbours carry c
``knn-lift``           kNN share corrected for prevalence: rate of c among the target
                       positives' neighbours / c's prevalence (1 = as random neighbours)
``adapter``            cosine of the learned adapter task encodings (seed 000 Fig. 14)
=====================  =================================================================

Older spellings (``similarity``, ``knn_share``, ``p_given_target``, ``prototype_mean``, ...)
are read as these names (:func:`canonical_relation`), so old plan files and recipes still load.
"""

from __future__ import annotations

from budgetplan.errors import ConfigError

RELATION_NAMES = (
    "prototype-mean",
    "prototype-median",
    "conditional",
    "pmi",
    "phi",
    "cooccurrence",
    "knn-share",
    "knn-lift",
    "adapter",
)

GLOSSARY = {
    "prototype-mean": "cosine of the classes' mean embeddings (origin-shifted)",
    "prototype-median": "cosine of the classes' median embeddings",
    "conditional": "share of target positives that also have the class",
    "pmi": "pointwise mutual information of the two labels",
    "phi": "correlation of the two labels",
    "cooccurrence": "images positive for both",
    "knn-share": "share of target positives whose nearest images carry the class",
    "knn-lift": "how many times more often the target's nearest images carry the class than "
    "random images do",
    "adapter": "similarity of the learned task encodings",
}

ALIASES = {
    "similarity": "prototype-mean",
    "prototype_mean": "prototype-mean",
    "median_similarity": "prototype-median",
    "prototype_median": "prototype-median",
    "p_given_target": "conditional",
    "p_class_given_target": "conditional",
    "knn": "knn-share",
    "knn_share": "knn-share",
    "knn_lift": "knn-lift",
}


def canonical_relation(name: str, key: str = "relation") -> str:
    """The canonical name of ``name`` (an old spelling is accepted); unknown names raise."""
    if name in RELATION_NAMES:
        return name
    if isinstance(name, str) and name in ALIASES:
        return ALIASES[name]
    raise ConfigError(key, name, f"unknown relation; known: {', '.join(RELATION_NAMES)}")


# Relations a table can be asked for (``relations.table``); the table's
# columns carry the same names, plus "conditional" and "cooccurrence" always.
RELATIONS = (
    "prototype-mean",
    "prototype-median",
    "pmi",
    "phi",
    "knn-share",
    "knn-lift",
    "adapter",
)
DEFAULT_RELATIONS = ("prototype-mean", "prototype-median", "pmi", "phi", "knn-share", "knn-lift")
KNN_RELATIONS = ("knn-share", "knn-lift")
