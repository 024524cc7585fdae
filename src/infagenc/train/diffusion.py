"""Training, checkpoints and sampling of the diffusion generator (the MDM denoiser of
:mod:`infagenc.models.mdm`), sharing with the CVAE of :mod:`infagenc.train.generator`
everything but the model, the loss and the sampler (:mod:`infagenc.train.generative`: the
:class:`~infagenc.train.generator.MotionSpec`, tensors, ``from_motionset`` / ``train_epoch`` /
``evaluate`` / ``fit`` / ``save`` / ``load`` / ``sample``, torchrun); the sampler returns the same
kind of :class:`MotionSet` as :func:`~infagenc.train.generator.sample_motionset`.

* **Noise schedule** (pure functions): :func:`cosine_betas` (Nichol & Dhariwal's cosine
  schedule, offset 0.008, betas capped at 0.999, as MDM), :func:`alphas_cumprod` and
  :func:`q_sample` ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``; training steps are
  drawn uniformly from 0..T-1 (``MDMConfig.diffusion_steps``).
* **Loss** (:func:`diffusion_losses`): ``lambda_x0`` x MSE between the predicted and the
  clean sequence over real frames (MDM's simple loss: it predicts x0) + ``lambda_pos`` x
  MSE of joint positions (forward kinematics, joints only, root at the origin; rotation
  representations only: for xyz, x0 is the positions) + ``lambda_vel`` x MSE of the
  frame-to-frame velocities of the joint positions (of the representation itself for
  xyz, or when there are no positions). Weights 1 / 1 / 1 (MDM's action-to-motion
  settings); MDM's foot-contact term is left out. Rest skeleton as for the CVAE.
* **Randomness**: shuffling, the steps ``t``, the noise and the class drop come from the
  trainer's seeded ``rng`` (per-epoch seed, torch's global RNG forked; drawn on the CPU),
  so a resumed run gives exactly the numbers of an uninterrupted one.
  :meth:`DiffusionTrainer.evaluate` uses its own fixed seed: the same noise each call.
* **Sampling** (:func:`ddim_sample`): DDIM with eta = 0 (deterministic given the initial
  noise) over ``steps`` steps spaced evenly from T-1 to 0; at every step the x0
  prediction is guided (:func:`guided_x0`): ``x0 = x0_uncond + s (x0_cond - x0_uncond)``;
  ``s = 1`` is the plain conditional model (one network pass), ``s = 0`` the unconditional.
  Default ``guidance`` 1: no guidance (the model is trained with class drop so ``s > 1``
  can be used).
* **Root constraint, rot6d, translation joint, names**: as :func:`sample_motionset`.

Cost (measured on this project's 2-core CPU, ``torch.set_num_threads(1)``, load average
3.4..4.5 from other jobs, so an idle machine is faster; slim MDM (2 layers, d 64), demo data
``make_demo()``: 144 sequences of 45..90 frames, 24 joints; batch 16, 9 steps an epoch):
one epoch takes about 2.2 s for rot6d (with the forward-kinematics position and velocity
losses) and 1.8 s for xyz, against 3.4 s / 2.7 s for the slim CVAE measured alongside;
sampling 144 sequences of 60 frames with 50 DDIM steps takes about 6.5 s with guidance 1
and 16 s with guidance 2.5 (two network passes a step).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..config import config_from_dict
from ..data.motionset import MotionSet
from ..models.mdm import MDM, MDMConfig
from ..skeleton.kinematics import RestSkeleton
from ..skeleton.rotations import ROTATION_REPRESENTATIONS
from .batching import TensorSet
from .device import autocast
from .generative import (GenerativeSettings, GenerativeTrainer, checkpoint_model, decode_requests, provenance_of,
                         request_arrays, synthetic_motionset)
from .losses import frame_mask, position_mse, reconstruction_mse, velocity_mse
from .motionspec import MotionSpec
from .trainer import seeded_rng

__all__ = ["DiffusionConfig", "DiffusionOptions", "DiffusionTrainer", "cosine_betas", "alphas_cumprod", "q_sample",
           "diffusion_losses", "ddim_timesteps", "ddim_sample", "guided_x0", "build_mdm", "load_diffusion",
           "sample_diffusion", "CHECKPOINT_KIND"]

CHECKPOINT_KIND = "infagenc.diffusion"


# ------------------------------------------------------------ the schedule
def cosine_betas(steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """(steps,) float64 betas of the cosine schedule: ``abar(u) = cos((u + s) / (1 + s) * pi / 2)^2``
    at u = t / steps, ``beta_t = min(1 - abar((t + 1) / steps) / abar(t / steps), max_beta)``."""
    if steps < 1:
        raise ValueError(f"need steps >= 1, got {steps}")
    u = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=max_beta)


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """``abar_t = prod_{i <= t} (1 - beta_i)``."""
    return torch.cumprod(1 - betas, dim=0)


def q_sample(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    """``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps`` for (N, ...) x0 / eps and (N,) steps t."""
    if eps.shape != x0.shape or t.shape != x0.shape[:1]:
        raise ValueError(f"x0 {tuple(x0.shape)}, eps {tuple(eps.shape)} and t {tuple(t.shape)} do not match")
    a = abar.to(x0.device)[t.to(x0.device)].to(x0.dtype).reshape((-1,) + (1,) * (x0.ndim - 1))
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


# ----------------------------------------------------------------- the loss
def _fill_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Padding frames replaced by the first frame (valid rotations for forward kinematics;
    the losses never read them)."""
    m = frame_mask(lengths, x.shape[1])[:, :, None, None]
    return torch.where(m, x, x[:, :1].expand_as(x))


def diffusion_losses(pred: torch.Tensor, x0: torch.Tensor, lengths: torch.Tensor, *, lambda_x0: float,
                     lambda_pos: float, lambda_vel: float,
                     positions: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Terms ``x0``, ``vel``, ``pos`` (when ``positions`` is given and ``lambda_pos > 0``) and
    their weighted ``total`` (see module docstring); ``positions`` maps (..., V, C) frames to
    (..., V', 3) joint positions."""
    out = {"x0": reconstruction_mse(pred, x0, lengths)}
    total = lambda_x0 * out["x0"]
    if positions is not None and lambda_pos > 0:
        out["pos"] = position_mse(pred, x0, lengths, positions)
        total = total + lambda_pos * out["pos"]
    if positions is not None:
        out["vel"] = velocity_mse(positions(_fill_padding(pred, lengths)), positions(_fill_padding(x0, lengths)),
                                  lengths)
    else:
        out["vel"] = velocity_mse(pred, x0, lengths)
    out["total"] = total + lambda_vel * out["vel"]
    return out


# ---------------------------------------------------------------- the config
@dataclass
class DiffusionOptions:
    """The diffusion generator's own settings (a run's ``[generator.diffusion]`` with
    ``generator.model = "mdm"``): the slim :class:`MDMConfig`, loss weights 1 / 1 / 1 (MDM's),
    ``sampling_steps`` 50 DDIM steps (MDM samples with all 1000; 50 suits a CPU) and
    ``guidance`` 1.0 (no classifier-free guidance; 0 = unconditional, > 1 = stronger)."""

    mdm: MDMConfig = field(default_factory=MDMConfig)
    lambda_x0: float = 1.0
    lambda_pos: float = 1.0
    lambda_vel: float = 1.0
    sampling_steps: int = 50
    guidance: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.mdm, dict):
            self.mdm = MDMConfig.from_dict(self.mdm)
        if min(self.lambda_x0, self.lambda_pos, self.lambda_vel) < 0:
            raise ValueError("loss weights must be >= 0")
        if not 1 <= self.sampling_steps <= self.mdm.diffusion_steps:
            raise ValueError(f"sampling_steps must lie in 1..{self.mdm.diffusion_steps} (the diffusion steps), "
                             f"got {self.sampling_steps}")
        if self.guidance < 0:
            raise ValueError(f"guidance must be >= 0, got {self.guidance}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mdm"] = self.mdm.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict):
        return config_from_dict(cls, d, "diffusion config")


@dataclass
class DiffusionConfig(GenerativeSettings, DiffusionOptions):
    """Everything that defines a diffusion-generator run: :class:`DiffusionOptions` and the
    training settings shared with the CVAE (lr 1e-4 (MDM's), batch 16 and 1100 epochs, as
    :class:`~infagenc.train.generator.GeneratorConfig`, so the loop's schedule carries over)."""

    def __post_init__(self) -> None:
        DiffusionOptions.__post_init__(self)
        self._check_settings()


def build_mdm(spec: MotionSpec, cfg: MDMConfig, seed: int) -> MDM:
    """A freshly initialised denoiser for ``spec``; the initial weights depend only on ``seed``."""
    with seeded_rng(seed):
        return MDM(len(spec.class_names), spec.num_joints, spec.channels, cfg)


# ---------------------------------------------------------------- the trainer
class DiffusionTrainer(GenerativeTrainer):
    """The :class:`~infagenc.train.generative.GenerativeTrainer` of the MDM denoiser (Adam,
    seeded ``rng``, epochs, history); ``preprocess`` records the training data's preprocessing.

    Args:
        model: the denoiser (moved to ``device``).
        cfg: the run's :class:`DiffusionConfig` (its ``mdm`` must be the model's config).
        spec: what the data means (:class:`MotionSpec`).
        rest: rest skeleton for the position / velocity losses of rotation data (default:
            the shipped infant skeleton for ``smpl24``).
        device: overrides ``cfg.device``.
    """

    KIND, MODEL, CONFIG, TERM = CHECKPOINT_KIND, "mdm", DiffusionConfig, "x0"
    REST_HINT = ("the position and velocity losses of rotation data need", "lambda_pos=lambda_vel=0")

    def __init__(self, model: MDM, cfg: DiffusionConfig, spec: MotionSpec, rest: RestSkeleton | None = None,
                 device: str | torch.device | None = None):
        super().__init__(model, cfg, spec, rest, device)
        self.abar = alphas_cumprod(cosine_betas(cfg.mdm.diffusion_steps))

    @classmethod
    def build_model(cls, spec: MotionSpec, cfg: DiffusionConfig) -> MDM:
        return build_mdm(spec, cfg.mdm, cfg.seed)

    @classmethod
    def rebuild_model(cls, spec: MotionSpec, cfg: DiffusionConfig, state_dict: dict) -> MDM:
        return MDM(len(spec.class_names), spec.num_joints, spec.channels, cfg.mdm)

    def check_model(self, model: MDM, cfg: DiffusionConfig) -> None:
        if model.cfg != cfg.mdm:
            raise ValueError("the model was built with another MDM config than cfg.mdm")

    @staticmethod
    def needs_rest(spec: MotionSpec, cfg: DiffusionConfig) -> bool:
        return spec.rep in ROTATION_REPRESENTATIONS and (cfg.lambda_pos > 0 or cfg.lambda_vel > 0)

    def batch_losses(self, step, ts: TensorSet, idx: torch.Tensor, part: slice, g, train: bool) -> dict:
        """Losses of one batch's slice ``part``; ``t``, noise and class drop drawn on the CPU for
        the whole batch from ``g`` (None: torch's global RNG, seeded by the caller)."""
        x, lengths, labels = ts.batch(idx.to(ts.x.device))
        x = x[:, : int(lengths.max())]
        n, steps = len(idx), self.cfg.mdm.diffusion_steps
        t = torch.randint(0, steps, (n,), generator=g)[part]
        eps = torch.randn(x.shape, generator=g)[part].to(x.device)
        drop = (torch.rand(n, generator=g) < self.cfg.mdm.cond_drop_prob)[part] if train else None
        x, lengths, labels = x[part], lengths[part], labels[part]
        real = frame_mask(lengths, x.shape[1])[:, :, None, None].to(x.dtype)
        x_t = q_sample(x, t, eps, self.abar) * real
        with autocast(self.device, self.cfg.precision):
            pred = step(x_t, t.to(x.device), labels, lengths, drop=drop)
        c = self.cfg
        return diffusion_losses(pred.float(), x, lengths, lambda_x0=c.lambda_x0, lambda_pos=c.lambda_pos,
                                lambda_vel=c.lambda_vel, positions=self._positions())

    def sample(self, requests=None, per_class=None, length=60, *, seed, precision="fp32", dropout=None,
               provenance=None, progress=False, batch_size=256) -> MotionSet:
        """:func:`sample_diffusion` with the config's DDIM steps and guidance."""
        if dropout:
            raise ValueError("sampling-time dropout is a CVAE option; the diffusion generator has none "
                             "(set it to 0 / unset it)")
        return sample_diffusion(self.model, self.spec, requests, per_class, length, seed=seed,
                                steps=self.cfg.sampling_steps, guidance=self.cfg.guidance, batch_size=batch_size,
                                precision=precision, provenance=provenance, progress=progress)


def load_diffusion(path: str | Path, device: str | torch.device | None = "auto") -> tuple[MDM, MotionSpec, dict]:
    """(denoiser in eval mode on ``device``, its :class:`MotionSpec`, the checkpoint metadata);
    ``meta["config"]["sampling_steps"]`` / ``["guidance"]`` are the run's sampling settings."""
    return checkpoint_model(path, device, DiffusionTrainer)


# ------------------------------------------------------------------ sampling
def ddim_timesteps(diffusion_steps: int, steps: int) -> list[int]:
    """``steps`` diffusion steps spaced evenly from T-1 down to 0 (one step: [T-1])."""
    if not 1 <= steps <= diffusion_steps:
        raise ValueError(f"sampling steps must lie in 1..{diffusion_steps}, got {steps}")
    return [int(round(v)) for v in np.linspace(diffusion_steps - 1, 0, steps)]


def guided_x0(model: MDM, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor,
              guidance: float = 1.0) -> torch.Tensor:
    """Classifier-free guided x0: ``x0_u + s (x0_c - x0_u)``; s = 1 is the conditional
    prediction alone, s = 0 the unconditional one (one network pass each)."""
    if guidance == 1:
        return model(x_t, t, labels, lengths)
    if guidance == 0:
        return model(x_t, t, labels, lengths, drop=True)
    n = len(labels)
    drop = torch.arange(2 * n, device=x_t.device) >= n
    both = model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([labels, labels]), torch.cat([lengths, lengths]),
                 drop=drop)
    cond, uncond = both[:n], both[n:]
    return uncond + guidance * (cond - uncond)


def ddim_sample(denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x_T: torch.Tensor,
                abar: torch.Tensor, steps: int) -> torch.Tensor:
    """Deterministic DDIM (eta = 0) from noise ``x_T`` (N, ...): at each step of
    :func:`ddim_timesteps`, ``x0 = denoise(x_t, t)`` ((N,) long steps), ``eps = (x_t -
    sqrt(a_t) x0) / sqrt(1 - a_t)``, ``x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps``; the
    last step returns its x0."""
    ts = ddim_timesteps(len(abar), steps)
    x = x_T
    for i, t in enumerate(ts):
        x0 = denoise(x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device))
        if i == len(ts) - 1:
            return x0
        a_t, a_prev = float(abar[t]), float(abar[ts[i + 1]])
        eps = (x - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
        x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
    return x


def sample_diffusion(model: MDM, spec: MotionSpec, requests: Sequence[tuple[int, int]] | None = None,
                     per_class: int | None = None, length: int = 60, *, seed: int, steps: int = 50,
                     guidance: float = 1.0, batch_size: int = 256, precision: str = "fp32",
                     provenance: dict | None = None, progress: bool = False) -> MotionSet:
    """Generate a synthetic motion set by DDIM (``steps``, eta 0) with classifier-free
    ``guidance``, on the model's device, under ``torch.inference_mode``.

    ``requests`` / ``per_class`` / ``length`` / ``provenance`` and the result (source
    ``synthetic``, provenance, seed, subject ``"synthetic"``, names
    ``syn[-run][-eE][-rR]-sSEED-INDEX-CLASS``, rot6d projected onto rotations, the root
    constraint ``spec.root`` restored) are as :func:`~infagenc.train.generator.sample_motionset`.
    ``seed``: the initial noise, (N, max length, V, C), is drawn at once from
    ``torch.Generator().manual_seed(seed)`` on the CPU, so the samples do not depend on
    ``batch_size`` or the device (up to floating point)."""
    if guidance < 0:
        raise ValueError(f"guidance must be >= 0, got {guidance}")
    labels, lengths = request_arrays(spec, requests, per_class, length)
    provenance_of(provenance)  # bad keys fail before any work
    n, t_max = len(labels), int(lengths.max()) if len(labels) else 1
    abar = alphas_cumprod(cosine_betas(model.cfg.diffusion_steps))
    ddim_timesteps(len(abar), steps)  # a bad step count fails before any work
    dev = next(model.parameters()).device
    noise = torch.randn((n, t_max, spec.num_joints, spec.channels), generator=torch.Generator().manual_seed(int(seed)))

    def decode(idx, lab, lens):
        real = frame_mask(lens, int(lens.max()))[:, :, None, None]
        x_T = noise[idx, : int(lens.max())].to(dev) * real
        with autocast(dev, precision):
            return ddim_sample(lambda x, t: guided_x0(model, x, t, lab, lens, guidance), x_T, abar, steps)

    out = decode_requests(model, spec, labels, lengths, batch_size, decode, progress)
    return synthetic_motionset(out, labels, lengths, spec, provenance, seed)
