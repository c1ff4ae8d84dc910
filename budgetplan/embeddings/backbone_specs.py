"""The names and shapes of the image backbones (no torch import, so the CLI starts fast);
the models themselves and their weights are in :mod:`budgetplan.embeddings.backbones`."""

from __future__ import annotations

from dataclasses import dataclass

from budgetplan.errors import UnknownClassError


@dataclass(frozen=True)
class BackboneSpec:
    """What a backbone expects and gives: input channels, native image size, feature size."""

    name: str
    channels: int
    dim: int = 1024
    image_size: int = 224


BACKBONES: dict[str, BackboneSpec] = {
    "densenet121-imagenet": BackboneSpec("densenet121-imagenet", channels=3),
    "xrv-densenet121-all": BackboneSpec("xrv-densenet121-all", channels=1),
}


def backbone_spec(name: str) -> BackboneSpec:
    """The spec of a backbone by name; an unknown name suggests the closest."""
    if name not in BACKBONES:
        raise UnknownClassError(name, BACKBONES, what="backbone")
    return BACKBONES[name]
