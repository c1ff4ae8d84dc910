"""FAISS indexes for unit vectors: import with an install hint, build, tune, read and write.

Inner product on L2-normalised vectors is cosine similarity, so every index here uses
``METRIC_INNER_PRODUCT``. Kinds:

- ``flat``: exact ``IndexFlatIP`` (brute force, BLAS in query batches).
- ``ivf``: ``IndexIVFFlat`` (k-means coarse quantiser with ``nlist`` cells, ``nprobe`` cells
  scanned per query). Trained on a seeded sample, so a build is reproducible.
- ``hnsw``: ``IndexHNSWFlat`` (graph with ``M`` links, ``efConstruction`` / ``efSearch``).

GPU FAISS is used only when the installed faiss has GPU support and sees a GPU; indexes are
always moved back to the CPU before they are written.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from budgetplan.errors import BudgetplanError, InputFileError

KINDS = ("auto", "flat", "ivf", "hnsw")

#: ``index="auto"`` builds an exact flat index up to this many vectors, IVF above it.
AUTO_FLAT_MAX = 50_000
#: Queries used to measure recall@k of an approximate index against exact search.
RECALL_QUERIES = 500
#: ``index="auto"`` raises ``nprobe`` / ``efSearch`` until the measured recall reaches this.
RECALL_TARGET = 0.95
#: ``index="auto"`` keeps IVF only if its self-kNN reaches the target recall at no more than this
#: share of the multiply-adds of exact search; otherwise it falls back to the exact flat index.
MAX_KNN_COST = 0.25

_INSTALL_HINT = (
    "FAISS is not installed: pip install faiss-cpu (or, for a CUDA GPU, "
    "pip uninstall faiss-cpu && pip install 'budgetplan[gpu]')"
)


def import_faiss() -> ModuleType:
    """``import faiss``, or a one-line :class:`BudgetplanError` saying how to install it."""
    try:
        import faiss
    except ImportError as exc:
        raise BudgetplanError(f"{_INSTALL_HINT} ({exc})") from None
    return faiss


def faiss_version() -> str:
    return str(getattr(import_faiss(), "__version__", "unknown"))


#: Below this many vectors FAISS runs on one OpenMP thread: on small inputs the threads' start-up
#: and barriers cost more than they save, and on a busy machine far more (12x measured at 1,500).
SMALL_N = 20_000


def set_threads(n: int | None = None, work: int | None = None) -> int:
    """Set FAISS's OpenMP threads: ``n``; else 1 for small ``work`` (< :data:`SMALL_N` vectors);
    else ``$OMP_NUM_THREADS``; else the usable cores."""
    faiss = import_faiss()
    if n is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        n = int(env) if env.isdigit() and int(env) > 0 else len(os.sched_getaffinity(0))
        if work is not None and work < SMALL_N:
            n = 1
    faiss.omp_set_num_threads(int(n))
    return int(n)


def gpu_available() -> bool:
    """True when this faiss build has GPU support and sees at least one GPU."""
    faiss = import_faiss()
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


@dataclass
class IndexSpec:
    """Which index to build and with which parameters (all recorded in the manifest)."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)


def default_spec(kind: str, n: int) -> IndexSpec:
    """Resolve ``"auto"`` and fill default parameters for ``n`` vectors.

    ``auto``: exact ``flat`` up to :data:`AUTO_FLAT_MAX` vectors (exact search is cheap there and
    needs no tuning); ``ivf`` above, where it answers a full self-kNN many times faster than exact
    search at recall@10 >= 0.95 (see bench/README.md, "kNN").
    """
    if kind not in KINDS:
        raise BudgetplanError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")
    if kind == "auto":
        kind = "flat" if n <= AUTO_FLAT_MAX else "ivf"
    if kind == "flat":
        return IndexSpec("flat", {})
    if kind == "ivf":
        # ~4 sqrt(N) cells of ~sqrt(N)/4 vectors: small cells keep self_knn's cell blocks cheap;
        # k-means on 20 vectors per cell (10 iterations) keeps the training a minor cost.
        nlist = int(min(max(1, n // 20), max(1, round(4 * math.sqrt(n)))))
        return IndexSpec(
            "ivf",
            {"nlist": nlist, "nprobe": min(nlist, 16), "train_per_cell": 20, "niter": 10},
        )
    return IndexSpec("hnsw", {"M": 32, "efConstruction": 80, "efSearch": 64})


def build_index(vectors: np.ndarray, spec: IndexSpec, seed: int = 0, batch: int = 65536) -> Any:
    """Build (train and fill) a CPU index for unit ``vectors`` (N, d) float32."""
    faiss = import_faiss()
    n, d = vectors.shape
    p = spec.params
    if spec.kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif spec.kind == "ivf":
        return build_ivf(vectors, spec, seed=seed, batch=batch)[0]
    elif spec.kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, int(p["M"]), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(p["efConstruction"])
        index.hnsw.efSearch = int(p["efSearch"])
    else:  # pragma: no cover - default_spec validates
        raise BudgetplanError(f"unknown index kind {spec.kind!r}")
    for start in range(0, n, batch):
        index.add(np.ascontiguousarray(vectors[start : start + batch], dtype=np.float32))
    return index


def build_ivf(
    vectors: np.ndarray, spec: IndexSpec, seed: int = 0, batch: int = 65536
) -> tuple[Any, np.ndarray]:
    """Train an ``IndexIVFFlat`` (seeded k-means on a sample) and fill it.

    Returns ``(index, cells)`` where ``cells`` (N, ``max_probes``) are the cells nearest to each
    vector, nearest first (column 0 is the cell it is stored in); ``cell_self_knn`` reuses them.
    """
    from budgetplan.embeddings.blocked_knn import top_cells

    faiss = import_faiss()
    n, d = vectors.shape
    p = spec.params
    nlist = int(p["nlist"])
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = int(seed)
    index.cp.niter = int(p.get("niter", 10))
    index.cp.min_points_per_centroid = 1  # a small training sample is deliberate, not an error
    train_n = min(n, int(p.get("train_per_cell", 20)) * nlist)
    rows = np.sort(np.random.default_rng(seed).choice(n, size=train_n, replace=False))
    index.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))
    centroids = quantizer.reconstruct_n(0, nlist)
    cells = top_cells(vectors, centroids, int(p.get("max_probes", 32)))
    for start in range(0, n, batch):
        x = np.ascontiguousarray(vectors[start : start + batch], dtype=np.float32)
        own = np.ascontiguousarray(cells[start : start + batch, 0], dtype=np.int64)
        index.add_core(len(x), faiss.swig_ptr(x), None, faiss.swig_ptr(own))
    index.nprobe = int(p["nprobe"])
    return index, cells


def ivf_centroids(index: Any) -> np.ndarray:
    """(nlist, d) cell centres of an IVF index."""
    ivf = import_faiss().extract_index_ivf(index)
    return np.asarray(ivf.quantizer.reconstruct_n(0, ivf.nlist), dtype=np.float32)


def apply_search_params(index: Any, spec: IndexSpec) -> None:
    """Set the search-time knobs (``nprobe`` / ``efSearch``) recorded in ``spec``."""
    if spec.kind == "ivf":
        import_faiss().extract_index_ivf(index).nprobe = int(spec.params["nprobe"])
    elif spec.kind == "hnsw":
        index.hnsw.efSearch = int(spec.params["efSearch"])


def exact_topk(vectors: np.ndarray, queries: np.ndarray, k: int, batch: int = 16384) -> np.ndarray:
    """Indices (M, k) of the top-k inner products, by NumPy matmul (the reference answer)."""
    n = vectors.shape[0]
    k = min(k, n)
    scores = np.empty((queries.shape[0], n), dtype=np.float32)
    for s in range(0, n, batch):
        scores[:, s : s + batch] = queries @ np.asarray(vectors[s : s + batch], dtype=np.float32).T
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the true k neighbours that ``found`` (M, k) contains."""
    k = truth.shape[1]
    hits = [
        len(np.intersect1d(f, t, assume_unique=True)) for f, t in zip(found, truth, strict=True)
    ]
    return float(np.sum(hits)) / (k * truth.shape[0])


def sample_rows(n: int, n_queries: int = RECALL_QUERIES, seed: int = 0) -> np.ndarray:
    """The sorted stored rows used as recall queries (the same for a given n, n_queries, seed)."""
    return np.sort(np.random.default_rng(seed).choice(n, size=min(n, n_queries), replace=False))


def measure_recall(
    index: Any,
    vectors: np.ndarray,
    k: int = 10,
    n_queries: int = RECALL_QUERIES,
    seed: int = 0,
    truth: np.ndarray | None = None,
) -> dict[str, Any]:
    """Recall@k of ``index`` against exact search, on ``n_queries`` stored vectors drawn by
    ``seed``.

    ``truth`` (the exact top-k of those rows, e.g. shared with another measurement) skips the
    exact search."""
    n = vectors.shape[0]
    k = min(k, n)
    rows = sample_rows(n, n_queries, seed)
    queries = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    if truth is None:
        truth = exact_topk(vectors, queries, k)
    _, found = index.search(queries, k)
    return {
        "k": k,
        "recall": recall_at_k(found, truth[:, :k]),
        "n_queries": len(rows),
        "seed": seed,
    }


def tune_recall(
    index: Any,
    spec: IndexSpec,
    vectors: np.ndarray,
    *,
    target: float = RECALL_TARGET,
    k: int = 10,
    seed: int = 0,
    truth: np.ndarray | None = None,
) -> dict[str, Any]:
    """Measure recall@k; for ``ivf`` / ``hnsw`` double ``nprobe`` / ``efSearch`` until it reaches
    ``target`` (or the knob is at its maximum). Updates ``spec.params`` and returns the recall."""
    if truth is None:
        rows = sample_rows(vectors.shape[0], RECALL_QUERIES, seed)
        truth = exact_topk(vectors, np.asarray(vectors[rows], dtype=np.float32), k)
    result = measure_recall(index, vectors, k=k, seed=seed, truth=truth)
    knob = {"ivf": "nprobe", "hnsw": "efSearch"}.get(spec.kind)
    if knob is None:
        return result
    limit = int(spec.params["nlist"]) if spec.kind == "ivf" else 4096
    while result["recall"] < target and int(spec.params[knob]) < limit:
        spec.params[knob] = min(limit, 2 * int(spec.params[knob]))
        apply_search_params(index, spec)
        result = measure_recall(index, vectors, k=k, seed=seed, truth=truth)
    return result


def to_gpu(index: Any) -> Any:
    """The index on GPU 0 when GPU FAISS is usable (flat and IVF only), else unchanged."""
    if not gpu_available():
        return index
    faiss = import_faiss()
    try:
        return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    except RuntimeError:  # e.g. HNSW has no GPU version
        return index


def to_cpu(index: Any) -> Any:
    faiss = import_faiss()
    if hasattr(faiss, "index_gpu_to_cpu") and "Gpu" in type(index).__name__:
        return faiss.index_gpu_to_cpu(index)
    return index


def write_index(index: Any, path: Path) -> None:
    """Write ``index`` (moved to CPU first) to ``path``."""
    import_faiss().write_index(to_cpu(index), str(path))


def read_index(path: Path) -> Any:
    """Read an index file; flat indexes are memory-mapped when this faiss supports it."""
    faiss = import_faiss()
    if not path.is_file():
        raise InputFileError(path, "index file is missing")
    if path.stat().st_size == 0:
        raise InputFileError(path, "index file is empty")
    flag = getattr(faiss, "IO_FLAG_MMAP_IFC", 0) | getattr(faiss, "IO_FLAG_READ_ONLY", 0)
    try:
        try:
            return faiss.read_index(str(path), flag)
        except RuntimeError:
            return faiss.read_index(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(path, f"not a readable FAISS index ({first[:200]})") from None
