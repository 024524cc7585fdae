"""Training, checkpoints and sampling of the generator (the transformer CVAE of
:mod:`infagenc.models.cvae`).

Choices made where the paper is silent:

* **Loss** (see :mod:`infagenc.train.losses`): ``lambda_rec`` x MSE on the representation
  + ``lambda_pos`` x MSE on forward-kinematics joint positions (rotation representations
  only) + ``lambda_vel`` x MSE of frame differences of the representation + ``lambda_kl``
  x KL. Paper weights 1.0 / 0.001 / 1.0; ``lambda_pos`` 1.0 (ACTOR's weight for its
  joint-position loss). The KL is reduced by ``kl_reduction``; the default ``"mean"``
  (mean over batch and latent dimensions) puts the paper's weight 1.0 on the same
  per-element scale as the MSE terms. The released code's choice is expressed as
  ``GeneratorConfig(kl_reduction="sum", lambda_kl=1e-5)`` (sum over batch and latent
  dimensions).
* **Positions for the position loss** come from :mod:`infagenc.skeleton.kinematics`, on
  joints only, root at the origin (the root translation is learned through the
  representation loss, not the position loss, as in ACTOR). The rest skeleton defaults to
  the shipped infant skeleton for ``smpl24``; other layouts need ``rest=`` (a
  :class:`RestSkeleton`, e.g. from a body-model file) or ``lambda_pos=0``.
* **Root translation** (``GeneratorConfig.trans``, rotation data with ``trans`` only): as
  in ACTOR, the translation is modelled as one extra joint appended after the layout's
  joints, its first 3 channels holding (x, y, z) and any others zero. Generated sets get
  it back as ``MotionSet.trans``.
* **Randomness**: all of it comes from the trainer's seeded ``rng`` (a ``torch.Generator``,
  see :class:`~infagenc.train.trainer.Trainer`): the shuffling, and a per-epoch seed under
  which dropout and the reparameterisation noise run (torch's global RNG is forked, so
  callers' RNG state is untouched). The reparameterisation noise of a batch is drawn for the
  whole batch, on the CPU, before the forward pass (so several ranks under torchrun use the
  1-process noise; since this was introduced the numbers of a run differ from those of
  earlier versions, for the same seed). Saving that RNG's state makes a resumed run produce
  exactly the numbers an uninterrupted one would.
* **Root constraint** (``GeneratorConfig.keep_root``, default on): the trainer records
  which root constraint the training data satisfies (centre joint at the origin in every
  frame / in the first frame, see :func:`infagenc.data.preprocess.root_constraint`) in
  ``MotionSpec.root``, and sampling applies the same :func:`root_relative` step to the
  decoder's output, so samples live in the representation the data was prepared in. The
  decoder alone leaves the root slightly off the origin, and recognizers trained on
  root-relative data normalise those near-constant coordinates by a variance of ~0, which
  magnifies the offset (measured: benchmarks/results/root_offset.md).
* **Preprocessing**: ``GeneratorTrainer.preprocess`` (a
  :class:`~infagenc.data.preprocess.Preprocess`, or None) is what was applied to the
  training data; it is stored in the checkpoint metadata (``"preprocess"``) and restored
  on :meth:`GeneratorTrainer.load`.
* **Generated rot6d** is projected onto valid rotations (Gram-Schmidt), so every
  synthetic sample is a proper rotation sequence; generated samples have subject
  ``"synthetic"``.
* **Auxiliary classification loss** (``lambda_cls`` > 0; refinement of "Generative Data
  Augmentation for Skeleton Action Recognition", off by default): the model gets the
  classification head of :class:`~infagenc.models.cvae.CVAE` over its decoded output, and
  ``lambda_cls`` x label-smoothed cross-entropy (``cls_label_smoothing``, 0.1: our choice,
  the paper gives no value) of those logits against the conditioning labels joins the total
  (history key ``cls``). A checkpoint holds the head exactly when it was trained with one.
* **Sampling around real samples** (posterior / exemplar sampling) is in
  :mod:`infagenc.train.exemplar`; it decodes through :func:`decode_motionset` as
  :func:`sample_motionset` does.
* **What is shared with the diffusion generator** (epochs, checkpoints, resume, history, the
  sampled set's names and provenance, torchrun) is in :mod:`infagenc.train.generative`.
  ``GeneratorConfig.model = "mdm"`` names the diffusion generator instead (a run's
  ``[generator]`` section; its settings in ``[generator.diffusion]``, the training settings
  lr / batch / epochs / seed shared): :func:`~infagenc.train.generative.new_trainer` builds it.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..config import config_from_dict
from ..data.motionset import MotionSet
from ..models.cvae import CVAE, CVAEConfig
from ..skeleton.rotations import ROTATION_REPRESENTATIONS
from .batching import TensorSet
from .device import autocast
from .diffusion import DiffusionConfig, DiffusionOptions
from .generative import (GENERATOR_MODELS, GenerativeSettings, GenerativeTrainer, checkpoint_model, checkpoint_rest,
                         decode_requests, provenance_of, request_arrays, synthetic_motionset)
from .losses import KL_REDUCTIONS, generator_losses
from .motionspec import MotionSpec, motion_tensors
from .trainer import seeded_rng

__all__ = ["GeneratorConfig", "MotionSpec", "GeneratorTrainer", "build_generator", "motion_tensors",
           "load_generator", "checkpoint_rest", "sample_motionset", "decode_motionset", "CHECKPOINT_KIND"]

CHECKPOINT_KIND = "infagenc.generator"


@dataclass
class GeneratorConfig(GenerativeSettings):
    """Everything that defines a generator training run. Defaults are the paper's where it
    gives them (loss weights 1.0 / 0.001 / 1.0, lr 1e-4, batch 16, CVAE paper size);
    ``epochs`` 1100 is the generator pre-training length of the paper's schedule.

    ``model``: ``"cvae"`` (this module's) or ``"mdm"``: the diffusion generator with the
    settings of ``diffusion`` and this config's training settings (:meth:`diffusion_config`)."""

    cvae: CVAEConfig = field(default_factory=CVAEConfig)
    lambda_rec: float = 1.0
    lambda_pos: float = 1.0
    lambda_vel: float = 0.001
    lambda_kl: float = 1.0
    kl_reduction: str = "mean"
    lambda_cls: float = 0.0  # auxiliary classification loss on the decoded output; 0 = off (no head)
    cls_label_smoothing: float = 0.1
    model: str = "cvae"
    diffusion: DiffusionOptions = field(default_factory=DiffusionOptions)

    def __post_init__(self) -> None:
        if isinstance(self.cvae, dict):
            self.cvae = CVAEConfig.from_dict(self.cvae)
        if isinstance(self.diffusion, dict):
            self.diffusion = config_from_dict(DiffusionOptions, self.diffusion, "generator.diffusion")
        self._check_settings()
        if self.model not in GENERATOR_MODELS:
            raise ValueError(f"model must be one of {GENERATOR_MODELS}, got {self.model!r}")
        if self.kl_reduction not in KL_REDUCTIONS:
            raise ValueError(f"kl_reduction must be one of {KL_REDUCTIONS}, got {self.kl_reduction!r}")
        if min(self.lambda_rec, self.lambda_pos, self.lambda_vel, self.lambda_kl, self.lambda_cls) < 0:
            raise ValueError("loss weights must be >= 0")
        if not 0.0 <= self.cls_label_smoothing < 1.0:
            raise ValueError(f"cls_label_smoothing must lie in [0, 1), got {self.cls_label_smoothing}")

    def diffusion_config(self) -> DiffusionConfig:
        """The diffusion generator's config: ``diffusion``'s settings with this config's
        training settings (trans, keep_root, lr, batch size, epochs, seed, device, precision)."""
        shared = {k: getattr(self, k) for k in GenerativeSettings.__dataclass_fields__}
        return DiffusionConfig(**asdict(self.diffusion), **shared)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cvae"] = self.cvae.to_dict()
        d["diffusion"] = self.diffusion.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        return config_from_dict(cls, d, "generator config")


def build_generator(spec: MotionSpec, cfg: CVAEConfig, seed: int, cls_head: bool = False) -> CVAE:
    """A freshly initialised CVAE for ``spec``; the initial weights depend only on ``seed``
    (the optional classification head is built last: the other weights are the same with it)."""
    with seeded_rng(seed):
        return CVAE(len(spec.class_names), spec.num_joints, spec.channels, cfg, cls_head=cls_head)


class _Step(torch.nn.Module):
    """The CVAE's training forward with the reparameterisation noise given (drawn for the whole
    global batch, so several ranks compute the 1-process step)."""

    def __init__(self, model: CVAE):
        super().__init__()
        self.model = model

    def forward(self, x, labels, lengths, eps):
        m = self.model
        mu, logvar = m.encode(x, labels, lengths)
        z = mu if eps is None else mu + eps.to(mu.dtype) * torch.exp(0.5 * logvar)
        out = {"output": m.decode(z, labels, lengths, num_frames=x.shape[1]), "mu": mu, "logvar": logvar}
        if m.cls_head is not None:
            out["logits"] = m.cls_head(out["output"], lengths)
        return out


class GeneratorTrainer(GenerativeTrainer):
    """The :class:`~infagenc.train.generative.GenerativeTrainer` of the CVAE: the model on its
    device, the Adam optimizer, the seeded ``rng``, the epoch count and the loss history;
    ``preprocess`` records the training data's preprocessing (see module docstring).

    Args:
        model: the CVAE (moved to ``device``).
        cfg: the run's :class:`GeneratorConfig`.
        spec: what the data means (:class:`MotionSpec`).
        rest: rest skeleton for the position loss of rotation data (default: the shipped
            infant skeleton for ``smpl24``).
        device: overrides ``cfg.device``.
    """

    KIND, MODEL, CONFIG, TERM = CHECKPOINT_KIND, "cvae", GeneratorConfig, "rec"
    REST_HINT = ("the position loss of rotation data needs", "lambda_pos=0")

    @classmethod
    def build_model(cls, spec: MotionSpec, cfg: GeneratorConfig) -> CVAE:
        return build_generator(spec, cfg.cvae, cfg.seed, cls_head=cfg.lambda_cls > 0)

    @classmethod
    def rebuild_model(cls, spec: MotionSpec, cfg: GeneratorConfig, state_dict: dict) -> CVAE:
        head = any(k.startswith("cls_head.") for k in state_dict)  # older checkpoints: never
        return CVAE(len(spec.class_names), spec.num_joints, spec.channels, cfg.cvae, cls_head=head)

    def check_model(self, model: CVAE, cfg: GeneratorConfig) -> None:
        if cfg.model != "cvae":
            raise ValueError(f"the CVAE trainer got a config of model {cfg.model!r}; build it with "
                             f"infagenc.train.generative.new_trainer")
        if cfg.lambda_cls > 0 and model.cls_head is None:
            raise ValueError("lambda_cls > 0 needs a model with the classification head "
                             "(build_generator(..., cls_head=True))")

    @staticmethod
    def needs_rest(spec: MotionSpec, cfg: GeneratorConfig) -> bool:
        return spec.rep in ROTATION_REPRESENTATIONS and cfg.lambda_pos > 0

    def step_module(self) -> torch.nn.Module:
        return _Step(self.model)

    def batch_losses(self, step, ts: TensorSet, idx: torch.Tensor, part: slice, g, train: bool) -> dict:
        x, lengths, labels = ts.batch(idx.to(ts.x.device))
        x = x[:, : int(lengths.max())]  # only as many frames as the longest sequence of the batch
        eps = torch.randn((len(idx), self.model.latent_dim), generator=g)[part].to(x.device) if train else None
        x, lengths, labels = x[part], lengths[part], labels[part]
        with autocast(self.device, self.cfg.precision):
            out = step(x, labels, lengths, eps)
        c = self.cfg
        losses = generator_losses(out["output"].float(), x, lengths, out["mu"].float(), out["logvar"].float(),
                                  lambda_rec=c.lambda_rec, lambda_vel=c.lambda_vel, lambda_kl=c.lambda_kl,
                                  kl_reduction=c.kl_reduction, lambda_pos=c.lambda_pos,
                                  positions=self._positions())
        if c.lambda_cls > 0:
            losses["cls"] = F.cross_entropy(out["logits"].float(), labels, label_smoothing=c.cls_label_smoothing)
            losses["total"] = losses["total"] + c.lambda_cls * losses["cls"]
        return losses

    def sample(self, requests=None, per_class=None, length=60, *, seed, precision="fp32", dropout=None,
               provenance=None, progress=False, batch_size=256) -> MotionSet:
        return sample_motionset(self.model, self.spec, requests, per_class, length, seed=seed, precision=precision,
                                dropout=dropout, provenance=provenance, progress=progress, batch_size=batch_size)


def load_generator(path, device: str | torch.device | None = "auto") -> tuple[CVAE, MotionSpec, dict]:
    """(model in eval mode on ``device``, its :class:`MotionSpec`, the checkpoint metadata)."""
    return checkpoint_model(path, device, GeneratorTrainer)


# ----------------------------------------------------------------- sampling
def sample_motionset(model: CVAE, spec: MotionSpec, requests: Sequence[tuple[int, int]] | None = None,
                     per_class: int | None = None, length: int = 60, *, seed: int, batch_size: int = 256,
                     precision: str = "fp32", dropout: float | None = None,
                     provenance: dict | None = None, progress: bool = False) -> MotionSet:
    """Generate a synthetic motion set, on the model's device, under ``torch.inference_mode``.

    Args:
        requests: (class index, length) pairs, in output order; or
        per_class: N samples of every class, each ``length`` frames (classes in order).
        seed: all latents come from ``torch.Generator().manual_seed(seed)`` on the CPU in
            request order, so the result does not depend on ``batch_size``, the device or the
            number of ranks (up to floating point); sampling-time ``dropout`` draws from torch's
            RNG seeded with ``seed`` too (then it does depend on the batching).
        dropout: sampling-time dropout probability in the decoder (diversity option).
        provenance: ``run`` (str), ``epoch`` and ``round`` (ints) to record per sample.

    Returns a :class:`MotionSet` with source ``synthetic``, the provenance and the seed,
    subject ``"synthetic"``, names ``syn[-run][-eE][-rR]-sSEED-INDEX-CLASS``. The samples
    satisfy the training data's root constraint (``spec.root``, restored with
    :func:`~infagenc.data.preprocess.root_relative`; the decoder's raw output does not).
    """
    labels, lengths = request_arrays(spec, requests, per_class, length)
    g = torch.Generator().manual_seed(int(seed))
    z_all = torch.randn((len(labels), model.latent_dim), generator=g)
    return decode_motionset(model, spec, z_all, labels, lengths, seed=seed, batch_size=batch_size,
                            precision=precision, dropout=dropout, provenance=provenance, progress=progress)


def decode_motionset(model: CVAE, spec: MotionSpec, z_all: torch.Tensor, labels: np.ndarray, lengths: np.ndarray,
                     *, seed: int, batch_size: int = 256, precision: str = "fp32", dropout: float | None = None,
                     provenance: dict | None = None, progress: bool = False,
                     name_suffixes: Sequence[str] | None = None) -> MotionSet:
    """The synthetic :class:`MotionSet` of latents ``z_all`` (N, latent_dim) decoded under
    ``labels`` at ``lengths`` (numpy (N,) arrays) as :func:`sample_motionset` makes it (its
    docstring tells the names, provenance, rot6d projection and root constraint); ``seed`` is
    recorded and seeds the sampling-time dropout. ``name_suffixes`` (N strings) are appended
    to the sample names."""
    labels, lengths = np.asarray(labels, np.int64).reshape(-1), np.asarray(lengths, np.int64).reshape(-1)
    provenance_of(provenance)  # bad keys fail before any work
    n = len(labels)
    if z_all.shape != (n, model.latent_dim) or lengths.shape != (n,):
        raise ValueError(f"need z (N, {model.latent_dim}) and lengths (N,) for N = {n} labels, got "
                         f"{tuple(z_all.shape)} and {lengths.shape}")
    dev = next(model.parameters()).device

    def decode(idx, lab, lens):
        with autocast(dev, precision):
            return model.decode(z_all[idx].to(dev), lab, lens, dropout=dropout)

    with seeded_rng(seed) if dropout else contextlib.nullcontext():
        out = decode_requests(model, spec, labels, lengths, batch_size, decode, progress)
    return synthetic_motionset(out, labels, lengths, spec, provenance, seed, name_suffixes)
