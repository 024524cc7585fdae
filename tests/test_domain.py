"""Tests of infagenc.train.domain: gradient reversal (DANN), the domain classifier (FiDIP's
domain confusion), DSAN's kernels, class weights and local MMD. Expected values are worked
out by hand from the definitions (with math.exp), not taken from running the module."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from infagenc.train.domain import (RAMPS, DomainClassifier, GradientReversal, class_weights,
                                   domain_loss, gaussian_kernel_matrix, grad_reverse,
                                   kernel_bandwidths, lmmd, mmd, reversal_weight)


def _t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


# ----------------------------------------------------------------------------- reversal
def test_grad_reverse_forward_is_the_identity():
    x = torch.randn(3, 4, requires_grad=True)
    y = grad_reverse(x, 0.5)
    assert torch.equal(y, x)
    assert y.shape == x.shape


def test_grad_reverse_backward_negates_and_scales():
    x = torch.randn(3, 4, requires_grad=True)
    grad_reverse(x, 0.5).sum().backward()
    assert torch.equal(x.grad, torch.full((3, 4), -0.5))


def test_grad_reverse_chain_rule_with_a_nontrivial_upstream():
    # d/dx of sum(y^2) is 2y = 2x; reversed with weight 2 -> -4x
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = grad_reverse(x, 2.0)
    (y * y).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([-4.0, 8.0, -12.0]))


def test_grad_reverse_weight_zero_gives_zero_gradient():
    x = torch.randn(5, requires_grad=True)
    grad_reverse(x, 0.0).sum().backward()
    assert torch.equal(x.grad, torch.zeros(5))


def test_grad_reverse_default_weight_is_one_and_function_is_usable_directly():
    x = torch.randn(4, requires_grad=True)
    grad_reverse(x).sum().backward()
    assert torch.equal(x.grad, -torch.ones(4))
    x2 = torch.randn(4, requires_grad=True)
    GradientReversal.apply(x2, 3.0).sum().backward()
    assert torch.equal(x2.grad, torch.full((4,), -3.0))


@pytest.mark.parametrize("w", [-0.1, -1.0, float("nan")])
def test_grad_reverse_rejects_bad_weight(w):
    with pytest.raises(ValueError):
        grad_reverse(torch.zeros(2), w)


# ----------------------------------------------------------------------- weight ramp
def test_reversal_weight_ganin_values():
    assert reversal_weight(0.0) == 0.0
    assert reversal_weight(0.5, max_weight=2.0, gamma=10.0) == pytest.approx(
        2.0 * (2.0 / (1.0 + math.exp(-5.0)) - 1.0))
    assert reversal_weight(1.0, max_weight=0.3) == pytest.approx(
        0.3 * (2.0 / (1.0 + math.exp(-10.0)) - 1.0))
    assert reversal_weight(1.0, max_weight=0.3) < 0.3


def test_reversal_weight_is_monotone_increasing():
    values = [reversal_weight(i / 20) for i in range(21)]
    assert all(b > a for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(1.0, abs=1e-4)


def test_reversal_weight_constant_ramp():
    assert RAMPS == ("ganin", "constant")
    for p in (0.0, 0.3, 1.0):
        assert reversal_weight(p, max_weight=0.7, ramp="constant") == 0.7


@pytest.mark.parametrize("p", [-0.01, 1.01, float("nan")])
def test_reversal_weight_rejects_progress_outside_unit_interval(p):
    with pytest.raises(ValueError):
        reversal_weight(p)


def test_reversal_weight_rejects_unknown_ramp_and_negative_max():
    with pytest.raises(ValueError):
        reversal_weight(0.5, ramp="linear")
    with pytest.raises(ValueError):
        reversal_weight(0.5, max_weight=-1.0)


# ----------------------------------------------------------------- domain classifier
def test_domain_classifier_gradients_normal_for_itself_reversed_for_features():
    torch.manual_seed(0)
    clf = DomainClassifier(4, hidden=8)
    ref = copy.deepcopy(clf)
    is_syn = torch.tensor([0, 1, 0, 1, 1, 0], dtype=torch.bool)
    feats = torch.randn(6, 4, requires_grad=True)
    logits = clf(feats, 0.7)
    assert logits.shape == (6,)
    domain_loss(logits, is_syn).backward()

    feats2 = feats.detach().clone().requires_grad_(True)
    logits2 = ref.net(feats2).squeeze(-1)  # the same layers, no reversal
    domain_loss(logits2, is_syn).backward()

    assert torch.allclose(logits, logits2)
    for p, q in zip(clf.parameters(), ref.parameters()):
        assert p.grad is not None and torch.allclose(p.grad, q.grad)
    assert feats2.grad.abs().sum() > 0
    assert torch.allclose(feats.grad, -0.7 * feats2.grad)


def test_domain_classifier_layers():
    clf = DomainClassifier(5, hidden=3)
    layers = list(clf.net)
    assert isinstance(layers[0], torch.nn.Linear) and layers[0].in_features == 5
    assert layers[0].out_features == 3
    assert isinstance(layers[1], torch.nn.ReLU)
    assert isinstance(layers[2], torch.nn.Linear) and layers[2].out_features == 1
    with pytest.raises(ValueError):
        clf(torch.zeros(2, 4), 1.0)


def test_domain_loss_hand_values():
    # BCE with logit 0 is log 2 whatever the target
    assert domain_loss(torch.zeros(3), torch.tensor([1, 0, 1])).item() == pytest.approx(math.log(2))
    # logit 2: target 1 -> log(1 + e^-2), target 0 -> log(1 + e^2); mean of the two
    got = domain_loss(torch.tensor([2.0, 2.0]), torch.tensor([True, False])).item()
    want = (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(2.0))) / 2
    assert got == pytest.approx(want, rel=1e-6)


def test_domain_loss_rejects_shape_mismatch_and_empty():
    with pytest.raises(ValueError):
        domain_loss(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError):
        domain_loss(torch.zeros(0), torch.zeros(0))


# -------------------------------------------------------------------------- kernels
def test_kernel_bandwidths_hand_values():
    # z = {0, 2}: ordered pairs (0,2), (2,0) -> 4 + 4 = 8, n^2 - n = 2 -> base 4
    x, y = _t([[0.0]]), _t([[2.0]])
    assert torch.allclose(kernel_bandwidths(x, y, n_kernels=3, mul=2.0), _t([2.0, 4.0, 8.0]))
    # default 5 kernels: 4 / 2^2 * [1, 2, 4, 8, 16]
    assert torch.allclose(kernel_bandwidths(x, y), _t([1.0, 2.0, 4.0, 8.0, 16.0]))
    # 2-D: a = (0,0), b = (3,4), c = (0,0): |ab|^2 = 25, |ac|^2 = 0, |bc|^2 = 25
    # ordered sum 100, n^2 - n = 6 -> base 50 / 3
    bw = kernel_bandwidths(_t([[0.0, 0.0], [3.0, 4.0]]), _t([[0.0, 0.0]]), n_kernels=1)
    assert torch.allclose(bw, _t([50.0 / 3.0]))


def test_kernel_bandwidths_identical_points_use_base_one():
    x = _t([[1.0, 1.0], [1.0, 1.0]])
    assert torch.allclose(kernel_bandwidths(x, x, n_kernels=1), _t([1.0]))
    assert torch.allclose(kernel_bandwidths(x, x, n_kernels=3, mul=2.0), _t([0.5, 1.0, 2.0]))
    k = gaussian_kernel_matrix(x, x, n_kernels=3)
    assert torch.all(torch.isfinite(k))
    assert torch.allclose(k, torch.full((4, 4), 3.0, dtype=k.dtype))


def test_kernel_bandwidths_follow_the_features_scale():
    # the bandwidths are in the graph and scale with the squared distances: base(a z) = a^2 base(z)
    x = torch.randn(3, 2, requires_grad=True)
    y = torch.randn(4, 2)
    assert kernel_bandwidths(x, y).requires_grad
    assert torch.allclose(kernel_bandwidths(3.0 * x, 3.0 * y), 9.0 * kernel_bandwidths(x, y))


def test_lmmd_and_mmd_are_scale_invariant_with_no_gradient_towards_shrinking():
    # a common scale a of both feature sets changes no value, so d/da at a = 1 is 0; with a
    # detached bandwidth it would be < 0 (shrinking the features lowers the MMD: the collapse)
    gen = torch.Generator().manual_seed(0)
    xs, xt = torch.randn(6, 3, generator=gen), torch.randn(5, 3, generator=gen) + 1.0
    ls, lt = torch.tensor([0, 0, 0, 1, 1, 1]), torch.tensor([0, 0, 1, 1, 1])
    for f in (lambda a, b: lmmd(a, b, ls, lt, 2), lambda a, b: mmd(a, b)):
        scale = torch.tensor(1.0, requires_grad=True)
        value = f(scale * xs, scale * xt)
        assert float(value.detach()) > 0.05
        assert torch.allclose(f(0.1 * xs, 0.1 * xt), value.detach(), atol=1e-6)
        value.backward()
        assert abs(float(scale.grad)) < 1e-5


def test_gaussian_kernel_matrix_hand_values():
    # z = {0, 2}, one kernel of bandwidth 4: off-diagonal exp(-4 / 4)
    k = gaussian_kernel_matrix(_t([[0.0]]), _t([[2.0]]), n_kernels=1)
    e = math.exp(-1.0)
    assert torch.allclose(k, _t([[1.0, e], [e, 1.0]]))
    # the diagonal of a sum of n_kernels Gaussians is n_kernels
    k5 = gaussian_kernel_matrix(torch.randn(3, 2), torch.randn(2, 2), n_kernels=5)
    assert k5.shape == (5, 5)
    assert torch.allclose(torch.diagonal(k5), torch.full((5,), 5.0))
    assert torch.allclose(k5, k5.T)


# -------------------------------------------------------------------- class weights
def test_class_weights_hard_labels():
    w = class_weights(torch.tensor([0, 0, 1]), 3)
    assert torch.allclose(w, torch.tensor([[0.5, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 1.0, 0.0]]))


def test_class_weights_soft_labels():
    # column sums 0.8, 1.0, 0 -> [0.2/0.8, 0.6/0.8], [0.8, 0.2], zeros
    soft = torch.tensor([[0.2, 0.8, 0.0], [0.6, 0.2, 0.0]])
    w = class_weights(soft, 3)
    assert torch.allclose(w, torch.tensor([[0.25, 0.8, 0.0], [0.75, 0.2, 0.0]]))
    # one-hot soft labels give the hard-label weights
    onehot = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert torch.allclose(class_weights(onehot, 3), class_weights(torch.tensor([0, 0, 1]), 3))


@pytest.mark.parametrize("labels, k", [
    (torch.tensor([0, 3]), 3),
    (torch.tensor([-1, 0]), 3),
    (torch.tensor([0.0, 1.0]), 3),  # 1-D floats are not hard labels
    (torch.tensor([[0.5, 0.5]]), 3),  # soft labels with the wrong number of columns
    (torch.tensor([[-0.5, 1.5]]), 2),  # negative probability
    (torch.zeros(2, 2, 2), 2),
])
def test_class_weights_rejects_bad_labels(labels, k):
    with pytest.raises(ValueError):
        class_weights(labels, k)


# ---------------------------------------------------------------------------- LMMD
def test_lmmd_zero_for_identical_sets_with_identical_labels():
    torch.manual_seed(1)
    x = torch.randn(8, 3, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    assert abs(lmmd(x, x.clone(), labels, labels.clone(), 3).item()) < 1e-6


def test_lmmd_hand_computed_one_kernel():
    src, tgt = _t([[0.0], [1.0]]), _t([[0.0], [2.0]])
    # z = [0, 1, 0, 2]; unordered pairs: (0,1)=1, (0,0)=0, (0,2)=4, (1,0)=1, (1,2)=1, (0,2)=4
    # ordered sum 2 * 11 = 22, n^2 - n = 16 - 4 = 12 -> bandwidth 22 / 12
    bw = 22.0 / 12.0
    # class 0: source 0 vs target 0 -> 1 + 1 - 2 * exp(0) = 0
    class0 = 1.0 + 1.0 - 2.0 * math.exp(-0.0 / bw)
    # class 1: source 1 vs target 2 -> 1 + 1 - 2 * exp(-1 / bw)
    class1 = 1.0 + 1.0 - 2.0 * math.exp(-((1.0 - 2.0) ** 2) / bw)
    want = (class0 + class1) / 2.0
    got = lmmd(src, tgt, torch.tensor([0, 1]), torch.tensor([0, 1]), 2, n_kernels=1)
    assert got.item() == pytest.approx(want, rel=1e-9)
    assert want == pytest.approx(1.0 - math.exp(-6.0 / 11.0))


def test_lmmd_ignores_a_class_present_on_one_side_only():
    src, tgt = _t([[0.0], [1.0]]), _t([[0.0], [2.0]])
    bw = 22.0 / 12.0  # the same joined set as in the hand case above
    # class 1 is in the source only: ignored, and not counted in the mean.
    # class 0: ws = [1, 0] over source, wt = [1/2, 1/2] over target points 0 and 2
    e = math.exp(-((0.0 - 2.0) ** 2) / bw)
    ss = 1.0
    tt = 0.25 * (1.0 + e + e + 1.0)
    st = 0.5 * 1.0 + 0.5 * e
    want = ss + tt - 2.0 * st
    got = lmmd(src, tgt, torch.tensor([0, 1]), torch.tensor([0, 0]), 3, n_kernels=1)
    assert got.item() == pytest.approx(want, rel=1e-9)
    assert want == pytest.approx(0.5 - 0.5 * math.exp(-24.0 / 11.0))


def test_lmmd_zero_with_grad_when_no_class_is_shared():
    src = torch.randn(3, 2, requires_grad=True)
    tgt = torch.randn(2, 2, requires_grad=True)
    out = lmmd(src, tgt, torch.tensor([0, 0, 1]), torch.tensor([2, 2]), 3)
    assert out.item() == 0.0
    assert out.grad_fn is not None
    out.backward()
    assert torch.equal(src.grad, torch.zeros(3, 2))


def test_lmmd_is_nonnegative_for_random_inputs():
    gen = torch.Generator().manual_seed(2)
    for _ in range(20):
        ns, nt = torch.randint(1, 12, (2,), generator=gen).tolist()
        src = torch.randn(ns, 4, generator=gen) * 3
        tgt = torch.randn(nt, 4, generator=gen) + 1
        ls = torch.randint(0, 3, (ns,), generator=gen)
        lt = torch.softmax(torch.randn(nt, 3, generator=gen), 1)
        assert lmmd(src, tgt, ls, lt, 3).item() >= -1e-6
        assert mmd(src, tgt).item() >= -1e-6


def test_lmmd_gradient_flows_to_both_inputs():
    torch.manual_seed(3)
    src = torch.randn(5, 3, requires_grad=True)
    tgt = (torch.randn(4, 3) + 1.0).requires_grad_(True)
    out = lmmd(src, tgt, torch.tensor([0, 1, 0, 1, 1]), torch.tensor([0, 1, 1, 0]), 2)
    out.backward()
    for g in (src.grad, tgt.grad):
        assert g is not None and torch.all(torch.isfinite(g)) and g.abs().sum() > 0


def test_lmmd_is_class_conditional():
    torch.manual_seed(4)
    noise = 0.1 * torch.randn(8, 2, dtype=torch.float64)
    centres = _t([[0.0, 0.0]] * 4 + [[10.0, 10.0]] * 4)
    src = centres + noise
    tgt = centres + 0.1 * torch.randn(8, 2, dtype=torch.float64)
    labels = torch.tensor([0] * 4 + [1] * 4)
    matched = lmmd(src, tgt, labels, labels, 2)
    swapped = lmmd(src, tgt, labels, 1 - labels, 2)
    assert matched < swapped
    # by a wide margin: swapping compares each class with the far-away cluster
    assert swapped.item() > 10 * matched.item()


def test_lmmd_soft_labels_follow_dsan_argmax_presence():
    src, tgt = _t([[0.0], [1.0]]), _t([[0.0], [2.0]])
    ls = torch.tensor([0, 1])
    # class 1 carries mass in the target but is never the arg-max: not present
    soft = _t([[0.9, 0.1], [0.8, 0.2]])
    only0 = _t([[0.9, 0.0], [0.8, 0.0]])
    assert torch.allclose(lmmd(src, tgt, ls, soft, 2), lmmd(src, tgt, ls, only0, 2))
    # one-hot soft labels equal hard labels
    onehot = _t([[1.0, 0.0], [0.0, 1.0]])
    assert torch.allclose(lmmd(src, tgt, ls, onehot, 2), lmmd(src, tgt, ls, ls, 2))


def test_lmmd_rejects_bad_inputs():
    x, lab = torch.randn(3, 2), torch.tensor([0, 1, 0])
    with pytest.raises(ValueError):
        lmmd(torch.zeros(0, 2), x, torch.tensor([], dtype=torch.long), lab, 2)
    with pytest.raises(ValueError):
        lmmd(x, torch.randn(3, 4), lab, lab, 2)
    with pytest.raises(ValueError):
        lmmd(x, x, lab, torch.tensor([0, 1, 2]), 2)
    with pytest.raises(ValueError):
        lmmd(x, x, lab, torch.tensor([0, 1]), 2)  # fewer labels than rows


# ----------------------------------------------------------------------------- MMD
def test_mmd_zero_for_identical_and_positive_for_shifted_sets():
    torch.manual_seed(5)
    x = torch.randn(10, 3, dtype=torch.float64)
    assert abs(mmd(x, x.clone()).item()) < 1e-6
    assert mmd(x, x + 2.0).item() > 0.1


def test_mmd_hand_value_and_equals_one_class_lmmd():
    # z = {0, 2}, one kernel of bandwidth 4: 1 + 1 - 2 exp(-1)
    got = mmd(_t([[0.0]]), _t([[2.0]]), n_kernels=1).item()
    assert got == pytest.approx(2.0 - 2.0 * math.exp(-1.0), rel=1e-9)
    torch.manual_seed(6)
    src, tgt = torch.randn(5, 3, dtype=torch.float64), torch.randn(7, 3, dtype=torch.float64)
    one = lmmd(src, tgt, torch.zeros(5, dtype=torch.long), torch.zeros(7, dtype=torch.long), 1)
    assert torch.allclose(mmd(src, tgt), one)
