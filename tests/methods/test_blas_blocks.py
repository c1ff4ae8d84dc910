"""The engine's products in OpenBLAS's own blocks and small-kernel tiles: the same bits as one
product, or the one product when they would not be."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from budgetplan.methods import blas_blocks
from budgetplan.methods.blas_blocks import (
    blocked_grad,
    openblas_blocks,
    row_blocks,
    tiled_input_grad,
    tiled_product,
    tiling,
)


def test_openblas_block_rule():
    """level3.c: a full block of 448 while two remain, then what is left in halves."""
    assert openblas_blocks(300).tolist() == [0, 300]
    assert openblas_blocks(448).tolist() == [0, 448]
    assert openblas_blocks(1024).tolist() == [0, 448, 736, 1024]
    assert openblas_blocks(2048).tolist() == [0, 448, 896, 1344, 1696, 2048]
    assert openblas_blocks(1500).tolist() == [0, 448, 896, 1198, 1500]


@pytest.mark.parametrize(
    "rows,c,h",
    [
        (1024, 15, 128),
        (1024, 14, 128),
        (1024, 3, 128),
        (1024, 15, 64),
        (2048, 15, 128),
        (352, 15, 128),
    ],
)
def test_row_blocks_give_the_bits_of_one_product(rows, c, h):
    """Whatever blocks a shape gets, on numbers other than the probe's (the engine's gradients:
    many exact zeros, values of every scale) the product is the single product's, to the bit."""
    blocks = row_blocks(rows, c, h)
    assert blocks[0] == 0 and blocks[-1] == rows and (np.diff(blocks) > 0).all()
    whole = np.array([0, rows], dtype=np.int64)
    for seed in range(5):
        rng = np.random.default_rng(100 + seed)
        dl = rng.standard_normal((rows, c)) * 10.0 ** rng.integers(-8, 1, (rows, c))
        dl[rng.random((rows, c)) < 0.5] = 0.0
        z = np.maximum(rng.standard_normal((rows, h)), 0.0)
        dl, z = dl.astype(np.float32), z.astype(np.float32)
        assert np.array_equal(blocked_grad(dl, z, blocks), blocked_grad(dl, z, whole))
    np.testing.assert_allclose(blocked_grad(dl, z, blocks), dl.T @ z, rtol=1e-4, atol=1e-6)


def _numbers(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """The engine's kind of numbers: many exact zeros, values of every scale."""
    v = rng.standard_normal(shape) * 10.0 ** rng.integers(-8, 1, shape)
    v[rng.random(shape) < 0.5] = 0.0
    return v.astype(np.float32)


@njit(cache=True)
def _numba_dot(a: np.ndarray, b: np.ndarray, trans: bool) -> np.ndarray:
    """The engine's single products, as ``fused.forward_backward`` writes them."""
    return np.dot(a, b.T) if trans else np.dot(a, b)


@njit(cache=True)
def _numba_input_grad(x: np.ndarray, dz: np.ndarray) -> np.ndarray:
    return np.dot(x.T, dz)


def _tiling_if_faster(monkeypatch, faster: bool, *shape: int) -> blas_blocks.Tiling:
    """``tiling(*shape)`` as if every tiling measured ``faster`` (or not) than one product."""
    monkeypatch.setattr(blas_blocks, "_faster", lambda one, tiled: faster)
    caches = (blas_blocks._checked_tiles, blas_blocks._tiles_pay)
    for f in caches:
        f.cache_clear()
    try:
        return tiling(*shape)
    finally:
        for f in caches:
            f.cache_clear()


@pytest.mark.parametrize(
    "rows,d,h,c",
    [
        (512, 64, 128, 14),
        (1024, 64, 128, 15),
        (148, 64, 128, 14),
        (512, 32, 64, 3),
        (700, 48, 96, 9),
    ],
)
def test_tiled_products_give_the_bits_of_one_product(rows, d, h, c, monkeypatch):
    """Whatever tiles :func:`tiling` keeps for a shape (here every tiling that passes the bit
    check, as if each were faster), the engine's four cut products (``x W0``, the logits
    ``H Wh^T``, ``dL Wh``, ``X^T dZ``) equal numba's single ``np.dot`` on other numbers."""
    cuts = _tiling_if_faster(monkeypatch, True, rows, d, h, c)
    assert cuts.tiles.shape == (4,) and cuts.trunk_rows[0] == 0 and cuts.trunk_rows[-1] == rows
    fr, fc, gc, hr = (int(t) for t in cuts.tiles)
    for seed in range(3):
        rng = np.random.default_rng(7 + seed)
        x, w0, z = _numbers(rng, (rows, d)), _numbers(rng, (d, h)), _numbers(rng, (rows, h))
        wt, dl, dz = _numbers(rng, (c, h)), _numbers(rng, (rows, c)), _numbers(rng, (rows, h))
        for a, b, trans, tile, width in (
            (x, w0, False, (fr, fc), h),
            (z, wt, True, (hr, c), c),
            (dl, wt, False, (hr, h), h),
        ):
            one, mine = np.empty((rows, width), np.float32), np.empty((rows, width), np.float32)
            tiled_product(a, b, trans, 0, 0, one)  # the probe's reference: one call
            tiled_product(a, b, trans, tile[0], tile[1], mine)
            assert np.array_equal(one, _numba_dot(a, b, trans))  # the engine's whole product
            assert np.array_equal(one, mine)
            np.testing.assert_allclose(one, a @ (b.T if trans else b), rtol=1e-4, atol=1e-6)
        one, mine = np.empty((d, h), np.float32), np.empty((d, h), np.float32)
        tiled_input_grad(x, dz, np.array([0, rows], dtype=np.int64), 0, one)
        tiled_input_grad(x, dz, cuts.trunk_rows, gc, mine)
        assert np.array_equal(one, _numba_input_grad(x, dz))
        assert np.array_equal(one, mine)


def test_tiles_are_used_where_small_kernels_fit_and_not_elsewhere():
    """At the planner's width (d = 64) the trunk products are cut (when they pass the checks);
    at d = 1,024 no tile fits OpenBLAS's small kernels, so each trunk product stays whole."""
    assert tiling(512, 1024, 128, 14).tiles[:3].tolist() == [0, 0, 0]
    assert tiling(512, 1024, 128, 14).trunk_rows.tolist() == [0, 512]


def test_a_tiling_that_is_not_faster_is_not_kept(monkeypatch):
    """The bits are the same either way; a tiling is kept only when it measured faster."""
    cuts = _tiling_if_faster(monkeypatch, False, 1024, 64, 128, 14)
    assert cuts.tiles.tolist() == [0, 0, 0, 0]
    assert cuts.trunk_rows.tolist() == [0, 1024]
