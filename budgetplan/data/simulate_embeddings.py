"""Simulated image embeddings for a label table: the latent model behind the embedded demo.

The demo has real labels (NIH ChestX-ray14) but no images, so its embeddings are simulated by a
documented generative model, deterministic from ``seed``:

1. **Class directions.** Each class c gets a unit direction d_c in a ``latent_dim``-d latent
   space. Their Gram matrix follows the real label co-occurrence: the target cosine of two
   classes is ``w * tanh(g * phi_ab) + (1 - w) * r_ab``, where ``phi_ab`` is the phi coefficient
   of the two label columns (pairwise over images annotated for both), ``g = relation_gain``
   stretches the small phi values of NIH (at most about 0.2) into cosines up to about 0.7,
   ``r_ab`` is the cosine of two random directions (the part of relatedness that co-occurrence does
   not show) and ``w = relation_weight``. The matrix is projected to the nearest valid Gram
   matrix (eigenvalues clipped at ``min_eigenvalue``, unit diagonal, rank <= latent_dim) and
   factorised into the directions.
2. **Images.** Each image's latent is
   ``z_i = sum_c y_ic s_ic d_c^(v(i)) + patient_scale u_patient(i) + view_scale a_v(i)
   + source_scale t_source(i) + noise_scale e_i``:
   the directions of its positive classes as seen in its view position v (PA / AP),
   ``d_c^(v) = normalise(cos(theta) d_c + sin(theta) r_cv)`` with a random r_cv per class and
   view and ``theta = view_twist_degrees`` (a finding looks partly different on AP and PA images,
   e.g. the heart is magnified on AP; a trunk that can condition on the view gains from it, a
   single linear probe cannot), with a per-image strength ``s_ic = m_c exp(jitter * N(0, 1))``
   (lesions differ in size); a patient effect shared by all images of a patient (anatomy); a
   view-position effect a_v; a source (site) effect when the table stacks several sources; and
   isotropic noise. The class strength ``m_c`` is chosen so that a linear model on the latent
   reaches about the per-class ROC AUC that DenseNet-121 reports on NIH (CheXNet, Rajpurkar et
   al. 2017: Nodule 0.78, Cardiomegaly 0.92, ...), via ``m_c = sqrt(2) Phi^-1(AUC_c) * sigma``
   with sigma the spread of the nuisance terms (co-occurring findings add some signal on top).
   Labels that are missing (NaN) are drawn as hidden true labels from the class's prevalence
   among annotated images (independently per image).
3. **A fixed random non-linear map** ``x = tanh(a (W2 tanh(a (W1 z + b1)) + b2))`` to ``dim``
   (1024) dimensions, then L2 normalisation: a 2-layer random network (``hidden_dim`` = 256,
   gain ``a = map_gain`` on the RMS-scaled latent) whose weights are drawn once from ``seed``.
   About 30 % of the variance of x is not a linear function of z (tests/test_demo.py).

What this gives (measured 2026-11-22 on the default parameters): a well-regularised
linear probe (ridge) on the 1024-d vectors of all 112,120 images reaches a Nodule test AUC of
about 0.75 (macro 0.82 over the 14 classes); Nodule's closest label prototypes are Mass, Fibrosis
and Pleural_Thickening; the prototype cosines correlate with the phi coefficients (r about 0.65).
What makes a trainable trunk matter is the view twist of step 2 (a per-view linear probe on the
latent beats a single one by about 0.06 macro AUC on the test's synthetic table); the random map
alone does not: with enough regularisation a linear probe on x does about as well as on z, since
random features keep the linear information. On a 24,000-image subset, an MLP trunk on x beat a
linear head by 0.005-0.015 AUC per class (Nodule 0.741 vs 0.736, Effusion 0.869 vs 0.854).

The result is float32 (N, dim), unit rows; everything is vectorised (the 112,120 NIH rows take a
few seconds). Related classes (high phi) get closer label prototypes than unrelated ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import ndtri  # the standard normal quantile: norm.ppf, no scipy.stats

from budgetplan.data.label_table import LabelTable
from budgetplan.errors import BudgetplanError

#: Changes whenever the generator changes, so that cached demo stores are rebuilt.
GENERATOR_VERSION = "simulated-latent-v1"

#: Per-class ROC AUC of DenseNet-121 on NIH ChestX-ray14 (CheXNet, Rajpurkar et al. 2017, Table 1),
#: used as the difficulty of each class; names of other sources map onto the NIH ones.
REFERENCE_AUC: dict[str, float] = {
    "Atelectasis": 0.809,
    "Cardiomegaly": 0.925,
    "Effusion": 0.864,
    "Infiltration": 0.735,
    "Mass": 0.868,
    "Nodule": 0.780,
    "Pneumonia": 0.768,
    "Pneumothorax": 0.889,
    "Consolidation": 0.790,
    "Edema": 0.888,
    "Emphysema": 0.937,
    "Fibrosis": 0.805,
    "Pleural_Thickening": 0.806,
    "Hernia": 0.916,
    # CheXpert names (harmonised or not) without an NIH counterpart: typical reported values.
    "Pleural Effusion": 0.864,
    "Enlarged Cardiomediastinum": 0.80,
    "Lung Opacity": 0.80,
    "Lung Lesion": 0.78,
    "Pleural Other": 0.80,
    "Fracture": 0.75,
    "Support Devices": 0.88,
}
DEFAULT_AUC = 0.80


@dataclass(frozen=True)
class LatentModel:
    """Parameters of the simulation (module docstring); the defaults build the demo."""

    dim: int = 1024
    latent_dim: int = 64
    hidden_dim: int = 256
    relation_gain: float = 4.0
    relation_weight: float = 0.8
    min_eigenvalue: float = 0.05
    strength_jitter: float = 0.25
    patient_scale: float = 0.5
    view_scale: float = 0.5
    source_scale: float = 0.5
    view_twist_degrees: float = 60.0
    noise_scale: float = 0.75
    map_gain: float = 1.5

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class SimulatedLatent:
    """The latent stage: z (N, latent_dim), class directions (C, latent_dim), their Gram matrix,
    class strengths (C,) and the hidden true labels used (N, C) in {0, 1}."""

    z: np.ndarray
    directions: np.ndarray
    gram: np.ndarray
    strength: np.ndarray
    true_labels: np.ndarray


# ---------------------------------------------------------------------- pure pieces
def phi_coefficients(values: np.ndarray) -> np.ndarray:
    """(C, C) phi coefficients of binary label columns with NaN, pairwise over annotated rows.

    phi_ab = (n n11 - n_a n_b) / sqrt(n_a (n - n_a) n_b (n - n_b)) over the n images annotated for
    both a and b; 0 where a column is constant there; 1 on the diagonal.
    """
    v = np.asarray(values, dtype=np.float64)
    ann = (~np.isnan(v)).astype(np.float64)
    y = np.nan_to_num(v, nan=0.0)
    n = ann.T @ ann
    n11 = y.T @ y
    na = y.T @ ann  # positives of a among rows annotated for b
    nb = na.T
    den = na * (n - na) * nb * (n - nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(den > 0, (n * n11 - na * nb) / np.sqrt(np.where(den > 0, den, 1.0)), 0.0)
    np.fill_diagonal(phi, 1.0)
    return np.clip(phi, -1.0, 1.0)


def nearest_gram(target: np.ndarray, rank: int, min_eigenvalue: float = 0.05) -> np.ndarray:
    """Nearest valid Gram matrix of unit vectors: symmetric, eigenvalues >= ``min_eigenvalue``
    (Higham-style clipping), at most ``rank`` non-zero ones, unit diagonal."""
    t = (np.asarray(target, dtype=np.float64) + np.asarray(target, dtype=np.float64).T) / 2.0
    vals, vecs = np.linalg.eigh(t)
    vals = np.maximum(vals, min_eigenvalue)
    if rank < len(vals):
        vals[: len(vals) - rank] = 0.0  # eigh sorts ascending: keep the largest ``rank``
    g = (vecs * vals) @ vecs.T
    d = np.sqrt(np.clip(np.diag(g), 1e-12, None))
    g = g / np.outer(d, d)
    np.fill_diagonal(g, 1.0)
    return g


def directions_from_gram(gram: np.ndarray, latent_dim: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors (C, latent_dim) whose Gram matrix is ``gram``, in a random orientation."""
    c = gram.shape[0]
    vals, vecs = np.linalg.eigh(gram)
    k = min(c, latent_dim)
    keep = np.argsort(vals)[::-1][:k]
    factor = vecs[:, keep] * np.sqrt(np.clip(vals[keep], 0.0, None))  # (C, k)
    basis, _ = np.linalg.qr(rng.standard_normal((latent_dim, latent_dim)))
    d = factor @ basis[:, :k].T
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def class_strength(classes: list[str], model: LatentModel) -> np.ndarray:
    """m_c = sqrt(2) Phi^-1(AUC_c) sigma: shift along d_c giving the reference AUC (docstring)."""
    sigma = np.sqrt(
        model.patient_scale**2 + model.view_scale**2 + model.noise_scale**2
    )  # per-coordinate spread of the nuisance terms
    lookup = {_norm(k): v for k, v in REFERENCE_AUC.items()}
    auc = np.array([lookup.get(_norm(c), DEFAULT_AUC) for c in classes])
    return np.sqrt(2.0) * ndtri(auc) * sigma


def _norm(name: str) -> str:
    return name.lower().replace("_", " ").replace("-", " ").strip()


def _group_effect(keys: np.ndarray, dim: int, rng: np.random.Generator) -> np.ndarray:
    """A random (dim,) vector per distinct key (sorted, so row order does not matter)."""
    uniq, inverse = np.unique(np.asarray(keys).astype(str), return_inverse=True)
    effects = rng.standard_normal((len(uniq), dim))
    return effects[inverse]


# ---------------------------------------------------------------------- the two stages
def simulate_latent(
    table: LabelTable, model: LatentModel | None = None, seed: int = 0
) -> SimulatedLatent:
    """Stage 1-2 of the module docstring: class directions and per-image latents."""
    model = model or LatentModel()
    if table.n_images == 0 or table.n_classes == 0:
        raise BudgetplanError("cannot simulate embeddings for an empty label table")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    rng_dir, rng_lab, rng_str, rng_pat, rng_view, rng_src, rng_noise, _ = streams
    n, c, ld = table.n_images, table.n_classes, model.latent_dim

    phi = phi_coefficients(table.values)
    rand = rng_dir.standard_normal((c, ld))
    rand /= np.linalg.norm(rand, axis=1, keepdims=True)
    target = model.relation_weight * np.tanh(model.relation_gain * phi) + (
        1.0 - model.relation_weight
    ) * (rand @ rand.T)
    gram = nearest_gram(target, rank=ld, min_eigenvalue=model.min_eigenvalue)
    directions = directions_from_gram(gram, ld, rng_dir)

    values = table.values
    missing = np.isnan(values)
    y = np.nan_to_num(values, nan=0.0)
    if missing.any():
        ann = (~missing).sum(axis=0)
        prev = np.where(ann > 0, y.sum(axis=0) / np.maximum(ann, 1), 0.0)
        drawn = rng_lab.random((n, c)) < prev[None, :]
        y = np.where(missing, drawn, y)
    y = y.astype(np.float32)

    m = class_strength(table.classes, model)
    jitter = np.exp(model.strength_jitter * rng_str.standard_normal((n, c)))
    signal = (y * (m[None, :] * jitter)).astype(np.float32)
    view = table.meta["view"].astype(str).to_numpy() if "view" in table.meta.columns else None
    if view is None:
        view = np.full(n, "unknown")
    views, view_of = np.unique(view, return_inverse=True)
    z = np.empty((n, ld), dtype=np.float32)
    twist = np.deg2rad(model.view_twist_degrees) if len(views) > 1 else 0.0
    for v in range(len(views)):
        # A finding looks partly different in each view (e.g. the heart is magnified on AP).
        own = rng_view.standard_normal((c, ld))
        own /= np.linalg.norm(own, axis=1, keepdims=True)
        d_v = np.cos(twist) * directions + np.sin(twist) * own
        d_v /= np.linalg.norm(d_v, axis=1, keepdims=True)
        rows = view_of == v
        z[rows] = signal[rows] @ d_v.astype(np.float32)
    z += model.patient_scale * _group_effect(table.patient, ld, rng_pat).astype(np.float32)
    z += model.view_scale * rng_view.standard_normal((len(views), ld)).astype(np.float32)[view_of]
    if len(np.unique(table.source)) > 1:
        z += model.source_scale * _group_effect(table.source, ld, rng_src).astype(np.float32)
    z += model.noise_scale * rng_noise.standard_normal((n, ld), dtype=np.float32)
    return SimulatedLatent(z=z, directions=directions, gram=gram, strength=m, true_labels=y)


@dataclass(frozen=True)
class RandomMap:
    """The fixed random 2-layer network x = tanh(a (W2 tanh(a (W1 z + b1)) + b2)), drawn from
    ``seed``."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    gain: float

    @classmethod
    def draw(cls, model: LatentModel, seed: int = 0) -> RandomMap:
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(8)[7])
        ld, h, d = model.latent_dim, model.hidden_dim, model.dim
        w1 = (rng.standard_normal((ld, h)) / np.sqrt(ld)).astype(np.float32)
        b1 = rng.standard_normal(h).astype(np.float32)
        w2 = (rng.standard_normal((h, d)) / np.sqrt(h)).astype(np.float32)
        b2 = (0.5 * rng.standard_normal(d)).astype(np.float32)
        return cls(w1, b1, w2, b2, float(model.map_gain))

    def __call__(self, z: np.ndarray, chunk: int = 16384) -> np.ndarray:
        """Map (N, latent_dim) to unit rows (N, dim) float32, in row chunks to bound memory.

        z is first scaled by its mean per-coordinate RMS so the gain means the same for any model.
        """
        z = np.asarray(z, dtype=np.float32)
        scale = np.float32(1.0 / max(float(np.sqrt(np.mean(z.astype(np.float64) ** 2))), 1e-12))
        out = np.empty((z.shape[0], self.w2.shape[1]), dtype=np.float32)
        a = np.float32(self.gain)
        for s in range(0, z.shape[0], chunk):
            h = np.tanh(a * ((z[s : s + chunk] * scale) @ self.w1 + self.b1))
            x = np.tanh(a * (h @ self.w2 + self.b2))
            x /= np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)
            out[s : s + chunk] = x
        return out


def simulate_embeddings(
    table: LabelTable,
    dim: int = 1024,
    latent_dim: int = 64,
    seed: int = 0,
    model: LatentModel | None = None,
) -> np.ndarray:
    """Simulated unit embeddings (N, dim) float32 of the images of ``table`` (module docstring).

    The same table and seed give the same bytes. ``model`` overrides every parameter; ``dim``
    and ``latent_dim`` are shortcuts for the two most common ones.
    """
    if model is None:
        model = LatentModel(dim=dim, latent_dim=latent_dim)
    if model.dim < 1 or model.latent_dim < 1:
        raise BudgetplanError(
            f"dim and latent_dim must be positive, got {model.dim}, {model.latent_dim}"
        )
    latent = simulate_latent(table, model, seed=seed)
    return RandomMap.draw(model, seed=seed)(latent.z)


__all__ = [
    "GENERATOR_VERSION",
    "LatentModel",
    "RandomMap",
    "SimulatedLatent",
    "class_strength",
    "nearest_gram",
    "phi_coefficients",
    "simulate_embeddings",
    "simulate_latent",
]
