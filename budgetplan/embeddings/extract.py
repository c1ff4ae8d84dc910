"""Embed images with a frozen DenseNet-121: batched, resumable, downloading weights only if asked.

``extract_embeddings(paths, backbone=...)`` reads each image (PNG / JPEG, 8- or 16-bit, grey or
colour), centre-crops it to a square, resizes it to ``image_size`` (224) and runs the backbone
(:mod:`budgetplan.embeddings.backbones`) under ``torch.inference_mode()``, with autocast (fp16) on
CUDA only. The pooled 1024-d features are L2-normalised.

Resuming: images are processed in shards of ``shard_size`` consecutive paths; every finished
shard is written atomically as ``shard-<k>.npy`` under ``shard_dir/<fingerprint>/``, where the
fingerprint hashes the backbone, weights, image size and the ordered list of paths. A rerun with
the same inputs skips the finished shards; other inputs never reuse them.

Parallel: with an ``executor`` (e.g. ``budgetplan.planner.ray_executor.RayExecutor``: anything
with ``map(fn, jobs)`` yielding ``(index, result)`` as jobs finish), every missing shard is one
job (:class:`ShardJob`, run by :func:`embed_shard`, which loads the backbone once per worker
process); this process writes each returned shard at once, so resuming works the same way.

Unreadable image: an :class:`InputFileError` naming the file. We stop rather than skip because a
skipped image would silently drop a labelled row; the finished shards are kept, so after fixing
or removing the file (and its label row) a rerun continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from budgetplan.data.label_table import LabelTable
from budgetplan.device import resolve_device
from budgetplan.embeddings.backbones import BackboneSpec, backbone_spec, load_backbone, preprocess
from budgetplan.errors import BudgetplanError, DataMismatchError, InputFileError
from budgetplan.io import save_npy_atomic, write_json_atomic
from budgetplan.progress import ProgressFn

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm.png")


def read_image(path: str | os.PathLike[str], size: int) -> np.ndarray:
    """Image as float32 in [0, 1], centre-cropped square and resized to ``size`` x ``size``.

    Grey images give (size, size); colour images (size, size, 3). 16-bit images are scaled by
    65535 (by 255 when their values never exceed 255).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                arr = np.asarray(img, dtype=np.float32)
                top = 65535.0 if float(arr.max(initial=0.0)) > 255.0 else 255.0
                im = Image.fromarray(np.clip(arr / top, 0.0, 1.0) * 255.0, mode="F")
            elif mode in ("L", "1", "P", "LA"):
                im = img.convert("L")
            else:
                im = img.convert("RGB")
            w, h = im.size
            if w == 0 or h == 0:
                raise InputFileError(path, "image has no pixels")
            side = min(w, h)
            left, top_ = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top_, left + side, top_ + side))
            im = im.resize((size, size), Image.Resampling.BILINEAR)
            out = np.asarray(im, dtype=np.float32)
    except FileNotFoundError:
        raise InputFileError(path, "image not found") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputFileError(path, f"unreadable image ({type(exc).__name__}: {exc})") from None
    return np.clip(out / 255.0, 0.0, 1.0).astype(np.float32)


def match_images(labels: LabelTable, images_dir: str | os.PathLike[str]) -> tuple[list[Path], int]:
    """The image file of every label row, in row order, and how many images have no row.

    A row's image is its ``path`` meta column (relative to ``images_dir``, or absolute) when the
    table has one and the file is there; otherwise the file under ``images_dir`` (searched
    recursively) whose name is the path's file name or the row's id, with or without the image
    extension (id ``d0`` matches ``d0.png``). Rows without an image raise
    :class:`DataMismatchError` with the count and examples; two files with the same name (or the
    same name without extension) that a row needs raise too (the match would be ambiguous).
    """
    root = Path(images_dir)
    if not root.is_dir():
        raise InputFileError(root, "image folder not found")
    by_name: dict[str, Path] = {}
    by_stem: dict[str, Path] = {}
    twice: set[str] = set()
    for f in sorted(root.rglob("*")):
        if f.is_file() and f.name.lower().endswith(IMAGE_SUFFIXES):
            stem = _stem(f.name)
            for key, index in ((f.name, by_name), (stem, by_stem)):
                if key in index:
                    twice.add(key)
                index.setdefault(key, f)
    if not by_name:
        raise InputFileError(root, f"no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    rel = labels.meta["path"].astype(str).tolist() if "path" in labels.meta.columns else None
    found: list[Path] = []
    missing: list[str] = []
    for r, image_id in enumerate(labels.ids):
        path: Path | None = None
        keys = [str(image_id)]
        if rel is not None and rel[r].strip() not in ("", "nan"):
            cand = Path(rel[r].strip())
            cand = cand if cand.is_absolute() else root / cand
            path = cand if cand.is_file() else None
            keys.insert(0, cand.name)
        if path is None:
            path = _lookup(keys, by_name, by_stem, twice, root)
        if path is None:
            missing.append(str(image_id))
        else:
            found.append(path)
    if missing:
        raise DataMismatchError(
            f"{len(missing)} of {labels.n_images} label rows have no image under {root} "
            f"(matched by 'path' column, else file name = id with or without extension), "
            f"e.g. {missing[:3]}; images there are named e.g. {sorted(by_name)[:3]}"
        )
    used = {p.resolve() for p in found}
    unlabelled = sum(1 for p in by_name.values() if p.resolve() not in used)
    return found, unlabelled


def _stem(name: str) -> str:
    """A file name without its image extension (``a.dcm.png`` -> ``a``)."""
    low = name.lower()
    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if low.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _lookup(
    keys: Sequence[str],
    by_name: dict[str, Path],
    by_stem: dict[str, Path],
    twice: set[str],
    root: Path,
) -> Path | None:
    """The first key found as a file name, else as a name without extension; None if neither."""
    for index in (by_name, by_stem):
        for key in keys:
            if key in index:
                if key in twice:
                    raise DataMismatchError(
                        f"image name {key!r} occurs more than once under {root}; "
                        "give the label CSV a 'path' column to say which file each row is"
                    )
                return index[key]
    return None


def fingerprint(paths: Sequence[str], backbone: str, weights: str | None, image_size: int) -> str:
    """Hash of what decides the vectors: the shards of another input are never reused."""
    h = hashlib.sha256()
    h.update(json.dumps([backbone, weights, image_size]).encode())
    for p in paths:
        h.update(b"\0")
        h.update(str(p).encode())
    return h.hexdigest()[:16]


class Extracted(NamedTuple):
    """What :func:`extract_embeddings` returns: rows, their ids, and provenance for the manifest."""

    vectors: np.ndarray
    ids: list[str]
    info: dict[str, Any]


def extract_embeddings(
    image_paths: Sequence[str | os.PathLike[str]],
    *,
    backbone: str = "densenet121-imagenet",
    weights: str | os.PathLike[str] | None = None,
    random_weights: bool = False,
    device: str | torch.device = "auto",
    batch_size: int = 32,
    image_size: int = 224,
    shard_dir: str | os.PathLike[str] | None = None,
    shard_size: int = 512,
    ids: Sequence[str] | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
    download: bool = False,
    executor: Any = None,
) -> Extracted:
    """Embed ``image_paths`` with ``backbone``: (vectors (N, 1024) unit-norm, ids, provenance).

    Args:
        image_paths: the images, in the order of the returned rows.
        backbone: ``"densenet121-imagenet"`` or ``"xrv-densenet121-all"``.
        weights: a state_dict file (read with ``weights_only=True``); default: the library's
            local cache (see :mod:`budgetplan.embeddings.backbones`); a download only with
            ``download=True``.
        random_weights: allow randomly initialised weights (smoke tests; recorded as provenance).
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        batch_size: images per forward pass.
        image_size: side of the square input (224 for both backbones).
        shard_dir: where finished shards are kept for resuming (None: no resuming).
        shard_size: images per shard (rounded up to a multiple of ``batch_size``).
        ids: the row ids (default: each file's name).
        seed: seeds the random initialisation when ``random_weights`` (inside
            ``torch.random.fork_rng``, so the caller's global torch RNG state is restored).
        progress: ``progress(done, total, message)``.
        download: fetch the standard weights into the library's cache when they are missing.
        executor: run the missing shards as parallel jobs (module doc); None: here, in order.

    Returns:
        :class:`Extracted` ``(vectors, ids, info)``; ``info`` has ``backbone``, ``weights``,
        ``random_weights``, ``image_size``, ``dim`` for the store's manifest.
    """
    spec = backbone_spec(backbone)
    paths = [str(p) for p in image_paths]
    if not paths:
        raise BudgetplanError("no images to embed")
    if batch_size < 1 or image_size < 32:
        raise BudgetplanError(
            f"batch_size must be >= 1 and image_size >= 32, got {batch_size}, {image_size}"
        )
    row_ids = [Path(p).name for p in paths] if ids is None else [str(i) for i in ids]
    if len(row_ids) != len(paths):
        raise BudgetplanError(f"{len(row_ids)} ids for {len(paths)} images")
    report = progress or (lambda d, t, m: None)
    job = ShardJob(
        (), backbone, _str(weights), random_weights, seed, str(device), batch_size, image_size
    )
    if executor is None:
        model, info, dev = _model(job, keep=False, download=download)
    else:  # the workers load the model; here only check the weights and record provenance
        _, info = _load_backbone(job, download=download)
    info = {**info, "backbone": backbone, "image_size": image_size, "dim": spec.dim}

    shard_size = max(batch_size, -(-shard_size // batch_size) * batch_size)
    n = len(paths)
    n_shards = -(-n // shard_size)
    bounds = [(k * shard_size, min(n, (k + 1) * shard_size)) for k in range(n_shards)]
    folder: Path | None = None
    if shard_dir is not None:
        folder = Path(shard_dir) / fingerprint(paths, backbone, str(info["weights"]), image_size)
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / "inputs.json", {**info, "n_images": n, "shard_size": shard_size})

    def shard_file(k: int) -> Path | None:
        return folder / f"shard-{k:06d}.npy" if folder is not None else None

    parts: dict[int, np.ndarray] = {}
    todo: list[int] = []
    done = 0
    report(0, n, f"embedding with {backbone}")
    for k, (lo, hi) in enumerate(bounds):
        f = shard_file(k)
        arr = _load_shard(f, hi - lo, spec.dim) if f is not None and f.is_file() else None
        if arr is None:
            todo.append(k)
            continue
        parts[k] = arr
        done += hi - lo
        report(done, n, f"shard {k + 1}/{n_shards} already done")

    def finished(k: int, arr: np.ndarray) -> None:
        f = shard_file(k)
        if f is not None:
            save_npy_atomic(f, arr)
        parts[k] = arr

    if executor is None:
        for k in todo:
            lo, hi = bounds[k]
            chunk = []
            for b in range(lo, hi, batch_size):
                batch = paths[b : min(hi, b + batch_size)]
                chunk.append(_embed_batch(model, batch, spec, image_size, dev))
                done += len(batch)
                report(done, n, f"shard {k + 1}/{n_shards}")
            finished(k, np.concatenate(chunk, axis=0))
    else:
        jobs = [job._replace(paths=tuple(paths[slice(*bounds[k])])) for k in todo]
        for j, arr in executor.map(embed_shard, jobs):
            k = todo[j]
            lo, hi = bounds[k]
            if arr.shape != (hi - lo, spec.dim):
                raise BudgetplanError(f"shard {k}: a worker returned shape {arr.shape}")
            finished(k, arr)
            done += hi - lo
            report(done, n, f"shard {k + 1}/{n_shards}")
    vectors = np.concatenate([parts[k] for k in range(n_shards)], axis=0)
    return Extracted(vectors, row_ids, info)


class ShardJob(NamedTuple):
    """One shard for a worker: what decides its vectors (picklable, no model inside)."""

    paths: tuple[str, ...]
    backbone: str
    weights: str | None
    random_weights: bool
    seed: int
    device: str
    batch_size: int
    image_size: int


def embed_shard(job: ShardJob) -> np.ndarray:
    """Embed ``job.paths`` (a job of :func:`extract_embeddings`'s executor): (n, dim) float32."""
    model, _, dev = _model(job)
    spec = backbone_spec(job.backbone)
    bs = job.batch_size
    batches = [job.paths[b : b + bs] for b in range(0, len(job.paths), bs)]
    return np.concatenate(
        [_embed_batch(model, b, spec, job.image_size, dev) for b in batches], axis=0
    )


_MODEL: dict[tuple, tuple[torch.nn.Module, dict[str, Any], torch.device]] = {}


def _model(
    job: ShardJob, keep: bool = True, download: bool = False
) -> tuple[torch.nn.Module, dict[str, Any], torch.device]:
    """The job's backbone on its device; ``keep``: load it once per process (a worker runs
    many shards)."""
    key = (job.backbone, job.weights, job.random_weights, job.seed, job.device)
    if key in _MODEL:
        return _MODEL[key]
    dev = resolve_device(job.device)
    model, info = _load_backbone(job, download=download)
    loaded = (model.to(dev), info, dev)
    if keep:
        _MODEL.clear()
        _MODEL[key] = loaded
    return loaded


def _load_backbone(job: ShardJob, download: bool = False) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Workers never download: the driver fetched the weights (``download``) before any job."""
    with torch.random.fork_rng(devices=[]):  # random init without touching global RNG state
        torch.random.manual_seed(job.seed)
        return load_backbone(
            job.backbone,
            weights=job.weights,
            random_weights=job.random_weights,
            download=download,
        )


def _str(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else str(path)


def _embed_batch(
    model: torch.nn.Module,
    paths: Sequence[str],
    spec: BackboneSpec,
    image_size: int,
    dev: torch.device,
) -> np.ndarray:
    x = np.stack([preprocess(read_image(p, image_size), spec) for p in paths])
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xt = torch.from_numpy(x).to(dev)
        if dev.type == "cuda":
            with torch.autocast("cuda", dtype=torch.float16):
                feats = model(xt)
        else:
            feats = model(xt)
        feats = feats.float()
        feats = feats / feats.norm(dim=1, keepdim=True).clamp_min(1e-12)
    out = feats.cpu().numpy().astype(np.float32)
    if not np.isfinite(out).all():
        bad = paths[int(np.argmax(~np.isfinite(out).all(axis=1)))]
        raise InputFileError(bad, "the backbone produced non-finite features for this image")
    return out


def _load_shard(path: Path, rows: int, dim: int) -> np.ndarray | None:
    """A finished shard, or None when it is damaged or of the wrong shape (then redone)."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if arr.shape != (rows, dim) or arr.dtype != np.float32 or not np.isfinite(arr).all():
        return None
    return arr


__all__ = [
    "Extracted",
    "ShardJob",
    "embed_shard",
    "extract_embeddings",
    "match_images",
    "read_image",
    "fingerprint",
    "IMAGE_SUFFIXES",
]
