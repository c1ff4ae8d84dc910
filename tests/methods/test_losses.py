"""The partial-label losses equal their papers' formulas on hand-computed cases, ignore what they
must ignore (finite, zero gradients), reduce as documented and work on stacked replicas."""

from __future__ import annotations

import math

import pytest
import torch

from budgetplan.methods.losses import (
    LOSSES,
    all_negative_penalty,
    batch_penalties,
    durand_weight,
    ema_update,
    epoch_coefficient,
    fe_loss,
    fixmatch_loss,
    imbalance_pl_loss,
    init_pseudo_labels,
    label_assemble_loss,
    linear_rampup,
    ls_loss,
    mean_teacher_loss,
    ne_loss,
    sample_missing,
    se_loss,
    sharpen,
    sigmoid_rampup,
    update_pseudo_labels,
    wne_loss,
)
from budgetplan.methods.losses._common import squared_error

NAN = float("nan")


def t(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def sig(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a))


def nlp(a: float) -> float:
    """-log sigmoid(a), written out."""
    return math.log(1.0 + math.exp(-a))


def close(value: torch.Tensor, expected: float) -> None:
    assert value.shape == ()
    assert value.item() == pytest.approx(expected, rel=1e-10, abs=1e-12)


# ---------------------------------------------------------------- seed 001: NE, wNE, FE, LS, SE


def test_ne_is_bce_on_annotated_labels_only_eq1() -> None:
    logits = t([[2.0, -1.0, 0.5], [0.3, 1.5, -2.0]])
    labels = t([[1, NAN, 0], [NAN, 1, NAN]])
    # -log s(2) - log s(-0.5) for sample 1, -log s(1.5) for sample 2; mean over 3 entries
    expected = (nlp(2.0) + nlp(-0.5) + nlp(1.5)) / 3
    close(ne_loss(logits, labels), expected)


def test_class_sum_reduction_is_batch_mean_per_class_summed() -> None:
    logits = t([[2.0, -1.0], [0.3, 1.5]])
    labels = t([[1, 0], [0, NAN]])
    l00, l01, l10 = nlp(2.0), nlp(1.0), nlp(-0.3)
    close(ne_loss(logits, labels, reduction="entry-mean"), (l00 + l01 + l10) / 3)
    close(ne_loss(logits, labels, reduction="class-sum"), (l00 + l10) / 2 + l01)


def _target_grad(labels: torch.Tensor, reduction: str) -> torch.Tensor:
    logits = t([[0.2, -0.4], [1.0, 0.7], [-0.5, 0.1]]).requires_grad_(True)
    ne_loss(logits, labels, reduction=reduction).backward()
    return logits.grad[:, 0]


def test_target_weight_diluted_by_entry_mean_fixed_by_class_sum() -> None:
    only_target = t([[1, NAN], [0, NAN], [0, NAN]])
    with_other = t([[1, 0], [0, 1], [0, 0]])
    # class-sum: adding an annotated class leaves the target's gradient unchanged
    torch.testing.assert_close(
        _target_grad(only_target, "class-sum"), _target_grad(with_other, "class-sum")
    )
    # entry-mean: the same gradient is spread over twice the entries -> halved
    torch.testing.assert_close(
        _target_grad(with_other, "entry-mean"), _target_grad(only_target, "entry-mean") / 2
    )


def test_class_weight_multiplies_each_class() -> None:
    logits = t([[2.0, -1.0], [0.3, 1.5]])
    labels = t([[1, 0], [0, 1]])
    w = torch.tensor([3.0, 0.5], dtype=torch.float64)
    expected = (3 * nlp(2.0) + 0.5 * nlp(1.0) + 3 * nlp(-0.3) + 0.5 * nlp(1.5)) / 4
    close(ne_loss(logits, labels, class_weight=w), expected)
    expected_cs = 3 * (nlp(2.0) + nlp(-0.3)) / 2 + 0.5 * (nlp(1.0) + nlp(1.5)) / 2
    close(ne_loss(logits, labels, class_weight=w, reduction="class-sum"), expected_cs)


def test_durand_weight_meets_its_constraints() -> None:
    g = durand_weight(torch.tensor([0.1, 1.0], dtype=torch.float64))
    torch.testing.assert_close(g, torch.tensor([-0.445 + 5.45, 1.0], dtype=torch.float64))
    assert g[0].item() == pytest.approx(5.0, abs=0.01)  # about 5x weight at 10 % known labels


def test_wne_weights_each_sample_by_its_share_of_annotated_labels() -> None:
    logits = t([[2.0, -1.0], [0.3, 1.5]])
    labels = t([[1, NAN], [0, 1]])
    g_half = -4.45 * 0.5 + 5.45  # sample 1 has 1 of 2 labels
    g_full = -4.45 * 1.0 + 5.45  # = 1
    expected = (g_half * nlp(2.0) + g_full * nlp(-0.3) + g_full * nlp(1.5)) / 3
    close(wne_loss(logits, labels), expected)


def test_fe_treats_missing_as_negative_with_positive_weight_5_eq2() -> None:
    logits = t([[2.0, -1.0, 0.5]])
    labels = t([[1, NAN, 0]])
    # -5 log s(2) - log s(1) [missing -> negative] - log s(-0.5)
    expected = (5 * nlp(2.0) + nlp(1.0) + nlp(-0.5)) / 3
    close(fe_loss(logits, labels), expected)
    close(fe_loss(logits, labels, pos_weight=1.0), (nlp(2.0) + nlp(1.0) + nlp(-0.5)) / 3)


def test_se_uses_signed_temperature_on_missing_entries_eq3_eq8() -> None:
    logits = t([[2.0, -1.0, 0.5, 0.7]])
    labels = t([[1, NAN, NAN, NAN]])
    temperature = t([[NAN, -2.0, 3.0, NAN]])  # NaN on the annotated entry; NaN on entry 4
    # -log s(a, T) = -log s(a / T): s(-1 / -2) and s(0.5 / 3); entry 4 has no temperature
    expected = (nlp(2.0) + nlp(0.5) + nlp(0.5 / 3.0)) / 3
    close(se_loss(logits, labels, temperature), expected)


def test_se_negative_temperature_pushes_logit_down_and_large_t_pushes_less() -> None:
    labels = t([[NAN, NAN]])
    logits = t([[0.4, 0.4]]).requires_grad_(True)
    se_loss(logits, labels, t([[-1.0, -10.0]])).sum().backward()
    g = logits.grad[0]
    assert g[0] > 0 and g[1] > 0  # descent lowers the logit: "probably negative"
    assert g[1] < g[0] / 5  # |T| = 10 is much softer than |T| = 1
    logits.grad = None
    se_loss(logits, labels, t([[2.0, 2.0]])).sum().backward()
    assert (logits.grad < 0).all()  # positive T: "probably positive"


def test_ls_is_eq3_with_one_constant_negative_temperature() -> None:
    logits = t([[2.0, -1.0, 0.5]])
    labels = t([[1, NAN, 0]])
    expected = (nlp(2.0) + nlp(-1.0 / -2.0) + nlp(-0.5)) / 3
    close(ls_loss(logits, labels, temperature=2.0), expected)
    with pytest.raises(ValueError):
        ls_loss(logits, labels, temperature=0.0)


@pytest.mark.parametrize("reduction", ["entry-mean", "class-sum"])
def test_exposure_family_limits(reduction: str) -> None:
    """LS at temperature 1 is FE without the positive weight; SE without temperatures is NE."""
    logits, labels = _problem((6, 4), seed=11)
    torch.testing.assert_close(
        ls_loss(logits, labels, temperature=1.0, reduction=reduction),
        fe_loss(logits, labels, pos_weight=1.0, reduction=reduction),
    )
    no_temps = torch.full_like(labels, NAN)
    torch.testing.assert_close(
        se_loss(logits, labels, no_temps, reduction=reduction),
        ne_loss(logits, labels, reduction=reduction),
    )


# ------------------------------------------------------------------- seed 000: Label-Assemble


def test_sharpen_eq3() -> None:
    a = torch.tensor([0.8, 0.2, 0.5], dtype=torch.float64)
    torch.testing.assert_close(
        sharpen(a, tau=0.5, t=4.0), torch.tensor([0.85, 0.15, 0.375], dtype=torch.float64)
    )
    torch.testing.assert_close(
        sharpen(a, t=1.0), torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    )


def test_sharpen_step_is_exactly_the_boolean_comparison_next_to_tau() -> None:
    """[a > tau] by max(sign(a - tau), 0): exact at tau itself and one float step either side."""
    tau = 0.5
    near = torch.tensor([tau, math.nextafter(tau, 0.0), math.nextafter(tau, 1.0)])
    a = torch.cat([torch.rand(10_000, generator=torch.Generator().manual_seed(0)), near])
    want = a * (1.0 - 1.0 / 4.0) + (a > tau).to(a.dtype) * (1.0 / 4.0)
    assert torch.equal(sharpen(a, tau=tau, t=4.0), want)


def test_squared_error_has_the_values_and_gradients_of_pow_2() -> None:
    g = torch.Generator().manual_seed(3)
    a = torch.randn(4, 300, 7, generator=g, requires_grad=True)
    b = torch.randn(4, 300, 7, generator=g)
    w = torch.randn(4, 300, 7, generator=g)
    got = squared_error(a, b)
    (ga,) = torch.autograd.grad((got * w).sum(), [a])
    want = (a - b) ** 2
    (wa,) = torch.autograd.grad((want * w).sum(), [a])
    assert torch.equal(got, want)
    assert torch.equal(ga, wa)


def test_label_assemble_bce_plus_pseudo_plus_consistency_eq2_to_5() -> None:
    weak = t([[0.3, 1.2, -0.8]])
    strong = t([[0.0, 0.5, -1.5]])
    labels = t([[1, NAN, NAN]])
    aw1, aw2 = sig(1.2), sig(-0.8)
    sh1 = aw1 + (1 - aw1) / 4  # > 0.5
    sh2 = aw2 - aw2 / 4  # <= 0.5
    bce_term = nlp(0.3)
    pseudo = ((aw1 - sh1) ** 2 + (aw2 - sh2) ** 2) / 2
    consist = ((sig(0.5) - sh1) ** 2 + (sig(-1.5) - sh2) ** 2) / 2
    close(label_assemble_loss(weak, strong, labels), bce_term + pseudo + consist)
    close(
        label_assemble_loss(weak, strong, labels, pseudo_weight=0.5, consistency_weight=2.0),
        bce_term + 0.5 * pseudo + 2.0 * consist,
    )


def test_label_assemble_sharpened_target_is_stop_gradient() -> None:
    weak = t([[1.2]]).requires_grad_(True)
    strong = t([[0.0]])
    label_assemble_loss(weak, strong, t([[NAN]]), consistency_weight=0.0).backward()
    a = sig(1.2)
    target = a + (1 - a) / 4
    # d/dlogit (a - sg(target))^2 = 2 (a - target) a (1 - a); no term through the target
    assert weak.grad.item() == pytest.approx(2 * (a - target) * a * (1 - a), rel=1e-10)


# ------------------------------------------------------------------------- seed 002: FixMatch


def test_fixmatch_thresholded_hard_pseudo_labels_eq1() -> None:
    weak = t([[0.0, 2.0, 0.2, -1.5]])
    strong = t([[1.0, 0.4, 1.0, 0.3]])
    labels = t([[0, NAN, NAN, NAN]])
    # confidences: s(2) = 0.88 -> label 1; s(0.2) = 0.55 -> skipped; 1 - s(-1.5) = 0.82 -> label 0
    assert sig(2.0) >= 0.7 and max(sig(0.2), 1 - sig(0.2)) < 0.7 and 1 - sig(-1.5) >= 0.7
    sup = nlp(-0.0)  # label 0 at logit 0: -log s(-0) = log 2
    unsup = (nlp(0.4) + 0.0 + nlp(-0.3)) / 3  # over all 3 unannotated entries
    close(fixmatch_loss(weak, strong, labels), sup + 0.25 * unsup)


def test_fixmatch_weak_view_is_not_trained_by_its_pseudo_labels() -> None:
    weak = t([[2.0]]).requires_grad_(True)
    strong = t([[0.4]]).requires_grad_(True)
    fixmatch_loss(weak, strong, t([[NAN]])).backward()
    assert weak.grad.item() == 0.0
    assert strong.grad.item() == pytest.approx(0.25 * (sig(0.4) - 1.0), rel=1e-10)


# ---------------------------------------------------------------------- seed 004: Mean Teacher


def test_mean_teacher_ace_plus_weighted_squared_consistency_eq3_to_5() -> None:
    student = t([[0.5, -0.5]]).requires_grad_(True)
    teacher = t([[1.0, 0.0]]).requires_grad_(True)
    labels = t([[1, NAN]])
    sup = nlp(0.5)
    con = ((sig(0.5) - sig(1.0)) ** 2 + (sig(-0.5) - 0.5) ** 2) / 2  # over all entries
    loss = mean_teacher_loss(student, teacher, labels, 0.5)
    close(loss, sup + 0.5 * con)
    loss.backward()
    assert teacher.grad is None  # teacher outputs are a stop-gradient target


def test_linear_warmup_from_third_epoch_over_ten_epochs_to_one() -> None:
    w = [linear_rampup(e, 10, start=2, max_weight=1.0) for e in (0, 1, 2, 7, 12, 30)]
    assert w == [0.0, 0.0, 0.0, 0.5, 1.0, 1.0]
    assert sigmoid_rampup(0, 10) == pytest.approx(math.exp(-5))
    assert sigmoid_rampup(10, 10) == 1.0


def test_ema_update_in_place() -> None:
    teacher = [torch.tensor([1.0, 2.0])]
    student = [torch.tensor([3.0, 2.0], requires_grad=True)]
    ema_update(teacher, student, decay=0.9)
    torch.testing.assert_close(teacher[0], torch.tensor([1.2, 2.0]))
    with pytest.raises(ValueError):
        ema_update(teacher, student, decay=1.5)


# ------------------------------------------------------------------- seed 003: Imbalance PL


def test_imbalance_pl_eq12_hand_computed() -> None:
    logits = t([[1.0, -0.5, 0.2], [-3.0, -2.5, -4.0]])
    labels = t([[1, 0, NAN], [0, NAN, NAN]])
    pseudo = t([[0.5, 0.5, 0.5], [0.5, 0.8, 0.3]])
    beta = 1 / 3  # P = 1 positive among T = 3 annotated labels in the batch
    alpha = 1 - beta
    d = math.exp((1 + 3 - 10) / 10)  # epoch 1 of 10, m = 3 (Eq. 9 as the text reads it)
    p2 = 2.0  # sample 2: all predictions < 0.1

    def ell(a: float, target: float, p: float) -> float:
        return p * (alpha * target * nlp(a) + beta * (1 - target) * nlp(-a))

    exist = (ell(1.0, 1, 1) + ell(-0.5, 0, 1) + ell(-3.0, 0, p2)) / 3
    non_exist = (ell(0.2, 0.5, 1) + ell(-2.5, 0.8, p2) + ell(-4.0, 0.3, p2)) / 3
    loss = imbalance_pl_loss(logits, labels, pseudo, epoch=1, total_epochs=10, q=1.0)
    close(loss, exist + d * non_exist)


def test_imbalance_pl_parts() -> None:
    assert epoch_coefficient(1, 10, m=3, reading="printed") == pytest.approx(math.exp(0.4))
    # the reading that matches seed 003's text: equal weights at epoch e_T - m, less before
    assert epoch_coefficient(7, 10, m=3) == pytest.approx(1.0)
    assert epoch_coefficient(1, 10, m=3) == pytest.approx(math.exp(-0.6))
    assert epoch_coefficient(9, 10, m=3) > 1
    with pytest.raises(ValueError, match="reading"):
        epoch_coefficient(1, 10, reading="other")
    alpha, beta = batch_penalties(t([[0, 0], [0, NAN]]))  # P/T = 0 -> gamma
    assert beta.item() == pytest.approx(0.05) and alpha.item() == pytest.approx(0.95)
    alpha, beta = batch_penalties(t([[1, 1], [0, NAN]]))
    assert beta.item() == pytest.approx(2 / 3)
    probs = t([[0.05, 0.09], [0.05, 0.2]])
    torch.testing.assert_close(
        all_negative_penalty(probs), torch.tensor([2.0, 1.0], dtype=torch.float64)
    )
    assert init_pseudo_labels(t([[1, NAN]])).tolist() == [[0.5, 0.5]]


def test_sample_missing_picks_q_share_of_each_samples_missing_labels() -> None:
    labels = torch.full((50, 10), NAN)
    labels[:, :4] = 1.0  # 6 missing per sample
    a = sample_missing(labels, 0.5, torch.Generator().manual_seed(1))
    b = sample_missing(labels, 0.5, torch.Generator().manual_seed(1))
    c = sample_missing(labels, 0.5, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a.sum(dim=1) == 3).all()
    assert not a[:, :4].any()
    with pytest.raises(ValueError, match="Generator"):
        sample_missing(labels, 0.5, None)


def test_imbalance_pl_ignores_unpicked_missing_labels() -> None:
    logits = t([[1.0, -0.5, 0.2, 0.9]])
    labels = t([[1, NAN, NAN, NAN]])
    pseudo = t([[0.5, 0.3, 0.6, 0.9]])
    picked = torch.tensor([[False, True, False, False]])
    full = imbalance_pl_loss(logits, labels, pseudo, epoch=0, total_epochs=5, picked=picked)
    only = imbalance_pl_loss(
        logits[:, :2], labels[:, :2], pseudo[:, :2], epoch=0, total_epochs=5, q=1.0
    )
    close(full, only.item())


def test_update_pseudo_labels_replaces_rows_with_predictions() -> None:
    table = init_pseudo_labels(torch.full((4, 2), NAN))
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.7]])
    labels = torch.tensor([[NAN, NAN], [1.0, NAN]])
    new = update_pseudo_labels(table, torch.tensor([2, 0]), probs, labels)
    torch.testing.assert_close(new, torch.tensor([[0.5, 0.7], [0.5, 0.5], [0.9, 0.1], [0.5, 0.5]]))
    assert (table == 0.5).all()  # the input table is not changed


# --------------------------------------------------------------- generic: masks, replicas, API


def _call(name: str, logits: torch.Tensor, labels: torch.Tensor, **kw: object) -> torch.Tensor:
    """Call any registered loss with extra inputs made elementwise from the logits (so that
    slicing a replica commutes with making them)."""
    fn = LOSSES[name]
    other = 0.7 * logits.detach() + 0.3
    if name in ("se", "se-l", "se-i"):
        temp = torch.where(torch.isnan(labels), -1.5 - other.abs(), torch.full_like(labels, NAN))
        return fn(logits, labels, temp, **kw)
    if name in ("label-assemble", "fixmatch"):
        return fn(logits, 0.5 * logits + 0.2, labels, **kw)
    if name == "mean-teacher":
        return fn(logits, other, labels, 0.7, **kw)
    if name == "imbalance-pl":
        pseudo = torch.sigmoid(other)
        return fn(logits, labels, pseudo, epoch=2, total_epochs=8, q=1.0, **kw)
    return fn(logits, labels, **kw)


ALL = sorted(LOSSES)


def _problem(shape: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=g, dtype=torch.float64) * 2
    labels = (torch.rand(shape, generator=g) < 0.3).to(torch.float64)
    labels[torch.rand(shape, generator=g) < 0.5] = NAN
    return logits, labels


def test_registry_has_all_methods() -> None:
    from budgetplan.methods.train_config import METHOD_NAMES

    assert set(LOSSES) == set(METHOD_NAMES)


@pytest.mark.parametrize("reduction", ["entry-mean", "class-sum"])
@pytest.mark.parametrize("name", ALL)
def test_replicas_equal_looping_and_keep_gradients_apart(name: str, reduction: str) -> None:
    logits, labels = _problem((3, 6, 4))
    logits.requires_grad_(True)
    stacked = _call(name, logits, labels, reduction=reduction)
    assert stacked.shape == (3,)
    stacked.sum().backward()
    for r in range(3):
        one = logits.detach()[r].clone().requires_grad_(True)
        alone = _call(name, one, labels[r], reduction=reduction)
        alone.backward()
        torch.testing.assert_close(stacked[r], alone)
        torch.testing.assert_close(logits.grad[r], one.grad)


@pytest.mark.parametrize("name", ALL)
def test_extra_leading_dims(name: str) -> None:
    logits, labels = _problem((2, 3, 5, 4), seed=3)
    out = _call(name, logits, labels)
    assert out.shape == (2, 3)
    torch.testing.assert_close(out[1, 2], _call(name, logits[1, 2], labels[1, 2]))


@pytest.mark.parametrize("reduction", ["entry-mean", "class-sum"])
@pytest.mark.parametrize("name", ALL)
def test_gradients_finite_with_nan_labels_and_extreme_logits(name: str, reduction: str) -> None:
    logits, labels = _problem((2, 5, 3), seed=5)
    logits = (logits * 60).requires_grad_(True)  # saturated sigmoids
    loss = _call(name, logits, labels, reduction=reduction)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name", ["ne", "wne"])
def test_unannotated_entries_get_exactly_zero_gradient(name: str) -> None:
    logits, labels = _problem((4, 3), seed=7)
    logits.requires_grad_(True)
    _call(name, logits, labels).backward()
    assert (logits.grad[torch.isnan(labels)] == 0).all()
    assert (logits.grad[~torch.isnan(labels)] != 0).all()


@pytest.mark.parametrize("reduction", ["entry-mean", "class-sum"])
@pytest.mark.parametrize("name", ["ne", "wne", "se", "label-assemble", "fixmatch", "mean-teacher"])
def test_replica_without_any_annotation_gives_finite_loss(name: str, reduction: str) -> None:
    logits = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.full((2, 4, 3), NAN, dtype=torch.float64)
    labels[1, 0, 0] = 1.0
    loss = _call(name, logits, labels, reduction=reduction)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(logits.grad).all()
    if name in ("ne", "wne"):
        assert loss[0].item() == 0.0 and (logits.grad[0] == 0).all()


def test_bad_input_gives_clear_errors() -> None:
    with pytest.raises(ValueError, match="same shape"):
        ne_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="reduction"):
        ne_loss(torch.zeros(2, 3), torch.zeros(2, 3), reduction="mean")
    with pytest.raises(ValueError, match="class_weight"):
        ne_loss(torch.zeros(2, 3), torch.zeros(2, 3), class_weight=torch.ones(2))
    with pytest.raises(ValueError, match="temperature"):
        se_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3))


def test_se_loss_reads_the_relations_temperatures_with_their_sign() -> None:
    """Contract with budgetplan.relations.soft_exposure: T > 0 means "probably positive"."""
    import numpy as np

    from budgetplan.relations.soft_exposure import soft_exposure_temperatures

    distance = np.array([[0.0, 0.1, 0.9], [0.1, 0.0, 0.9], [0.9, 0.9, 0.0]], dtype=np.float32)
    labels = np.array([[1.0, NAN, NAN]], dtype=np.float32)
    temps = soft_exposure_temperatures(labels, distance, mode="label")
    assert np.isnan(temps[0, 0]) and temps[0, 1] > 0 and temps[0, 2] < 0
    logits = torch.zeros(1, 3, requires_grad=True)
    se_loss(logits, torch.from_numpy(labels), torch.from_numpy(temps)).backward()
    g = logits.grad[0]
    assert g[1] < 0 < g[2]  # class 1 (near the positive) pushed up, class 2 pushed down
