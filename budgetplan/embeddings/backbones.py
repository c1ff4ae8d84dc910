"""The two image backbones budgetplan embeds with, and where their weights come from.

- ``densenet121-imagenet``: torchvision DenseNet-121 with ImageNet weights; 3-channel input with
  the ImageNet mean / std normalisation; the feature is the ReLU'd last feature map, global
  average pooled: 1024-d (what torchvision's classifier sees).
- ``xrv-densenet121-all``: torchxrayvision's chest X-ray DenseNet-121
  (``xrv.models.DenseNet(weights="densenet121-res224-all")``, Cohen et al. 2022); 1-channel
  input scaled to [-1024, 1024] at 224 x 224; ``features2`` gives the pooled 1024-d vector.

Weights, in this order: a ``weights`` file the user names (``torch.load(weights_only=True)``, a
``state_dict``), else the local cache of the library that publishes them (torch hub's
``checkpoints/densenet121-a639ec97.pth``; torchxrayvision's ``~/.torchxrayvision/models_data/``),
whose existence is checked first so that nothing is downloaded unasked; else, with
``download=True`` (``budgetplan embed --download``), the library's own download into that cache
(:func:`download_weights`: torchvision's ``load_state_dict_from_url`` with its hash check;
torchxrayvision's ``DenseNet(weights=...)``); else a :class:`BudgetplanError` saying where to put
the file, unless ``random_weights=True``.

The torchxrayvision cache file is a whole pickled model that only torchxrayvision's own loader
reads; it is the file torchxrayvision itself downloaded from its release into its own cache, not
a user's file, so we let that loader read it (the one place budgetplan lets a library unpickle).
A user's ``--weights`` file is always read with ``weights_only=True``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from budgetplan.embeddings.backbone_specs import BACKBONES, BackboneSpec, backbone_spec
from budgetplan.errors import BudgetplanError, InputFileError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_DENSENET121_FILE = "densenet121-a639ec97.pth"
TORCHVISION_DENSENET121_URL = "https://download.pytorch.org/models/" + TORCHVISION_DENSENET121_FILE
XRV_WEIGHTS_NAME = "densenet121-res224-all"


# ---------------------------------------------------------------------- cached weight files
def torchvision_weights_path() -> Path:
    """Where torchvision keeps DenseNet-121 ImageNet weights (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_DENSENET121_FILE


def xrv_weights_path() -> Path:
    """Where torchxrayvision keeps ``densenet121-res224-all``
    (``~/.torchxrayvision/models_data``)."""
    import torchxrayvision as xrv

    url = xrv.models.model_urls[XRV_WEIGHTS_NAME]["weights_url"]
    return Path(os.path.expanduser(xrv.utils.get_cache_dir())) / os.path.basename(url)


def cached_weights_path(name: str) -> Path:
    spec = backbone_spec(name)
    return torchvision_weights_path() if spec.channels == 3 else xrv_weights_path()


# ---------------------------------------------------------------------- feature modules
class _TorchvisionFeatures(nn.Module):
    """DenseNet-121 trunk: ReLU(features(x)) global-average-pooled, (B, 3, H, W) -> (B, 1024)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.model.features(x))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1)


class _XrvFeatures(nn.Module):
    """torchxrayvision DenseNet ``features2``: (B, 1, 224, 224) in [-1024, 1024] -> (B, 1024)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features2(x)


# torchvision's published DenseNet file uses old key names ("norm.1.weight"); torchvision renames
# them the same way in torchvision.models.densenet._load_state_dict.
_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def _clean_state_dict(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        key = key.removeprefix("module.").removeprefix("model.")
        m = _OLD_KEY.match(key)
        if m:
            key = m.group(1) + m.group(2)
        out[key] = value
    return out


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors of a weights file, read with ``weights_only=True`` (never unpickles objects)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "weights file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means "not a plain state_dict"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(
            path,
            "cannot be read as a plain state_dict with torch.load(weights_only=True) "
            f"({first[:160]}); save it with torch.save(model.state_dict(), FILE)",
        ) from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping):
        raise InputFileError(path, f"holds a {type(obj).__name__}, not a state_dict")
    state = _clean_state_dict(obj)
    if not state:
        raise InputFileError(path, "holds no tensors")
    return state


def _load_into(model: nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Load the trunk's weights (``features.*``); the classifier may differ or be absent."""
    own = model.state_dict()
    need = [k for k in own if k.startswith("features.")]
    missing = [k for k in need if k not in state]
    if missing:
        raise InputFileError(
            path,
            f"is not a DenseNet-121 state_dict for this backbone: {len(missing)} of {len(need)} "
            f"trunk tensors missing (e.g. {missing[0]!r})",
        )
    wrong = [k for k in need if tuple(state[k].shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        raise InputFileError(
            path,
            f"tensor {k!r} has shape {tuple(state[k].shape)}, expected {tuple(own[k].shape)}",
        )
    model.load_state_dict({k: state[k] for k in need}, strict=False)


def weights_url(name: str) -> str:
    """Where the library that publishes ``name``'s weights downloads them from."""
    if backbone_spec(name).channels == 3:
        return TORCHVISION_DENSENET121_URL
    import torchxrayvision as xrv

    return str(xrv.models.model_urls[XRV_WEIGHTS_NAME]["weights_url"])


def download_weights(name: str) -> Path:
    """Fetch ``name``'s standard weights into the library's cache the way the library does.

    torchvision: ``torch.hub.load_state_dict_from_url`` (checks the hash in the file name) into
    ``$TORCH_HOME/hub/checkpoints``; torchxrayvision: its ``DenseNet(weights=...)`` loader, which
    downloads into ``~/.torchxrayvision/models_data``. Only called when the user asks
    (``--download``); tests never do.
    """
    target = cached_weights_path(name)
    try:
        if backbone_spec(name).channels == 3:
            torch.hub.load_state_dict_from_url(
                TORCHVISION_DENSENET121_URL,
                model_dir=str(target.parent),
                map_location="cpu",
                progress=True,
                check_hash=True,
                weights_only=True,
            )
        else:
            import torchxrayvision as xrv

            xrv.models.DenseNet(weights=XRV_WEIGHTS_NAME, cache_dir=str(target.parent))
    except (OSError, RuntimeError, ValueError) as exc:  # URLError is an OSError
        raise BudgetplanError(
            f"could not download the weights of {name!r} from {weights_url(name)} ({exc}); "
            f"put the file at {target} by hand or pass --weights FILE"
        ) from None
    if not target.is_file():
        raise BudgetplanError(f"downloading the weights of {name!r} left no file at {target}")
    return target


def _no_weights_error(name: str) -> BudgetplanError:
    where = cached_weights_path(name)
    source = weights_url(name)
    return BudgetplanError(
        f"no weights for backbone {name!r}: put the file {source} at {where} "
        "or pass --download to fetch it now, --weights FILE (a state_dict), "
        "or --random-weights for a smoke test"
    )


def load_backbone(
    name: str,
    weights: str | os.PathLike[str] | None = None,
    random_weights: bool = False,
    *,
    download: bool = False,
) -> tuple[nn.Module, dict[str, Any]]:
    """The feature extractor of ``name`` (eval mode, CPU) and its provenance for the manifest.

    ``download=True`` fetches the standard weights (:func:`download_weights`) when they are not
    in the cache and no ``weights`` file is given.

    The weights are found (and a user's file read) before the network is built, so a missing or
    bad file fails at once.

    Returns:
        (module mapping a preprocessed batch to (B, 1024) features, ``{"weights": str | None,
        "random_weights": bool}``).
    """
    spec = backbone_spec(name)
    state: dict[str, torch.Tensor] | None = None
    source: Path | None = None
    if weights is not None:
        source = Path(weights)
        state = read_state_dict(source)
    elif not random_weights:
        source = cached_weights_path(name)
        if not source.is_file() and download:
            source = download_weights(name)
        if not source.is_file():
            raise _no_weights_error(name)
        if spec.channels == 1:
            import torchxrayvision as xrv

            # The file exists, so xrv's own loader reads it and does not download (module doc).
            model = xrv.models.DenseNet(weights=XRV_WEIGHTS_NAME, cache_dir=str(source.parent))
            return _XrvFeatures(model).eval(), {"weights": str(source), "random_weights": False}
        state = read_state_dict(source)

    if spec.channels == 3:
        import torchvision

        model = torchvision.models.densenet121(weights=None)
        wrap: nn.Module = _TorchvisionFeatures(model)
    else:
        import torchxrayvision as xrv

        model = xrv.models.DenseNet(weights=None)
        wrap = _XrvFeatures(model)
    if state is not None and source is not None:
        _load_into(model, state, source)
        return wrap.eval(), {"weights": str(source), "random_weights": False}
    return wrap.eval(), {"weights": None, "random_weights": True}


def preprocess(gray_or_rgb: np.ndarray, spec: BackboneSpec) -> np.ndarray:
    """One image in [0, 1] (H, W) or (H, W, 3), already square-resized -> (channels, H, W) float32.

    ImageNet backbone: RGB (grey replicated), minus mean over std. X-ray backbone: grey
    (RGB averaged) scaled to [-1024, 1024] as torchxrayvision's ``normalize`` does.
    """
    img = np.asarray(gray_or_rgb, dtype=np.float32)
    if spec.channels == 3:
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        mean = np.asarray(IMAGENET_MEAN, dtype=np.float32)
        std = np.asarray(IMAGENET_STD, dtype=np.float32)
        return np.ascontiguousarray(((img - mean) / std).transpose(2, 0, 1))
    if img.ndim == 3:
        img = img.mean(axis=2)
    return ((2.0 * img - 1.0) * 1024.0)[None, :, :].astype(np.float32)


__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "backbone_spec",
    "load_backbone",
    "preprocess",
    "read_state_dict",
    "torchvision_weights_path",
    "xrv_weights_path",
]
