"""The replica-batched trainer: batched == looped, determinism, early stopping, validation AUC."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from budgetplan.errors import ConfigError, DataMismatchError
from budgetplan.methods.trainer import TrainConfig, macro_auc_fast, train_replicas

FAST = dict(lr=1e-2, hidden=32, max_epochs=12, patience=4, batch_size=64, device="cpu", threads=1)


def _assemblies(problem, k: int = 3) -> np.ndarray:
    """k label assemblies of the training rows: replica i also loses class i's labels entirely."""
    ys = []
    for i in range(k):
        y = problem.y_train.copy()
        y[:, 1 + i % 4] = np.nan
        ys.append(y)
    return np.stack(ys)


def _batched_equals_looped(problem, method: str, **overrides) -> None:
    cfg = TrainConfig(method=method, **{**FAST, **overrides})
    ys = _assemblies(problem)
    seeds = [11, 12, 13]
    fit = train_replicas(problem.x_train, ys, problem.x_val, problem.y_val, cfg, seeds)
    p = fit.predict(problem.x_test)
    for i, s in enumerate(seeds):
        alone = train_replicas(
            problem.x_train, ys[i : i + 1], problem.x_val, problem.y_val, cfg, [s]
        )
        assert alone.best_epoch[0] == fit.best_epoch[i]
        np.testing.assert_allclose(alone.predict(problem.x_test)[0], p[i], atol=1e-4)
        np.testing.assert_allclose(alone.best_val[0], fit.best_val[i], atol=1e-6)


def test_batched_equals_looped_ne(problem) -> None:
    _batched_equals_looped(problem, "ne", dropout=0.3)


def test_same_seed_same_result_other_seed_other_result(problem) -> None:
    cfg = TrainConfig(method="ne", **FAST)
    ys = problem.y_train[None]
    a = train_replicas(problem.x_train, ys, problem.x_val, problem.y_val, cfg, [5]).predict(
        problem.x_test
    )
    b = train_replicas(problem.x_train, ys, problem.x_val, problem.y_val, cfg, [5]).predict(
        problem.x_test
    )
    c = train_replicas(problem.x_train, ys, problem.x_val, problem.y_val, cfg, [6]).predict(
        problem.x_test
    )
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_early_stopping_keeps_the_best_epoch(problem) -> None:
    cfg = TrainConfig(method="ne", **{**FAST, "lr": 3e-2, "max_epochs": 40, "patience": 3})
    fit = train_replicas(
        problem.x_train, problem.y_train[None], problem.x_val, problem.y_val, cfg, [0]
    )
    val = fit.history["val_auc"][:, 0]
    best = int(np.nanargmax(val))
    assert fit.best_epoch[0] == best
    assert fit.epochs_run == min(best + 1 + 3, 40)
    # the returned weights are the best epoch's: their validation AUC is the recorded best
    p = fit.predict(problem.x_val)
    got = np.mean([roc_auc_score(problem.y_val[:, j], p[0, :, j]) for j in range(5)])
    assert got == pytest.approx(fit.best_val[0], abs=1e-6)


def test_replicas_stop_independently(problem) -> None:
    """A replica whose labels are useless stops early; the others keep training."""
    ys = _assemblies(problem, 2)
    ys[1] = np.nan
    ys[1, :, 0] = np.random.default_rng(0).integers(0, 2, len(ys[1]))  # labels unrelated to x
    cfg = TrainConfig(method="ne", **{**FAST, "max_epochs": 30, "patience": 2})
    fit = train_replicas(problem.x_train, ys, problem.x_val, problem.y_val, cfg, [1, 2])
    assert np.isnan(fit.history["val_auc"][-1, 1]) or fit.epochs_run == 30
    assert fit.best_val[0] > fit.best_val[1]


def test_predictions_are_probabilities(problem) -> None:
    cfg = TrainConfig(method="ne", **{**FAST, "max_epochs": 3})
    fit = train_replicas(
        problem.x_train, _assemblies(problem, 2), problem.x_val, problem.y_val, cfg, [0, 1]
    )
    p = fit.predict(problem.x_test, batch_size=17)
    assert p.shape == (2, len(problem.x_test), 5)
    assert np.all((p >= 0) & (p <= 1))


def test_progress_is_reported_per_epoch(problem) -> None:
    calls = []
    cfg = TrainConfig(method="ne", **{**FAST, "max_epochs": 3, "patience": 10})
    train_replicas(
        problem.x_train,
        problem.y_train[None],
        problem.x_val,
        problem.y_val,
        cfg,
        [0],
        progress=lambda d, t, m: calls.append((d, t)),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_early_stop_on_chosen_classes(problem) -> None:
    cfg = TrainConfig(method="ne", **{**FAST, "max_epochs": 3, "early_stop_classes": (2,)})
    fit = train_replicas(
        problem.x_train, problem.y_train[None], problem.x_val, problem.y_val, cfg, [0]
    )
    p = fit.predict(problem.x_val)
    assert fit.best_val[0] == pytest.approx(
        roc_auc_score(problem.y_val[:, 2], p[0, :, 2]), abs=1e-6
    )


def test_macro_auc_fast_matches_sklearn_on_continuous_scores_and_shared_labels() -> None:
    # the one-sort path (no ties), with a few near-ties, -0.0 / +0.0 and shared (M, C) labels
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(4, 600, 5)).astype(np.float32)
    scores[0, :2, 0] = [-0.0, 0.0]
    scores[1, :2, 1] = [1.0, np.nextafter(np.float32(1.0), np.float32(2.0))]
    labels = (rng.random((600, 5)) < 0.3).astype(float)
    labels[rng.random(labels.shape) < 0.2] = np.nan
    labels[0, 0], labels[1, 0], labels[0, 1], labels[1, 1] = 1.0, 0.0, 1.0, 0.0
    got = macro_auc_fast(scores, labels)
    for r in range(4):
        aucs = []
        for c in range(5):
            known = ~np.isnan(labels[:, c])
            aucs.append(roc_auc_score(labels[known, c], scores[r, known, c]))
        assert got[r] == pytest.approx(np.mean(aucs), abs=1e-12)


def test_macro_auc_fast_matches_sklearn_with_missing_labels_and_ties() -> None:
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=(3, 50, 4)), 1)  # ties
    labels = (rng.random((3, 50, 4)) < 0.3).astype(float)
    labels[rng.random(labels.shape) < 0.3] = np.nan
    labels[2, :, 3] = np.where(np.isnan(labels[2, :, 3]), np.nan, 0.0)  # no positive: undefined
    got = macro_auc_fast(scores, labels)
    for r in range(3):
        aucs = []
        for c in range(4):
            known = ~np.isnan(labels[r, :, c])
            yk = labels[r, known, c]
            if 0 < yk.sum() < len(yk):
                aucs.append(roc_auc_score(yk, scores[r, known, c]))
        assert got[r] == pytest.approx(np.mean(aucs))


def test_config_round_trips_and_hashes() -> None:
    cfg = TrainConfig(method="fe", method_params={"pos_weight": 3.0}, early_stop_classes=[1])
    d = cfg.to_dict()
    assert TrainConfig.from_dict(json.loads(json.dumps(d))) == cfg
    assert hash(cfg) == hash(TrainConfig.from_dict(d))
    assert cfg.key() == TrainConfig.from_dict(d).key()
    assert cfg.key() == TrainConfig.from_dict({**d, "device": "cuda", "threads": 4}).key()
    assert cfg.key() != TrainConfig(method="fe").key()
    assert TrainConfig(method="label-assemble").resolved_head == "adapter"
    assert TrainConfig(method="ne").resolved_head == "linear"


def test_bad_config_and_inputs_are_rejected(problem) -> None:
    with pytest.raises(ConfigError, match="did you mean 'ne'"):
        TrainConfig(method="nee")
    with pytest.raises(ValueError, match="pos_weight"):
        TrainConfig(method="ne", method_params={"pos_weight": 2.0})
    cfg = TrainConfig(method="ne", **FAST)
    with pytest.raises(DataMismatchError, match="seeds"):
        train_replicas(
            problem.x_train, problem.y_train[None], problem.x_val, problem.y_val, cfg, [0, 1]
        )
    with pytest.raises(DataMismatchError, match="rows"):
        train_replicas(
            problem.x_train[:-1], problem.y_train[None], problem.x_val, problem.y_val, cfg, [0]
        )
    y_bad = problem.y_val.copy()
    y_bad[:] = 0.0
    with pytest.raises(DataMismatchError, match="validation"):
        train_replicas(problem.x_train, problem.y_train[None], problem.x_val, y_bad, cfg, [0])


@pytest.mark.parametrize("fused", [True, False])
def test_replica_adam_equals_torch_adam_per_replica(fused: bool) -> None:
    import torch

    from budgetplan.methods.trainer import ReplicaAdam

    g = torch.Generator().manual_seed(0)
    p0 = torch.randn(3, 4, 5, generator=g)
    grads = [torch.randn(3, 4, 5, generator=g) for _ in range(4)]
    params = {"w": p0.clone()}
    opt = ReplicaAdam(params, lr=0.1, weight_decay=0.01, fused=fused)
    ref = [torch.nn.Parameter(p0[r].clone()) for r in range(3)]
    topt = [torch.optim.Adam([ref[r]], lr=0.1, weight_decay=0.01) for r in range(3)]
    for gr in grads:
        opt.step(params, {"w": gr})
        for r in range(3):
            ref[r].grad = gr[r].clone()
            topt[r].step()
    for r in range(3):
        torch.testing.assert_close(params["w"][r], ref[r].detach(), atol=1e-6, rtol=1e-5)


def test_fixed_stopping_trains_every_epoch_and_keeps_the_last(problem) -> None:
    cfg = TrainConfig(method="ne", **{**FAST, "max_epochs": 4, "patience": 1, "stopping": "fixed"})
    fit = train_replicas(
        problem.x_train, problem.y_train[None], problem.x_val, problem.y_val, cfg, [0]
    )
    assert fit.epochs_run == 4 and fit.best_epoch[0] == 3


def test_validation_logits_do_not_depend_on_how_many_rows_are_evaluated_at_once():
    """Every epoch evaluates the validation rows ``VAL_ROWS`` at a time: the same logits, to the
    bit, as one pass over all of them (early stopping must not depend on the chunking)."""
    from budgetplan.methods import models
    from budgetplan.methods.trainer import VAL_ROWS, _forward_eval

    spec = models.ModelSpec(64, 15, 128, 1, head="linear", dropout=0.2)
    params = models.init_params(spec, [torch.Generator().manual_seed(i) for i in range(8)])
    xv = torch.randn(2 * VAL_ROWS + 333, 64, generator=torch.Generator().manual_seed(9))
    with torch.inference_mode():
        whole = _forward_eval(spec, params, xv)
        chunks = torch.cat(
            [
                _forward_eval(spec, params, xv[s : s + VAL_ROWS])
                for s in range(0, len(xv), VAL_ROWS)
            ],
            dim=1,
        )
    assert whole.shape == (8, len(xv), 15) and torch.equal(whole, chunks)


def test_batch_orders_drawn_once_per_generator_state_are_each_generators_own():
    """Generators in the same state (the runs of one draw) share one permutation; every
    generator gets, and ends in the state of, its own ``torch.randperm``."""
    from budgetplan.methods.trainer import _batch_orders

    def gens() -> list[torch.Generator]:
        g = [torch.Generator().manual_seed(s) for s in (3, 3, 4, 3, 4)]
        torch.randperm(10, generator=g[3])  # same seed, another state: not shared
        return g

    mine, theirs = gens(), gens()
    got = _batch_orders(1000, mine)
    want = torch.stack([torch.randperm(1000, generator=g) for g in theirs])
    assert torch.equal(got, want)
    assert not torch.equal(got[0], got[3]) and torch.equal(got[0], got[1])
    for a, b in zip(mine, theirs, strict=True):
        assert torch.equal(a.get_state(), b.get_state())
