"""Class prototypes psi(c) from embeddings and the cosine relation between them.

* ``kind="mean"`` with ``shift_origin=True``: Label-Assemble (seed 000, Sec. 5.5 / Fig. 14):
  "the similarity among classes are calculated by the mean feature of a single class, and we
  shift the origin point of the feature space to the mean vector of all features".
* ``kind="median"``: Soft Exposure (seed 001, Sec. 3 and rebuttal): psi(c) is the element-wise
  median of the (L2-normalised) embeddings of the images where c is present.

Only annotated positives define a prototype (NaN labels are neither in nor out); the origin
shift uses all rows given. Vectors may be a memory map: they are read in chunks.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from budgetplan.errors import DataMismatchError

_ROW_CHUNK = 16_384


def _rows_index(rows: np.ndarray | None, n: int) -> np.ndarray:
    if rows is None:
        return np.arange(n)
    rows = np.asarray(rows)
    if rows.dtype == bool:
        if rows.shape != (n,):
            raise DataMismatchError(f"prototypes: row mask has shape {rows.shape}, expected ({n},)")
        return np.flatnonzero(rows)
    return rows.astype(np.int64)


def _check(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    y = np.asarray(labels, dtype=np.float32)
    if y.ndim != 2 or y.shape[0] != vectors.shape[0]:
        raise DataMismatchError(
            f"prototypes: labels {y.shape} do not match vectors {vectors.shape} "
            "(need (N, C) and (N, d))"
        )
    return y


def _row_weights(rows: np.ndarray | None, n: int) -> np.ndarray:
    """(N,) float32 mask of the selected rows (so that chunks of a memory map are read in order
    rather than gathered by fancy indexing)."""
    w = np.zeros(n, dtype=np.float32)
    w[_rows_index(rows, n)] = 1.0
    return w


def mean_vector(vectors: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Mean embedding (d,) over ``rows`` (all by default), read in contiguous chunks."""
    w = _row_weights(rows, vectors.shape[0])
    total = np.zeros(vectors.shape[1], dtype=np.float64)
    for s in range(0, vectors.shape[0], _ROW_CHUNK):
        total += w[s : s + _ROW_CHUNK] @ np.asarray(vectors[s : s + _ROW_CHUNK], dtype=np.float32)
    return (total / max(1.0, w.sum())).astype(np.float32)


def prototypes(
    vectors: np.ndarray,
    labels: np.ndarray,
    kind: Literal["mean", "median"] = "mean",
    shift_origin: bool = True,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Per-class prototypes (C, d): mean or median embedding of the class's positive images.

    Args:
        vectors: (N, d) embeddings (a memory map is fine).
        labels: (N, C) with 1 / 0 / NaN; only 1 counts.
        kind: "mean" (seed 000) or "median" (seed 001).
        shift_origin: subtract the mean of all embeddings in ``rows`` (seed 000 Sec. 5.5).
        rows: restrict to these rows (bool mask or indices), e.g. the training split.

    A class with no positive in ``rows`` gets a row of NaN.
    """
    if kind not in ("mean", "median"):
        raise ValueError(f"prototypes: kind {kind!r} is not 'mean' or 'median'")
    y = _check(vectors, labels)
    idx = _rows_index(rows, vectors.shape[0])
    n_classes, dim = y.shape[1], vectors.shape[1]
    pos = y[idx] == 1
    out = np.full((n_classes, dim), np.nan, dtype=np.float32)
    if kind == "mean":
        weights = np.zeros((vectors.shape[0], n_classes), dtype=np.float32)
        weights[idx] = pos
        sums = np.zeros((n_classes, dim), dtype=np.float64)
        for s in range(0, vectors.shape[0], _ROW_CHUNK):
            chunk = np.asarray(vectors[s : s + _ROW_CHUNK], dtype=np.float32)
            sums += weights[s : s + _ROW_CHUNK].T @ chunk
        n_pos = pos.sum(axis=0)
        ok = n_pos > 0
        out[ok] = (sums[ok] / n_pos[ok, None]).astype(np.float32)
    else:
        for c in range(n_classes):
            members = idx[pos[:, c]]
            if len(members):
                out[c] = np.median(np.asarray(vectors[np.sort(members)], dtype=np.float32), axis=0)
    if shift_origin:
        out = out - mean_vector(vectors, idx)[None, :]
    return out


def cosine_matrix(protos: np.ndarray) -> np.ndarray:
    """Cosine similarity (C, C) between prototype rows; NaN for a NaN or zero prototype."""
    p = np.asarray(protos, dtype=np.float64)
    norm = np.linalg.norm(p, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(norm > 0, p / norm, np.nan)
    sim = np.clip(unit @ unit.T, -1.0, 1.0)
    return sim.astype(np.float32)
