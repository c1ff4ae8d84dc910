"""The engine's matrix products cut into blocks that reproduce OpenBLAS's own order: the same bits,
less time.

**The head's weight gradient** ``dL^T H`` in row blocks.

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

**The trunk's two products with the inputs** (``x W0`` and ``X^T dZ``), at small input widths.
OpenBLAS's small-matrix kernels (SkylakeX) take products of up to ``SMALL_MNK`` = 100^3
multiply-adds and skip its packing copies. At d = 64 both trunk products are just above that
(512 x 64 x 128 = 4.2 M), so OpenBLAS packs them. Cut into tiles under the threshold (``x W0``:
128 rows x 64 columns; ``X^T dZ``: 32 columns, its rows in OpenBLAS's own blocks, each block after
the first added with ``beta`` = 1), they take the small kernels, whose sums run in the same
order: the same bits in 0.6-0.8 of the time (bench/README.md). The tiles call OpenBLAS's
``sgemm`` through numba's own BLAS wrapper (``numba_xxgemm``) with leading dimensions, so no
tile is copied. :func:`tiling` keeps a tiling only where it gives the single product's bits on
random numbers and is faster, both measured once per shape and process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.extending import intrinsic
from numba.np import linalg as numba_linalg

GEMM_Q = 448  # OpenBLAS's sgemm block of the inner dimension on this build (SkylakeX kernels)
_ALIGN = 2
SMALL_MNK = 1_000_000  # OpenBLAS's small-matrix kernels take m n k up to this (SkylakeX)
FORWARD_TILE = (128, 64)  # x W0's tiles: rows, columns
GRAD_COLUMNS = 32  # X^T dZ's tiles: columns
_CHAR = ir.IntType(8)
_VOID_P = _CHAR.as_pointer()


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


class Tiling(NamedTuple):
    """How one batch shape's products are cut (``[0, rows]`` or ``0``: one product)."""

    head_rows: np.ndarray  # row blocks of dL^T H (:func:`row_blocks`)
    trunk_rows: np.ndarray  # row blocks of X^T dZ (OpenBLAS's own)
    tiles: np.ndarray  # int64 (4,): x W0's tile rows, columns; X^T dZ's columns; the head's rows


@intrinsic
def _sgemm_intrinsic(typingctx, op, ab, beta, c, lds):  # type: ignore[no-untyped-def]
    """Fortran ``sgemm``: ``c`` (m x n, column-major) = ``op(a) op(b) + beta c``, through
    numba's BLAS wrapper. ``op`` = ``(trans_a, trans_b, m, n, k)`` (each ``trans_*``
    ``ord("n")`` or ``ord("t")``), ``ab`` = ``(a, b)``, ``lds`` = ``(lda, ldb, ldc)``; ``a``,
    ``b``, ``c`` are float32 arrays whose first element starts each matrix. The argument order
    of ``sgemm`` itself, grouped."""
    sig = types.void(op, ab, beta, c, lds)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        op_ty, ab_ty, beta_ty, c_ty, lds_ty = signature.args
        op_v, ab_v, beta_v, c_v, lds_v = args
        a_ty, b_ty = ab_ty.types
        a_v, b_v = cgutils.unpack_tuple(builder, ab_v, 2)
        intp = cgutils.intp_t
        fnty = ir.FunctionType(
            ir.IntType(32),
            [_CHAR, _CHAR, _CHAR, intp, intp, intp, _VOID_P, _VOID_P, intp]
            + [_VOID_P, intp, _VOID_P, _VOID_P, intp],
        )
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")

        def ints(tup_ty, tup):  # type: ignore[no-untyped-def]
            values = cgutils.unpack_tuple(builder, tup, len(tup_ty))
            pairs = zip(values, tup_ty, strict=True)
            return [context.cast(builder, v, t, types.intp) for v, t in pairs]

        def data(arr_ty, arr):  # type: ignore[no-untyped-def]
            ptr = context.make_array(arr_ty)(context, builder, arr).data
            return builder.bitcast(ptr, _VOID_P)

        def slot(value):  # type: ignore[no-untyped-def]
            return builder.bitcast(cgutils.alloca_once_value(builder, value), _VOID_P)

        trans_a, trans_b, m, n, k = ints(op_ty, op_v)
        lda, ldb, ldc = ints(lds_ty, lds_v)
        alpha = slot(context.get_constant(types.float32, 1.0))
        beta = slot(context.cast(builder, beta_v, beta_ty, types.float32))
        res = builder.call(
            fn,
            (
                ir.Constant(_CHAR, ord("s")),
                builder.trunc(trans_a, _CHAR),
                builder.trunc(trans_b, _CHAR),
                m,
                n,
                k,
                alpha,
                data(a_ty, a_v),
                lda,
                data(b_ty, b_v),
                ldb,
                beta,
                data(c_ty, c_v),
                ldc,
            ),
        )
        numba_linalg.check_blas_return(context, builder, res)

    return sig, codegen


# The intrinsic as the jitted code calls it (mypy sees numba's ``_Intrinsic`` otherwise).
_sgemm: Callable[..., None] = _sgemm_intrinsic  # type: ignore[assignment]
_N, _T = ord("n"), ord("t")


@njit(cache=True, nogil=True)
def tiled_product(
    a: np.ndarray, b: np.ndarray, trans_b: bool, row_tile: int, col_tile: int, out: np.ndarray
) -> None:
    """``out`` (m, n) = ``a`` (m, k) ``op(b)``, ``op(b)`` = ``b`` (k, n) or, with ``trans_b``,
    ``b.T`` for ``b`` (n, k); in tiles of ``row_tile`` by ``col_tile`` (0: one call, the very
    call numba's ``np.dot`` makes). Row-major C is column-major C^T = op(b)^T a^T."""
    m_all, k = a.shape
    n_all = out.shape[1]
    if row_tile == 0:
        row_tile, col_tile = m_all, n_all
    lda, ldb, ldo = a.strides[0] // 4, b.strides[0] // 4, out.strides[0] // 4
    zero = np.float32(0.0)
    for i in range(0, m_all, row_tile):
        m = min(m_all - i, row_tile)
        for j in range(0, n_all, col_tile):
            n = min(n_all - j, col_tile)
            if trans_b:
                _sgemm((_T, _N, n, m, k), (b[j:], a[i:]), zero, out[i:, j:], (ldb, lda, ldo))
            else:
                _sgemm((_N, _N, n, m, k), (b[:, j:], a[i:]), zero, out[i:, j:], (ldb, lda, ldo))


@njit(cache=True, nogil=True)
def tiled_input_grad(
    x: np.ndarray, dz: np.ndarray, bounds: np.ndarray, columns: int, out: np.ndarray
) -> None:
    """``out`` (d, h) = ``x^T dz``, the rows summed in blocks ``bounds`` (each added to the
    result in turn, as OpenBLAS does), the columns in tiles of ``columns`` (0: all; with
    ``bounds`` = ``[0, rows]``, the very call numba's ``np.dot(x.T, dz)`` makes). Row-major C is
    column-major C^T = dz^T x."""
    d = x.shape[1]
    h = dz.shape[1]
    if columns == 0:
        columns = h
    ldx, ldz, ldo = x.strides[0] // 4, dz.strides[0] // 4, out.strides[0] // 4
    for blk in range(len(bounds) - 1):
        r0, k = bounds[blk], bounds[blk + 1] - bounds[blk]
        beta = np.float32(0.0 if blk == 0 else 1.0)
        for j in range(0, h, columns):
            n = min(h - j, columns)
            _sgemm((_N, _T, n, d, k), (dz[r0:, j:], x[r0:]), beta, out[:, j:], (ldz, ldx, ldo))


def _product_reps(
    a: np.ndarray, b: np.ndarray, trans_b: bool, tile: tuple[int, int], out: np.ndarray, n: int
) -> None:
    for _ in range(n):  # a Python loop: one jitted function less to compile, ~1 us per call
        tiled_product(a, b, trans_b, tile[0], tile[1], out)


def _grad_reps(
    x: np.ndarray, dz: np.ndarray, bounds: np.ndarray, columns: int, out: np.ndarray, n: int
) -> None:
    for _ in range(n):
        tiled_input_grad(x, dz, bounds, columns, out)


_REPS = 8  # calls per timing


def _faster(one, tiled, rounds: int = 7) -> bool:  # type: ignore[no-untyped-def]
    """Whether ``tiled()`` beats ``one()``: best of ``rounds`` alternated timings."""
    best = [np.inf, np.inf]
    for _ in range(rounds):
        for i, f in enumerate((one, tiled)):
            start = time.perf_counter()
            f()
            best[i] = min(best[i], time.perf_counter() - start)
    return best[1] < best[0]


def _same_bits(products: list[tuple[np.ndarray, np.ndarray, bool]], tile: tuple[int, int]) -> bool:
    """Whether ``tile`` gives every product's (``a``, ``b``, ``trans_b``) single-call bits."""
    for a, b, t in products:
        one = np.empty((a.shape[0], b.shape[0] if t else b.shape[1]), np.float32)
        mine = np.empty_like(one)
        tiled_product(a, b, t, 0, 0, one)
        tiled_product(a, b, t, tile[0], tile[1], mine)
        if not np.array_equal(one, mine):
            return False
    return True


def _same_grad_bits(x: np.ndarray, dz: np.ndarray, bounds: np.ndarray, columns: int) -> bool:
    """Whether ``X^T dZ`` in ``bounds`` and ``columns`` gives the single call's bits."""
    one = np.empty((x.shape[1], dz.shape[1]), np.float32)
    mine = np.empty_like(one)
    tiled_input_grad(x, dz, np.array([0, x.shape[0]], dtype=np.int64), 0, one)
    tiled_input_grad(x, dz, bounds, columns, mine)
    return bool(np.array_equal(one, mine))


def _operands(rows: int, d: int, h: int, c: int) -> dict[str, np.ndarray]:
    """Random numbers of a batch's shapes, as the engine has them (ReLU zeros, sparse dZ)."""
    rng = np.random.default_rng(rows * 1_000_003 + d * 1_009 + h * 31 + c)
    return {
        "x": rng.standard_normal((rows, d)).astype(np.float32),
        "w": rng.standard_normal((d, h)).astype(np.float32),
        "z": np.maximum(rng.standard_normal((rows, h)), 0.0).astype(np.float32),
        "dz": (rng.standard_normal((rows, h)) * (rng.random((rows, h)) < 0.5)).astype(np.float32),
        "wt": rng.standard_normal((c, h)).astype(np.float32),
        "dl": rng.standard_normal((rows, c)).astype(np.float32),
    }


def _head_tile(h: int, c: int) -> tuple[int, int]:
    """Row tiles of the head's products (``rows x h x c`` multiply-adds each) that fit the
    small kernels: a multiple of 64 rows."""
    return (SMALL_MNK // (h * c)) // 64 * 64, max(h, c)


@cache
def _tiles_pay(d: int, h: int, c: int) -> tuple[bool, bool, bool]:
    """Whether each tiling (``x W0``, the head's, ``X^T dZ``) takes less time than one product,
    timed once per width and process on a full batch (512 rows; the head's on two tiles). The
    bits are the same either way, so a wrong guess costs time only."""
    o = _operands(512, d, h, c)
    x, w, dz = o["x"], o["w"], o["dz"]
    forward = _faster(
        lambda: _product_reps(x, w, False, (0, 0), np.empty((512, h), np.float32), _REPS),
        lambda: _product_reps(x, w, False, FORWARD_TILE, np.empty((512, h), np.float32), _REPS),
    )
    bounds, whole = openblas_blocks(512), np.array([0, 512], dtype=np.int64)
    out = np.empty((d, h), np.float32)
    grad = _faster(
        lambda: _grad_reps(x, dz, whole, 0, out, _REPS),
        lambda: _grad_reps(x, dz, bounds, GRAD_COLUMNS, out, _REPS),
    )
    tile = _head_tile(h, c)
    head = False
    if tile[0] > 0:
        t = _operands(2 * tile[0], d, h, c)
        z, wt, dl = t["z"], t["wt"], t["dl"]
        logits, dzh = np.empty((len(z), c), np.float32), np.empty((len(z), h), np.float32)

        def run(which: tuple[int, int]) -> None:
            _product_reps(z, wt, True, (which[0], c), logits, _REPS)
            _product_reps(dl, wt, False, (which[0], h), dzh, _REPS)

        head = _faster(lambda: run((0, 0)), lambda: run(tile))
    return forward, head, grad


@cache
def _checked_tiles(rows: int, d: int, h: int, c: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    forward, head, columns = FORWARD_TILE, _head_tile(h, c), GRAD_COLUMNS
    bounds = openblas_blocks(rows)
    fits = (
        forward[0] * forward[1] * d <= SMALL_MNK < rows * h * d,
        0 < head[0] < rows,
        columns * d * int(np.diff(bounds).max()) <= SMALL_MNK and h > columns,
    )
    if not any(fits):  # no tiling fits (small problems): nothing to time or check
        return (0, 0, 0, 0), (0, rows)
    o = _operands(rows, d, h, c)
    pays = _tiles_pay(d, h, c)
    if not (fits[0] and pays[0] and _same_bits([(o["x"], o["w"], False)], forward)):
        forward = (0, 0)
    products = [(o["z"], o["wt"], True), (o["dl"], o["wt"], False)]
    if not (fits[1] and pays[1] and _same_bits(products, head)):
        head = (0, 0)
    if not (fits[2] and pays[2] and _same_grad_bits(o["x"], o["dz"], bounds, columns)):
        columns = 0
    trunk = tuple(int(v) for v in bounds) if columns else (0, rows)
    return (*forward, columns, head[0]), trunk


def tiling(rows: int, d: int, h: int, c: int) -> Tiling:
    """How to cut the products of a batch of ``rows`` rows (inputs of width ``d``, ``h`` hidden
    units, ``c`` classes): OpenBLAS's blocks and small-kernel tiles where they give its bits and
    take less time (each checked once per shape and process), else one product each."""
    tiles, trunk = _checked_tiles(rows, d, h, c)
    return Tiling(
        row_blocks(rows, c, h),
        np.array(trunk, dtype=np.int64),
        np.array(tiles, dtype=np.int64),
    )
