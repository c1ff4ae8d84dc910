"""Replica-batched trunk and heads, including the dynamic adapter of seed 000 (Alg. 1, Eq. 1)."""

from __future__ import annotations

import pytest
import torch

from budgetplan.methods import models


def _gens(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def test_forward_shapes_linear_and_adapter() -> None:
    for head in models.HEADS:
        spec = models.ModelSpec(d_in=8, n_classes=3, hidden=16, depth=2, head=head, dropout=0.5)
        p = models.init_params(spec, _gens(0, 1, 2, 3))
        x = torch.randn(4, 5, 8)
        masks = [torch.ones(4, 5, 16)] * 2
        assert models.forward(spec, p, x, masks).shape == (4, 5, 3)
        assert models.forward(spec, p, x).shape == (4, 5, 3)


def test_replica_init_does_not_depend_on_the_batch() -> None:
    spec = models.ModelSpec(d_in=8, n_classes=3, hidden=16, depth=1, head="adapter")
    alone = models.init_params(spec, _gens(7))
    batched = models.init_params(spec, _gens(3, 7, 9))
    for k in alone:
        assert torch.equal(alone[k][0], batched[k][1])
    assert not torch.equal(batched["w0"][0], batched["w0"][1])


def test_adapter_task_encoding_starts_as_identity() -> None:
    spec = models.ModelSpec(d_in=8, n_classes=4, hidden=16, head="adapter")
    p = models.init_params(spec, _gens(0, 1))
    q = models.task_encodings(p)
    assert q.shape == (2, 4, 4)
    assert torch.equal(q, torch.eye(4).expand(2, 4, 4))
    with pytest.raises(ValueError):
        models.task_encodings(models.init_params(models.ModelSpec(8, 4), _gens(0)))


def test_adapter_with_identity_q_is_a_linear_head() -> None:
    """Eq. 1 with q = I: a = f(x) . (G + g)^T + bias, exactly a linear head with those weights."""
    spec_a = models.ModelSpec(d_in=8, n_classes=3, hidden=16, head="adapter")
    spec_l = models.ModelSpec(d_in=8, n_classes=3, hidden=16, head="linear")
    pa = models.init_params(spec_a, _gens(5))
    with torch.no_grad():
        pa["gen_b"].normal_()
        pa["gen_bias_b"].fill_(0.3)
    pl = {k: v for k, v in pa.items() if k.startswith(("w", "b"))}
    pl["head_w"] = (pa["gen_w"] + pa["gen_b"]).transpose(1, 2)
    pl["head_b"] = (pa["gen_bias_w"] + pa["gen_bias_b"]).transpose(1, 2)
    x = torch.randn(1, 10, 8)
    torch.testing.assert_close(models.forward(spec_a, pa, x), models.forward(spec_l, pl, x))


def test_adapter_answers_follow_the_task_encoding() -> None:
    """Swapping two rows of q swaps the two classes' answers (the question decides the answer)."""
    spec = models.ModelSpec(d_in=8, n_classes=3, hidden=16, head="adapter")
    p = models.init_params(spec, _gens(2))
    x = torch.randn(1, 6, 8)
    a = models.forward(spec, p, x)
    p2 = dict(p)
    p2["q"] = p["q"][:, [1, 0, 2]]
    a2 = models.forward(spec, p2, x)
    torch.testing.assert_close(a2, a[..., [1, 0, 2]])


def test_gradients_reach_the_task_encoding() -> None:
    spec = models.ModelSpec(d_in=8, n_classes=3, hidden=16, head="adapter")
    p = {k: v.requires_grad_(True) for k, v in models.init_params(spec, _gens(0, 1)).items()}
    models.forward(spec, p, torch.randn(2, 6, 8)).pow(2).sum().backward()
    assert p["q"].grad is not None and p["q"].grad.abs().sum() > 0
    assert p["gen_w"].grad.abs().sum() > 0


def test_replicas_do_not_mix_gradients() -> None:
    spec = models.ModelSpec(d_in=8, n_classes=3, hidden=16, head="linear")
    p = {k: v.requires_grad_(True) for k, v in models.init_params(spec, _gens(0, 1)).items()}
    out = models.forward(spec, p, torch.randn(2, 6, 8))
    out[0].sum().backward()  # loss of replica 0 only
    assert p["w0"].grad[1].abs().sum() == 0
    assert p["w0"].grad[0].abs().sum() > 0


def test_shared_input_equals_per_replica_input() -> None:
    spec = models.ModelSpec(d_in=8, n_classes=3, hidden=16, depth=2, head="adapter")
    p = models.init_params(spec, _gens(0, 1, 2))
    x = torch.randn(7, 8)
    torch.testing.assert_close(
        models.forward(spec, p, x), models.forward(spec, p, x.expand(3, 7, 8))
    )


def test_flop_count_of_a_one_layer_mlp() -> None:
    spec = models.ModelSpec(d_in=10, n_classes=2, hidden=4, depth=1)
    # forward 2*n*(10*4 + 4*2); backward: weight grads 2*n*(40 + 8), input grad of the head 2*n*8
    assert models.count_flops(spec, 3) == 2 * 3 * (48) + 2 * 3 * (40 + 2 * 8)


def test_bad_spec_is_rejected() -> None:
    with pytest.raises(ValueError, match="head"):
        models.ModelSpec(d_in=8, n_classes=3, head="conv")
    with pytest.raises(ValueError, match="dropout"):
        models.ModelSpec(d_in=8, n_classes=3, dropout=1.0)


def test_dropout_masks_keep_rate_values_and_replica_independence() -> None:
    from budgetplan.methods.views import dropout_masks

    cpu = torch.device("cpu")
    batched = dropout_masks(_gens(3, 7), 2000, (64, 32), 0.2, cpu)
    assert [m.shape for m in batched] == [(2, 2000, 64), (2, 2000, 32)]
    for m in batched:
        assert m.unique().tolist() == [0.0, pytest.approx(1.0 / 0.8, rel=1e-4)]
        assert (m > 0).float().mean().item() == pytest.approx(0.8, abs=0.01)
        assert m.mean().item() == pytest.approx(1.0, abs=0.02)  # inverted dropout: E[mask] = 1
    alone = dropout_masks(_gens(7), 2000, (64, 32), 0.2, cpu)
    for b, a in zip(batched, alone, strict=True):
        assert torch.equal(b[1], a[0])
    assert dropout_masks(_gens(1), 5, (4,), 0.0, cpu) == []


@pytest.mark.parametrize("depth", [1, 2])
def test_fused_relu_dropout_layer_equals_the_composed_ops(depth: int) -> None:
    """The trainer's fast path (one in-place layer, one fused backward) gives the values and
    gradients of relu(baddbmm(b, x, w)) * mask composed by autograd."""
    from budgetplan.methods.views import dropout_masks

    spec = models.ModelSpec(d_in=12, n_classes=3, hidden=16, depth=depth, dropout=0.3)
    x = torch.randn(3, 20, 12, dtype=torch.float64)
    masks = [m.double() for m in dropout_masks(_gens(1, 2, 3), 20, spec.dropout_widths, 0.3, "cpu")]
    assert all((m == 0).any() for m in masks)
    fast = models.init_params(spec, _gens(4, 5, 6))
    fast = {k: v.double().requires_grad_(True) for k, v in fast.items()}
    slow = {k: v.detach().clone().requires_grad_(True) for k, v in fast.items()}
    h = x
    for layer in range(depth):
        h = torch.relu(torch.baddbmm(slow[f"b{layer}"], h, slow[f"w{layer}"])) * masks[layer]
    w, b = models.head_weights(spec, slow)
    want = torch.baddbmm(b, h, w)
    got = models.forward(spec, fast, x, masks)
    torch.testing.assert_close(got, want)
    g = torch.randn_like(want)
    want.backward(g)
    got.backward(g)
    for k in fast:
        torch.testing.assert_close(fast[k].grad, slow[k].grad, msg=k)


def test_shared_first_layer_without_autograd_equals_the_autograd_path() -> None:
    """Evaluation applies bias and ReLU in place; the values are those of the graph-building
    path."""
    spec = models.ModelSpec(d_in=8, n_classes=3, hidden=16, depth=2)
    p = models.init_params(spec, _gens(0, 1, 2))
    x = torch.randn(25, 8)
    with torch.inference_mode():
        fast = models.forward(spec, p, x)
    slow = models.forward(spec, {k: v.requires_grad_(True) for k, v in p.items()}, x)
    torch.testing.assert_close(fast, slow.detach())
