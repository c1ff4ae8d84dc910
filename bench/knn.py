"""Self-kNN (k = 10, the image itself excluded) of N x 1024 unit vectors: EmbeddingStore vs
scikit-learn.

    nice python bench/knn.py [--sizes 20000,112120] [--data mixture|demo] [--out knn.json]

For each size, in one process and on the same vectors:

- ``store-flat``: ``EmbeddingStore.create(index="flat")`` + ``self_knn(10)`` (exact, FAISS BLAS);
  its answer is the reference for recall@10.
- ``store-auto``: ``index="auto"`` (what the store picks by default at that size) + ``self_knn``.
- ``store-ivf`` / ``store-hnsw``: the approximate indexes with the parameters given below.
- ``sklearn``: ``NearestNeighbors(n_neighbors=11, algorithm="brute", metric="cosine").fit(X)
  .kneighbors(X)``, the row itself dropped.

Each store time includes writing the store and building the index (k-means for IVF, graph for
HNSW, recall measurement), not only the search, so the comparison is end to end. The kNN cache is
disabled. Peak memory is the peak resident set size (Linux ``VmHWM`` after resetting it through
``/proc/self/clear_refs``) minus the resident size before the step: it counts everything the step
allocates, numpy, FAISS (C++) and the pages of the memory-mapped store it touches.

Vectors: ``--data mixture`` (default) draws a documented Gaussian mixture (see
:func:`mixture_vectors`): real CNN embeddings are clustered and have a low intrinsic dimension,
and uniform random vectors would make every approximate index look bad. ``--data demo`` uses the
simulated NIH demo embeddings (``budgetplan.demo``), subsampled for smaller sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from budgetplan.embeddings.faiss_index import faiss_version
from budgetplan.embeddings.store import EmbeddingStore


def mixture_vectors(n: int, d: int = 1024, seed: int = 0) -> np.ndarray:
    """Clustered vectors: 200 Gaussian clusters (Dirichlet(2) weights) in a 64-d latent space,
    latent noise 0.7, mapped to ``d`` by a fixed random linear map + tanh, plus isotropic noise 0.3.
    """
    rng = np.random.default_rng(seed)
    latent, clusters = 64, 200
    centres = rng.normal(size=(clusters, latent)).astype(np.float32)
    weights = rng.dirichlet(np.full(clusters, 2.0))
    label = rng.choice(clusters, size=n, p=weights)
    w = (rng.normal(size=(latent, d)) / np.sqrt(latent)).astype(np.float32)
    out = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, 16384):
        e = min(n, s + 16384)
        z = centres[label[s:e]] + 0.7 * rng.normal(size=(e - s, latent)).astype(np.float32)
        out[s:e] = np.tanh(z @ w) + 0.3 * rng.normal(size=(e - s, d)).astype(np.float32)
    return out


def demo_vectors(n: int, seed: int = 0) -> np.ndarray:
    from budgetplan.demo import demo_dataset

    v = demo_dataset().embeddings.vectors
    if n >= v.shape[0]:
        return np.asarray(v, dtype=np.float32)
    rows = np.sort(np.random.default_rng(seed).choice(v.shape[0], size=n, replace=False))
    return np.asarray(v[rows], dtype=np.float32)


# ---------------------------------------------------------------------- measurement
def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS", "VmHWM")):
                key, val = line.split(":")
                out[key] = int(val.split()[0]) * 1024
    return out


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, seconds, peak RSS above the start in MB)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
        base = _status()["VmRSS"]
    except OSError:
        base = -1
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    peak = (_status()["VmHWM"] - base) / 2**20 if base >= 0 else float("nan")
    return result, seconds, peak


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the exact 10 neighbours found (sorted-row intersection, vectorised)."""
    k = truth.shape[1]
    hits = (found[:, :, None] == truth[:, None, :]).any(axis=2).sum()
    return float(hits) / truth.size if k else 1.0


def _drop_self(idx: np.ndarray, rows: np.ndarray) -> np.ndarray:
    own = idx == rows[:, None]
    own[~own.any(axis=1), -1] = True
    return np.take_along_axis(idx, np.argsort(own, axis=1, kind="stable")[:, :10], axis=1)


def store_run(
    x: np.ndarray,
    ids: list[str],
    tmp: Path,
    name: str,
    index: str,
    params: dict[str, Any] | None,
    rows: np.ndarray | None = None,
) -> dict[str, Any]:
    """Create the store and answer the self-kNN; with ``rows`` (brute force only) answer just
    those rows through ``search`` and extrapolate the search time to all N rows."""
    root = tmp / name
    fraction = 1.0 if rows is None else len(rows) / len(x)

    def go() -> tuple[np.ndarray, dict[str, Any], float, float]:
        t0 = time.perf_counter()
        store = EmbeddingStore.create(
            root, x, ids, index=index, index_params=params, overwrite=True
        )
        build = time.perf_counter() - t0
        t1 = time.perf_counter()
        if rows is None:
            _, idx = store.self_knn(10, cache=False)
        else:
            _, found = store.search(np.asarray(store.vectors[rows]), 11, normalise=False)
            idx = _drop_self(found, rows)
        return idx, store.manifest["index"], build, time.perf_counter() - t1

    (idx, manifest_index, build, search), seconds, peak = measure(go)
    shutil.rmtree(root, ignore_errors=True)
    return {
        "name": name,
        "seconds": build + search / fraction,
        "measured_seconds": seconds,
        "query_fraction": fraction,
        "build_seconds": build,
        "peak_mb": peak,
        "idx": idx,
        "index": manifest_index,
    }


def sklearn_run(x: np.ndarray, rows: np.ndarray | None = None) -> dict[str, Any]:
    """scikit-learn brute-force cosine kNN; with ``rows``, only those queries (time
    extrapolated)."""
    from sklearn.neighbors import NearestNeighbors

    q_rows = np.arange(len(x)) if rows is None else rows
    fraction = len(q_rows) / len(x)

    def go() -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        nn = NearestNeighbors(n_neighbors=11, algorithm="brute", metric="cosine").fit(x)
        fit = time.perf_counter() - t0
        _, idx = nn.kneighbors(x if rows is None else x[rows])
        return _drop_self(idx, q_rows), fit

    (idx, fit), seconds, peak = measure(go)
    return {
        "name": "sklearn-brute-cosine",
        "seconds": fit + (seconds - fit) / fraction,
        "measured_seconds": seconds,
        "query_fraction": fraction,
        "build_seconds": fit,
        "peak_mb": peak,
        "idx": idx,
        "index": None,
    }


def run_size(
    n: int,
    data: str,
    methods: list[str],
    ivf: dict[str, Any],
    hnsw: dict[str, Any],
    brute_fraction: float = 1.0,
) -> list[dict[str, Any]]:
    x = mixture_vectors(n) if data == "mixture" else demo_vectors(n)
    ids = [f"img{i}" for i in range(n)]
    sample = None
    if brute_fraction < 1.0:
        size = max(1, int(round(brute_fraction * n)))
        sample = np.sort(np.random.default_rng(1).choice(n, size=size, replace=False))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-knn-", dir=os.environ.get("BENCH_TMP")) as t:
        tmp = Path(t)
        plan = {
            "store-flat": lambda: store_run(x, ids, tmp, "store-flat", "flat", None, sample),
            "store-auto": lambda: store_run(x, ids, tmp, "store-auto", "auto", None),
            "store-ivf": lambda: store_run(x, ids, tmp, "store-ivf", "ivf", ivf),
            "store-hnsw": lambda: store_run(x, ids, tmp, "store-hnsw", "hnsw", hnsw),
            "sklearn": lambda: sklearn_run(x, sample),
        }
        for m in ["store-flat", *[m for m in methods if m != "store-flat"]]:
            print(f"[{n}] {m} ...", file=sys.stderr, flush=True)
            rows.append(plan[m]())
            r = rows[-1]
            r["recall_partial"] = recall(_on(r["idx"], sample, n), rows[0]["idx"])
            print(
                f"[{n}] {m}: {r['seconds']:.1f} s (measured {r['measured_seconds']:.1f} s on "
                f"{r['query_fraction']:.0%} of the queries, build {r['build_seconds']:.1f} s), "
                f"recall@10 {r['recall_partial']:.4f}, peak {r['peak_mb']:.0f} MB, "
                f"load {os.getloadavg()[0]:.1f}, index {json.dumps(r['index'])}",
                file=sys.stderr,
                flush=True,
            )
    truth = rows[0]["idx"]
    ref = next((r["seconds"] for r in rows if r["name"].startswith("sklearn")), None)
    for r in rows:
        r["recall_at_10"] = recall(_on(r.pop("idx"), sample, n), truth)
        r.pop("recall_partial", None)
        r["speedup_vs_sklearn"] = ref / r["seconds"] if ref else None
        r["n"], r["dim"] = n, x.shape[1]
        r["recall_rows"] = n if sample is None else len(sample)
    return rows


def _on(idx: np.ndarray, sample: np.ndarray | None, n: int) -> np.ndarray:
    """The answers for the sampled rows (full answers are subset, sampled ones kept)."""
    return idx[sample] if sample is not None and len(idx) == n else idx


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="20000,112120")
    p.add_argument("--data", choices=["mixture", "demo"], default="mixture")
    p.add_argument("--methods", default="store-flat,store-auto,store-ivf,store-hnsw,sklearn")
    p.add_argument(
        "--ivf", default="{}", help='IVF params as JSON, e.g. {"nlist": 1339, "nprobe": 3}'
    )
    p.add_argument("--hnsw", default='{"M": 16, "efConstruction": 40, "efSearch": 32}')
    p.add_argument(
        "--brute-fraction",
        type=float,
        default=1.0,
        help="brute-force methods (store-flat, sklearn) answer this share of the N queries and "
        "their search time is scaled to N (exact: brute-force cost is linear in the queries); "
        "recall@10 is then measured on those rows",
    )
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    a = p.parse_args(argv)
    results = []
    for n in (int(s) for s in a.sizes.split(",")):
        results += run_size(
            n, a.data, a.methods.split(","), json.loads(a.ivf), json.loads(a.hnsw), a.brute_fraction
        )
        if a.out:
            a.out.write_text(json.dumps(results, indent=2, default=str))
    print(
        f"faiss {faiss_version()}, numpy {np.__version__}, "
        f"{platform.processor() or platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(
        "| N | method | index (params) | total s | of which build s | queries timed | recall@10 "
        "| peak RSS MB | x faster than sklearn |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        idx = r["index"]
        desc = (
            "-"
            if idx is None
            else f"{idx['kind']} {json.dumps(idx['params']) if idx['params'] else ''}".strip()
        )
        sp = f"{r['speedup_vs_sklearn']:.1f}" if r["speedup_vs_sklearn"] else "-"
        print(
            f"| {r['n']:,} | {r['name']} | {desc} | {r['seconds']:.1f} "
            f"| {r['build_seconds']:.1f} | "
            f"{r['query_fraction']:.0%} | {r['recall_at_10']:.4f} | {r['peak_mb']:.0f} | {sp} |"
        )
    if a.out:
        a.out.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
