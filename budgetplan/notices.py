"""The words every output uses when its features are simulated, defined once.

Two notices: :data:`DEMO_NOTICE` for the embedded default (real NIH ChestX-ray14 labels with
embeddings simulated from them, :mod:`budgetplan.demo`) and :data:`SIMULATED_NOTICE` for any
other store whose features are simulated; :data:`SIMULATED_SUBTITLE` is the short form charts
carry. :func:`simulated_notice` picks the right one (or None for real features), so the CLI, the
app and the exports cannot drift apart.
"""

from __future__ import annotations

#: The line every output shows when it uses the embedded default.
DEMO_NOTICE = (
    "NOTE: the features are SIMULATED (embedded demo: real NIH ChestX-ray14 labels, simulated "
    "embeddings); numbers illustrate the method, not a real image model."
)
#: The line every output shows when it uses any other store with simulated features.
SIMULATED_NOTICE = (
    "NOTE: the features are SIMULATED (generated from real labels, not computed from images); "
    "relations, gains and plans illustrate the method, they are not findings about real images."
)
#: Chart subtitle when the features are simulated.
SIMULATED_SUBTITLE = "features are simulated (not computed from images)"


def is_simulated(subject: object) -> bool:
    """``subject`` itself when a bool, else its ``simulated`` attribute (Dataset, store, ...)."""
    if isinstance(subject, bool):
        return subject
    return bool(getattr(subject, "simulated", False))


def simulated_notice(subject: object, demo: bool | None = None) -> str | None:
    """None when the features of ``subject`` are real, else the notice to show.

    ``subject``: a bool or anything with a ``simulated`` attribute (a Dataset, an EmbeddingStore,
    the planner's data). ``demo``: whether it is the embedded default; None asks
    :func:`budgetplan.demo.is_demo` (a bool subject then counts as not the demo).
    """
    if not is_simulated(subject):
        return None
    if demo is None:
        from budgetplan.demo import is_demo

        demo = is_demo(subject)
    return DEMO_NOTICE if demo else SIMULATED_NOTICE


__all__ = [
    "DEMO_NOTICE",
    "SIMULATED_NOTICE",
    "SIMULATED_SUBTITLE",
    "is_simulated",
    "simulated_notice",
]
