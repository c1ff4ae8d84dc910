"""Where the worklist's images sit: a 2-D map of the embeddings, and thumbnails that resolve.

The map is a PCA of the embeddings to two components (scikit-learn, randomized SVD), fitted on
a seeded sample of at most ``fit_rows`` images and applied to the images shown: the worklist
and a seeded background sample. That keeps it cheap on any store (about 0.1 s for 5,000 x
1,024 fitted rows; the transform is one matrix product), and the same store, plan and seed give
the same map. PCA keeps the directions of largest variance, so the map shows the coarse layout
(which images are far apart), not the fine neighbourhoods a kNN graph would.

- :func:`project_2d` (vectors -> (n, 2)), :func:`worklist_map` (the frame the app's chart and
  the Markdown report draw), :func:`text_map` (a character scatter for the Markdown report).
- :func:`resolve_image` (an image path from the label table -> an existing file, or None).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from budgetplan.data.label_table import LabelTable
    from budgetplan.planner.export import WorkItem

MAP_COLUMNS = ("image_id", "x", "y", "role", "rank", "classes", "target_label")
WORKLIST_ROLE = "to annotate"
BACKGROUND_ROLE = "other images"


def project_2d(
    vectors: np.ndarray, rows: Sequence[int] | np.ndarray, *, fit_rows: int = 5000, seed: int = 0
) -> np.ndarray:
    """PCA coordinates (len(rows), 2) of ``vectors[rows]``, fitted on a seeded sample of at most
    ``fit_rows`` rows of ``vectors`` (all rows when fewer)."""
    from sklearn.decomposition import PCA

    n = int(vectors.shape[0])
    rows = np.asarray(rows, dtype=np.int64)
    rng = np.random.default_rng(seed)
    fit = np.sort(rng.choice(n, size=min(n, fit_rows), replace=False))
    x_fit = np.asarray(vectors[fit], dtype=np.float64)
    if n < 3 or vectors.shape[1] < 2:
        return np.zeros((len(rows), 2), dtype=np.float32)
    pca = PCA(n_components=2, svd_solver="randomized", random_state=seed).fit(x_fit)
    order = np.argsort(rows)  # memory-mapped stores read fastest in row order
    out = np.empty((len(rows), 2), dtype=np.float32)
    out[order] = pca.transform(np.asarray(vectors[rows[order]], dtype=np.float64))
    return out


def worklist_map(
    vectors: np.ndarray,
    labels: LabelTable,
    items: Sequence[WorkItem],
    target: str | None = None,
    *,
    background: int = 1500,
    seed: int = 0,
) -> pd.DataFrame:
    """The map's points: every worklist image (``role`` "to annotate", with its rank and classes)
    and a seeded sample of ``background`` other images ("other images"); ``target_label`` is
    positive / negative / missing for ``target`` (empty without one). Columns ``MAP_COLUMNS``."""
    index = pd.Index(labels.ids)
    work_rows = index.get_indexer(np.asarray([it.image_id for it in items], dtype=object))
    keep = work_rows >= 0
    items = [it for it, k in zip(items, keep, strict=True) if k]
    work_rows = work_rows[keep]
    rng = np.random.default_rng(seed + 1)
    others = np.setdiff1d(np.arange(len(index)), work_rows)
    back = np.sort(rng.choice(others, size=min(len(others), background), replace=False))
    rows = np.concatenate([work_rows, back]).astype(np.int64)
    xy = project_2d(vectors, rows, seed=seed)
    if target is not None:
        col = labels.column(target)[rows]
        tl = np.where(np.isnan(col), "missing", np.where(col == 1, "positive", "negative"))
    else:
        tl = np.full(len(rows), "", dtype=object)
    n_work = len(work_rows)
    return pd.DataFrame(
        {
            "image_id": np.asarray(labels.ids, dtype=object)[rows],
            "x": xy[:, 0],
            "y": xy[:, 1],
            "role": [WORKLIST_ROLE] * n_work + [BACKGROUND_ROLE] * len(back),
            "rank": [float(it.rank) for it in items] + [float("nan")] * len(back),
            "classes": [", ".join(it.classes) for it in items] + [""] * len(back),
            "target_label": tl,
        },
        columns=list(MAP_COLUMNS),
    )


def text_map(frame: pd.DataFrame, *, width: int = 64, height: int = 18, top: int = 9) -> list[str]:
    """A character scatter of :func:`worklist_map`'s frame (for the Markdown report): ``.`` other
    images, ``*`` images to annotate, ``1``-``9`` the first ``top`` of the worklist (drawn last,
    so they stay visible)."""
    if frame.empty:
        return []
    x, y = frame["x"].to_numpy(float), frame["y"].to_numpy(float)
    span_x = float(np.ptp(x)) or 1.0
    span_y = float(np.ptp(y)) or 1.0
    col = np.clip(((x - x.min()) / span_x * (width - 1)).round().astype(int), 0, width - 1)
    row = np.clip(((y.max() - y) / span_y * (height - 1)).round().astype(int), 0, height - 1)
    grid = [[" "] * width for _ in range(height)]
    work = frame["role"].to_numpy() == WORKLIST_ROLE
    rank = frame["rank"].to_numpy(float)
    for i in np.flatnonzero(~work):
        grid[row[i]][col[i]] = "."
    for i in np.flatnonzero(work & ~(rank <= top)):
        grid[row[i]][col[i]] = "*"
    for i in sorted(np.flatnonzero(work & (rank <= top)), key=lambda j: -rank[j]):
        grid[row[i]][col[i]] = str(int(rank[i]))[-1]
    return ["".join(r).rstrip() for r in grid]


def resolve_image(path: str, image_root: str | os.PathLike[str] | None = None) -> Path | None:
    """The existing image file of ``path`` (as the label table gives it, absolute or relative to
    ``image_root`` or the working directory), or None when there is none."""
    if not path:
        return None
    p = Path(path)
    if p.is_absolute() or not image_root:
        candidates = [p]
    else:
        candidates = [Path(image_root) / p, Path(image_root) / p.name]
    for c in candidates:
        try:
            if c.is_file():
                return c
        except OSError:
            continue
    return None
