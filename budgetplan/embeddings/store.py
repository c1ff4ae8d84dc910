"""EmbeddingStore: L2-normalised float32 vectors on disk, their ids, a manifest and a FAISS index.

A store is a directory::

    vectors.npy     float32 (N, d), unit rows; memory-mapped on open (allow_pickle=False)
    ids.txt         one image id per line, unique, in row order
    manifest.json   backbone, weights, image_size, dim, n, created, checksum, simulated,
                    random_weights, index (kind, params, recall), faiss_version, extra fields
    index.faiss     the FAISS index over the vectors (flat / IVF / HNSW, inner product)
    knn_*.npz       cached self-kNN results (keyed by checksum and index, so never stale)

Creation writes everything into a temporary directory beside the target and renames it into place,
so an interrupted create never leaves a store that opens. Opening checks that the manifest, the
vectors, the ids and the index agree in size and dimension (and, on request, the checksum).
Inner product = cosine similarity, since rows are unit length.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from budgetplan.embeddings import faiss_index as fx
from budgetplan.embeddings.blocked_knn import cell_self_knn, top_cells, tune_probes
from budgetplan.errors import BudgetplanError, DataMismatchError, InputFileError, short_repr
from budgetplan.io import (
    atomic_dir,
    atomic_path,
    check_replaceable,
    save_npy_atomic,
    write_json_atomic,
    write_with_atomic,
)

ProgressFn = Callable[[int, int, str], None]

FORMAT_VERSION = 1
VECTORS, IDS, MANIFEST, INDEX = "vectors.npy", "ids.txt", "manifest.json", "index.faiss"
#: Size and mtime of vectors.npy and ids.txt when their content last matched the checksum.
VERIFIED = "verified.json"
_RESERVED = {"format_version", "dim", "n", "created", "checksum", "index", "seed", "faiss_version"}
CELLS = "ivf_cells.npy"  # (N, max_probes) nearest IVF cells of each vector, for self_knn
#: Query rows per FAISS call in ``self_knn`` / ``search``: large enough that the exact search runs
#: as BLAS matrix products, small enough that the (batch, N) score block stays a few hundred MB.
QUERY_BATCH = 8192
_CHUNK = 16384  # rows per chunk when validating, normalising and hashing (~128 MB at d=1024)


# ---------------------------------------------------------------------- validation helpers
def _as_matrix(vectors: Any) -> np.ndarray:
    """A 2-D float array view of ``vectors``; ragged rows raise, naming the first bad row."""
    if isinstance(vectors, np.ndarray) and vectors.dtype != object:
        arr = vectors
    else:
        rows = list(vectors)
        if not rows:
            raise DataMismatchError("no vectors given (0 rows)")
        d = len(np.ravel(rows[0]))
        for i, r in enumerate(rows):
            if len(np.ravel(r)) != d:
                raise DataMismatchError(
                    f"vector row {i} has {len(np.ravel(r))} values, expected {d} (like row 0)"
                )
        arr = np.asarray(rows, dtype=np.float32).reshape(len(rows), d)
    if arr.ndim != 2:
        raise DataMismatchError(f"vectors must be a 2-D array (N, d), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise DataMismatchError(f"vectors must be real numbers, got dtype {arr.dtype}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataMismatchError(f"vectors are empty (shape {arr.shape})")
    return arr


def _clean_ids(ids: Iterable[object], n: int) -> list[str]:
    out = [str(i).strip() for i in ids]
    if len(out) != n:
        raise DataMismatchError(
            f"{len(out)} ids for {n} vectors; there must be one id per vector row"
        )
    seen: dict[str, int] = {}
    for row, i in enumerate(out):
        if not i or "\n" in i or "\r" in i:
            raise DataMismatchError(
                f"id at row {row} is blank or contains a line break: {short_repr(i)}"
            )
        if i in seen:
            raise DataMismatchError(
                f"duplicate id {short_repr(i)} at rows {seen[i]} and {row}; ids must be unique"
            )
        seen[i] = row
    return out


def normalise_chunk(chunk: np.ndarray, offset: int = 0) -> np.ndarray:
    """Unit-length float32 rows; NaN / inf / zero-norm rows raise, naming the first bad row.

    Works in float32 (one pass for the squared norms, which also exposes any NaN / inf); rows whose
    squared norm over- or underflows float32 are redone in float64.
    """
    x = np.asarray(chunk)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        x32 = x if x.dtype == np.float32 else x.astype(np.float32)
        sq = np.einsum("ij,ij->i", x32, x32)
    odd = ~np.isfinite(sq) | ~(sq > 1e-30)
    if not odd.any():
        return x32 / np.sqrt(sq)[:, None]
    out = np.empty(x.shape, dtype=np.float32)
    good = ~odd
    out[good] = x32[good] / np.sqrt(sq[good])[:, None]
    rows = np.flatnonzero(odd)
    x64 = np.asarray(x[rows], dtype=np.float64)
    finite = np.isfinite(x64).all(axis=1)
    if not finite.all():
        r = int(np.argmin(finite))
        what = "NaN" if np.isnan(x64[r]).any() else "inf"
        raise DataMismatchError(
            f"vector row {offset + int(rows[r])} contains {what}; embeddings must be finite"
        )
    scale = np.abs(x64).max(axis=1, keepdims=True)  # avoids overflow of the squares
    scaled = x64 / np.where(scale > 0, scale, 1.0)
    norms = np.linalg.norm(scaled, axis=1)
    zero = ~(scale[:, 0] > 0) | ~(norms > 0)
    if zero.any():
        r = int(np.argmax(zero))
        raise DataMismatchError(
            f"vector row {offset + int(rows[r])} has zero norm; it cannot be L2-normalised"
        )
    out[rows] = (scaled / norms[:, None]).astype(np.float32)
    return out


def checksum_of(vectors: np.ndarray, ids: Sequence[str]) -> str:
    """sha256 of the float32 vector bytes (C order, little-endian, in chunks) and the ids."""
    h = hashlib.sha256()
    for s in range(0, vectors.shape[0], _CHUNK):
        h.update(np.ascontiguousarray(vectors[s : s + _CHUNK], dtype="<f4").data)  # no copy
    h.update(b"\0ids\0")
    h.update("\n".join(ids).encode("utf-8"))
    return h.hexdigest()


def exclude_self(
    sims: np.ndarray, idx: np.ndarray, rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """From k+1 neighbours of each stored row, drop the row itself (else the last neighbour)."""
    own = idx == rows[:, None]
    none = ~own.any(axis=1)
    own[none, -1] = True
    order = np.argsort(own, axis=1, kind="stable")[:, :k]  # False (keep) first, order preserved
    return np.take_along_axis(sims, order, axis=1), np.take_along_axis(idx, order, axis=1)


# ---------------------------------------------------------------------- the store
@dataclass
class EmbeddingStore:
    """An opened store: memory-mapped vectors, ids, manifest and (lazily searched) FAISS index."""

    root: Path
    vectors: np.ndarray
    ids: np.ndarray
    manifest: dict[str, Any]
    _index: Any = field(default=None, repr=False)
    _id_pos: dict[str, int] | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ properties
    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])

    def __len__(self) -> int:
        return self.n

    @property
    def checksum(self) -> str:
        return str(self.manifest["checksum"])

    @property
    def simulated(self) -> bool:
        return bool(self.manifest.get("simulated", False))

    @property
    def index_kind(self) -> str:
        return str(self.manifest["index"]["kind"])

    @property
    def index(self) -> Any:
        """The FAISS index (read at open; moved to a GPU on first use when GPU FAISS sees one)."""
        return self._index

    def position(self, ids: Sequence[str]) -> np.ndarray:
        """Row of each id; unknown ids raise DataMismatchError with examples."""
        if self._id_pos is None:
            self._id_pos = {str(i): r for r, i in enumerate(self.ids)}
        pos = np.array([self._id_pos.get(str(i), -1) for i in ids], dtype=np.int64)
        if (pos < 0).any():
            missing = [str(i) for i, p in zip(ids, pos, strict=True) if p < 0]
            raise DataMismatchError(
                f"{len(missing)} ids are not in the embedding store {self.root}, e.g. {missing[:3]}"
            )
        return pos

    # ------------------------------------------------------------------ create
    @classmethod
    def create(
        cls,
        root: str | os.PathLike[str],
        vectors: Any,
        ids: Iterable[object],
        *,
        backbone: str = "unknown",
        weights: str | None = None,
        image_size: int | None = None,
        simulated: bool = False,
        random_weights: bool = False,
        index: str = "auto",
        index_params: dict[str, Any] | None = None,
        dim: int | None = None,
        overwrite: bool = False,
        seed: int = 0,
        recall_k: int = 10,
        recall_target: float = fx.RECALL_TARGET,
        threads: int | None = None,
        progress: ProgressFn | None = None,
        **extra: Any,
    ) -> EmbeddingStore:
        """Validate, L2-normalise and write ``vectors`` (N, d) with their ``ids``; build the index.

        Args:
            root: the store directory to create (its parent is created if needed).
            vectors: (N, d) numbers (array, memmap or list of rows); NaN, inf, zero-norm and
                wrong-length rows raise :class:`DataMismatchError` naming the first bad row.
            ids: N unique image ids (no blanks or line breaks).
            backbone, weights, image_size, simulated, random_weights: provenance for the manifest.
            index: ``"auto"`` (exact up to ``faiss_index.AUTO_FLAT_MAX`` vectors, IVF above),
                ``"flat"``, ``"ivf"`` or ``"hnsw"``; ``index_params`` override the defaults.
            dim: expected dimension (e.g. 1024 for DenseNet121); checked when given.
            overwrite: replace an existing store at ``root`` (otherwise an error).
            seed: seeds the IVF training sample and the recall query sample; recorded in the
                manifest (callers such as the demo pass their generator seed here).
            recall_k, recall_target: approximate indexes are measured (recall@k against exact
                search on 500 stored vectors) and, for ``index="auto"``, their search knob is
                raised until the recall reaches ``recall_target``.
            extra: more JSON-serialisable manifest fields (e.g. ``seed`` of a simulation).
        """
        root = Path(root)
        report = progress or (lambda d, t, m: None)
        arr = _as_matrix(vectors)
        n, d = arr.shape
        if dim is not None and d != dim:
            raise DataMismatchError(
                f"vectors have dimension {d}, expected {dim} for backbone {backbone!r}"
            )
        id_list = _clean_ids(ids, n)
        spec = fx.default_spec(index, n)
        spec.params.update(index_params or {})
        if root.exists() or root.is_symlink():
            if not overwrite:
                raise InputFileError(
                    root, "already exists; choose another directory or pass overwrite"
                )
            check_replaceable(root, MANIFEST)
        fx.set_threads(threads, work=n)

        with atomic_dir(root, overwrite=overwrite, marker=MANIFEST) as tmp:
            report(0, 4, "normalising vectors")
            _write_normalised(tmp / VECTORS, arr)
            out = np.load(tmp / VECTORS, mmap_mode="r", allow_pickle=False)
            (tmp / IDS).write_text("".join(f"{i}\n" for i in id_list), encoding="utf-8")
            report(1, 4, f"building {spec.kind} index")
            built, index_entry, cells = _build_and_measure(
                out, spec, index, seed=seed, k=recall_k, target=recall_target
            )
            report(2, 4, "writing index")
            if cells is not None:
                np.save(tmp / CELLS, cells.astype(np.int32), allow_pickle=False)
            fx.write_index(built, tmp / INDEX)
            report(3, 4, "checksum")
            manifest = {
                "format_version": FORMAT_VERSION,
                "backbone": backbone,
                "weights": weights,
                "image_size": image_size,
                "dim": d,
                "n": n,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "checksum": checksum_of(out, id_list),
                "simulated": bool(simulated),
                "random_weights": bool(random_weights),
                "index": index_entry,
                "seed": seed,
                "faiss_version": fx.faiss_version(),
                **extra,
            }
            clash = sorted(set(extra) & _RESERVED)
            if clash:
                raise BudgetplanError(f"manifest fields {clash} are set by the store itself")
            _check_json(manifest)
            write_json_atomic(tmp / MANIFEST, manifest)
            _record_verified(tmp, manifest)
            del out
            report(4, 4, "done")
        return cls.open(root)

    # ------------------------------------------------------------------ open
    @classmethod
    def open(cls, root: str | os.PathLike[str], verify_checksum: bool = False) -> EmbeddingStore:
        """Open a store, checking that manifest, vectors, ids and index agree.

        Sizes and dimensions are always checked, and so is the content: the vectors and ids are
        re-hashed (about a second per 100k x 1024 store) when their size or mtime differ from
        those recorded (``verified.json``) when they last matched the manifest's checksum; a
        changed or non-finite store raises instead of answering from caches keyed on that
        checksum. ``verify_checksum`` re-hashes regardless.
        """
        root = Path(root)
        if not root.is_dir():
            raise InputFileError(root, "embedding store not found (no such directory)")
        manifest = _read_manifest(root / MANIFEST)
        n, d = manifest["n"], manifest["dim"]
        vectors = _read_vectors(root / VECTORS)
        if vectors.shape != (n, d):
            raise DataMismatchError(
                f"{root / VECTORS}: holds {vectors.shape[0]} x {vectors.shape[1]} vectors but "
                f"{MANIFEST} says {n} x {d}; the store is damaged, create it again"
            )
        ids = _read_ids(root / IDS)
        if len(ids) != n:
            raise DataMismatchError(
                f"{root / IDS}: has {len(ids)} ids but {VECTORS} has {n} rows; "
                "create the store again"
            )
        index = fx.read_index(root / INDEX)
        if index.ntotal != n or index.d != d:
            raise DataMismatchError(
                f"{root / INDEX}: index.faiss holds {index.ntotal} vectors of dim {index.d} but "
                f"{VECTORS} has {n} x {d}; rebuild with EmbeddingStore.rebuild_index({str(root)!r})"
            )
        fx.apply_search_params(
            index, fx.IndexSpec(manifest["index"]["kind"], manifest["index"]["params"])
        )
        store = cls(
            root=root, vectors=vectors, ids=np.asarray(ids, dtype=object), manifest=manifest
        )
        store._index = index
        if verify_checksum or not _verified_before(root, manifest):
            _verify_content(root, vectors, ids, str(manifest["checksum"]))
            _record_verified(root, manifest)
        return store

    @classmethod
    def rebuild_index(
        cls,
        root: str | os.PathLike[str],
        index: str = "auto",
        index_params: dict[str, Any] | None = None,
        seed: int = 0,
    ) -> EmbeddingStore:
        """Rebuild index.faiss (and its manifest entry) from vectors.npy; drops cached kNN."""
        root = Path(root)
        manifest = _read_manifest(root / MANIFEST)
        vectors = _read_vectors(root / VECTORS)
        spec = fx.default_spec(index, vectors.shape[0])
        spec.params.update(index_params or {})
        fx.set_threads(None, work=vectors.shape[0])
        k = int(manifest.get("index", {}).get("recall", {}).get("k", 10))
        built, index_entry, cells = _build_and_measure(vectors, spec, index, seed=seed, k=k)
        for old in [*root.glob("knn_*.npz"), root / CELLS]:
            old.unlink(missing_ok=True)
        if cells is not None:
            save_npy_atomic(root / CELLS, cells.astype(np.int32))
        with atomic_path(root / INDEX) as tmp:
            fx.write_index(built, tmp)
        manifest["index"] = index_entry
        manifest["index_rebuilt"] = datetime.now(UTC).isoformat(timespec="seconds")
        write_json_atomic(root / MANIFEST, manifest)
        return cls.open(root)

    # ------------------------------------------------------------------ search
    def _search_index(self) -> Any:
        if (
            self._index is not None
            and fx.gpu_available()
            and "Gpu" not in type(self._index).__name__
        ):
            self._index = fx.to_gpu(self._index)
        return self._index

    def search(
        self, queries: np.ndarray, k: int = 10, normalise: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` stored vectors by cosine for each query row.

        Returns ``(similarities (M, k) float32, indices (M, k) int64)``, best first; indices are
        rows of ``vectors`` / ``ids``. Queries are L2-normalised unless ``normalise=False``.
        """
        q = _as_matrix(queries)
        if q.shape[1] != self.dim:
            raise DataMismatchError(
                f"queries have dimension {q.shape[1]}, the store has {self.dim}"
            )
        if not 1 <= k <= self.n:
            raise BudgetplanError(f"k={k} must be between 1 and the store size {self.n}")
        fx.set_threads(None, work=self.n)
        index = self._search_index()
        sims = np.empty((q.shape[0], k), dtype=np.float32)
        idx = np.empty((q.shape[0], k), dtype=np.int64)
        for s in range(0, q.shape[0], QUERY_BATCH):
            block = q[s : s + QUERY_BATCH]
            block = (
                normalise_chunk(block, offset=s)
                if normalise
                else np.ascontiguousarray(block, np.float32)
            )
            sims[s : s + len(block)], idx[s : s + len(block)] = index.search(block, k)
        return sims, idx

    def self_knn(
        self,
        k: int = 10,
        progress: ProgressFn | None = None,
        batch: int = QUERY_BATCH,
        cache: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest other stored vectors of every stored vector (the row itself excluded).

        Returns ``(similarities (N, k) float32, indices (N, k) int64)``, best first. A flat or
        HNSW store runs its index in query batches of ``batch`` rows (BLAS speed for the exact
        index); an IVF store computes cell-by-cell matrix products over the ``knn_probes``
        nearest cells of each vector (``blocked_knn.cell_self_knn``; recall recorded in
        ``manifest["index"]["recall"]["self_knn"]``). The answer is cached in the store directory,
        keyed by checksum and index, so a rebuilt store never reads a stale one; a second call
        (also for a smaller ``k``) loads it.
        """
        if not 1 <= k < self.n:
            raise BudgetplanError(f"self_knn: k={k} must be between 1 and N-1={self.n - 1}")
        path = self._knn_cache_path(k)
        if cache:
            hit = self._load_knn(k)
            if hit is not None:
                return hit
        report = progress or (lambda d, t, m: None)
        fx.set_threads(None, work=self.n)
        index = self._search_index()
        sims = np.empty((self.n, k), dtype=np.float32)
        idx = np.empty((self.n, k), dtype=np.int64)
        kind = self.index_kind
        report(0, self.n, f"{kind} self-kNN")
        if kind == "ivf":
            probes = int(self.manifest["index"]["params"].get("knn_probes", 3))
            sims, idx = cell_self_knn(
                self.vectors, self._cells(probes), k, probes=probes, progress=progress
            )
        for s in range(0, self.n if kind != "ivf" else 0, batch):
            e = min(self.n, s + batch)
            block = np.ascontiguousarray(self.vectors[s:e], dtype=np.float32)
            d_, i_ = index.search(block, k + 1)
            sims[s:e], idx[s:e] = exclude_self(d_, i_, np.arange(s, e), k)
            report(e, self.n, f"{kind} self-kNN")
        if cache:
            try:
                write_with_atomic(path, lambda fh: np.savez(fh, similarities=sims, indices=idx))
            except OSError:  # a read-only store still answers, it just cannot cache
                pass
        return sims, idx

    def _cells(self, probes: int) -> np.ndarray:
        """Nearest IVF cells of each vector: saved at build time, recomputed if absent."""
        path = self.root / CELLS
        if path.is_file():
            try:
                cells = np.load(path, allow_pickle=False)
                if cells.ndim == 2 and cells.shape[0] == self.n and cells.shape[1] >= probes:
                    return cells.astype(np.int64)
            except (OSError, ValueError):
                pass
        return top_cells(self.vectors, fx.ivf_centroids(self._index), probes)

    def _knn_key(self) -> str:
        spec = json.dumps([self.checksum, self.manifest["index"]], sort_keys=True, default=str)
        return hashlib.sha256(spec.encode()).hexdigest()[:12]

    def _knn_cache_path(self, k: int) -> Path:
        return self.root / f"knn_k{k}_{self.index_kind}_{self._knn_key()}.npz"

    def _load_knn(self, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """A cached answer for ``k`` (or the first ``k`` columns of a larger cached ``k``)."""
        key = self._knn_key()
        candidates = []
        for p in self.root.glob(f"knn_k*_{self.index_kind}_{key}.npz"):
            try:
                kk = int(p.name.split("_")[1][1:])
            except ValueError:
                continue
            if kk >= k:
                candidates.append((kk, p))
        for _, p in sorted(candidates):
            try:
                with np.load(p, allow_pickle=False) as z:
                    sims, idx = z["similarities"], z["indices"]
            except (OSError, ValueError, KeyError):
                continue
            if sims.shape[0] == self.n and idx.shape == sims.shape:
                return np.ascontiguousarray(sims[:, :k]), np.ascontiguousarray(idx[:, :k])
        return None

    def __repr__(self) -> str:
        sim = ", simulated" if self.simulated else ""
        return f"EmbeddingStore({self.root}, {self.n} x {self.dim}, {self.index_kind} index{sim})"


def _build_and_measure(
    vectors: np.ndarray,
    spec: fx.IndexSpec,
    requested: str,
    seed: int = 0,
    k: int = 10,
    target: float = fx.RECALL_TARGET,
) -> tuple[Any, dict[str, Any], np.ndarray | None]:
    """Build the index, measure its recall@k (tuning the knobs for ``auto``).

    Returns ``(index, manifest entry, cells)``; ``cells`` (IVF only) are the nearest cells of each
    vector, which ``self_knn`` reuses. For IVF two recalls are recorded: ``recall`` of
    ``search`` (per-query FAISS with ``nprobe``) and ``self_knn`` (cell blocks with ``knn_probes``).
    """
    t0 = time.perf_counter()
    cells = None
    if spec.kind == "ivf":
        built, cells = fx.build_ivf(vectors, spec, seed=seed)
    else:
        built = fx.build_index(vectors, spec, seed=seed)
    build_seconds = time.perf_counter() - t0
    if spec.kind == "flat":
        return (
            built,
            _entry(spec, requested, {"k": k, "recall": 1.0, "exact": True}, t0, build_seconds),
            None,
        )
    if requested == "auto":
        recall = fx.tune_recall(built, spec, vectors, target=target, k=k, seed=seed)
    else:
        recall = fx.measure_recall(built, vectors, k=k, seed=seed)
    if cells is not None:
        start = int(spec.params.get("knn_probes", 1 if requested == "auto" else 3))
        probes, knn_recall = tune_probes(
            vectors,
            cells,
            k=k,
            start=start,
            target=target if requested == "auto" else None,
            seed=seed,
            max_cost=fx.MAX_KNN_COST,
        )
        spec.params["knn_probes"] = probes
        recall["self_knn"] = knn_recall
        cells = cells[:, :probes]
        if requested == "auto" and (
            knn_recall["recall"] < target or knn_recall["cost"] > fx.MAX_KNN_COST
        ):
            # These vectors are too spread out for cells to pay: exact search it is.
            fallback = {"kind": "ivf", "params": spec.params, "recall": recall}
            flat = fx.IndexSpec("flat", {})
            built = fx.build_index(vectors, flat, seed=seed)
            entry = _entry(
                flat, requested, {"k": k, "recall": 1.0, "exact": True}, t0, build_seconds
            )
            entry["fallback_from"] = fallback
            return built, entry, None
    return built, _entry(spec, requested, recall, t0, build_seconds), cells


def _entry(
    spec: fx.IndexSpec, requested: str, recall: dict[str, Any], t0: float, build_seconds: float
) -> dict[str, Any]:
    """The manifest's ``index`` entry."""
    return {
        "kind": spec.kind,
        "requested": requested,
        "params": spec.params,
        "recall": recall,
        "build_seconds": round(build_seconds, 3),
        "measure_seconds": round(time.perf_counter() - t0 - build_seconds, 3),
    }


# ---------------------------------------------------------------------- reading helpers
def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputFileError(
            path,
            "manifest is missing; this is not an embedding store (or its creation was interrupted)",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read manifest: {exc}") from None
    if not text.strip():
        raise InputFileError(path, "manifest is empty")
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            path, f"manifest is not valid JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    if not isinstance(manifest, dict):
        raise InputFileError(path, "manifest must be a JSON object")
    missing = [k for k in ("n", "dim", "checksum", "index") if k not in manifest]
    if missing:
        raise InputFileError(path, f"manifest lacks {', '.join(missing)}")
    for key in ("n", "dim"):
        value = manifest[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputFileError(
                path, f"manifest field {key!r} must be a positive integer, got {short_repr(value)}"
            )
    if not isinstance(manifest["checksum"], str):
        raise InputFileError(path, "manifest field 'checksum' must be a string")
    entry = manifest["index"]
    if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
        raise InputFileError(path, "manifest 'index' entry lacks 'kind'")
    if entry["kind"] not in fx.KINDS:
        raise InputFileError(path, f"manifest 'index.kind' {short_repr(entry['kind'])} is unknown")
    if not isinstance(entry.get("params"), dict):
        raise InputFileError(
            path,
            "manifest 'index.params' is missing or not an object; "
            "rebuild it with EmbeddingStore.rebuild_index",
        )
    return manifest


def _read_vectors(path: Path) -> np.ndarray:
    if not path.is_file():
        raise InputFileError(path, "vectors file is missing")
    if path.stat().st_size == 0:
        raise InputFileError(path, "vectors file is empty")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputFileError(
            path, f"not a readable .npy array ({str(exc).splitlines()[0][:200]})"
        ) from None
    if not isinstance(arr, np.ndarray):  # an .npz archive renamed .npy
        getattr(arr, "close", lambda: None)()
        raise InputFileError(path, "is an .npz archive, not an .npy array")
    if arr.dtype != np.float32 or arr.ndim != 2:
        raise InputFileError(
            path, f"expected a float32 (N, d) array, found {arr.dtype} {arr.shape}"
        )
    return arr


def _write_normalised(path: Path, arr: np.ndarray) -> None:
    """Write the unit rows of ``arr`` as a float32 ``.npy`` through an ordinary file.

    Not ``open_memmap``: stores into a memory map on a full disk die with SIGBUS (no message,
    the temp directory left behind); ``write`` raises ENOSPC, which ``atomic_dir`` cleans up
    and the CLI reports in one line.
    """
    n, d = arr.shape
    header = {"descr": "<f4", "fortran_order": False, "shape": (n, d)}
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for s in range(0, n, _CHUNK):
            block = normalise_chunk(arr[s : s + _CHUNK], offset=s)
            fh.write(np.ascontiguousarray(block, dtype="<f4").tobytes())


def _file_stats(root: Path) -> dict[str, list[int]]:
    out = {}
    for name in (VECTORS, IDS):
        st = (root / name).stat()
        out[name] = [st.st_size, st.st_mtime_ns]
    return out


def _record_verified(root: Path, manifest: dict[str, Any]) -> None:
    """Remember size + mtime of vectors.npy and ids.txt, whose content matches the checksum."""
    try:
        write_json_atomic(
            root / VERIFIED, {"checksum": manifest["checksum"], "files": _file_stats(root)}
        )
    except OSError:  # a read-only store is re-hashed on every open instead
        pass


def _verified_before(root: Path, manifest: dict[str, Any]) -> bool:
    """True when vectors.npy and ids.txt are unchanged (size, mtime) since their last check."""
    try:
        rec = json.loads((root / VERIFIED).read_text(encoding="utf-8"))
        return bool(
            isinstance(rec, dict)
            and rec.get("checksum") == manifest["checksum"]
            and rec.get("files") == _file_stats(root)
        )
    except (OSError, ValueError):
        return False


def _verify_content(root: Path, vectors: np.ndarray, ids: Sequence[str], expected: str) -> None:
    """Re-hash vectors + ids against the manifest's checksum; refuse NaN / inf rows (one line)."""
    h = hashlib.sha256()
    for s in range(0, vectors.shape[0], _CHUNK):
        block = np.ascontiguousarray(vectors[s : s + _CHUNK], dtype="<f4")
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            r = s + int(np.argmin(finite))
            what = "NaN" if np.isnan(vectors[r]).any() else "inf"
            raise InputFileError(
                root / VECTORS,
                f"row {r} contains {what}; the store is damaged, create it again "
                "(budgetplan ingest --overwrite)",
            )
        h.update(block.data)
    h.update(b"\0ids\0")
    h.update("\n".join(ids).encode("utf-8"))
    got = h.hexdigest()
    if got != expected:
        raise DataMismatchError(
            f"{root / VECTORS}: the vectors or ids changed since the store was created "
            f"(checksum {got[:12]}... is not the manifest's {expected[:12]}...); create the "
            "store again (budgetplan ingest --overwrite) rather than edit it"
        )


def _read_ids(path: Path) -> list[str]:
    if not path.is_file():
        raise InputFileError(path, "ids file is missing")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot read ids: {exc}") from None
    return lines


def _check_json(obj: dict[str, Any]) -> None:
    try:
        json.dumps(obj, default=str)
    except (TypeError, ValueError) as exc:
        raise BudgetplanError(f"manifest fields must be JSON-serialisable: {exc}") from None


__all__ = ["EmbeddingStore", "checksum_of", "normalise_chunk", "exclude_self"]
