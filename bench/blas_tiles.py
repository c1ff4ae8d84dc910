"""The engine's matrix products whole and in OpenBLAS small-kernel tiles: time and bits (issue 13).

    python bench/blas_tiles.py [--dims 64,1024] [--reps 200] [--rounds 7]

For each batch shape of the planner (``ne``: 512 rows; ``label-assemble``: 1,024, both views;
a last batch of 148 rows), one thread, each product as one BLAS call and in the tiles
``budgetplan.methods.blas_blocks`` uses, alternated ``--rounds`` times; the best time per call,
and whether the tiled result equals the single call's to the bit on random numbers. The tiles
the engine keeps for the shape (``tiling``: where the bits agree and the tiles measured faster)
are printed last.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numba calls: limit it too)
from numba import njit
from threadpoolctl import threadpool_limits

from budgetplan.methods import blas_blocks as bb

HIDDEN, CLASSES = 128, 14


@njit(cache=True, nogil=True)
def _dot_reps(a: np.ndarray, b: np.ndarray, trans: bool, n: int) -> float:
    """The engine's whole product: numba's ``np.dot``, its result not copied."""
    s = 0.0
    for _ in range(n):
        s += (np.dot(a, b.T) if trans else np.dot(a, b))[0, 0]
    return s


def _times(runs: tuple[Callable[[], object], ...], rounds: int, reps: int) -> list[float]:
    """Best microseconds per call of each run (``reps`` calls), the runs alternated."""
    best = [np.inf] * len(runs)
    for _ in range(rounds):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - start)
    return [t / reps * 1e6 for t in best]


def measure(rows: int, d: int, rounds: int, reps: int) -> list[dict[str, object]]:
    """One row per product: microseconds per call whole and tiled, and equal bits."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, d)).astype(np.float32)
    w = rng.standard_normal((d, HIDDEN)).astype(np.float32)
    z = np.maximum(rng.standard_normal((rows, HIDDEN)), 0.0).astype(np.float32)
    sparse = rng.random((rows, HIDDEN)) < 0.5
    dz = (rng.standard_normal((rows, HIDDEN)) * sparse).astype(np.float32)
    wt = rng.standard_normal((CLASSES, HIDDEN)).astype(np.float32)
    dl = rng.standard_normal((rows, CLASSES)).astype(np.float32)
    head = bb._head_tile(HIDDEN, CLASSES)[0]
    out = []
    for name, a, b, trans, tile in (
        ("x W0", x, w, False, bb.FORWARD_TILE),
        ("H Wh^T (logits)", z, wt, True, (head, CLASSES)),
        ("dL Wh", dl, wt, False, (head, HIDDEN)),
    ):
        if name != "x W0" and head >= rows:
            continue  # the head's products are cut only past one small-kernel tile
        one = np.empty((rows, b.shape[0] if trans else b.shape[1]), np.float32)
        mine = np.empty_like(one)
        bb.tiled_product(a, b, trans, 0, 0, one)
        bb.tiled_product(a, b, trans, tile[0], tile[1], mine)
        whole_us, tiled_us = _times(
            (
                partial(_dot_reps, a, b, trans, reps),
                partial(bb._product_reps, a, b, trans, tile, mine, reps),
            ),
            rounds,
            reps,
        )
        same = bool(np.array_equal(one, mine))
        out.append({"product": name, "whole": whole_us, "tiled": tiled_us, "same_bits": same})
    bounds, whole = bb.openblas_blocks(rows), np.array([0, rows], dtype=np.int64)
    one, mine = np.empty((d, HIDDEN), np.float32), np.empty((d, HIDDEN), np.float32)
    bb.tiled_input_grad(x, dz, whole, 0, one)
    bb.tiled_input_grad(x, dz, bounds, bb.GRAD_COLUMNS, mine)
    whole_us, tiled_us = _times(
        (
            partial(bb._grad_reps, x, dz, whole, 0, one, reps),
            partial(bb._grad_reps, x, dz, bounds, bb.GRAD_COLUMNS, mine, reps),
        ),
        rounds,
        reps,
    )
    same = bool(np.array_equal(one, mine))
    out.append({"product": "X^T dZ", "whole": whole_us, "tiled": tiled_us, "same_bits": same})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dims", default="64,1024")
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    with threadpool_limits(limits=1, user_api="blas"):
        for d in (int(v) for v in args.dims.split(",")):
            for rows in (512, 1024, 148):
                reps = max(1, args.reps * 64 // d)
                for row in measure(rows, d, args.rounds, reps):
                    ratio = float(row["tiled"]) / float(row["whole"])  # type: ignore[arg-type]
                    print(
                        f"d={d} rows={rows} {row['product']:16s} whole {row['whole']:8.1f} us, "
                        f"tiled {row['tiled']:8.1f} us ({ratio:.2f}), same bits: {row['same_bits']}"
                    )
                cuts = bb.tiling(rows, d, HIDDEN, CLASSES)
                print(
                    f"d={d} rows={rows} kept: tiles {cuts.tiles.tolist()}, "
                    f"X^T dZ row blocks {cuts.trunk_rows.tolist()}"
                )


if __name__ == "__main__":
    main()
