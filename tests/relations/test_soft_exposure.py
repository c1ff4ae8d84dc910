"""Soft-exposure distances and temperatures (seed 001 Eq. 4-8) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from budgetplan.errors import DataMismatchError
from budgetplan.relations.soft_exposure import (
    SoftExposureRelations,
    cosine_distance_matrix,
    label_distance,
    soft_exposure_distances,
    soft_exposure_temperatures,
)

NAN = np.nan
# Three classes a, b, c; label distances (cosine distance of median prototypes).
D = np.array([[0.0, 0.2, 0.8], [0.2, 0.0, 0.5], [0.8, 0.5, 0.0]], dtype=np.float32)
# Four images. x0: a+ ; x1: a-, c+ ; x2: b+, c- ; x3: nothing annotated.
Y = np.array(
    [[1, NAN, NAN], [0, NAN, 1], [NAN, 1, 0], [NAN, NAN, NAN]],
    dtype=np.float32,
)
# k = 2 neighbours per image with cosine distances.
NBR = np.array([[1, 2], [0, 3], [0, 1], [1, 2]])
NDIST = np.array([[0.1, 0.3], [0.1, 0.4], [0.3, 0.6], [0.4, 0.5]], dtype=np.float32)
e = math.exp


def test_raw_distances_eq4_eq5_by_hand() -> None:
    d = soft_exposure_distances(Y, D, NBR, NDIST)
    # x0, label b: P = {a} -> d_L+ = D[b, a] = 0.2; N empty -> inf. Label c: D[c, a] = 0.8.
    np.testing.assert_allclose(d.label_plus[0, 1:], [0.2, 0.8])
    assert np.isinf(d.label_minus[0, 1:]).all()
    # x0 image: neighbours x1 (0.1; b missing, c+) and x2 (0.3; b+, c-).
    # b: nearest b-positive x2 -> 0.3; no b-negative neighbour -> 1 (Eq. 5).
    # c: nearest c-positive x1 -> 0.1; c-negative x2 -> 0.3.
    np.testing.assert_allclose(d.image_plus[0, 1:], [0.3, 0.1])
    np.testing.assert_allclose(d.image_minus[0, 1:], [1.0, 0.3])
    # x1, label b: P = {c} -> D[b, c] = 0.5; N = {a} -> D[b, a] = 0.2; neighbours carry no b.
    np.testing.assert_allclose(
        [d.label_plus[1, 1], d.label_minus[1, 1], d.image_plus[1, 1], d.image_minus[1, 1]],
        [0.5, 0.2, 1.0, 1.0],
    )
    # Annotated labels have no distance.
    assert np.isnan(d.label_plus[0, 0]) and np.isnan(d.image_minus[2, 2])


def test_temperatures_eq8_by_hand_label_image_both() -> None:
    # Joint max normalisation over d+ and d- of the sample's un-annotated labels.
    # x0 label: d+ = (0.2, 0.8), d- undefined; max 0.8 -> d+ = (0.25, 1), d- := 1.
    #   b: 0.25 < 1 -> exp(5 * 0.75);  c: 1 < 1 false -> -exp(0) = -1.
    # x1 label: d+ = 0.5, d- = 0.2, max 0.5 -> (1, 0.4) -> -exp(5 * 0.6).
    # x2 label: a: d+ = 0.2, d- = 0.8 -> (0.25, 1) -> exp(5 * 0.75).
    # x3 label: no annotated label -> no evidence either way -> NaN (left out by se_loss,
    #   as NE does), not T = -1 (which would make e.g. a dropped target positive a hard negative).
    t = soft_exposure_temperatures(Y, D, mode="label", normalise="joint")
    expected_label = [
        [NAN, e(3.75), -1.0],
        [NAN, -e(3.0), NAN],
        [e(3.75), NAN, NAN],
        [NAN, NAN, NAN],
    ]
    np.testing.assert_allclose(t, expected_label, rtol=1e-5)

    # x0 image: d+ = (0.3, 0.1), d- = (1, 0.3), max 1: b 0.3 < 1 -> exp(3.5);
    #   c 0.1 < 0.3 -> exp(4.5)
    # x1 image: no neighbour carries b: 1 vs 1 -> -1.
    # x2 image: a: neighbour x0 a+ (0.3), x1 a- (0.6); max 0.6 -> 0.5 < 1 -> exp(2.5).
    # x3 image: x1 (0.4: a-, c+), x2 (0.5: b+, c-): a: d+ 1, d- 0.4 -> -exp(3);
    #   b: d+ 0.5, d- 1 -> exp(2.5); c: d+ 0.4, d- 0.5 -> exp(3).
    t = soft_exposure_temperatures(Y, None, NBR, NDIST, mode="image", normalise="joint")
    expected_image = [
        [NAN, e(3.5), e(4.5)],
        [NAN, -1.0, NAN],
        [e(2.5), NAN, NAN],
        [-e(3.0), e(2.5), e(3.0)],
    ]
    np.testing.assert_allclose(t, expected_image, rtol=1e-5)

    # both (Eq. 6-7: min of label and image distances):
    # x0: d+ = (0.2, 0.1), d- = (1, 0.3) -> b exp(4), c exp(4.5).
    # x1: d+ = 0.5, d- = 0.2 -> -exp(3).
    # x2: d+ = min(0.2, 0.3) = 0.2, d- = min(0.8, 0.6) = 0.6; /0.6 -> 1/3 < 1 -> exp(5 * 2/3).
    # x3: label terms undefined -> as image.
    t = soft_exposure_temperatures(Y, D, NBR, NDIST, mode="both")  # joint is the default
    expected_both = [
        [NAN, e(4.0), e(4.5)],
        [NAN, -e(3.0), NAN],
        [e(10 / 3), NAN, NAN],
        [-e(3.0), e(2.5), e(3.0)],
    ]
    np.testing.assert_allclose(t, expected_both, rtol=1e-5)


def test_separate_normalisation_and_gamma() -> None:
    # separate (the "respectively" reading): x0 both: d+ (0.2, 0.1) / 0.2 = (1, 0.5);
    #   d- (1, 0.3) / 1.
    #   b: 1 < 1 false -> -exp(0) = -1; c: 0.5 < 0.3 false -> -exp(5 * 0.7).
    # x1 label: one un-annotated label: d+ 0.5 / 0.5 = 1, d- 0.2 / 0.2 = 1 -> tie -> -1.
    # x2 both: a: d+ 0.2 / 0.2 = 1, d- 0.6 / 0.6 = 1 -> -1.
    t = soft_exposure_temperatures(Y, D, NBR, NDIST, mode="both", normalise="separate")
    np.testing.assert_allclose(t[0, 1:], [-1.0, -e(3.5)], rtol=1e-5)
    assert t[1, 1] == pytest.approx(-1.0) and t[2, 0] == pytest.approx(-1.0)
    # x3 image (no label distances): d+ (1, 0.5, 0.4) / 1; d- (0.4, 1, 0.5) / 1 -> as joint
    t = soft_exposure_temperatures(Y, None, NBR, NDIST, mode="image", normalise="separate")
    np.testing.assert_allclose(t[3], [-e(3.0), e(2.5), e(3.0)], rtol=1e-5)
    # gamma is added to the signed value (Eq. 8), beta scales the exponent.
    t = soft_exposure_temperatures(
        Y, D, NBR, NDIST, mode="both", beta=2.0, gamma=0.1, normalise="joint"
    )
    np.testing.assert_allclose(t[0, 1:], [e(2 * 0.8) + 0.1, e(2 * 0.9) + 0.1], rtol=1e-5)


def _reference(y, dist, nbr, ndist, mode, normalise, beta=5.0, gamma=0.0):
    """Slow loop transcription of Eq. 4-8 for one label matrix."""
    n, c = y.shape
    out = np.full((n, c), np.nan)
    for i in range(n):
        unann = [u for u in range(c) if np.isnan(y[i, u])]
        dp, dm = {}, {}
        for u in unann:
            lp = min((dist[u, j] for j in range(c) if y[i, j] == 1), default=np.inf)
            lm = min((dist[u, j] for j in range(c) if y[i, j] == 0), default=np.inf)
            ip = min(
                (
                    ndist[i, m]
                    for m in range(nbr.shape[1])
                    if nbr[i, m] >= 0 and y[nbr[i, m], u] == 1
                ),
                default=1.0,
            )
            im = min(
                (
                    ndist[i, m]
                    for m in range(nbr.shape[1])
                    if nbr[i, m] >= 0 and y[nbr[i, m], u] == 0
                ),
                default=1.0,
            )
            if mode == "label":
                dp[u], dm[u] = lp, lm
            elif mode == "image":
                dp[u], dm[u] = ip, im
            else:
                dp[u], dm[u] = min(lp, ip), min(lm, im)
        fp = [v for v in dp.values() if np.isfinite(v)]
        fm = [v for v in dm.values() if np.isfinite(v)]
        if normalise == "joint":
            mp = mm = max(fp + fm, default=0.0)
        else:
            mp, mm = max(fp, default=0.0), max(fm, default=0.0)

        def norm(v, top):
            if not np.isfinite(v):
                return 1.0  # an empty label set counts as the farthest
            return v / top if top > 0 else v

        for u in unann:
            if not (np.isfinite(dp[u]) or np.isfinite(dm[u])):
                continue  # no evidence either way: left out (NaN)
            p, q = norm(dp[u], mp), norm(dm[u], mm)
            out[i, u] = (
                math.exp(beta * (1 - p)) + gamma if p < q else -math.exp(beta * (1 - q)) + gamma
            )
    return out


@pytest.mark.parametrize("normalise", ["joint", "separate"])
@pytest.mark.parametrize("mode", ["label", "image", "both"])
def test_vectorised_over_replicas_matches_loop(mode: str, normalise: str) -> None:
    rng = np.random.default_rng(3)
    r, n, c, k = 3, 40, 5, 4
    y = (rng.random((r, n, c)) < 0.3).astype(np.float32)
    y[rng.random((r, n, c)) < 0.5] = np.nan
    dist = rng.random((c, c)).astype(np.float32)
    dist = (dist + dist.T) / 2
    np.fill_diagonal(dist, 0)
    nbr = rng.integers(0, n, (n, k))
    nbr[0, -1] = -1  # fewer than k neighbours
    ndist = rng.random((n, k)).astype(np.float32)
    got = soft_exposure_temperatures(y, dist, nbr, ndist, mode=mode, normalise=normalise)
    assert got.shape == (r, n, c) and got.dtype == np.float32
    for i in range(r):
        want = _reference(y[i], dist, nbr, ndist, mode, normalise)
        np.testing.assert_allclose(got[i], want, rtol=1e-5)


def test_chunking_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import budgetplan.relations.soft_exposure as se

    rng = np.random.default_rng(4)
    y = (rng.random((2, 50, 4)) < 0.3).astype(np.float32)
    y[rng.random(y.shape) < 0.4] = np.nan
    dist = rng.random((4, 4)).astype(np.float32)
    nbr = rng.integers(0, 50, (50, 3))
    ndist = rng.random((50, 3)).astype(np.float32)
    whole = soft_exposure_temperatures(y, dist, nbr, ndist)
    monkeypatch.setattr(se, "_CHUNK_ELEMENTS", 7)
    np.testing.assert_array_equal(soft_exposure_temperatures(y, dist, nbr, ndist), whole)


def test_label_distance_is_cosine_distance_of_median_prototypes() -> None:
    vectors = np.array([[1, 0], [1, 0.2], [1, -0.2], [0, 1], [0, 1]], dtype=np.float32)
    labels = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [NAN, 1]], dtype=np.float32)
    # medians: class 0 -> (1, 0); class 1 -> (0, 1): orthogonal -> distance 1.
    np.testing.assert_allclose(label_distance(vectors, labels), [[0, 1], [1, 0]], atol=1e-6)
    np.testing.assert_allclose(
        cosine_distance_matrix(np.array([[1.0, 1.0], [2.0, 2.0]])), 0, atol=1e-6
    )


def test_inputs_from_vectors_use_the_nearest_rows() -> None:
    vectors = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.14, 0.99]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = np.array([[1, 0], [NAN, NAN], [0, 1], [NAN, NAN]], dtype=np.float32)
    inputs = SoftExposureRelations.from_vectors(vectors, labels, k=1)
    np.testing.assert_array_equal(inputs.knn_indices[:, 0], [1, 0, 3, 2])
    t = inputs.temperatures(labels, mode="image")
    # image 1's neighbour (image 0) is positive for class 0, negative for class 1.
    assert t[1, 0] > 0 and t[1, 1] < 0


def test_bad_shapes_raise_clear_errors() -> None:
    with pytest.raises(DataMismatchError, match="label_distance has shape"):
        soft_exposure_temperatures(Y, D[:2, :2], mode="label")
    with pytest.raises(DataMismatchError, match="knn_indices"):
        soft_exposure_temperatures(Y, D, NBR[:3], NDIST[:3], mode="both")
    with pytest.raises(ValueError, match="mode"):
        soft_exposure_temperatures(Y, D, mode="nope")  # type: ignore[arg-type]
