"""Domain-aware training between real and synthetic skeleton features (pure maths).

Two ways of making the features of real and of synthetic (generated) skeleton sequences
look alike to a recognizer, written as pure functions of tensors plus one small module:

* **Gradient reversal** (DANN: Ganin & Lempitsky, "Unsupervised Domain Adaptation by
  Backpropagation", ICML 2015; Ganin et al., "Domain-Adversarial Training of Neural
  Networks", JMLR 2016). :class:`GradientReversal` / :func:`grad_reverse` is the identity
  in the forward pass and multiplies the gradient by ``-weight`` in the backward pass. A
  domain classifier placed after it learns to tell the domains apart while the feature
  extractor before it receives the *negated* gradient, i.e. learns to confuse it.
  :func:`reversal_weight` is the paper's schedule of that weight over training progress
  ``p`` in [0, 1]: ``max_weight * (2 / (1 + exp(-gamma p)) - 1)`` with ``gamma = 10``
  (0 at the start, so the still-random domain classifier does not disturb early training;
  tends to ``max_weight``), or a constant weight.

* **Domain confusion** as FiDIP (Huang et al., "Invariant Representation Learning for
  Infant Pose Estimation with Small Data", FG 2021) uses it: a domain classifier through a
  gradient reversal. :class:`DomainClassifier` is ``Linear -> ReLU -> Linear`` on
  ``grad_reverse(features, weight)`` giving one logit per sample of "synthetic";
  :func:`domain_loss` is its binary cross-entropy with logits, mean over the batch.

* **Local MMD** (LMMD: Zhu et al., "Deep Subdomain Adaptation Network for Image
  Classification", IEEE TNNLS 2020, DSAN), the class-conditional alignment the AIMS
  infant posture paper uses. Features are compared in the RKHS of a sum of Gaussian
  kernels (:func:`gaussian_kernel_matrix`) whose bandwidths DSAN derives from the batch
  (:func:`kernel_bandwidths`): the mean squared pairwise distance of the joined set,
  ``base = sum_{a,b} ||z_a - z_b||^2 / (n^2 - n)``, then ``base / mul**(n_kernels // 2) *
  mul**i`` for ``i < n_kernels``. If every point is the same (``base == 0``) we use
  ``base = 1`` instead, so that no bandwidth is 0 (the kernel is then 1 everywhere whatever
  the bandwidth, so the choice changes no value). Unlike DSAN's released code, which
  detaches ``base`` (``.data``), the gradient flows through it: the kernel then depends on
  the features only through their distances *relative to the batch's mean distance*, so
  the (L)MMD is invariant to a common scale of the features and its gradient has no
  component that shrinks them. With a detached bandwidth every step can lower the MMD by
  shrinking all features towards each other, a trivial minimum that a recognizer with
  ReLU-pooled features reaches: on SyRIP postures (ST-GCN slim, LMMD weight 0.5) the
  recognizer predicted one class from epoch 7 on (43-45% on validation subjects against
  85-88% for Real), and after training the pooled features of every validation sample were
  exactly 0; with the bandwidth in the graph the same training on the same fold reached 85%
  (Real: 85%). The values are the same either way; only the gradient differs.
  :func:`class_weights` turns hard labels into per-class weights ``1[y_i = c] / n_c``
  (soft labels, probabilities (N, K): ``p_ic / sum_i p_ic``). :func:`lmmd` is, for every
  class present on both sides, the squared RKHS distance between the class-weighted
  source and target embeddings ``ws_c^T Kss ws_c + wt_c^T Ktt wt_c - 2 ws_c^T Kst wt_c``,
  summed and divided by the number of such classes (as DSAN; 0 when there is none).
  As in DSAN, the labels only weight the samples: no gradient flows through them, and a
  class is "present" in a soft-labelled set when it is the arg-max of some (not all-zero)
  row (DSAN's pseudo-label rule), in a hard-labelled set when some label equals it.
  :func:`mmd` is the plain multi-kernel MMD^2 (biased V-statistic, all weights 1/n), the
  special case of one class, for comparison.

Nothing here depends on the rest of the package: only torch and math.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RAMPS", "GradientReversal", "grad_reverse", "reversal_weight", "DomainClassifier",
           "domain_loss", "kernel_bandwidths", "gaussian_kernel_matrix", "class_weights",
           "lmmd", "mmd"]

RAMPS = ("ganin", "constant")


# ----------------------------------------------------------------------------- reversal
class GradientReversal(torch.autograd.Function):
    """Identity forward; gradient times ``-weight`` backward (DANN's gradient reversal)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = float(weight)
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.weight * grad_output, None


def grad_reverse(x: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """``x`` unchanged; in the backward pass the gradient is multiplied by ``-weight``.

    ``weight`` must be a finite number >= 0 (ValueError otherwise)."""
    weight = float(weight)
    if not (math.isfinite(weight) and weight >= 0.0):
        raise ValueError(f"reversal weight must be finite and >= 0, got {weight}")
    return GradientReversal.apply(x, weight)


def reversal_weight(progress: float, max_weight: float = 1.0, gamma: float = 10.0,
                    ramp: str = "ganin") -> float:
    """The reversal weight at training progress ``progress`` in [0, 1].

    ``"ganin"``: ``max_weight * (2 / (1 + exp(-gamma * progress)) - 1)`` (Ganin &
    Lempitsky 2015: 0 at the start, tending to ``max_weight``); ``"constant"``:
    ``max_weight``. ``progress`` outside [0, 1] (or NaN), a negative ``max_weight`` or an
    unknown ``ramp`` raise ValueError; nothing is clipped."""
    progress = float(progress)
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"training progress must be in [0, 1], got {progress}")
    if not (math.isfinite(max_weight) and max_weight >= 0.0):
        raise ValueError(f"max_weight must be finite and >= 0, got {max_weight}")
    if ramp == "ganin":
        return float(max_weight) * (2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0)
    if ramp == "constant":
        return float(max_weight)
    raise ValueError(f"unknown ramp {ramp!r}; expected one of {RAMPS}")


# ----------------------------------------------------------------- domain classifier
class DomainClassifier(nn.Module):
    """FiDIP-style domain confusion head: ``Linear(feature_dim, hidden) -> ReLU ->
    Linear(hidden, 1)`` applied to ``grad_reverse(features, weight)``.

    ``forward`` returns (N,) logits of "the sample is synthetic". The layers are in
    ``self.net`` (an ``nn.Sequential``)."""

    def __init__(self, feature_dim: int, hidden: int = 64) -> None:
        super().__init__()
        if feature_dim < 1 or hidden < 1:
            raise ValueError(f"feature_dim and hidden must be >= 1, got {feature_dim}, {hidden}")
        self.feature_dim = int(feature_dim)
        self.hidden = int(hidden)
        self.net = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
        if features.dim() != 2 or features.shape[1] != self.feature_dim:
            raise ValueError(f"features must be (N, {self.feature_dim}), "
                             f"got {tuple(features.shape)}")
        return self.net(grad_reverse(features, weight)).squeeze(-1)


def domain_loss(logits: torch.Tensor, is_synthetic: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits of the domain classifier, mean over the batch.

    ``is_synthetic``: (N,) bool or 0/1, the target (1 = synthetic, 0 = real)."""
    if logits.shape != is_synthetic.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and is_synthetic "
                         f"{tuple(is_synthetic.shape)} must have the same shape")
    if logits.numel() == 0:
        raise ValueError("domain_loss of an empty batch")
    target = is_synthetic.to(device=logits.device, dtype=logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="mean")


# -------------------------------------------------------------------------- kernels
def _check_features(source: torch.Tensor, target: torch.Tensor) -> None:
    for name, t in (("source", source), ("target", target)):
        if t.dim() != 2:
            raise ValueError(f"{name} features must be 2-D (N, D), got shape {tuple(t.shape)}")
        if t.shape[0] == 0:
            raise ValueError(f"{name} features are empty")
    if source.shape[1] != target.shape[1]:
        raise ValueError(f"feature dimensions differ: source {source.shape[1]}, "
                         f"target {target.shape[1]}")


def _check_kernels(n_kernels: int, mul: float) -> None:
    if n_kernels < 1:
        raise ValueError(f"n_kernels must be >= 1, got {n_kernels}")
    if not (math.isfinite(mul) and mul > 0.0):
        raise ValueError(f"mul must be finite and > 0, got {mul}")


def _squared_distances(z: torch.Tensor) -> torch.Tensor:
    """(n, n) matrix of ||z_a - z_b||^2, computed from differences (exact, never < 0)."""
    return (z[:, None, :] - z[None, :, :]).pow(2).sum(-1)


def _bandwidths_from(dist2: torch.Tensor, n_kernels: int, mul: float) -> torch.Tensor:
    n = dist2.shape[0]
    base = dist2.sum() / (n * n - n)  # not detached: the kernel is scale-invariant (module docstring)
    base = torch.where(base > 0, base, torch.ones_like(base))
    scales = torch.tensor([mul ** i for i in range(n_kernels)], dtype=dist2.dtype,
                          device=dist2.device)
    return base / (mul ** (n_kernels // 2)) * scales


def kernel_bandwidths(x: torch.Tensor, y: torch.Tensor, n_kernels: int = 5,
                      mul: float = 2.0) -> torch.Tensor:
    """(n_kernels,) Gaussian bandwidths as DSAN chooses them, on ``z = cat(x, y)``.

    ``base = sum_{a,b} ||z_a - z_b||^2 / (n^2 - n)`` (differentiable), or 1.0 when that is 0
    (all points identical: every kernel value is then 1 whatever the bandwidth), then
    ``base / mul**(n_kernels // 2) * mul**i`` for ``i in range(n_kernels)``."""
    _check_features(x, y)
    _check_kernels(n_kernels, mul)
    return _bandwidths_from(_squared_distances(torch.cat([x, y], 0)), n_kernels, mul)


def gaussian_kernel_matrix(x: torch.Tensor, y: torch.Tensor, n_kernels: int = 5,
                           mul: float = 2.0) -> torch.Tensor:
    """(n, n) matrix over ``z = cat(x, y)`` of ``sum_i exp(-||z_a - z_b||^2 / bw_i)`` with
    the bandwidths of :func:`kernel_bandwidths`. Differentiable w.r.t. ``x`` and ``y``,
    through the bandwidths too: scaling ``x`` and ``y`` by one factor changes no value."""
    _check_features(x, y)
    _check_kernels(n_kernels, mul)
    dist2 = _squared_distances(torch.cat([x, y], 0))
    bw = _bandwidths_from(dist2, n_kernels, mul)
    return torch.exp(-dist2[None, :, :] / bw[:, None, None]).sum(0)


# -------------------------------------------------------------------- class weights
def _check_labels(labels: torch.Tensor, num_classes: int, n: int | None = None) -> None:
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if labels.dim() == 1:
        if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
            raise ValueError(f"hard labels must be integers, got dtype {labels.dtype}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise ValueError(f"labels must be in [0, {num_classes}), got range "
                             f"[{int(labels.min())}, {int(labels.max())}]")
    elif labels.dim() == 2:
        if not labels.is_floating_point():
            raise ValueError(f"soft labels must be floating point, got dtype {labels.dtype}")
        if labels.shape[1] != num_classes:
            raise ValueError(f"soft labels have {labels.shape[1]} columns, "
                             f"expected num_classes = {num_classes}")
        if labels.numel() and not bool(torch.isfinite(labels).all() and (labels >= 0).all()):
            raise ValueError("soft labels must be finite and >= 0")
    else:
        raise ValueError(f"labels must be (N,) integers or (N, K) probabilities, "
                         f"got shape {tuple(labels.shape)}")
    if n is not None and labels.shape[0] != n:
        raise ValueError(f"{labels.shape[0]} labels for {n} feature rows")


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, K) per-class sample weights, each class's column summing to 1 (or all 0).

    Hard labels (N,) integers: ``w[i, c] = 1[labels_i = c] / count_c`` (a column of 0 for
    a class absent from ``labels``). Soft labels (N, K) floats (probabilities):
    ``w[:, c] = labels[:, c] / labels[:, c].sum()`` (0 where that sum is 0). The result
    is floating point (the soft labels' dtype, else the default dtype) on the labels'
    device; out-of-range labels raise ValueError."""
    _check_labels(labels, num_classes)
    if labels.dim() == 1:
        mass = F.one_hot(labels.long(), num_classes).to(torch.get_default_dtype())
    else:
        mass = labels
    total = mass.sum(0, keepdim=True)
    safe = torch.where(total > 0, total, torch.ones_like(total))
    return torch.where(total > 0, mass / safe, torch.zeros_like(mass))


def _present(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K,) bool: the classes present in ``labels`` (hard: some label equals the class;
    soft: the class is the arg-max of some row that is not all 0, DSAN's rule)."""
    hard = labels if labels.dim() == 1 else labels.argmax(1)[labels.sum(1) > 0]
    present = torch.zeros(num_classes, dtype=torch.bool, device=labels.device)
    present[hard.long()] = True
    return present


# ---------------------------------------------------------------------------- MMDs
def lmmd(source: torch.Tensor, target: torch.Tensor, source_labels: torch.Tensor,
         target_labels: torch.Tensor, num_classes: int, n_kernels: int = 5,
         mul: float = 2.0) -> torch.Tensor:
    """Local (class-conditional) multi-kernel MMD^2 of DSAN (Zhu et al. 2020).

    ``source`` (Ns, D), ``target`` (Nt, D); labels hard (N,) or soft (N, K). With
    ``ws = class_weights(source_labels)``, ``wt = class_weights(target_labels)`` and the
    kernel matrix over ``cat(source, target)`` split into Kss, Ktt, Kst, the value is the
    mean, over the classes present on both sides, of
    ``ws_c^T Kss ws_c + wt_c^T Ktt wt_c - 2 ws_c^T Kst wt_c``; 0 (a tensor that still has
    a ``grad_fn`` when an input requires grad) when no class is on both sides.
    Differentiable w.r.t. ``source`` and ``target``; the labels are treated as constants.
    Empty inputs, differing feature dimensions and out-of-range labels raise ValueError."""
    _check_features(source, target)
    _check_kernels(n_kernels, mul)
    _check_labels(source_labels, num_classes, source.shape[0])
    _check_labels(target_labels, num_classes, target.shape[0])
    common = _present(source_labels, num_classes) & _present(target_labels, num_classes)
    common = common.to(source.device)
    n_common = int(common.sum())
    if n_common == 0:
        return (source.sum() + target.sum()) * 0.0
    ns = source.shape[0]
    mask = common.to(source.dtype)[None, :]
    ws = class_weights(source_labels.detach(), num_classes).to(source) * mask
    wt = class_weights(target_labels.detach(), num_classes).to(source) * mask
    k = gaussian_kernel_matrix(source, target, n_kernels, mul)
    kss, ktt, kst = k[:ns, :ns], k[ns:, ns:], k[:ns, ns:]
    # sum over classes c of w_c^T K w_c, i.e. trace(W^T K W), as an elementwise sum
    total = ((ws * (kss @ ws)).sum() + (wt * (ktt @ wt)).sum()
             - 2.0 * (ws * (kst @ wt)).sum())
    return total / n_common


def mmd(source: torch.Tensor, target: torch.Tensor, n_kernels: int = 5,
        mul: float = 2.0) -> torch.Tensor:
    """Plain multi-kernel MMD^2 (biased V-statistic: all weights 1/n) between ``source``
    (Ns, D) and ``target`` (Nt, D), with DSAN's kernels: ``mean(Kss) + mean(Ktt) -
    2 mean(Kst)``. Equals :func:`lmmd` with one class holding every sample."""
    _check_features(source, target)
    _check_kernels(n_kernels, mul)
    ns = source.shape[0]
    k = gaussian_kernel_matrix(source, target, n_kernels, mul)
    return k[:ns, :ns].mean() + k[ns:, ns:].mean() - 2.0 * k[:ns, ns:].mean()
