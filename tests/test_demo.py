"""The embedded default: simulated embeddings (latent model) and the cached demo store."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from budgetplan import demo
from budgetplan.cli import main
from budgetplan.data.label_table import LabelTable
from budgetplan.data.simulate_embeddings import (
    LatentModel,
    RandomMap,
    nearest_gram,
    phi_coefficients,
    simulate_embeddings,
    simulate_latent,
)
from budgetplan.notices import DEMO_NOTICE, simulated_notice

N_DEMO = 3000


def synthetic_table(n: int = 3000, seed: int = 1) -> LabelTable:
    """A and B co-occur strongly (high phi); C and D are independent of everything."""
    rng = np.random.default_rng(seed)
    a = rng.random(n) < 0.3
    b = np.where(a, rng.random(n) < 0.7, rng.random(n) < 0.1)
    c = rng.random(n) < 0.3
    d = rng.random(n) < 0.25
    patient = np.arange(n) // 2
    return LabelTable(
        values=np.stack([a, b, c, d], axis=1).astype(np.float32),
        classes=["A", "B", "C", "D"],
        ids=np.array([f"i{i}" for i in range(n)]),
        source=np.full(n, "s"),
        patient=patient,
        split=np.where(patient % 5 == 0, "test", "train"),
        meta=pd.DataFrame({"view": np.where(rng.random(n) < 0.5, "PA", "AP")}),
    )


SMALL = LatentModel(dim=256, latent_dim=16, hidden_dim=64)


def test_same_seed_same_bytes_other_seed_differs() -> None:
    t = synthetic_table(400)
    x = simulate_embeddings(t, seed=3, model=SMALL)
    assert x.shape == (400, 256) and x.dtype == np.float32
    assert x.tobytes() == simulate_embeddings(t, seed=3, model=SMALL).tobytes()
    assert not np.allclose(x, simulate_embeddings(t, seed=4, model=SMALL))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_phi_matches_pearson_and_skips_missing_pairwise() -> None:
    t = synthetic_table(500)
    phi = phi_coefficients(t.values)
    np.testing.assert_allclose(phi, np.corrcoef(t.values.T), atol=1e-9)
    v = t.values.copy()
    v[:250, 1] = np.nan  # B annotated on the second half only
    phi_nan = phi_coefficients(v)
    expected = np.corrcoef(t.values[250:, 0], t.values[250:, 1])[0, 1]
    assert phi_nan[0, 1] == pytest.approx(expected)


def test_nearest_gram_is_a_valid_gram_matrix_of_the_requested_rank() -> None:
    target = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])  # not PSD
    g = nearest_gram(target, rank=2)
    np.testing.assert_allclose(np.diag(g), 1.0)
    vals = np.linalg.eigvalsh(g)
    assert vals.min() > -1e-9 and (vals > 1e-6).sum() == 2


def test_related_classes_have_closer_prototypes() -> None:
    t = synthetic_table(3000)
    x = simulate_embeddings(t, seed=0, model=SMALL)
    xc = x - x.mean(axis=0)  # origin-shifted mean prototypes (Label-Assemble Sec. 5.5)
    p = np.stack([xc[t.values[:, j] == 1].mean(axis=0) for j in range(4)])
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    cos = p @ p.T
    assert cos[0, 1] > cos[0, 2] + 0.2 and cos[0, 1] > cos[0, 3] + 0.2


def test_missing_labels_are_drawn_from_the_prevalence() -> None:
    t = synthetic_table(2000)
    v = t.values.copy()
    v[:1000, 2] = np.nan
    lat = simulate_latent(t.with_values(v), SMALL, seed=0)
    hidden = lat.true_labels[:1000, 2]
    assert set(np.unique(hidden)) == {0.0, 1.0}
    assert hidden.mean() == pytest.approx(np.nanmean(v[:, 2]), abs=0.05)
    np.testing.assert_array_equal(lat.true_labels[1000:], t.values[1000:])


def _ridge_scores(f_train, y_train, f_test, lam=1.0) -> np.ndarray:  # type: ignore[no-untyped-def]
    a = np.c_[f_train, np.ones(len(f_train))]
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ (2 * y_train - 1))
    return np.c_[f_test, np.ones(len(f_test))] @ w


def _mean_auc(y: np.ndarray, scores: np.ndarray) -> float:
    return float(np.mean([roc_auc_score(y[:, j], scores[:, j]) for j in range(y.shape[1])]))


def test_a_trunk_that_conditions_on_the_view_beats_one_linear_probe() -> None:
    """The view twist: a finding looks partly different on AP and PA, so a model that can
    condition on the view (here: one linear probe per view) beats a single linear probe; this
    is what a trainable non-linear trunk on the embeddings can exploit."""
    t = synthetic_table(4000)
    lat = simulate_latent(t, LatentModel(latent_dim=16), seed=0)
    tr, te, y = t.split == "train", t.split == "test", t.values
    view = t.meta["view"].to_numpy()
    pooled = _mean_auc(y[te], _ridge_scores(lat.z[tr], y[tr], lat.z[te]))
    per_view = np.zeros((int(te.sum()), y.shape[1]))
    for v in ("PA", "AP"):
        fit, score = tr & (view == v), view[te] == v
        per_view[score] = _ridge_scores(lat.z[fit], y[fit], lat.z[te & (view == v)])
    assert _mean_auc(y[te], per_view) > pooled + 0.03


def test_the_map_to_1024_d_is_not_linear() -> None:
    """At least a fifth of the variance of the vectors is not a linear function of the latent."""
    t = synthetic_table(2000)
    model = LatentModel(latent_dim=16)
    lat = simulate_latent(t, model, seed=0)
    x = RandomMap.draw(model, seed=0)(lat.z).astype(np.float64)
    a = np.c_[lat.z, np.ones(len(x))]
    resid = x - a @ np.linalg.lstsq(a, x, rcond=None)[0]
    r2 = 1.0 - (resid**2).sum() / ((x - x.mean(axis=0)) ** 2).sum()
    assert r2 < 0.8


# ---------------------------------------------------------------------- the cached store
@pytest.fixture(scope="module")
def small_demo():  # type: ignore[no-untyped-def]
    return demo.demo_dataset(n_images=N_DEMO)


def test_demo_subset_builds_with_simulated_manifest(small_demo) -> None:  # type: ignore[no-untyped-def]
    ds = small_demo
    assert N_DEMO <= len(ds) < N_DEMO + 50
    assert ds.simulated and ds.embeddings.manifest["simulated"] is True
    assert ds.embeddings.manifest["backbone"] == "simulated-latent-v1"
    assert ds.embeddings.dim == 1024 and ds.default_target == "Nodule"
    assert ds.root == demo.demo_root(N_DEMO) and "n3000" in ds.root.name
    assert set(ds.labels.split) == {"train", "val", "test"}
    by_patient = pd.Series(ds.labels.split).groupby(ds.labels.patient).nunique()
    assert (by_patient == 1).all()  # whole patients, never split
    assert demo.is_demo(ds) and simulated_notice(ds) == DEMO_NOTICE
    assert "SIMULATED" in DEMO_NOTICE and "NIH ChestX-ray14" in DEMO_NOTICE


def test_demo_reopens_without_rebuilding(small_demo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def fail(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(demo, "build_demo", fail)
    again = demo.demo_dataset(n_images=N_DEMO)
    assert again.checksum == small_demo.checksum


def test_demo_build_race_opens_the_winners_copy(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    n = 500
    root = demo.demo_root(n)
    real = demo.build_demo

    def other_process_wins(path, **kwargs):  # type: ignore[no-untyped-def]
        out = real(path, **kwargs)
        shutil.copytree(path, root)  # the other builder renamed its copy first
        (root / "winner").write_text("x")
        return out

    monkeypatch.setattr(demo, "build_demo", other_process_wins)
    ds = demo.demo_dataset(n_images=n)
    assert (ds.root / "winner").exists()
    assert not [p for p in root.parent.iterdir() if p.name.startswith(f".{root.name}.")]


def test_demo_info_says_simulated(small_demo, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["demo", "info", "--n-images", str(N_DEMO)]) == 0
    out = capsys.readouterr().out
    assert "SIMULATED" in out and str(small_demo.root) in out
    assert "Nodule" in out and "test" in out


def test_tables_without_view_and_with_several_sources_simulate() -> None:
    t = synthetic_table(300)
    t = LabelTable(
        t.values,
        t.classes,
        t.ids,
        np.where(np.arange(300) < 150, "nih", "chexpert"),
        t.patient,
        t.split,
    )
    x = simulate_embeddings(t, seed=0, model=SMALL)
    assert x.shape == (300, 256) and np.isfinite(x).all()
    assert x.tobytes() == simulate_embeddings(t, seed=0, model=SMALL).tobytes()


def test_class_strength_is_the_normal_quantile_formula() -> None:
    """m_c = sqrt(2) Phi^-1(AUC_c) sigma, Phi^-1 from scipy.special (the demo's features must
    not move when scipy.stats is no longer imported for it)."""
    from scipy.stats import norm

    from budgetplan.data.simulate_embeddings import REFERENCE_AUC, class_strength

    model = LatentModel()
    classes = list(REFERENCE_AUC)
    sigma = np.sqrt(model.patient_scale**2 + model.view_scale**2 + model.noise_scale**2)
    auc = np.array([REFERENCE_AUC[c] for c in classes])
    assert (
        class_strength(classes, model).tolist() == (np.sqrt(2.0) * norm.ppf(auc) * sigma).tolist()
    )
