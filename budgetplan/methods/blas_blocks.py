"""The head's weight gradient ``dL^T H`` in row blocks that reproduce OpenBLAS's own order.

``label-assemble`` stacks its two views: ``dL^T H`` is (C x 1,024) by (1,024 x H). OpenBLAS
(scipy's build) multiplies up to ~520 rows in its small-matrix kernel, one fused multiply-add
chain over the rows per entry (20 us at 512 rows, C = 15, H = 128), but packs the matrices for
more rows and takes 120-160 us at 1,024. There it sums the rows in blocks of ``GEMM_Q`` = 448
(the last two blocks split what is left in halves), each block one such chain, added to the
result in turn (found by search, bench/README.md "The losses vectorised"). Three small products
added in that order give the same bits in half the time.

Whether a shape takes that path is OpenBLAS's decision (its thresholds, the machine's kernel), so
:func:`row_blocks` does not assume it: it proposes the blocks, multiplies random numbers both
ways once per shape and process, and keeps the blocks only when the bits agree.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import njit

GEMM_Q = 448  # OpenBLAS's sgemm block of the inner dimension on this build (SkylakeX kernels)
_ALIGN = 2


def openblas_blocks(rows: int, q: int = GEMM_Q, unroll: int = _ALIGN) -> np.ndarray:
    """Row boundaries ``[0, ..., rows]`` of OpenBLAS's inner-dimension blocks (``level3.c``: a
    full block while at least two remain, then the rest in halves rounded up to ``unroll``)."""
    bounds = [0]
    done = 0
    while done < rows:
        left = rows - done
        if left >= 2 * q:
            left = q
        elif left > q:
            left = ((left // 2 + unroll - 1) // unroll) * unroll
        done += left
        bounds.append(done)
    return np.array(bounds, dtype=np.int64)


@njit(cache=True, nogil=True)
def blocked_grad(dl: np.ndarray, z: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """``dl^T z`` (C, H) as the products of the row blocks ``bounds``, added in order."""
    out = np.dot(dl[bounds[0] : bounds[1]].T, z[bounds[0] : bounds[1]])
    for i in range(1, len(bounds) - 1):
        out += np.dot(dl[bounds[i] : bounds[i + 1]].T, z[bounds[i] : bounds[i + 1]])
    return out


@cache
def _checked_blocks(rows: int, c: int, h: int) -> tuple[int, ...]:
    bounds = openblas_blocks(rows)
    whole = (0, rows)
    if len(bounds) <= 2:
        return whole
    rng = np.random.default_rng(rows * 1_000_003 + c * 1_009 + h)
    dl = rng.standard_normal((rows, c)).astype(np.float32)
    z = np.maximum(rng.standard_normal((rows, h)), 0.0).astype(np.float32)
    one = blocked_grad(dl, z, np.array(whole, dtype=np.int64))
    split = blocked_grad(dl, z, bounds)
    return tuple(int(b) for b in bounds) if np.array_equal(one, split) else whole


def row_blocks(rows: int, c: int, h: int) -> np.ndarray:
    """The row blocks for ``dL^T H`` of ``rows`` rows, ``c`` classes and ``h`` hidden units:
    OpenBLAS's, where they give its bits (checked once per shape), else the whole."""
    return np.array(_checked_blocks(rows, c, h), dtype=np.int64)
