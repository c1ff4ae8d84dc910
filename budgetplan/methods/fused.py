"""The fused CPU engine: one compiled epoch of ``ne`` or ``label-assemble`` for R replicas.

On the CPU the eager torch step spends most of its time outside its matrix products: per-replica
random draws from torch's generator (dropout masks, the views' noise), a dozen elementwise passes
over the hidden activations and ~130 operator calls (bench/README.md, "train.py"). This engine
compiles the whole epoch with numba: for each batch, it gathers the rows and makes the views and
dropout masks, then for each replica runs the forward pass, the loss gradient written out by
hand, the backward pass and Adam, with the matrix products in BLAS and every elementwise step
fused into one loop. Each replica's numbers are its own (a replica trained alone or in any batch
gives the same bits); replicas that share their batch order and stream (the runs of one draw of
the study, same training seed) share the rows, views and masks drawn for them, drawn once.

It computes the same model and losses as the torch engine (``budgetplan.methods.models`` and
``budgetplan.methods.losses``; ``forward_backward`` is tested equal to torch autograd on the same
inputs and masks), with its own random numbers:

- dropout masks (16-bit uniforms below ``(1 - p) * 65536``, as ``views.dropout_masks``) and the
  strong view's feature-dropout mask come from each replica's own SplitMix64 stream;
- the views' Gaussian noise is a window of a shared table of N(0, 1) numbers at an offset drawn
  from that stream, as in the shared noise table of Salimans et al. 2017 ("Evolution Strategies
  as a Scalable Alternative to Reinforcement Learning", Sec. 2.1): a window costs one pass where a
  fresh Gaussian costs ~5 ns per number, more than the rest of the step at d = 1,024.

Model (``models``): ``Z = X W0 + b0``, ``H = relu(Z) * M`` (M = 0 or 1 / keep), logits
``L = H Wh + bh``; the adapter head generates ``Wh^T = q G + g`` and ``bh = q u + u0``
(seed 000 Alg. 1, Eq. 1). Losses: ``ne`` = BCE on the annotated entries (seed 001 Eq. 1);
``label-assemble`` = BCE of the weak view on the annotated entries + ``(a_w - sg(sharpen(a_w)))^2``
+ ``(a_s - sg(sharpen(a_w)))^2`` on the unannotated ones (seed 000 Eq. 2-5), each reduced by
``entry-mean`` or ``class-sum`` as ``losses._common.reduce_entries``. Adam as ``ReplicaAdam``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from budgetplan.methods.blas_blocks import (
    Tiling,
    blocked_grad,
    tiled_input_grad,
    tiled_product,
    tiling,
)
from budgetplan.methods.exact_expf import expf, expf_into, fma32

# numba caches each compiled function under its own file's stamp (mtime and size), and the
# engine's functions compile the njit functions of these files into themselves: an edit of one of
# them alone would leave the engine's cached code stale, which then passes the tests in that
# checkout. Their digests (sha256, first 16 hex digits) make every such edit an edit of this file
# too, which retires its cache; tests/methods/test_fused.py checks them.
CALLEE_DIGESTS = {"blas_blocks.py": "6981097ad2a70286", "exact_expf.py": "b097aa8e80b45b9f"}

NE, LABEL_ASSEMBLE = 0, 1
METHOD_CODES = {"ne": NE, "label-assemble": LABEL_ASSEMBLE}
REDUCTION_CODES = {"entry-mean": 0, "class-sum": 1}
LAYOUT_KEYS = (
    "w0",
    "b0",
    "head_w",
    "head_b",
    "q",
    "gen_w",
    "gen_b",
    "gen_bias_w",
    "gen_bias_b",
)
# Every fast-math flag but ``arcp``, which lets LLVM divide by a reciprocal estimate once a loop
# is vectorised (other bits than the exact division of the scalar code).
EXACT_DIVISION = {"nnan", "ninf", "nsz", "contract", "afn", "reassoc"}
DENSE_FROM = 0.25  # ne: the BCE's vectorised pass from this share of annotated entries in a batch
TABLE_SEED = 20170310  # the noise table is one fixed sequence, shared by every replica
_TABLE_MIN = 1 << 22


def noise_table(window: int) -> np.ndarray:
    """The shared N(0, 1) float32 table: at least 32 windows of ``window`` numbers (>= 4 Mi).

    Drawn from a fixed seed, so it is the same table in every process and on every run.
    """
    size = max(_TABLE_MIN, 32 * int(window))
    size = 1 << (size - 1).bit_length()  # a power of two: tables of nearby sizes are shared
    return _table(size)


_TABLES: dict[int, np.ndarray] = {}


def _table(size: int) -> np.ndarray:
    if size not in _TABLES:
        rng = np.random.Generator(np.random.PCG64(TABLE_SEED))
        _TABLES.clear()  # keep one table per process
        _TABLES[size] = rng.standard_normal(size, dtype=np.float32)
    return _TABLES[size]


def stream_seed(seed: int) -> np.uint64:
    """The SplitMix64 state of a replica's stream, from its (already derived) 63-bit seed."""
    return np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF)


class Hyper(NamedTuple):
    """The numbers of one epoch that are not arrays (a named tuple: numba passes it whole)."""

    method: int
    reduction: int
    adapter: bool
    batch: int
    hidden: int
    drop_levels: int  # keep an entry when its 16-bit uniform is below this (65536 = no dropout)
    tau: float = 0.5
    sharpen_t: float = 4.0
    weak_sigma: float = 0.0
    strong_sigma: float = 0.0
    strong_levels: int = 65536
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    dense_from: float = DENSE_FROM  # either pass gives the same bits; tests force each


class Engine(NamedTuple):
    """What an epoch updates in place: ``flat`` (R, P) parameters in ``layout`` order (offsets of
    ``LAYOUT_KEYS``, -1 = absent), Adam moments ``m`` and ``v``, ``lr`` (P,) per-parameter learning
    rates, ``streams`` (R,) uint64 SplitMix64 states."""

    flat: np.ndarray
    m: np.ndarray
    v: np.ndarray
    lr: np.ndarray
    layout: np.ndarray
    streams: np.ndarray


class Batch(NamedTuple):
    """One replica's batch: ``x`` (V*b, d) inputs (``ne``: V = 1; ``label-assemble``: the weak
    view's b rows, then the strong view's), ``mask`` (V*b, H) uint8 dropout flags (1 = kept,
    scaled by ``65536 / Hyper.drop_levels``; ones for none), ``codes`` (b, C) int8 labels (1, 0,
    -1 = not annotated), shared by the views, ``tiling`` how its products are cut
    (:func:`blas_blocks.tiling`: the same bits as one product each)."""

    x: np.ndarray
    mask: np.ndarray
    codes: np.ndarray
    tiling: Tiling


def keep_levels(p: float) -> int:
    """16-bit keep threshold of dropout probability ``p`` (as ``views._keep_mask``)."""
    return max(1, min(65536, round((1.0 - p) * 65536)))


_GAMMA = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True, fastmath=True)
def _mix(z: np.uint64) -> np.uint64:
    """SplitMix64's output function (Steele, Lea & Flood 2014)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, fastmath=True)
def _next(state: np.ndarray, r: int) -> np.uint64:
    """The next 64-bit word of replica ``r``'s SplitMix64 stream."""
    s = state[r] + _GAMMA
    state[r] = s
    return _mix(s)


@njit(cache=True, nogil=True, fastmath=True)
def _uniform16(state: np.ndarray, r: int, words: np.ndarray, count: int) -> np.ndarray:
    """``count`` uniform 16-bit integers of replica ``r``'s stream (four per word, the same
    words ``_next`` would give in turn; the loop vectorises: word k is mix(state + k gamma))."""
    n = (count + 3) // 4
    s0 = state[r]
    for k in range(n):
        words[k] = _mix(s0 + np.uint64(k + 1) * _GAMMA)
    state[r] = s0 + np.uint64(n) * _GAMMA
    return words[:n].view(np.uint16)[:count]


@njit(cache=True, nogil=True, fastmath=True)
def _fill_mask(out: np.ndarray, state: np.ndarray, r: int, levels: int) -> None:
    """``out`` (flat, uint8) = 1 where a 16-bit uniform is below ``levels`` (the unit is kept),
    else 0: a quarter of the bytes of the float multipliers (``forward_backward`` scales the kept
    units by ``65536 / levels``)."""
    n = out.shape[0]
    u = _uniform16(state, r, np.empty((n + 3) // 4, dtype=np.uint64), n)
    lv = np.uint16(levels - 1) if levels < 65536 else np.uint16(65535)
    one, zero = np.uint8(1), np.uint8(0)
    for i in range(n):
        out[i] = one if u[i] <= lv else zero


@njit(cache=True, nogil=True, fastmath=True)
def _head(flat: np.ndarray, lay: np.ndarray, adapter: bool, h: int, c: int) -> tuple:
    """Head weights as ``(Wh^T (C, H), bias (C,))`` (adapter: seed 000 Eq. 1)."""
    if not adapter:
        wt = np.ascontiguousarray(flat[lay[2] : lay[2] + h * c].reshape((h, c)).T)
        return wt, flat[lay[3] : lay[3] + c].copy()
    q = flat[lay[4] : lay[4] + c * c].reshape((c, c))
    g = flat[lay[5] : lay[5] + c * h].reshape((c, h))
    wt = np.dot(q, g) + flat[lay[6] : lay[6] + h]
    u = flat[lay[7] : lay[7] + c]
    bias = np.dot(q, u) + flat[lay[8]]
    return wt, bias


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _log1p01(e: np.float32) -> np.float32:
    """``log(1 + e)`` for ``e`` in [0, 1], within 2e-7 relative, as ``2 atanh(s)``,
    ``s = e / (2 + e)`` in [0, 1/3] (a series to ``s^13``): a polynomial that vectorises, where
    the C library's ``logf`` is a call per entry. Only the reported loss uses it."""
    f = np.float32
    s = e / (f(2.0) + e)
    s2 = s * s
    q = f(1.0 / 13.0)
    q = q * s2 + f(1.0 / 11.0)
    q = q * s2 + f(1.0 / 9.0)
    q = q * s2 + f(1.0 / 7.0)
    q = q * s2 + f(1.0 / 5.0)
    q = q * s2 + f(1.0 / 3.0)
    q = q * s2 + f(1.0)
    return f(2.0) * s * q


@njit(cache=True, nogil=True, fastmath=True)
def _bce_sparse(logits: np.ndarray, codes: np.ndarray, kd: np.ndarray, dl: np.ndarray) -> float:
    """``ne``'s BCE (seed 001 Eq. 1) and its gradient ``dl`` on the annotated entries of a batch
    where they are few (the planner's jobs: 6-8 %): one branch per entry, skipping the others.
    ``logits`` include the bias."""
    f = np.float32
    one, zero = f(1.0), f(0.0)
    b, c = codes.shape
    loss = 0.0
    for i in range(b):
        li = logits[i]
        ci = codes[i]
        for k in range(c):
            code = ci[k]
            if code >= 0:
                a = li[k]
                y = f(code)
                e = expf(-abs(a))
                loss += (max(a, zero) - a * y + _log1p01(e)) * kd[k]
                p = one / (one + e) if a >= zero else e / (one + e)
                dl[i, k] = (p - y) * kd[k]
    return loss


@njit(cache=True, nogil=True, fastmath=True)
def _total(terms: np.ndarray) -> float:
    """The sum of a batch's loss terms (any order: only the reported loss uses it)."""
    total = 0.0
    for v in terms:
        total += v
    return total


# Vectorised with exact division (every fast-math flag but ``arcp``, as ``_adam``): the same
# bits as ``_bce_sparse``, whose scalar divisions are exact.
@njit(
    cache=True,
    nogil=True,
    fastmath=EXACT_DIVISION,
    error_model="numpy",
)
def _bce_dense(logits: np.ndarray, codes: np.ndarray, kd: np.ndarray, dl: np.ndarray) -> float:
    """``_bce_sparse`` for a batch with many annotated entries: every entry's exponential in one
    vectorised pass, then a branch-free pass that keeps the annotated ones (a branch per entry
    mispredicts when a third of them are unannotated at random); both over the batch's entries
    as one flat loop (:func:`_per_entry`), the reported loss still summed row by row."""
    f = np.float32
    one, zero = f(1.0), f(0.0)
    b, c = codes.shape
    nb = b * c
    lf, cf, df = logits.reshape(nb), codes.reshape(nb), dl.reshape(nb)
    kf = _per_entry(kd, b)
    arg = np.empty(nb, dtype=np.float32)
    for j in range(nb):
        arg[j] = -abs(lf[j])
    ex = np.empty_like(arg)
    expf_into(arg, ex)
    terms = np.empty(nb, dtype=np.float32)
    for j in range(nb):
        a = lf[j]
        y = f(cf[j])
        e = ex[j]
        p = one / (one + e) if a >= zero else e / (one + e)
        known = cf[j] >= 0
        df[j] = (p - y) * kf[j] if known else zero
        terms[j] = (max(a, zero) - a * y + _log1p01(e)) * kf[j] if known else zero
    loss = 0.0
    for i in range(b):
        part = zero
        for k in range(c):
            part += terms[i * c + k]
        loss += float(part)
    return loss


@njit(cache=True, nogil=True)
def _per_entry(v: np.ndarray, b: int) -> np.ndarray:
    """``v`` (C,) repeated for each of ``b`` rows, flat (b C,): the loss loops run over a
    batch's entries in one flat loop, which vectorises (a row's C = 14 entries are too few)."""
    c = v.shape[0]
    out = np.empty(b * c, dtype=v.dtype)
    for i in range(b):
        out[i * c : i * c + c] = v
    return out


@njit(cache=True, nogil=True, fastmath=False)
def _column_sums(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=0)`` of a float32 matrix, the rows added in order as numba's ``sum(axis=0)``
    adds them, in a loop over the columns that vectorises (numba's own walks the array one
    element at a time through a generic iterator: 3.4 us against 1.8 at 512 x 14)."""
    out = np.zeros(a.shape[1], dtype=np.float32)
    for i in range(a.shape[0]):
        row = a[i]
        for k in range(a.shape[1]):
            out[k] += row[k]
    return out


# fastmath=False set explicitly: a callee that leaves it unset takes its caller's flags (numba's
# ``inherit_if_not_set``), and the engine's fast math would let LLVM turn the BCE's ``e / (1 + e)``
# into ``e * p`` with ``p = 1 / (1 + e)`` from the same loop (another number, 1 ulp).
@njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
def _assemble_loss(
    logits: np.ndarray,
    codes: np.ndarray,
    kd: np.ndarray,
    ud: np.ndarray,
    dl: np.ndarray,
    hyper: Hyper,
) -> float:
    """``label-assemble``'s loss (seed 000 Eq. 2-5) and its gradient ``dl`` over both views
    (``logits`` (2b, C), bias included): BCE of the weak view on the annotated entries, the
    sharpened pseudo label (Eq. 3-4) and the two views' consistency (Eq. 5) on the others.

    The exponentials first, in one vectorised pass; then every entry both ways, kept by a select
    (a branch per entry mispredicts), in one flat loop over the batch's entries (a row's C = 14
    are too few to fill the vector units). It computes what the compiled scalar loop it replaced
    computed, operation for operation, so the bits are the same: the target ``p keep + sel`` and
    ``g (1 - p)`` (as ``g - p g``) each one fused multiply-add, where fast math had put them, and
    no fast math here, so that LLVM keeps this order."""
    f = np.float32
    one, zero = f(1.0), f(0.0)
    inv_t = f(1.0 / hyper.sharpen_t)
    keep_t = one - inv_t
    tau32 = f(hyper.tau)
    b, c = codes.shape
    nb = b * c
    lf, cf, df = logits.reshape(2 * nb), codes.reshape(nb), dl.reshape(2 * nb)
    kf, uf = _per_entry(kd, b), _per_entry(ud, b)
    arg = np.empty(2 * nb, dtype=np.float32)
    for j in range(nb):
        a = lf[j]
        arg[j] = -abs(a) if cf[j] >= 0 else -a
        arg[nb + j] = -lf[nb + j]
    ex = np.empty_like(arg)
    expf_into(arg, ex)
    terms = np.empty(nb, dtype=np.float32)
    for j in range(nb):
        a = lf[j]
        known = cf[j] >= 0
        y = f(cf[j])
        e1 = ex[j]
        kj, uj = kf[j], uf[j]
        gb = ((one if a >= zero else e1) / (one + e1) - y) * kj
        lb = ((a if a > zero else zero) - a * y + _log1p01(e1)) * kj
        p = one / (one + e1)
        target = fma32(p, keep_t, inv_t if p > tau32 else zero)
        dw_ = p - target
        g = dw_ * (uj * (p + p))
        ps = one / (one + ex[nb + j])
        ds_ = ps - target
        gs = ds_ * (uj * (ps + ps))
        df[j] = gb if known else fma32(-p, g, g)
        df[nb + j] = zero if known else fma32(-ps, gs, gs)
        terms[j] = lb if known else (dw_ * dw_ + ds_ * ds_) * uj
    return _total(terms)


@njit(cache=True, nogil=True, fastmath=True)
def forward_backward(
    batch: Batch, flat: np.ndarray, grad: np.ndarray, lay: np.ndarray, hyper: Hyper
) -> float:
    """Loss of one replica's ``batch``; its gradient over the flat parameters ``flat`` (in
    ``lay`` order) is written to ``grad``."""
    x, mask, codes, cuts = batch
    method, reduction, adapter = hyper.method, hyper.reduction, hyper.adapter
    h = hyper.hidden
    rows, d = x.shape
    b, c = codes.shape
    w0 = flat[lay[0] : lay[0] + d * h].reshape((d, h))
    b0 = flat[lay[1] : lay[1] + h]
    # the products in OpenBLAS's small-kernel tiles where they pay, else in one call: the same
    # bits either way (blas_blocks.tiling)
    z = np.empty((rows, h), dtype=np.float32)
    tiled_product(x, w0, False, cuts.tiles[0], cuts.tiles[1], z)
    zero = np.float32(0.0)
    keep = np.float32(65536.0 / hyper.drop_levels)  # the kept units' scale, as _fill_mask's was
    for i in range(rows):
        zi = z[i]
        mi = mask[i]
        for j in range(h):
            zi[j] = max(zi[j] + b0[j], zero) * (keep if mi[j] else zero)
    wt, bias = _head(flat, lay, adapter, h, c)
    head_rows = cuts.tiles[3]
    logits = np.empty((rows, c), dtype=np.float32)
    tiled_product(z, wt, True, head_rows, c, logits)
    dl = np.zeros((rows, c), dtype=np.float32)
    # denominators: annotated entries (per class for class-sum), and the unannotated ones
    known_c = np.zeros(c)
    for i in range(b):
        for k in range(c):
            if codes[i, k] >= 0:
                known_c[k] += 1.0
    if reduction == 0:
        kd = np.full(c, 1.0 / max(known_c.sum(), 1.0)).astype(np.float32)
        ud = np.full(c, 1.0 / max(b * c - known_c.sum(), 1.0)).astype(np.float32)
    else:
        kd = (1.0 / np.maximum(known_c, 1.0)).astype(np.float32)
        ud = (1.0 / np.maximum(b - known_c, 1.0)).astype(np.float32)
    for i in range(logits.shape[0]):
        li = logits[i]
        for k in range(c):
            li[k] += bias[k]
    if method == LABEL_ASSEMBLE:
        loss = _assemble_loss(logits, codes, kd, ud, dl, hyper)
    elif known_c.sum() >= hyper.dense_from * b * c:
        loss = _bce_dense(logits, codes, kd, dl)
    else:
        loss = _bce_sparse(logits, codes, kd, dl)
    grad[:] = 0.0
    # head: dWh = H^T dL, db = sum dL; adapter: through Wh^T = q G + g, bias = q u + u0
    dwt = blocked_grad(dl, z, cuts.head_rows)  # (C, H) = dWh^T, in OpenBLAS's own row blocks
    dbias = _column_sums(dl)
    if not adapter:
        grad[lay[2] : lay[2] + h * c] = np.ascontiguousarray(dwt.T).reshape(h * c)
        grad[lay[3] : lay[3] + c] = dbias
    else:
        q = flat[lay[4] : lay[4] + c * c].reshape((c, c))
        g = flat[lay[5] : lay[5] + c * h].reshape((c, h))
        u = flat[lay[7] : lay[7] + c]
        dq = np.dot(dwt, g.T)
        for i in range(c):
            for k in range(c):
                dq[i, k] += dbias[i] * u[k]
        grad[lay[4] : lay[4] + c * c] = dq.reshape(c * c)
        grad[lay[5] : lay[5] + c * h] = np.dot(q.T, dwt).reshape(c * h)
        grad[lay[6] : lay[6] + h] = _column_sums(dwt)
        grad[lay[7] : lay[7] + c] = np.dot(q.T, dbias)
        grad[lay[8]] = dbias.sum()
    # trunk: dZ = (dL Wh^T) * M where the unit is on, dW0 = X^T dZ, db0 = sum dZ; a unit is on
    # (H > 0) only where it was kept, so M there is ``keep`` and the mask need not be read again
    dz = np.empty((rows, h), dtype=np.float32)
    tiled_product(dl, wt, False, head_rows, h, dz)
    db0 = np.zeros(h, dtype=np.float32)
    for i in range(rows):
        zi = z[i]
        dzi = dz[i]
        for j in range(h):
            v = dzi[j] * keep if zi[j] > zero else zero
            dzi[j] = v
            db0[j] += v
    dw0 = grad[lay[0] : lay[0] + d * h].reshape((d, h))  # written straight into grad
    tiled_input_grad(x, dz, cuts.trunk_rows, cuts.tiles[2], dw0)
    grad[lay[1] : lay[1] + h] = db0
    return loss


# Vectorised with exact division and square root: every fast-math flag but ``arcp`` (which let
# LLVM divide by a reciprocal estimate) and no division-by-zero check (the denominator is at
# least eps); the same bits as the scalar loop it replaced, 4-6x faster (bench/README.md).
@njit(
    cache=True,
    nogil=True,
    fastmath=EXACT_DIVISION,
    error_model="numpy",
)
def _adam(engine: Engine, r: int, g: np.ndarray, t: int, hyper: Hyper) -> None:
    """Adam step ``t`` on replica ``r``'s flat parameters with gradient ``g``
    (``torch.optim.Adam``'s formula, L2 decay)."""
    p, m, v, lr = engine.flat[r], engine.m[r], engine.v[r], engine.lr
    b1, b2, eps, wd = hyper.beta1, hyper.beta2, hyper.eps, hyper.weight_decay
    f = np.float32
    step = f(1.0 / (1.0 - b1**t))
    inv_sq_bc2 = f(1.0 / math.sqrt(1.0 - b2**t))
    a1, a2, c2, e, w = f(1.0 - b1), f(1.0 - b2), f(b2), f(eps), f(wd)
    for i in range(p.shape[0]):
        gi = g[i] + w * p[i]
        mi = m[i] + a1 * (gi - m[i])
        vi = c2 * v[i] + a2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= lr[i] * step * mi / (np.sqrt(vi) * inv_sq_bc2 + e)


@njit(cache=True, nogil=True)
def in_batch_order(codes: np.ndarray, perm: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Each replica's labels ``codes`` (R, N, C) in its group's batch order ``perm[group[r]]``,
    gathered once per epoch: a batch is then a contiguous slice, not 512 row copies per replica
    and step (which took ~6-9 % of an `ne` epoch, bench/README.md)."""
    r_all, c = codes.shape[0], codes.shape[2]
    n = perm.shape[1]
    out = np.empty((r_all, n, c), dtype=np.int8)
    for r in range(r_all):
        order = perm[group[r]]
        for i in range(n):
            src = order[i]
            for k in range(c):
                out[r, i, k] = codes[r, src, k]
    return out


@njit(cache=True, nogil=True, fastmath=True)
def _epoch(
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Tiling, Tiling],
    engine: Engine,
    table: np.ndarray,
    t0: int,
    losses: np.ndarray,
    hyper: Hyper,
) -> None:
    """Every replica's epoch, batch by batch. ``data`` = ``(x, perm, codes, group, cuts_full,
    cuts_last)``: ``perm`` (G, N) holds one batch order per group of replicas that share it
    and their stream (``engine.streams`` equal at the start), ``group`` (R,) each replica's
    group, the cuts the products' :class:`Tiling` for a full and for the last batch; the
    group's rows, views and dropout masks are drawn once, from its first member's stream, which
    every member then takes on: a member gets the numbers it would get alone."""
    x, perm, codes, group, cuts_full, cuts_last = data
    flat, lay, state = engine.flat, engine.layout, engine.streams
    method, batch, hidden, drop_levels = hyper.method, hyper.batch, hyper.hidden, hyper.drop_levels
    weak_sigma, strong_sigma, strong_levels = (
        hyper.weak_sigma,
        hyper.strong_sigma,
        hyper.strong_levels,
    )
    n, d = x.shape
    r_all = flat.shape[0]
    views = 2 if method == 1 else 1
    n_table = table.shape[0]
    strong_scale = np.float32(65536.0 / strong_levels)
    strong_top = np.uint16(strong_levels - 1) if strong_levels < 65536 else np.uint16(65535)
    ws, ss, zero = np.float32(weak_sigma), np.float32(strong_sigma), np.float32(0.0)
    grad = np.empty(flat.shape[1], dtype=np.float32)
    xb = np.empty((views * batch, d), dtype=np.float32)
    mask = np.ones((views * batch, hidden), dtype=np.uint8)
    words = np.empty((batch * max(d, views * hidden) + 3) // 4, dtype=np.uint64)
    totals = np.zeros(r_all)
    ordered = in_batch_order(codes, perm, group)
    t = t0
    for s in range(0, n, batch):
        b = min(batch, n - s)
        t += 1
        xv = xb[: views * b]
        mv = mask[: views * b]
        for g in range(perm.shape[0]):
            lead = -1
            for r in range(r_all):
                if group[r] == g:
                    lead = r
                    break
            if lead < 0:
                continue
            rows = perm[g, s : s + b]
            if method == 1:  # weak view: x + noise; strong: feature dropout, then noise
                span = b * d
                ow = np.int64(_next(state, lead) % np.uint64(n_table - span + 1))
                o_s = np.int64(_next(state, lead) % np.uint64(n_table - span + 1))
                u = _uniform16(state, lead, words, span)
                for bi in range(b):
                    xr = x[rows[bi]]
                    xw = xv[bi]
                    xs = xv[b + bi]
                    tw = table[ow + bi * d : ow + bi * d + d]
                    ts = table[o_s + bi * d : o_s + bi * d + d]
                    ub = u[bi * d : bi * d + d]
                    for j in range(d):
                        xw[j] = xr[j] + ws * tw[j]
                        kept = xr[j] * strong_scale if ub[j] <= strong_top else zero
                        xs[j] = kept + ss * ts[j]
            else:
                for bi in range(b):
                    xv[bi, :] = x[rows[bi], :]
            if drop_levels < 65536:
                _fill_mask(mv.reshape(views * b * hidden), state, lead, drop_levels)
            for r in range(lead, r_all):
                if group[r] != g:
                    continue
                state[r] = state[lead]
                lab = ordered[r, s : s + b]  # contiguous: no copy
                cuts = cuts_full if b == batch else cuts_last
                totals[r] += forward_backward(Batch(xv, mv, lab, cuts), flat[r], grad, lay, hyper)
                _adam(engine, r, grad, t, hyper)
    losses[:] = totals


def share_groups(perm: np.ndarray, streams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(group of each replica (R,), one batch order per group (G, N))``: replicas with the same
    batch order and the same stream state (the runs of one draw of the study, which share their
    training seed) form a group, whose rows, views and dropout masks are the same numbers."""
    group = np.empty(len(perm), dtype=np.int64)
    leads: list[int] = []
    for r in range(len(perm)):
        for g, lead in enumerate(leads):
            if streams[lead] == streams[r] and np.array_equal(perm[lead], perm[r]):
                group[r] = g
                break
        else:
            group[r] = len(leads)
            leads.append(r)
    return group, np.ascontiguousarray(perm[leads])


def train_epoch(
    x: np.ndarray, perm: np.ndarray, codes: np.ndarray, engine: Engine, step: int, hyper: Hyper
) -> np.ndarray:
    """One epoch of every replica, in place on ``engine``'s arrays.

    ``x`` (N, d) float32; ``perm`` (R, N) each replica's batch order; ``codes`` (R, N, C) int8
    labels; ``step`` Adam steps taken so far. Returns the summed batch losses ``(R,)``.
    Replicas that share their batch order and stream share the rows, views and masks drawn for
    them (:func:`share_groups`): the same numbers as each trained alone, drawn once.
    """
    losses = np.zeros(engine.flat.shape[0])
    window = min(hyper.batch, x.shape[0]) * x.shape[1]
    table = noise_table(window) if hyper.method == LABEL_ASSEMBLE else np.zeros(1, np.float32)
    groups, orders = share_groups(perm, engine.streams)
    views = 2 if hyper.method == LABEL_ASSEMBLE else 1
    c, n = codes.shape[2], x.shape[0]
    d = x.shape[1]
    full = tiling(views * min(hyper.batch, n), d, hyper.hidden, c)
    last = tiling(views * (n % hyper.batch or hyper.batch), d, hyper.hidden, c)
    _epoch((x, orders, codes, groups, full, last), engine, table, step, losses, hyper)
    return losses
