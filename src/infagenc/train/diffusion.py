"""Training, checkpoints and sampling of the diffusion generator (the MDM denoiser of
:mod:`infagenc.models.mdm`), with the outside shape of :mod:`infagenc.train.generator`:
the same :class:`~infagenc.train.generator.MotionSpec`, tensors, trainer methods
(``from_motionset`` / ``tensors`` / ``train_epoch`` / ``evaluate`` / ``fit`` / ``save`` /
``load``), and a sampler returning the same kind of :class:`MotionSet` as
:func:`~infagenc.train.generator.sample_motionset`.

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
from tqdm.auto import tqdm

from ..config import config_from_dict
from ..data.motionset import MotionSet
from ..data.preprocess import Preprocess, root_relative
from ..models.mdm import MDM, MDMConfig
from ..skeleton.kinematics import RestSkeleton, fk_from_representation, infant_rest_skeleton
from ..skeleton.rotations import ROTATION_REPRESENTATIONS, from_matrix, to_matrix
from .batching import TensorSet, batch_indices
from .checkpoint import load_checkpoint
from .device import PRECISIONS, autocast, resolve_device
from .generator import MotionSpec, checkpoint_rest, motion_tensors
from .losses import frame_mask, position_mse, reconstruction_mse, velocity_mse
from .trainer import Trainer, seeded_rng

__all__ = ["DiffusionConfig", "DiffusionTrainer", "cosine_betas", "alphas_cumprod", "q_sample",
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
class DiffusionConfig:
    """Everything that defines a diffusion-generator run. Defaults: the slim :class:`MDMConfig`,
    loss weights 1 / 1 / 1 and lr 1e-4 (MDM's), batch 16 and 1100 epochs (as
    :class:`~infagenc.train.generator.GeneratorConfig`, so the loop's schedule carries over),
    ``sampling_steps`` 50 DDIM steps (MDM samples with all 1000; 50 suits a CPU) and
    ``guidance`` 1.0 (no classifier-free guidance; 0 = unconditional, > 1 = stronger)."""

    mdm: MDMConfig = field(default_factory=MDMConfig)
    lambda_x0: float = 1.0
    lambda_pos: float = 1.0
    lambda_vel: float = 1.0
    trans: bool = False
    keep_root: bool = True
    lr: float = 1e-4
    batch_size: int = 16
    epochs: int = 1100
    sampling_steps: int = 50
    guidance: float = 1.0
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if isinstance(self.mdm, dict):
            self.mdm = MDMConfig.from_dict(self.mdm)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if min(self.lambda_x0, self.lambda_pos, self.lambda_vel) < 0:
            raise ValueError("loss weights must be >= 0")
        if self.batch_size < 1 or self.epochs < 0 or self.lr <= 0:
            raise ValueError("need batch_size >= 1, epochs >= 0, lr > 0")
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
    def from_dict(cls, d: dict) -> "DiffusionConfig":
        return config_from_dict(cls, d, "diffusion config")


def build_mdm(spec: MotionSpec, cfg: MDMConfig, seed: int) -> MDM:
    """A freshly initialised denoiser for ``spec``; the initial weights depend only on ``seed``."""
    with seeded_rng(seed):
        return MDM(len(spec.class_names), spec.num_joints, spec.channels, cfg)


def _rest_for(spec: MotionSpec, cfg: DiffusionConfig, rest: RestSkeleton | None) -> RestSkeleton | None:
    if spec.rep not in ROTATION_REPRESENTATIONS or (cfg.lambda_pos == 0 and cfg.lambda_vel == 0):
        return None
    if rest is None:
        if spec.layout.name != "smpl24":
            raise ValueError(f"the position and velocity losses of rotation data need a rest skeleton for layout "
                             f"{spec.layout.name!r}: pass rest= or set lambda_pos=lambda_vel=0")
        return infant_rest_skeleton()
    if rest.layout.num_joints != spec.layout.num_joints or rest.layout.parents != spec.layout.parents:
        raise ValueError(f"rest skeleton is for layout {rest.layout.name!r}, data is {spec.layout.name!r}")
    return rest


# ---------------------------------------------------------------- the trainer
class DiffusionTrainer(Trainer):
    """A :class:`~infagenc.train.trainer.Trainer` of the MDM denoiser (Adam, seeded ``rng``,
    epochs, history); ``preprocess`` records the training data's preprocessing.

    Args:
        model: the denoiser (moved to ``device``).
        cfg: the run's :class:`DiffusionConfig` (its ``mdm`` must be the model's config).
        spec: what the data means (:class:`MotionSpec`).
        rest: rest skeleton for the position / velocity losses of rotation data (default:
            the shipped infant skeleton for ``smpl24``).
        device: overrides ``cfg.device``.
    """

    def __init__(self, model: MDM, cfg: DiffusionConfig, spec: MotionSpec, rest: RestSkeleton | None = None,
                 device: str | torch.device | None = None):
        if (model.num_classes, model.num_joints, model.channels) != (len(spec.class_names), spec.num_joints,
                                                                     spec.channels):
            raise ValueError("model shape does not match the motion spec")
        if model.cfg != cfg.mdm:
            raise ValueError("the model was built with another MDM config than cfg.mdm")
        self.cfg, self.spec = cfg, spec
        self.rest = _rest_for(spec, cfg, rest)
        self.abar = alphas_cumprod(cosine_betas(cfg.mdm.diffusion_steps))
        super().__init__(model, device if device is not None else cfg.device, lr=cfg.lr, seed=cfg.seed)
        self.preprocess: Preprocess | None = None

    @classmethod
    def from_motionset(cls, ms: MotionSet, cfg: DiffusionConfig, rest: RestSkeleton | None = None,
                       device: str | torch.device | None = None) -> "DiffusionTrainer":
        spec = MotionSpec.from_motionset(ms, cfg.trans, cfg.keep_root)
        return cls(build_mdm(spec, cfg.mdm, cfg.seed), cfg, spec, rest, device)

    def tensors(self, ms: MotionSet) -> TensorSet:
        return motion_tensors(ms, self.spec, self.device)

    def _positions(self):
        if self.rest is None:
            return None
        v, rep, rest = self.spec.layout.num_joints, self.spec.rep, self.rest
        return lambda frames: fk_from_representation(frames[..., :v, :], rep, rest)

    def _losses(self, ts: TensorSet, idx: torch.Tensor, g: torch.Generator | None, train: bool) -> dict:
        """Losses of one batch; ``t``, noise and class drop drawn on the CPU from ``g`` (None:
        torch's global RNG, seeded by the caller)."""
        x, lengths, labels = ts.batch(idx.to(ts.x.device))
        x = x[:, : int(lengths.max())]
        n, steps = len(idx), self.cfg.mdm.diffusion_steps
        t = torch.randint(0, steps, (n,), generator=g)
        eps = torch.randn(x.shape, generator=g).to(x.device)
        drop = (torch.rand(n, generator=g) < self.cfg.mdm.cond_drop_prob) if train else None
        real = frame_mask(lengths, x.shape[1])[:, :, None, None].to(x.dtype)
        x_t = q_sample(x, t, eps, self.abar) * real
        with autocast(self.device, self.cfg.precision):
            pred = self.model(x_t, t.to(x.device), labels, lengths, drop=drop)
        c = self.cfg
        return diffusion_losses(pred.float(), x, lengths, lambda_x0=c.lambda_x0, lambda_pos=c.lambda_pos,
                                lambda_vel=c.lambda_vel, positions=self._positions())

    def train_epoch(self, ts: TensorSet, progress: bool = False) -> dict[str, float]:
        """One pass over ``ts`` (from :meth:`tensors`) in shuffled batches; returns the epoch's
        mean losses (weighted by batch size) and appends them to ``history``."""
        if len(ts) == 0:
            raise ValueError("cannot train on an empty set")
        ts = ts.to(self.device)
        epoch_seed = self.epoch_seed()
        self.model.train()
        sums: dict[str, float] = {}
        batches = batch_indices(len(ts), self.cfg.batch_size, shuffle=True, generator=self.rng)
        with seeded_rng(epoch_seed):
            for idx in tqdm(batches, total=math.ceil(len(ts) / self.cfg.batch_size), disable=not progress,
                            desc=f"diffusion epoch {self.epoch + 1}", leave=False):
                losses = self._losses(ts, idx, None, train=True)
                self.optimizer.zero_grad(set_to_none=True)
                losses["total"].backward()
                self.optimizer.step()
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
        self.epoch += 1
        record = {"epoch": self.epoch, **{k: v / len(ts) for k, v in sums.items()}}
        self.history.append(record)
        return record

    @torch.inference_mode()
    def evaluate(self, ts: TensorSet, batch_size: int = 64, seed: int = 0) -> dict[str, float]:
        """Losses in eval mode (no dropout, no class drop) with steps and noise drawn from
        ``seed``: the same draw every call, so calls compare. Mean over samples."""
        ts = ts.to(self.device)
        was = self.model.training
        self.model.eval()
        g = torch.Generator().manual_seed(int(seed))
        sums: dict[str, float] = {}
        try:
            for idx in batch_indices(len(ts), batch_size, shuffle=False):
                for k, v in self._losses(ts, idx, g, train=False).items():
                    sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
        finally:
            self.model.train(was)
        return {k: v / len(ts) for k, v in sums.items()}

    def fit(self, ms: MotionSet, epochs: int | None = None, progress: bool = True, eval_every: int = 0,
            checkpoint: str | Path | None = None, save_every: int = 0) -> list[dict]:
        """Train ``epochs`` more epochs (default ``cfg.epochs``) on ``ms``; ``eval_every``,
        ``checkpoint`` and ``save_every`` as :meth:`GeneratorTrainer.fit
        <infagenc.train.generator.GeneratorTrainer.fit>`. Returns the whole history."""
        epochs = self.cfg.epochs if epochs is None else int(epochs)
        ts = self.tensors(ms)
        bar = tqdm(range(epochs), disable=not progress, desc="diffusion")
        for i in bar:
            rec = self.train_epoch(ts)
            if eval_every > 0 and (self.epoch % eval_every == 0 or i == epochs - 1):
                rec.update({f"eval_{k}": v for k, v in self.evaluate(ts).items()})
            bar.set_postfix(loss=f"{rec['total']:.4g}", x0=f"{rec['x0']:.4g}")
            if checkpoint is not None and save_every > 0 and self.epoch % save_every == 0:
                self.save(checkpoint)
        if checkpoint is not None:
            self.save(checkpoint)
        return self.history

    def meta(self) -> dict:
        m = {"kind": CHECKPOINT_KIND, "config": self.cfg.to_dict(), "spec": self.spec.to_dict(),
             "rest": None if self.rest is None else self.rest.to_dict(), "epoch": self.epoch,
             "history": self.history}
        if self.preprocess is not None:
            m["preprocess"] = self.preprocess.to_dict()
        return m

    def save(self, path: str | Path, extra_meta: dict | None = None) -> Path:
        """Checkpoint (plain state dicts, see :mod:`infagenc.train.checkpoint`)."""
        return self.save_training_state(path, {**self.meta(), **(extra_meta or {})})

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> "DiffusionTrainer":
        """Rebuild a trainer from a checkpoint written by :meth:`save`, ready to resume."""
        obj = load_checkpoint(path)
        model, spec, meta = _rebuild(obj, path)
        state = cls.training_state(obj, path)
        trainer = cls(model, DiffusionConfig.from_dict(meta["config"]), spec, checkpoint_rest(meta), device)
        trainer.load_state_dict(state)
        if meta.get("preprocess") is not None:
            trainer.preprocess = Preprocess.from_dict(meta["preprocess"])
        return trainer


def _rebuild(obj: dict, path) -> tuple[MDM, MotionSpec, dict]:
    meta = obj["meta"]
    if meta.get("kind") != CHECKPOINT_KIND:
        raise ValueError(f"{path}: not a diffusion-generator checkpoint (kind {meta.get('kind')!r})")
    spec = MotionSpec.from_dict(meta["spec"])
    cfg = DiffusionConfig.from_dict(meta["config"])
    with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: leave the RNG alone
        model = MDM(len(spec.class_names), spec.num_joints, spec.channels, cfg.mdm)
    model.load_state_dict(obj["state_dict"])
    return model, spec, meta


def load_diffusion(path: str | Path, device: str | torch.device | None = "auto") -> tuple[MDM, MotionSpec, dict]:
    """(denoiser in eval mode on ``device``, its :class:`MotionSpec`, the checkpoint metadata);
    ``meta["config"]["sampling_steps"]`` / ``["guidance"]`` are the run's sampling settings."""
    model, spec, meta = _rebuild(load_checkpoint(path), path)
    return model.to(resolve_device(device)).eval(), spec, meta


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


def _requests(spec: MotionSpec, requests, per_class: int | None, length: int) -> tuple[np.ndarray, np.ndarray]:
    if (requests is None) == (per_class is None):
        raise ValueError("give either requests=[(class, length), ...] or per_class=N")
    if requests is None:
        if per_class < 0 or length < 1:
            raise ValueError("need per_class >= 0 and length >= 1")
        labels = np.repeat(np.arange(len(spec.class_names)), per_class)
        lengths = np.full(len(labels), length)
    else:
        pairs = np.asarray(list(requests), dtype=np.int64).reshape(-1, 2)
        labels, lengths = pairs[:, 0], pairs[:, 1]
    k = len(spec.class_names)
    if len(labels) and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"class indices must lie in 0..{k - 1}")
    if len(lengths) and lengths.min() < 1:
        raise ValueError("lengths must be >= 1")
    return labels.astype(np.int64), lengths.astype(np.int64)


def _motionset(out: np.ndarray, labels: np.ndarray, lengths: np.ndarray, spec: MotionSpec, prov: dict,
               seed: int) -> MotionSet:
    n, trans = len(labels), None
    if spec.trans:
        trans = out[:, :, -1, :3].copy()
        out = out[:, :, :-1]
    tag = "syn" + (f"-{prov['run']}" if prov["run"] else "") + (f"-e{prov['epoch']}" if prov["epoch"] >= 0 else "") \
        + (f"-r{prov['round']}" if prov["round"] >= 0 else "") + f"-s{int(seed)}"
    names = [f"{tag}-{i:06d}-{spec.class_names[c]}" for i, c in enumerate(labels)]
    ms = MotionSet(out, lengths, labels, spec.class_names, ["synthetic"] * n, names, spec.layout, spec.rep,
                   source=["synthetic"] * n, run=[str(prov["run"])] * n, epoch=int(prov["epoch"]),
                   round=int(prov["round"]), seed=int(seed), trans=trans, fps=spec.fps)
    return root_relative(ms, spec.root) if spec.root != "none" and n else ms


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
    labels, lengths = _requests(spec, requests, per_class, length)
    prov = {"run": "", "epoch": -1, "round": -1, **(provenance or {})}
    unknown = set(prov) - {"run", "epoch", "round"}
    if unknown:
        raise ValueError(f"unknown provenance keys {sorted(unknown)}; use run, epoch, round")
    n, t_max = len(labels), int(lengths.max()) if len(labels) else 1
    abar = alphas_cumprod(cosine_betas(model.cfg.diffusion_steps))
    ddim_timesteps(len(abar), steps)  # a bad step count fails before any work
    dev = next(model.parameters()).device
    noise = torch.randn((n, t_max, spec.num_joints, spec.channels), generator=torch.Generator().manual_seed(int(seed)))
    out = np.zeros(noise.shape, np.float32)
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for idx in tqdm(list(batch_indices(n, batch_size, shuffle=False)), disable=not progress,
                            desc="sampling"):
                lab = torch.as_tensor(labels[idx.numpy()], device=dev)
                lens = torch.as_tensor(lengths[idx.numpy()], device=dev)
                real = frame_mask(lens, int(lens.max()))[:, :, None, None]
                x_T = noise[idx, : int(lens.max())].to(dev) * real
                with autocast(dev, precision):
                    y = ddim_sample(lambda x, t: guided_x0(model, x, t, lab, lens, guidance), x_T, abar, steps)
                y = y.float()
                if spec.rep == "rot6d":
                    v = spec.layout.num_joints
                    y[..., :v, :] = from_matrix(to_matrix(y[..., :v, :], "rot6d"), "rot6d")
                    y = y * real
                out[idx.numpy(), : y.shape[1]] = y.cpu().numpy()
    finally:
        model.train(was)
    return _motionset(out, labels, lengths, spec, prov, seed)
