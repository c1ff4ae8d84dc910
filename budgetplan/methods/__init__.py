"""Partial-label methods on embeddings: models, losses, the replica-batched trainer, metrics.

Public entry points (imported lazily, so importing the package stays light):
``TrainConfig``, ``train_replicas``, ``FittedReplicas``, ``SoftExposureInputs`` (trainer),
``METHODS``, ``get_method`` (registry), ``ModelSpec`` (models).
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "TrainConfig": "budgetplan.methods.trainer",
    "train_replicas": "budgetplan.methods.trainer",
    "FittedReplicas": "budgetplan.methods.trainer",
    "SoftExposureInputs": "budgetplan.methods.trainer",
    "METHODS": "budgetplan.methods.registry",
    "get_method": "budgetplan.methods.registry",
    "ModelSpec": "budgetplan.methods.models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'budgetplan.methods' has no attribute {name!r}")
