"""On-disk cache of the prepared problem: the set-up a repeated ``recommend`` would redo.

``StudyPlanner``'s set-up spends most of its time on three pure functions of the data and a few
config fields: the PCA projection of the pool, validation and test vectors
(``problem.prepare_problem``), the pool's exact kNN (``neighbours.pool_knn``, array path) and the
relations of every class to the target (``screen.relation_scores``). Each result is kept as one
``.npz`` under ``cache_dir()/prepared/<stage>-<key>.npz``, written atomically
(``budgetplan.io.write_with_atomic``) and read with ``allow_pickle=False`` (plain arrays only:
no pickle is ever loaded).

The key (:func:`prepared_key`) hashes the stage, :data:`PREPARED_VERSION` and the inputs that
change the result: the data's checksum (vectors + labels, verified by ``EmbeddingStore.open``)
and the config fields the stage reads (target, pool and validation sizes, PCA dimension, seed,
k), plus the rows drawn (so a change in how they are drawn never reuses a stale entry) and the
digest of the code that computes the stages (:func:`code_digest`: an upgrade that changes a
relation's definition is a miss). A file
that cannot be read, holds other arrays, other shapes, non-finite values or another key is a
miss: the stage is recomputed and the file rewritten, never fatal.

The folder is bounded: each stage keeps its :data:`MAX_ENTRIES_PER_STAGE` most recently used
entries (a hit refreshes an entry's mtime; older ones are deleted after each save). Without it
every new seed, config or upgrade left ~30 MB behind on the demo for good.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from budgetplan.io import write_with_atomic

PREPARED_VERSION = 1
MAX_ENTRIES_PER_STAGE = 12  # most recently used entries kept per stage (see the module doc)

# the code the cached stages run: a change to any of these files is a new key, so an upgrade
# that changes a relation's definition never reuses an entry computed by the old code
_STAGE_SOURCES = ("planner/problem.py", "planner/neighbours.py", "planner/screen.py", "relations")

Arrays = dict[str, np.ndarray]


@functools.cache
def code_digest(root: Path | None = None) -> str:
    """sha256 (16 hex) of the source files that compute the cached stages (below ``root``, the
    installed ``budgetplan`` package by default)."""
    root = Path(__file__).resolve().parents[1] if root is None else root
    files: list[Path] = []
    for part in _STAGE_SOURCES:
        path = root / part
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def prepared_key(stage: str, parts: Mapping[str, Any]) -> str:
    """sha256 (32 hex) of the stage, the cache version, the stage code's digest and ``parts``
    (JSON, keys sorted)."""
    head = {"stage": stage, "v": PREPARED_VERSION, "code": code_digest()}
    text = json.dumps({**head, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def digest_rows(rows: np.ndarray) -> str:
    """Short sha256 of integer rows (part of a key)."""
    return hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()[:16]


class PreparedCache:
    """Directory of prepared set-up results; ``enabled=False`` (``--no-cache``) computes always."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        enabled: bool = True,
        max_entries: int = MAX_ENTRIES_PER_STAGE,
    ) -> None:
        self.root = Path(root)
        self.enabled = enabled
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def path(self, stage: str, key: str) -> Path:
        return self.root / f"{stage}-{key}.npz"

    def load(
        self, stage: str, key: str, shapes: Mapping[str, tuple[int | None, ...]]
    ) -> Arrays | None:
        """The stored arrays if the file is whole, holds ``key`` and exactly the arrays of
        ``shapes`` at those shapes (None = any size; float arrays named ``x*`` finite), else
        None."""
        if not self.enabled:
            return None
        try:
            with np.load(self.path(stage, key), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            return None
        return arrays if _valid(arrays, key, shapes) else None

    def save(self, stage: str, key: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Write the arrays (and the key, checked on load) atomically; a failed write is
        ignored (the cache is an optimisation, ``RunCache.check_writable`` guards the folder)."""
        if not self.enabled:
            return
        body = {**{k: np.asarray(v) for k, v in arrays.items()}, "_key": np.asarray(key)}

        def writer(fh: BinaryIO) -> None:
            buf = io.BytesIO()
            np.savez(buf, **body)  # type: ignore[arg-type]
            fh.write(buf.getvalue())

        try:
            write_with_atomic(self.path(stage, key), writer)
        except OSError:
            return
        self.prune(stage, keep=self.path(stage, key))

    def prune(self, stage: str, keep: Path | None = None) -> None:
        """Delete all but the ``max_entries`` most recently used entries of ``stage`` (``keep``,
        the entry just written, always stays). Files another process removes first, or that
        cannot be removed, are skipped: pruning never fails a run."""
        entries = []
        for f in self.root.glob(f"{stage}-*.npz"):
            try:
                entries.append((f.stat().st_mtime, f))
            except OSError:
                continue
        entries.sort(key=lambda e: e[0], reverse=True)
        for _, f in entries[self.max_entries :]:
            if f != keep:
                with contextlib.suppress(OSError):
                    f.unlink()

    def get_or_compute(
        self,
        stage: str,
        key: str,
        compute: Callable[[], Arrays],
        shapes: Mapping[str, tuple[int | None, ...]],
    ) -> Arrays:
        """The cached arrays of ``stage``/``key``, or ``compute()`` saved for the next run."""
        hit = self.load(stage, key, shapes)
        if hit is not None:
            self.hits += 1
            with contextlib.suppress(OSError):  # most recently used: kept by prune
                os.utime(self.path(stage, key))
            return hit
        self.misses += 1
        arrays = compute()
        self.save(stage, key, arrays)
        return arrays


def _valid(arrays: Arrays, key: str, shapes: Mapping[str, tuple[int | None, ...]]) -> bool:
    stored = arrays.pop("_key", None)
    if stored is None or stored.shape != () or str(stored) != key:
        return False
    if set(arrays) != set(shapes):
        return False
    for name, want in shapes.items():
        a = arrays[name]
        if a.dtype == object or a.ndim != len(want):
            return False
        if any(w is not None and w != s for w, s in zip(want, a.shape, strict=True)):
            return False
        if a.dtype.kind == "f" and name.startswith("x") and not np.isfinite(a).all():
            return False
    return True
