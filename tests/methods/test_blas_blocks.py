"""The head's weight gradient in OpenBLAS's own row blocks: the same bits as one product, or the
one product when they would not be."""

from __future__ import annotations

import numpy as np
import pytest

from budgetplan.methods.blas_blocks import blocked_grad, openblas_blocks, row_blocks


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
