"""Soft-exposure distances and temperatures (seed 001, Eq. 4-8).

Each un-annotated label c_u of an image x gets a signed temperature: its sign says whether c_u
sits closer to the labels annotated positive on x (soft positive, T > 0) or negative (soft
negative, T < 0); its size says how soft the label is (``sigma(a, T) = 1 / (1 + exp(-a / T))``,
Eq. 3). Distances come from two relations:

* label relation (Eq. 4): ``d_L+(c_u, x) = min_{c_i in P(x)} d(c_u, c_i)`` with ``d`` the cosine
  distance between per-class **median** embeddings; ``d_L-`` likewise over the negatives N(x).
* image relation (Eq. 5): ``d_I+(c_u, x) = min_{x_i in NN_k(x), c_u in P(x_i)} d(x, x_i)``, and
  **1** when no neighbour carries c_u as positive; ``d_I-`` likewise for negatives.
* combination (Eq. 6-7): ``d+ = min(d_L+, d_I+)``, ``d- = min(d_L-, d_I-)``.
* each of d+ and d- is divided by its maximum over the sample's un-annotated labels (Sec. 3,
  "normalizing the distance values"), then (Eq. 8)
  ``T = exp(beta (1 - d+)) + gamma`` if ``d+ < d-`` else ``-exp(beta (1 - d-)) + gamma``.

Choices where the paper leaves room (documented, tested):

* Normalisation: the paper says "each of d+, d- is normalized by the maximum value of d+, d-
  among all un-annotated labels for the sample". ``normalise="joint"`` (default, also the
  trainer's) divides both by one maximum over both, which keeps the raw d+ / d- order that
  Eq. 8 compares. ``"separate"`` (the "respectively" reading) divides d+ by the max of d+ and
  d- by the max of d-; then a sample with a single un-annotated label gets d+ = d- = 1 and so
  always T = -1, which turns SE into FE in the typical planner assembly (one added class). With
  "joint", `se` beats `ne` on the engine's related-class test and with "separate" it does not
  (measured by the methods engineer). Both are tested by hand.
* A label distance with an empty set (no positive, or no negative, annotated on x) is ignored,
  as the paper's rebuttal says; in ``mode="label"`` the missing distance then counts as the
  largest possible, 1 after normalisation (so an image with no annotated positive leans negative).
  When BOTH sets are empty (a row with no annotated label at all, e.g. a target positive the
  simulated study dropped) there is no evidence either way: the temperature is NaN and
  ``se_loss`` leaves the entry out (as NE does), instead of T = -1 turning such rows into hard
  negatives. In ``"image"`` / ``"both"`` the image term's default of 1 (Eq. 5) always defines it.
* kNN indices of -1 (fewer than k neighbours in the rows) are no neighbour.

The computation is vectorised over the batch and over leading replica dims and streams over rows
in chunks, so R = 70 replica label matrices of 80k x 14 fit in the output's memory plus a few
tens of MB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from budgetplan.errors import DataMismatchError

Mode = Literal["label", "image", "both"]
MODES = ("label", "image", "both")
# Elements of (..., rows, C) processed per chunk: bounds the temporaries to a few tens of MB.
_CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class SoftExposureDistances:
    """Raw distances of every label (Eq. 4-5) before combination; NaN where annotated.

    ``inf`` marks a label distance whose set is empty (no positive / negative annotated).
    """

    label_plus: np.ndarray
    label_minus: np.ndarray
    image_plus: np.ndarray
    image_minus: np.ndarray


# ----------------------------------------------------------------------------- inputs
def cosine_distance_matrix(prototypes: np.ndarray) -> np.ndarray:
    """``1 - cos(psi(c1), psi(c2))`` for the rows of ``prototypes`` (C, d); the label distance
    of Eq. 4 with ``d`` = cosine distance. A zero prototype (class without positives) gets NaN."""
    p = np.asarray(prototypes, dtype=np.float64)
    norm = np.linalg.norm(p, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(norm > 0, p / norm, np.nan)
    return (1.0 - unit @ unit.T).astype(np.float32)


def label_distance(
    vectors: np.ndarray, labels: np.ndarray, rows: np.ndarray | None = None
) -> np.ndarray:
    """Label distance of seed 001 (Eq. 4): cosine distance between per-class **median**
    embeddings of the images where the class is positive (training rows only, if given)."""
    from budgetplan.relations.prototypes import prototypes

    protos = prototypes(vectors, labels, kind="median", shift_origin=False, rows=rows)
    dist = cosine_distance_matrix(protos)
    return dist


def knn_distances_from_similarities(similarities: np.ndarray) -> np.ndarray:
    """Cosine distance ``1 - s`` of unit vectors' inner products (FAISS IndexFlatIP output)."""
    return (1.0 - np.asarray(similarities, dtype=np.float32)).astype(np.float32)


# ----------------------------------------------------------------------------- validation
def _check_inputs(
    labels: np.ndarray,
    label_dist: np.ndarray | None,
    knn_indices: np.ndarray | None,
    knn_distances: np.ndarray | None,
    mode: str,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    if mode not in MODES:
        raise ValueError(f"soft exposure: mode {mode!r} is not one of {MODES}")
    y = np.asarray(labels, dtype=np.float32)
    if y.ndim < 2:
        raise DataMismatchError(f"soft exposure: labels must be (..., N, C), got shape {y.shape}")
    n, c = y.shape[-2:]
    d = None
    if mode in ("label", "both"):
        if label_dist is None:
            raise ValueError(f"soft exposure mode {mode!r} needs label_distance (C, C)")
        d = np.asarray(label_dist, dtype=np.float32)
        if d.shape != (c, c):
            raise DataMismatchError(
                f"soft exposure: label_distance has shape {d.shape}, expected ({c}, {c})"
            )
    idx = dist = None
    if mode in ("image", "both"):
        if knn_indices is None or knn_distances is None:
            raise ValueError(
                f"soft exposure mode {mode!r} needs knn_indices and knn_distances (N, k)"
            )
        idx = np.asarray(knn_indices)
        dist = np.asarray(knn_distances, dtype=np.float32)
        if idx.ndim != 2 or idx.shape[0] != n or dist.shape != idx.shape:
            raise DataMismatchError(
                f"soft exposure: knn_indices {idx.shape} and knn_distances {dist.shape} "
                "must both be"
                f" ({n}, k) for labels with {n} rows"
            )
        if idx.size and (idx.max() >= n or idx.min() < -1):
            raise DataMismatchError(
                f"soft exposure: knn_indices must be row numbers in [0, {n}) or -1 (no neighbour);"
                f" got values in [{idx.min()}, {idx.max()}]"
            )
        idx = idx.astype(np.int64)
    return y, d, idx, dist


# ----------------------------------------------------------------------------- Eq. 4
_LUT_MAX_BITS = 16  # label-set codes up to 2^16 use a lookup table


def _bit_codes(member: np.ndarray) -> np.ndarray:
    """Row-wise bit code (int64) of a boolean (..., C) array, C <= 62."""
    c = member.shape[-1]
    packed = np.packbits(member, axis=-1, bitorder="little")  # (..., ceil(C / 8)) uint8
    codes = np.zeros(member.shape[:-1], dtype=np.int64)
    for b in range(packed.shape[-1]):
        codes |= packed[..., b].astype(np.int64) << (8 * b)
    del c
    return codes


def _set_min_table(dist: np.ndarray) -> np.ndarray:
    """``table[code, c_u] = min_{c_i in code} dist[c_u, c_i]`` for every subset code of the C
    classes (inf for the empty set): built bit by bit, 2^C x C entries."""
    c = dist.shape[0]
    table = np.full((1 << c, c), np.inf, dtype=np.float32)
    for b in range(c):
        lo = 1 << b
        table[lo : 2 * lo] = np.minimum(table[:lo], dist[:, b][None, :])
    return table


def _label_min_distance(member: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """``min_{c_i : member[..., c_i]} dist[c_u, c_i]`` for every c_u (Eq. 4); inf for an
    empty set. The minimum depends only on the row's set of classes, so it is looked up by
    the set's bit code (a full table for C <= 16, the distinct codes otherwise)."""
    c = member.shape[-1]
    if c <= _LUT_MAX_BITS:
        return _set_min_table(dist)[_bit_codes(member)]
    flat = member.reshape(-1, c)
    if c <= 62:
        uniq, inverse = np.unique(_bit_codes(flat), return_inverse=True)
        patterns = ((uniq[:, None] >> np.arange(c, dtype=np.int64)) & 1).astype(bool)
        return _label_min_loop(patterns, dist)[inverse.reshape(-1)].reshape(member.shape)
    return _label_min_loop(flat, dist).reshape(member.shape)


def _label_min_loop(member: np.ndarray, dist: np.ndarray) -> np.ndarray:
    out = np.full(member.shape, np.inf, dtype=np.float32)
    for ci in range(member.shape[-1]):
        cand = np.where(member[:, ci : ci + 1], dist[:, ci][None, :], np.inf)
        np.minimum(out, cand, out=out)
    return out


# ----------------------------------------------------------------------------- Eq. 5
def _label_state(y: np.ndarray) -> np.ndarray:
    """Labels (..., N, C) as uint8 (N, L, C) with L = prod(leading dims): 0 = not annotated,
    1 = negative, 2 = positive. Rows first, so gathering a neighbour's labels of every replica
    is one contiguous copy, and a quarter of the bytes of float32."""
    n, c = y.shape[-2:]
    flat = y.reshape(-1, n, c)
    state = np.zeros((n, flat.shape[0], c), dtype=np.uint8)
    for r in range(flat.shape[0]):
        yr = flat[r]
        state[:, r, :] = (yr == 0) + 2 * (yr == 1)
    return state


def _from_state_layout(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(n, L, C) back to (..., n, C)."""
    n, _, c = a.shape
    return a.transpose(1, 0, 2).reshape(*shape[:-2], n, c)


def _image_min_distance(
    state: np.ndarray, rows: slice, idx: np.ndarray, dist: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(d_I+, d_I-) as (n, L, C) for the rows in ``rows`` (Eq. 5): distance to the nearest
    neighbour that carries c_u as positive / negative, 1 when none does.

    Neighbours are sorted by distance once; per label the neighbours carrying it form a k-bit
    code whose lowest set bit is the nearest one, so the minimum is a lookup rather than k
    passes of float arithmetic.
    """
    sub_idx = idx[rows]
    sub_dist = np.where(sub_idx >= 0, dist[rows], np.inf).astype(np.float32)
    order = np.argsort(sub_dist, axis=1, kind="stable")
    sub_idx = np.take_along_axis(sub_idx, order, axis=1)
    sub_dist = np.take_along_axis(sub_dist, order, axis=1)
    n_rows, k = sub_idx.shape
    # Column k stands for "no neighbour carries it": distance 1 (Eq. 5).
    table = np.concatenate([sub_dist, np.ones((n_rows, 1), np.float32)], axis=1)
    table[~np.isfinite(table)] = 1.0
    code_dtype = np.uint16 if k <= 16 else np.uint32 if k <= 32 else np.uint64
    shape = (n_rows, *state.shape[1:])
    code_pos = np.zeros(shape, dtype=code_dtype)
    code_neg = np.zeros(shape, dtype=code_dtype)
    for j in range(k):
        nb = sub_idx[:, j]
        valid = nb >= 0
        s = state[np.where(valid, nb, 0)]
        if not valid.all():
            s[~valid] = 0
        bit = code_dtype(1 << j)
        code_pos |= (s == 2).astype(code_dtype) * bit
        code_neg |= (s == 1).astype(code_dtype) * bit
    row = np.arange(n_rows)[:, None, None]
    return table[row, _lowest_bit(code_pos, k)], table[row, _lowest_bit(code_neg, k)]


def _lowest_bit(codes: np.ndarray, k: int) -> np.ndarray:
    """Index of the lowest set bit of each code, ``k`` for 0."""
    if k <= 16:
        lut = np.full(1 << k, k, dtype=np.int64)
        values = np.arange(1, 1 << k)
        lut[1:] = np.log2(values & -values).astype(np.int64)
        return lut[codes.astype(np.int64)]
    c = codes.astype(np.int64)
    low = c & -c
    out = np.where(low > 0, np.log2(np.maximum(low, 1)).astype(np.int64), k)
    return out


# ----------------------------------------------------------------------------- public API
def soft_exposure_distances(
    labels: np.ndarray,
    label_distance: np.ndarray | None,
    knn_indices: np.ndarray | None = None,
    knn_distances: np.ndarray | None = None,
) -> SoftExposureDistances:
    """The four raw distances d_L+, d_L-, d_I+, d_I- of Eq. 4-5 for every label (no chunking:
    for inspection and small tables; NaN where the label is annotated, inf for an empty label
    set). Image distances are NaN-filled if no kNN graph is given."""
    mode = "both" if knn_indices is not None else "label"
    y, d, idx, dist = _check_inputs(labels, label_distance, knn_indices, knn_distances, mode)
    annotated = ~np.isnan(y)
    assert d is not None  # _check_inputs requires it in both modes used here
    lp = _label_min_distance(y == 1, d)
    lm = _label_min_distance(y == 0, d)
    if idx is not None and dist is not None:
        ip, im = _image_min_distance(_label_state(y), slice(0, y.shape[-2]), idx, dist)
        ip, im = _from_state_layout(ip, y.shape), _from_state_layout(im, y.shape)
    else:
        ip = np.full(y.shape, np.nan, np.float32)
        im = np.full(y.shape, np.nan, np.float32)
    out = [np.where(annotated, np.nan, a).astype(np.float32) for a in (lp, lm, ip, im)]
    return SoftExposureDistances(*out)


def soft_exposure_temperatures(
    labels: np.ndarray,
    label_distance: np.ndarray | None,
    knn_indices: np.ndarray | None = None,
    knn_distances: np.ndarray | None = None,
    *,
    mode: Mode = "both",
    beta: float = 5.0,
    gamma: float = 0.0,
    normalise: Literal["separate", "joint"] = "joint",
) -> np.ndarray:
    """Signed temperatures T (..., N, C) of seed 001 Eq. 4-8; NaN where the label is annotated.

    Args:
        labels: (..., N, C) with 1 / 0 / NaN (NaN = not annotated); leading dims are replicas.
        label_distance: (C, C) class distance (``label_distance`` helper: cosine distance of
            median prototypes); needed for ``mode`` "label" and "both".
        knn_indices: (N, k) neighbours of each row as row numbers of ``labels`` (no self;
            -1 = none); needed for "image" and "both". Shared by all replicas.
        knn_distances: (N, k) cosine distances ``1 - similarity`` to those neighbours.
        mode: "label" (SE-L), "image" (SE-I) or "both" (SE).
        beta, gamma: Eq. 8 (paper: 5.0 and 0.0).
        normalise: "separate" or "joint" per-sample max normalisation (module docstring).

    Returns:
        float32 (..., N, C): T > 0 soft positive, T < 0 soft negative, NaN for annotated labels.
    """
    if normalise not in ("separate", "joint"):
        raise ValueError(f"soft exposure: normalise {normalise!r} is not 'separate' or 'joint'")
    y, d, idx, dist = _check_inputs(labels, label_distance, knn_indices, knn_distances, mode)
    n, c = y.shape[-2:]
    lead = int(np.prod(y.shape[:-2], dtype=np.int64))
    state = _label_state(y)
    out = np.empty(y.shape, dtype=np.float32)
    step = max(1, _CHUNK_ELEMENTS // max(1, lead * c))
    for start in range(0, n, step):
        rows = slice(start, min(n, start + step))
        temps = _temperatures_chunk(
            state, rows, d, idx, dist, mode=mode, beta=beta, gamma=gamma, normalise=normalise
        )
        out[..., rows, :] = _from_state_layout(temps, y.shape)
    return out


def _temperatures_chunk(
    state: np.ndarray,
    rows: slice,
    d: np.ndarray | None,
    idx: np.ndarray | None,
    dist: np.ndarray | None,
    *,
    mode: str,
    beta: float,
    gamma: float,
    normalise: str,
) -> np.ndarray:
    sc = state[rows]  # (n, L, C)
    unann = sc == 0
    plus = np.full(sc.shape, np.inf, dtype=np.float32)
    minus = np.full(sc.shape, np.inf, dtype=np.float32)
    if mode in ("label", "both"):
        assert d is not None
        plus = _label_min_distance(sc == 2, d)
        minus = _label_min_distance(sc == 1, d)
    if mode in ("image", "both"):
        assert idx is not None and dist is not None
        ip, im = _image_min_distance(state, rows, idx, dist)
        np.minimum(plus, ip, out=plus)  # Eq. 6
        np.minimum(minus, im, out=minus)  # Eq. 7
    # Undefined (inf) and annotated labels do not enter the per-sample maximum.
    annotated = ~unann
    np.copyto(plus, np.inf, where=annotated)
    np.copyto(minus, np.inf, where=annotated)
    plus_max = _finite_max(plus)
    minus_max = _finite_max(minus)
    if normalise == "joint":
        plus_max = minus_max = np.maximum(plus_max, minus_max)
    plus = _divide(plus, plus_max)
    minus = _divide(minus, minus_max)
    no_evidence = np.isinf(plus) & np.isinf(minus)  # nothing annotated to relate it to
    np.copyto(plus, 1.0, where=np.isinf(plus))  # an empty set counts as the farthest (module doc)
    np.copyto(minus, 1.0, where=np.isinf(minus))
    positive = plus < minus
    nearest = np.where(positive, plus, minus)
    with np.errstate(over="ignore"):
        temps = np.exp(beta * (1.0 - nearest))  # Eq. 8, magnitude
    temps = np.where(positive, temps, -temps) + np.float32(gamma)
    temps = temps.astype(np.float32, copy=False)
    np.copyto(temps, np.nan, where=annotated | no_evidence)
    return temps


def _finite_max(a: np.ndarray) -> np.ndarray:
    """Per-sample maximum over the finite entries of the last axis (distances are >= 0, so
    inf entries are replaced by -1); 0 when there is none."""
    m = np.where(np.isinf(a), np.float32(-1.0), a).max(axis=-1, keepdims=True)
    return np.maximum(m, 0.0).astype(np.float32)


def _divide(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """a / m, where a max of 0 (all distances 0) leaves the zeros as they are."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m > 0, a / np.where(m > 0, m, 1.0), a).astype(np.float32)


# ----------------------------------------------------------------------------- bundle
@dataclass(frozen=True)
class SoftExposureRelations:
    """What Eq. 4-8 needs about one training set, computed once and reused for every replica.

    ``knn_indices`` index the rows of the training set (not the whole store). The fields match
    ``budgetplan.methods.trainer.SoftExposureInputs``:
    ``SoftExposureInputs(**dataclasses.asdict(relations), beta=..., gamma=...)``.
    """

    label_distance: np.ndarray
    knn_indices: np.ndarray
    knn_distances: np.ndarray

    def temperatures(
        self, labels: np.ndarray, mode: Mode = "both", beta: float = 5.0, gamma: float = 0.0
    ) -> np.ndarray:
        return soft_exposure_temperatures(
            labels,
            self.label_distance,
            self.knn_indices,
            self.knn_distances,
            mode=mode,
            beta=beta,
            gamma=gamma,
        )

    @classmethod
    def from_vectors(
        cls, vectors: np.ndarray, labels: np.ndarray, k: int = 10
    ) -> SoftExposureRelations:
        """Median-prototype label distance and an exact k-NN graph (FAISS, cosine) among the rows
        of ``vectors`` (unit length). For a whole store prefer ``from_store_knn``."""
        from budgetplan.relations.knn import exact_self_knn

        sims, nbrs = exact_self_knn(vectors, k)
        return cls(label_distance(vectors, labels), nbrs, knn_distances_from_similarities(sims))

    @classmethod
    def from_store_knn(
        cls,
        vectors: np.ndarray,
        labels: np.ndarray,
        rows: np.ndarray,
        store_similarities: np.ndarray,
        store_indices: np.ndarray,
        k: int = 10,
    ) -> SoftExposureRelations:
        """Inputs for the training ``rows`` of a store from the store's cached self-kNN graph
        (take it with a k larger than 10, e.g. 20, so that 10 neighbours remain in the rows).

        ``labels`` are the labels of ``rows`` (len(rows), C); ``vectors`` the whole store's.
        """
        from budgetplan.relations.knn import restrict_knn

        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        sims, nbrs = restrict_knn(
            np.asarray(store_similarities)[rows],
            np.asarray(store_indices)[rows],
            rows,
            k,
            exclude=rows,
        )
        dist = knn_distances_from_similarities(sims)
        dist[nbrs < 0] = np.inf
        full = np.full((vectors.shape[0], np.shape(labels)[1]), np.nan, dtype=np.float32)
        full[rows] = labels  # prototypes read the memory map in order, no gathered copy
        return cls(label_distance(vectors, full, rows=rows), nbrs, dist)
