"""The compiled CPU engine: its gradient is torch autograd's of the same model and loss, its
replicas are independent, and it trains as well as the torch engine."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from budgetplan.errors import ConfigError
from budgetplan.methods import fused, models
from budgetplan.methods.blas_blocks import tiling
from budgetplan.methods.losses import LOSSES
from budgetplan.methods.trainer import TrainConfig, _FusedEpochs, train_replicas

DROP_LEVELS = fused.keep_levels(0.2)  # dropout p = 0.2 in the hand-made batches
KEEP_SCALE = np.float32(65536.0 / DROP_LEVELS)  # what the engine multiplies a kept unit by

FAST = dict(lr=1e-2, hidden=32, max_epochs=12, patience=4, batch_size=64, device="cpu")


def _case(head: str, seed: int = 0, b: int = 24, d: int = 7, h: int = 9, c: int = 4):
    """One replica's parameters, two views' inputs and dropout multipliers, labels with gaps."""
    rng = np.random.default_rng(seed)
    spec = models.ModelSpec(d, c, h, 1, head=head, dropout=0.2)
    params = models.init_params(spec, [torch.Generator().manual_seed(seed)])
    if head == "adapter":  # move q away from the identity so every adapter term is exercised
        params["q"] = params["q"] + 0.3 * torch.randn(1, c, c, generator=torch.Generator())
        params["gen_b"] = 0.1 * torch.ones(1, 1, h)
        params["gen_bias_b"] = torch.full((1, 1, 1), 0.2)
    x = rng.standard_normal((2 * b, d)).astype(np.float32)
    mask = (rng.random((2 * b, h)) < 0.8).astype(np.uint8)  # kept units, scaled by KEEP_SCALE
    codes = rng.integers(-1, 2, (b, c)).astype(np.int8)
    codes[:, 0] = -1  # a class with no annotated entry in the batch
    codes[0, 1] = 1
    return spec, params, x, mask, codes


def _torch_loss(spec, params, x, mask, codes, method, reduction, b):
    labels = torch.from_numpy(np.where(codes < 0, np.nan, codes).astype(np.float32))[None]
    xs = torch.from_numpy(x)[None]
    ms = torch.from_numpy(mask.astype(np.float32) * KEEP_SCALE)[None]
    if method == "ne":
        logits = models.forward(spec, params, xs[:, :b], [ms[:, :b]])
        return LOSSES["ne"](logits, labels, reduction=reduction)[0]
    weak = models.forward(spec, params, xs[:, :b], [ms[:, :b]])
    strong = models.forward(spec, params, xs[:, b:], [ms[:, b:]])
    return LOSSES["label-assemble"](weak, strong, labels, reduction=reduction)[0]


def _forward_backward(case, method: str, reduction: str, head: str, dense_from: float):
    """``fused.forward_backward`` of ``case`` (from ``_case``): (loss, flat gradient, starts)."""
    spec, params, x, mask, codes = case
    b = codes.shape[0]
    rows = b if method == "ne" else 2 * b
    keys = [k for k in fused.LAYOUT_KEYS if k in params]
    flat = np.concatenate([params[k].detach().reshape(-1).numpy() for k in keys])
    sizes = [params[k][0].numel() for k in keys]
    starts = dict(zip(keys, np.cumsum([0, *sizes[:-1]]).tolist(), strict=True))
    layout = np.array([starts.get(k, -1) for k in fused.LAYOUT_KEYS], dtype=np.int64)
    grad = np.full_like(flat, np.nan)
    hyper = fused.Hyper(
        method=fused.METHOD_CODES[method],
        reduction=fused.REDUCTION_CODES[reduction],
        adapter=head == "adapter",
        batch=b,
        hidden=spec.hidden,
        drop_levels=DROP_LEVELS,
        dense_from=dense_from,
    )
    batch = fused.Batch(
        x[:rows], mask[:rows], codes, tiling(rows, x.shape[1], spec.hidden, codes.shape[1])
    )
    return fused.forward_backward(batch, flat, grad, layout, hyper), grad, starts


@pytest.mark.parametrize("method", ["ne", "label-assemble"])
@pytest.mark.parametrize("head", ["linear", "adapter"])
@pytest.mark.parametrize("reduction", ["entry-mean", "class-sum"])
@pytest.mark.parametrize("dense_from", [0.0, 2.0])  # ne's vectorised BCE pass, or the scalar one
def test_loss_and_gradient_equal_torch_autograd(method, head, reduction, dense_from):
    spec, params, x, mask, codes = _case(head)
    b = codes.shape[0]
    for p in params.values():
        p.requires_grad_(True)
    want = _torch_loss(spec, params, x, mask, codes, method, reduction, b)
    grads = torch.autograd.grad(want, list(params.values()))
    got, grad, starts = _forward_backward(
        (spec, params, x, mask, codes), method, reduction, head, dense_from
    )
    assert got == pytest.approx(float(want.detach()), rel=1e-5)
    for k, g in zip(params, grads, strict=True):
        mine = grad[starts[k] : starts[k] + g[0].numel()].reshape(g[0].shape)
        np.testing.assert_allclose(mine, g[0].numpy(), rtol=1e-4, atol=1e-6, err_msg=k)


def test_dropout_keeps_the_configured_share():
    """The engine's dropout flags keep 1 - p of the units (the scale 1 / (1 - p) of the kept
    ones is checked against torch above, through ``forward_backward``)."""
    out = np.empty(400_000, dtype=np.uint8)
    state = np.array([fused.stream_seed(7)], dtype=np.uint64)
    fused._fill_mask(out, state, 0, fused.keep_levels(0.2))
    assert set(np.unique(out)) == {0, 1}
    assert out.mean() == pytest.approx(0.8, abs=0.003)
    assert KEEP_SCALE == pytest.approx(1.25, rel=1e-4)


def test_noise_table_is_fixed_standard_normal_and_covers_a_window():
    a = fused.noise_table(512 * 64)
    assert a is fused.noise_table(512 * 64)
    assert a.size >= 32 * 512 * 64 and a.dtype == np.float32
    assert abs(a.mean()) < 0.01 and a.std() == pytest.approx(1.0, abs=0.01)
    rng = np.random.Generator(np.random.PCG64(fused.TABLE_SEED))
    np.testing.assert_array_equal(a[:1000], rng.standard_normal(a.size, dtype=np.float32)[:1000])
    assert fused.noise_table(512 * 1024).size >= 32 * 512 * 1024


@pytest.mark.parametrize("method", ["ne", "label-assemble"])
def test_a_replica_trains_alike_alone_and_in_a_batch(problem, method):
    """Also where replicas share a seed (the runs of one draw: their rows, views and dropout
    masks are drawn once for the group) but not their labels, so they part ways."""
    cfg = TrainConfig(method=method, **FAST)
    ys = np.stack([problem.y_train] * 5)
    ys[1][:, 2] = np.nan
    ys[2][::3, 1] = np.nan
    ys[4][:, 3] = np.nan
    seeds = [5, 6, 5, 7, 5]
    together = train_replicas(problem.x_train, ys, problem.x_val, problem.y_val, cfg, seeds)
    assert not np.array_equal(together.params["w0"][0], together.params["w0"][2])
    for i, s in enumerate(seeds):
        alone = train_replicas(
            problem.x_train, ys[i : i + 1], problem.x_val, problem.y_val, cfg, [s]
        )
        assert alone.best_epoch[0] == together.best_epoch[i]
        for key, value in alone.params.items():
            np.testing.assert_array_equal(value[0], together.params[key][i], err_msg=key)


def test_replicas_of_one_draw_share_their_rows_and_streams():
    perm = np.array([[2, 0, 1], [2, 0, 1], [0, 1, 2], [2, 0, 1]])
    streams = np.array([7, 7, 7, 8], dtype=np.uint64)
    groups, orders = fused.share_groups(perm, streams)
    assert groups.tolist() == [0, 0, 1, 2]  # same order and stream / other order / other stream
    assert orders.tolist() == [[2, 0, 1], [0, 1, 2], [2, 0, 1]]


def test_same_seed_same_weights_other_seed_other_weights(problem):
    cfg = TrainConfig(method="label-assemble", **FAST)
    ys = problem.y_train[None]
    one = train_replicas(problem.x_train, ys, problem.x_val, problem.y_val, cfg, [3])
    two = train_replicas(problem.x_train, ys, problem.x_val, problem.y_val, cfg, [3])
    other = train_replicas(problem.x_train, ys, problem.x_val, problem.y_val, cfg, [4])
    np.testing.assert_array_equal(one.params["gen_w"], two.params["gen_w"])
    assert not np.array_equal(one.params["gen_w"], other.params["gen_w"])


@pytest.mark.parametrize("method", ["ne", "label-assemble"])
def test_trains_as_well_as_the_torch_engine(problem, method):
    """Test macro AUC over 3 seeds: the engines draw different random numbers, so they agree
    in distribution, not in digits."""
    ys = np.stack([problem.y_train] * 3)

    def auc(engine: str) -> float:
        cfg = TrainConfig(method=method, engine=engine, **FAST)
        fit = train_replicas(problem.x_train, ys, problem.x_val, problem.y_val, cfg, [1, 2, 3])
        p = fit.predict(problem.x_test)
        c = problem.y_test.shape[1]
        return float(
            np.mean(
                [
                    [roc_auc_score(problem.y_test[:, k], p[r][:, k]) for k in range(c)]
                    for r in range(3)
                ]
            )
        )

    fast, slow = auc("auto"), auc("torch")
    assert fast > 0.9
    assert fast == pytest.approx(slow, abs=0.01)


def test_engine_choice():
    assert TrainConfig(method="label-assemble").uses_fused("cpu")
    assert not TrainConfig(method="label-assemble").uses_fused("cuda")
    assert not TrainConfig(method="label-assemble", engine="torch").uses_fused("cpu")
    assert not TrainConfig(method="mean-teacher").uses_fused("cpu")
    assert not TrainConfig(method="ne", depth=2).uses_fused("cpu")
    assert not TrainConfig(method="ne", activation="gelu").uses_fused("cpu")
    assert TrainConfig(engine="torch").key() != TrainConfig().key()
    with pytest.raises(ConfigError, match="train.engine"):
        TrainConfig(engine="jit")


def test_fused_params_are_views_of_the_trained_array():
    spec = models.ModelSpec(5, 3, 4, 1, head="adapter", dropout=0.2)
    params = models.init_params(spec, [torch.Generator().manual_seed(s) for s in (1, 2)])
    eng = _FusedEpochs(params, TrainConfig(method="label-assemble"), {}, [1, 2], 1.0)
    for k, v in params.items():
        np.testing.assert_array_equal(eng.params[k].numpy(), v.numpy())
    eng.flat[1, :] = 0.0
    assert float(eng.params["w0"][1].abs().sum()) == 0.0
    kept = eng.select(np.array([0]))
    assert kept["q"].shape == (1, 3, 3) and math.isclose(float(kept["q"][0, 0, 0]), 1.0)


def test_adam_step_is_torch_adam_with_l2_decay():
    """The engine's Adam (vectorised) takes torch.optim.Adam's steps, gradients of every scale."""
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(1000).astype(np.float32)
    grads = [
        (rng.standard_normal(1000) * 10.0 ** rng.integers(-6, 2, 1000)).astype(np.float32)
        for _ in range(20)
    ]
    hyper = fused.Hyper(
        method=0,
        reduction=0,
        adapter=False,
        batch=8,
        hidden=4,
        drop_levels=65536,
        weight_decay=1e-4,
    )
    lr = np.full(1000, 1e-3, dtype=np.float32)
    engine = fused.Engine(
        p0[None].copy(),
        np.zeros((1, 1000), np.float32),
        np.zeros((1, 1000), np.float32),
        lr,
        np.zeros(9, np.int64),
        np.zeros(1, np.uint64),
    )
    ref = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = torch.optim.Adam([ref], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4)
    for t, g in enumerate(grads, start=1):
        fused._adam(engine, 0, g, t, hyper)
        ref.grad = torch.from_numpy(g.copy())
        opt.step()
    np.testing.assert_allclose(engine.flat[0], ref.detach().numpy(), rtol=2e-6, atol=1e-8)
    assert not np.array_equal(engine.flat[0], p0)


@pytest.mark.parametrize("reduction", ["entry-mean", "class-sum"])
@pytest.mark.parametrize("annotated", [0.05, 0.7])
def test_ne_bce_passes_give_the_same_bits(reduction, annotated):
    """``ne``'s BCE takes a vectorised pass when a batch has many annotated entries and a scalar
    one when it has few; a replica's numbers must not depend on which: the same gradient to the
    bit, on logits of every size (|a| > 88 included, where ``expf`` underflows)."""
    spec, params, x, mask, codes = _case("linear", seed=4, b=256, d=16, h=32, c=14)
    x = x * np.float32(40.0)  # logits far into both tails
    rng = np.random.default_rng(9)
    codes = np.where(rng.random(codes.shape) < annotated, rng.integers(0, 2, codes.shape), -1)
    case = (spec, params, x, mask, codes.astype(np.int8))
    loss_v, grad_v, _ = _forward_backward(case, "ne", reduction, "linear", 0.0)
    loss_s, grad_s, _ = _forward_backward(case, "ne", reduction, "linear", 2.0)
    assert np.isfinite(grad_v).all() and np.abs(grad_v).max() > 0
    assert np.array_equal(grad_v, grad_s)
    assert loss_v == pytest.approx(loss_s, rel=1e-6)


def test_labels_in_batch_order_are_each_replicas_own_rows():
    """The per-epoch gather: replica r's labels in its group's batch order, every entry kept,
    for orders over fewer rows than the label table holds."""
    rng = np.random.default_rng(4)
    codes = rng.integers(-1, 2, (5, 40, 3)).astype(np.int8)
    perm = np.stack([rng.permutation(30), rng.permutation(30)])
    group = np.array([0, 1, 1, 0, 1])
    got = fused.in_batch_order(codes, perm, group)
    assert got.shape == (5, 30, 3) and got.flags.c_contiguous
    for r in range(5):
        assert np.array_equal(got[r], codes[r][perm[group[r]]])


def test_the_engine_names_the_digests_of_the_files_it_compiles_in():
    """numba's cache of fused.py does not follow edits of blas_blocks.py or exact_expf.py; a
    stale engine would pass every other test here. Naming their digests in fused.py makes an edit
    of either an edit of fused.py, which retires its cache."""
    folder = Path(fused.__file__).parent
    found = {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()[:16]
        for name in fused.CALLEE_DIGESTS
    }
    assert found == fused.CALLEE_DIGESTS, (
        f"set fused.CALLEE_DIGESTS = {found}: the engine's cached code predates these files"
    )
