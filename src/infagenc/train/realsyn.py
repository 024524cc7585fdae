"""Training a recognizer on real and synthetic samples together: the options and the batch/loss
machinery behind them (:class:`RealSynConfig`, used by
:class:`~infagenc.train.recognizer.RecognizerTrainer` through ``RecognizerConfig.realsyn``).

Which sample is synthetic comes from the training set itself (``MotionSet.is_synthetic``: the
``source`` field every generated sample carries), so ``fit(MotionSet.concat([real, syn]))`` is
all a caller does; a set without synthetic samples trains exactly as before.

* **per-source loss weight** (``syn_weight``): each synthetic sample's cross-entropy is
  multiplied by it (real samples by 1); the batch loss is the mean of the weighted per-sample
  losses, ``(1/B) sum_i w_i l_i`` (so ``syn_weight = 0.5`` halves what synthetic samples
  contribute, and 0 ignores them in the class loss).
* **per-batch ratio** (``syn_ratio``): separate real and synthetic streams, each batch holding
  ``round(B * ratio)`` synthetic and the rest real samples; an epoch is the real samples'
  pass (``augment.repeat`` passes), the synthetic stream cycles through its own reshuffled
  orders. Unset, one pooled shuffle as before - except when DANN or LMMD is on, which need
  both sources in every batch: the ratio is then the pool's own share of synthetic samples.
* **DANN** (``dann_weight`` > 0; Ganin & Lempitsky 2015; FiDIP's domain confusion): a small
  domain classifier (:class:`~infagenc.train.domain.DomainClassifier`) on the pooled features
  learns real vs synthetic through a gradient-reversal layer, so the backbone is pushed to
  features the classifier cannot tell apart; the reversal weight ramps as
  ``dann_weight * (2 / (1 + exp(-10 p)) - 1)`` over the training progress ``p`` (``ramp``).
* **LMMD** (``lmmd_weight`` > 0; DSAN, Zhu et al. 2020, the AIMS paper's alignment): the
  class-conditional multi-kernel MMD between the batch's synthetic and real features, class
  weights from the labels of both (both sources are labelled here), times the ramped weight.
* **two-stage** (``syn_epochs`` > 0): the model is first trained on the synthetic samples alone
  for ``syn_epochs`` epochs, then (fresh optimizer, the schedule restarted) on the real
  samples alone for ``epochs``; the validation set (real) only follows the second stage.

Class balance (``RecognizerConfig.class_balance = "loss"``) weighs each sample's loss by
``N / (K n_c)`` (N samples, K classes present, n_c of its class), so that a rare class (SyRIP's
Standing: 6 of 200 images) counts as much as a frequent one; it multiplies the source weight.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .domain import RAMPS, DomainClassifier, domain_loss, lmmd, reversal_weight
from .trainer import seeded_rng

__all__ = ["RealSynConfig", "CLASS_BALANCE", "loss_weights", "mixed_batches", "DomainTerms", "weighted_ce"]

CLASS_BALANCE = ("none", "loss")


@dataclass
class RealSynConfig:
    """How synthetic training samples are used (every default: as plain extra samples)."""

    syn_weight: float = 1.0
    syn_ratio: float | None = None
    dann_weight: float = 0.0
    dann_hidden: int = 64
    lmmd_weight: float = 0.0
    lmmd_kernels: int = 5
    lmmd_mul: float = 2.0
    ramp: str = "ganin"
    syn_epochs: int = 0

    def __post_init__(self) -> None:
        if self.syn_weight < 0:
            raise ValueError(f"realsyn.syn_weight must be >= 0, got {self.syn_weight}")
        if self.syn_ratio is not None and not 0 < self.syn_ratio < 1:
            raise ValueError(f"realsyn.syn_ratio must lie in (0, 1) or be unset, got {self.syn_ratio}")
        if self.dann_weight < 0 or self.lmmd_weight < 0:
            raise ValueError("realsyn.dann_weight and realsyn.lmmd_weight must be >= 0")
        if self.dann_hidden < 1 or self.lmmd_kernels < 1 or self.lmmd_mul <= 0:
            raise ValueError("need realsyn.dann_hidden >= 1, lmmd_kernels >= 1 and lmmd_mul > 0")
        if self.ramp not in RAMPS:
            raise ValueError(f"realsyn.ramp must be one of {RAMPS}, got {self.ramp!r}")
        if self.syn_epochs < 0:
            raise ValueError(f"realsyn.syn_epochs must be >= 0, got {self.syn_epochs}")
        if self.syn_epochs and (self.dann_weight or self.lmmd_weight or self.syn_ratio is not None):
            raise ValueError("realsyn.syn_epochs (two-stage: Syn, then Real alone) cannot be combined with "
                             "syn_ratio, dann_weight or lmmd_weight (they mix the sources in one stage)")

    @property
    def needs_both(self) -> bool:
        """Whether every batch must hold both sources (DANN, LMMD)."""
        return self.dann_weight > 0 or self.lmmd_weight > 0

    @property
    def separate_batches(self) -> bool:
        return self.syn_ratio is not None or self.needs_both

    @property
    def technique(self) -> str:
        """A short name of what this config does (for tables)."""
        parts = []
        if self.syn_epochs:
            parts.append(f"two-stage ({self.syn_epochs} Syn epochs)")
        if self.dann_weight:
            parts.append(f"DANN {self.dann_weight:g}")
        if self.lmmd_weight:
            parts.append(f"LMMD {self.lmmd_weight:g}")
        if self.syn_ratio is not None:
            parts.append(f"ratio {self.syn_ratio:g}")
        if self.syn_weight != 1:
            parts.append(f"Syn weight {self.syn_weight:g}")
        return ", ".join(parts) or "plain"


def loss_weights(labels: np.ndarray, is_syn: np.ndarray, num_classes: int, syn_weight: float,
                 class_balance: str) -> np.ndarray | None:
    """Per-sample loss weights (source weight x class weight), or None when all would be 1."""
    if class_balance not in CLASS_BALANCE:
        raise ValueError(f"class_balance must be one of {CLASS_BALANCE}, got {class_balance!r}")
    w = np.ones(len(labels), np.float64)
    if class_balance == "loss":
        counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
        present = int((counts > 0).sum())
        w *= len(labels) / (present * counts[labels])
    w[is_syn] *= syn_weight
    return None if np.all(w == 1.0) else w.astype(np.float32)


def weighted_ce(logits: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None,
                label_smoothing: float) -> torch.Tensor:
    """Cross-entropy; with ``weights`` the mean of the weighted per-sample losses."""
    if weights is None:
        return F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    per = F.cross_entropy(logits, y, reduction="none", label_smoothing=label_smoothing)
    return (per * weights).mean()


def mixed_batches(real_idx: torch.Tensor, syn_idx: torch.Tensor, batch_size: int, ratio: float, repeat: int,
                  rng: torch.Generator) -> list[torch.Tensor]:
    """Index batches of ``round(batch_size * ratio)`` synthetic (at least 1) and the rest real
    samples: the real indices ``repeat`` times in one shuffled order, the synthetic ones from
    a stream of reshuffled passes. Each batch's real part comes first."""
    if len(real_idx) == 0 or len(syn_idx) == 0:
        raise ValueError("separate real/synthetic batches need samples of both sources")
    if batch_size < 2:
        raise ValueError("separate real/synthetic batches need batch_size >= 2")
    n_syn = min(max(1, round(batch_size * ratio)), batch_size - 1)
    n_real = batch_size - n_syn
    order = real_idx.repeat(repeat)[torch.randperm(len(real_idx) * repeat, generator=rng)]
    n_batches = math.ceil(len(order) / n_real)
    passes = math.ceil(n_batches * n_syn / len(syn_idx))
    stream = torch.cat([syn_idx[torch.randperm(len(syn_idx), generator=rng)] for _ in range(passes)])
    out = []
    for b in range(n_batches):
        r = order[b * n_real:(b + 1) * n_real]
        out.append(torch.cat([r, stream[b * n_syn:(b + 1) * n_syn]]))
    return out


class DomainTerms:
    """The extra losses of DANN and LMMD for one batch, and the domain classifier's state."""

    def __init__(self, cfg: RealSynConfig, feature_dim: int, num_classes: int, device: torch.device,
                 seed: int = 0) -> None:
        self.cfg = cfg
        self.num_classes = num_classes
        self.classifier = None
        if cfg.dann_weight:  # its initial weights from the trainer's seed (global RNG untouched)
            with seeded_rng(seed + 7919):
                self.classifier = DomainClassifier(feature_dim, cfg.dann_hidden).to(device)

    def parameters(self):
        return list(self.classifier.parameters()) if self.classifier is not None else []

    def loss(self, features: torch.Tensor, y: torch.Tensor, is_syn: torch.Tensor, progress: float
             ) -> tuple[torch.Tensor, dict[str, float]]:
        """(extra loss, its parts) for a batch's pooled features (fp32)."""
        cfg, p = self.cfg, min(max(progress, 0.0), 1.0)
        total = features.new_zeros(())
        parts: dict[str, float] = {}
        if self.classifier is not None:
            lam = reversal_weight(p, cfg.dann_weight, ramp=cfg.ramp)
            d = domain_loss(self.classifier(features, lam), is_syn)
            total = total + d
            parts["domain_loss"] = float(d.detach())
        if cfg.lmmd_weight:
            lam = reversal_weight(p, cfg.lmmd_weight, ramp=cfg.ramp)
            m = lmmd(features[is_syn], features[~is_syn], y[is_syn], y[~is_syn], self.num_classes,
                     cfg.lmmd_kernels, cfg.lmmd_mul)
            total = total + lam * m
            parts["lmmd"] = float(m.detach())
        return total, parts

    def state_dict(self) -> dict:
        return {"classifier": self.classifier.state_dict()} if self.classifier is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.classifier is not None:
            if "classifier" not in state:
                raise KeyError("the checkpoint has no domain classifier state (trained without DANN?)")
            self.classifier.load_state_dict(state["classifier"])
