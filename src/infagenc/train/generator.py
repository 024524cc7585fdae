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
  callers' RNG state is untouched). Saving that RNG's state makes a resumed run produce
  exactly the numbers an uninterrupted one would.
* **Root constraint** (``GeneratorConfig.keep_root``, default on): the trainer records
  which root constraint the training data satisfies (centre joint at the origin in every
  frame / in the first frame, see :func:`infagenc.data.preprocess.root_constraint`) in
  ``MotionSpec.root``, and sampling applies the same :func:`root_relative` step to the
  decoder's output, so samples live in the representation the data was prepared in. The
  decoder alone leaves the root slightly off the origin, and recognizers trained on
  root-relative data normalise those near-constant coordinates by a variance of ~0, which
  magnifies the offset (measured: benchmarks/README.md, "Root offset").
* **Preprocessing**: ``GeneratorTrainer.preprocess`` (a
  :class:`~infagenc.data.preprocess.Preprocess`, or None) is what was applied to the
  training data; it is stored in the checkpoint metadata (``"preprocess"``) and restored
  on :meth:`GeneratorTrainer.load`.
* **Generated rot6d** is projected onto valid rotations (Gram-Schmidt), so every
  synthetic sample is a proper rotation sequence; generated samples have subject
  ``"synthetic"``.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import config_from_dict
from ..data.motionset import MotionSet
from ..data.preprocess import ROOT_MODES, Preprocess, root_constraint, root_relative
from ..models.cvae import CVAE, CVAEConfig
from ..skeleton.kinematics import RestSkeleton, fk_from_representation, infant_rest_skeleton
from ..skeleton.layouts import Layout, resolve_layout
from ..skeleton.rotations import REPRESENTATION_CHANNELS, ROTATION_REPRESENTATIONS, from_matrix, to_matrix
from .batching import TensorSet, batch_indices
from .checkpoint import load_checkpoint
from .device import PRECISIONS, autocast, resolve_device
from .losses import KL_REDUCTIONS, generator_losses
from .trainer import Trainer, seeded_rng

__all__ = ["GeneratorConfig", "MotionSpec", "GeneratorTrainer", "build_generator", "motion_tensors",
           "load_generator", "checkpoint_rest", "sample_motionset", "CHECKPOINT_KIND"]

CHECKPOINT_KIND = "infagenc.generator"


@dataclass
class GeneratorConfig:
    """Everything that defines a generator training run. Defaults are the paper's where it
    gives them (loss weights 1.0 / 0.001 / 1.0, lr 1e-4, batch 16, CVAE paper size);
    ``epochs`` 1100 is the generator pre-training length of the paper's schedule."""

    cvae: CVAEConfig = field(default_factory=CVAEConfig)
    lambda_rec: float = 1.0
    lambda_pos: float = 1.0
    lambda_vel: float = 0.001
    lambda_kl: float = 1.0
    kl_reduction: str = "mean"
    trans: bool = False
    keep_root: bool = True
    lr: float = 1e-4
    batch_size: int = 16
    epochs: int = 1100
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if isinstance(self.cvae, dict):
            self.cvae = CVAEConfig.from_dict(self.cvae)
        if self.kl_reduction not in KL_REDUCTIONS:
            raise ValueError(f"kl_reduction must be one of {KL_REDUCTIONS}, got {self.kl_reduction!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if min(self.lambda_rec, self.lambda_pos, self.lambda_vel, self.lambda_kl) < 0:
            raise ValueError("loss weights must be >= 0")
        if self.batch_size < 1 or self.epochs < 0 or self.lr <= 0:
            raise ValueError("need batch_size >= 1, epochs >= 0, lr > 0")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cvae"] = self.cvae.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        return config_from_dict(cls, d, "generator config")


@dataclass(frozen=True)
class MotionSpec:
    """What the generator's joints and channels mean: layout, representation, class names,
    whether the root translation rides along as an extra joint, the frame rate, and the root
    constraint of the training data (``root``: ``per_frame`` / ``first_frame`` / ``none``,
    see :func:`~infagenc.data.preprocess.root_constraint`), which sampling restores: the
    decoder does not keep e.g. the centre joint exactly at the origin, and recognizers
    trained on root-relative data are very sensitive to that offset. Checkpoints written
    before this field existed load with ``none`` (their samples stay as they were)."""

    layout: Layout
    rep: str
    class_names: tuple[str, ...]
    trans: bool = False
    fps: float | None = None
    root: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "layout", resolve_layout(self.layout))
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        if self.rep not in REPRESENTATION_CHANNELS:
            raise ValueError(f"unknown representation {self.rep!r}")
        if self.trans and self.rep not in ROTATION_REPRESENTATIONS:
            raise ValueError(f"a root-translation joint is for rotation data, not {self.rep!r}")
        if not self.class_names:
            raise ValueError("a conditional generator needs labelled data (no class names given)")
        if self.root not in ROOT_MODES:
            raise ValueError(f"root must be one of {ROOT_MODES}, got {self.root!r}")

    @property
    def num_joints(self) -> int:
        """Joints the model sees (the layout's, plus one for the translation)."""
        return self.layout.num_joints + int(self.trans)

    @property
    def channels(self) -> int:
        return REPRESENTATION_CHANNELS[self.rep]

    @classmethod
    def from_motionset(cls, ms: MotionSet, trans: bool = False, keep_root: bool = True) -> "MotionSpec":
        """The spec of a generator for ``ms``; with ``keep_root`` its root constraint is the one
        ``ms`` satisfies (:func:`~infagenc.data.preprocess.root_constraint`), else ``none``."""
        return cls(ms.layout, ms.rep, ms.class_names, trans, ms.fps, root_constraint(ms) if keep_root else "none")

    def to_dict(self) -> dict:
        return {"layout": self.layout.to_dict(), "rep": self.rep, "class_names": list(self.class_names),
                "trans": self.trans, "fps": self.fps, "root": self.root}

    @classmethod
    def from_dict(cls, d: dict) -> "MotionSpec":
        return cls(d["layout"], d["rep"], tuple(d["class_names"]), bool(d.get("trans", False)), d.get("fps"),
                   d.get("root", "none"))


def motion_tensors(ms: MotionSet, spec: MotionSpec, device="cpu") -> TensorSet:
    """The generator's input tensors of a motion set (labels re-indexed onto ``spec``'s
    classes by name; the translation appended as an extra joint when ``spec.trans``)."""
    if ms.layout != spec.layout or ms.rep != spec.rep:
        raise ValueError(f"motion set is {ms.layout.name}/{ms.rep}, the generator models "
                         f"{spec.layout.name}/{spec.rep}")
    if ms.class_names != spec.class_names:
        ms = ms.relabel(spec.class_names)
    x = ms.data
    if spec.trans:
        if ms.trans is None:
            raise ValueError("the generator models the root translation but the motion set has no 'trans'")
        tj = np.zeros(x.shape[:2] + (1, x.shape[3]), np.float32)
        tj[..., 0, :3] = ms.trans
        x = np.concatenate([x, tj], axis=2)
    return TensorSet(torch.as_tensor(x, dtype=torch.float32, device=device),
                     torch.as_tensor(ms.lengths, dtype=torch.long, device=device),
                     torch.as_tensor(ms.labels, dtype=torch.long, device=device))


def build_generator(spec: MotionSpec, cfg: CVAEConfig, seed: int) -> CVAE:
    """A freshly initialised CVAE for ``spec``; the initial weights depend only on ``seed``."""
    with seeded_rng(seed):
        return CVAE(len(spec.class_names), spec.num_joints, spec.channels, cfg)


def _default_rest(spec: MotionSpec, cfg: GeneratorConfig, rest: RestSkeleton | None) -> RestSkeleton | None:
    if spec.rep not in ROTATION_REPRESENTATIONS or cfg.lambda_pos == 0:
        return None
    if rest is None:
        if spec.layout.name != "smpl24":
            raise ValueError(f"the position loss of rotation data needs a rest skeleton for layout "
                             f"{spec.layout.name!r}: pass rest= or set lambda_pos=0")
        return infant_rest_skeleton()
    if rest.layout.num_joints != spec.layout.num_joints or rest.layout.parents != spec.layout.parents:
        raise ValueError(f"rest skeleton is for layout {rest.layout.name!r}, data is {spec.layout.name!r}")
    return rest


class GeneratorTrainer(Trainer):
    """A :class:`~infagenc.train.trainer.Trainer` of the CVAE: the model on its device, the
    Adam optimizer, the seeded ``rng``, the epoch count and the loss history; ``preprocess``
    records the training data's preprocessing (see module docstring).

    Args:
        model: the CVAE (moved to ``device``).
        cfg: the run's :class:`GeneratorConfig`.
        spec: what the data means (:class:`MotionSpec`).
        rest: rest skeleton for the position loss of rotation data (default: the shipped
            infant skeleton for ``smpl24``).
        device: overrides ``cfg.device``.
    """

    def __init__(self, model: CVAE, cfg: GeneratorConfig, spec: MotionSpec, rest: RestSkeleton | None = None,
                 device: str | torch.device | None = None):
        if (model.num_classes, model.num_joints, model.channels) != (len(spec.class_names), spec.num_joints,
                                                                     spec.channels):
            raise ValueError("model shape does not match the motion spec")
        self.cfg, self.spec = cfg, spec
        self.rest = _default_rest(spec, cfg, rest)
        super().__init__(model, device if device is not None else cfg.device, lr=cfg.lr, seed=cfg.seed)
        self.preprocess: Preprocess | None = None

    @classmethod
    def from_motionset(cls, ms: MotionSet, cfg: GeneratorConfig, rest: RestSkeleton | None = None,
                       device: str | torch.device | None = None) -> "GeneratorTrainer":
        spec = MotionSpec.from_motionset(ms, cfg.trans, cfg.keep_root)
        return cls(build_generator(spec, cfg.cvae, cfg.seed), cfg, spec, rest, device)

    # -------------------------------------------------------------- the data
    def tensors(self, ms: MotionSet) -> TensorSet:
        return motion_tensors(ms, self.spec, self.device)

    def _positions(self):
        if self.rest is None:
            return None
        v, rep, rest = self.spec.layout.num_joints, self.spec.rep, self.rest
        return lambda frames: fk_from_representation(frames[..., :v, :], rep, rest)

    def _losses(self, ts: TensorSet, idx: torch.Tensor, use_mean: bool) -> tuple[dict, int]:
        x, lengths, labels = ts.batch(idx.to(ts.x.device))
        x = x[:, : int(lengths.max())]  # only as many frames as the longest sequence of the batch
        with autocast(self.device, self.cfg.precision):
            out = self.model(x, labels, lengths, use_mean=use_mean)
        c = self.cfg
        losses = generator_losses(out["output"].float(), x, lengths, out["mu"].float(), out["logvar"].float(),
                                  lambda_rec=c.lambda_rec, lambda_vel=c.lambda_vel, lambda_kl=c.lambda_kl,
                                  kl_reduction=c.kl_reduction, lambda_pos=c.lambda_pos,
                                  positions=self._positions())
        return losses, len(idx)

    # ------------------------------------------------------------- training
    def train_epoch(self, ts: TensorSet, progress: bool = False) -> dict[str, float]:
        """One pass over ``ts`` (from :meth:`tensors`) in shuffled batches; returns the
        epoch's mean losses (weighted by batch size) and appends them to ``history``."""
        if len(ts) == 0:
            raise ValueError("cannot train on an empty set")
        ts = ts.to(self.device)
        epoch_seed = self.epoch_seed()
        self.model.train()
        sums: dict[str, float] = {}
        batches = batch_indices(len(ts), self.cfg.batch_size, shuffle=True, generator=self.rng)
        with seeded_rng(epoch_seed):
            for idx in tqdm(batches, total=math.ceil(len(ts) / self.cfg.batch_size), disable=not progress,
                            desc=f"generator epoch {self.epoch + 1}", leave=False):
                losses, n = self._losses(ts, idx, use_mean=False)
                self.optimizer.zero_grad(set_to_none=True)
                losses["total"].backward()
                self.optimizer.step()
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) * n
        self.epoch += 1
        record = {"epoch": self.epoch, **{k: v / len(ts) for k, v in sums.items()}}
        self.history.append(record)
        return record

    @torch.inference_mode()
    def evaluate(self, ts: TensorSet, batch_size: int = 64) -> dict[str, float]:
        """Losses in eval mode with z = mu (no sampling noise, no dropout): the
        reconstruction error of ``ts``. Mean over samples, weighted by batch size."""
        ts = ts.to(self.device)
        was = self.model.training
        self.model.eval()
        sums: dict[str, float] = {}
        try:
            for idx in batch_indices(len(ts), batch_size, shuffle=False):
                losses, n = self._losses(ts, idx, use_mean=True)
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v) * n
        finally:
            self.model.train(was)
        return {k: v / len(ts) for k, v in sums.items()}

    def fit(self, ms: MotionSet, epochs: int | None = None, progress: bool = True, eval_every: int = 0,
            checkpoint: str | Path | None = None, save_every: int = 0) -> list[dict]:
        """Train ``epochs`` more epochs (default ``cfg.epochs``) on ``ms``.

        ``eval_every`` > 0 adds ``eval_*`` entries (:meth:`evaluate` on ``ms``) to every
        that-many-th epoch's record and to the last one. With ``checkpoint``, the trainer
        is saved there every ``save_every`` epochs (if > 0) and at the end.
        Returns the whole history (one dict per epoch, since the first).
        """
        epochs = self.cfg.epochs if epochs is None else int(epochs)
        ts = self.tensors(ms)
        bar = tqdm(range(epochs), disable=not progress, desc="generator")
        for i in bar:
            rec = self.train_epoch(ts)
            if eval_every > 0 and (self.epoch % eval_every == 0 or i == epochs - 1):
                rec.update({f"eval_{k}": v for k, v in self.evaluate(ts).items()})
            bar.set_postfix(loss=f"{rec['total']:.4g}", rec=f"{rec['rec']:.4g}")
            if checkpoint is not None and save_every > 0 and self.epoch % save_every == 0:
                self.save(checkpoint)
        if checkpoint is not None:
            self.save(checkpoint)
        return self.history

    # --------------------------------------------------------------- state
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
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> "GeneratorTrainer":
        """Rebuild a trainer from a checkpoint written by :meth:`save`, ready to resume."""
        obj = load_checkpoint(path)
        model, spec, meta = _rebuild(obj, path)
        state = cls.training_state(obj, path)
        trainer = cls(model, GeneratorConfig.from_dict(meta["config"]), spec, checkpoint_rest(meta), device)
        trainer.load_state_dict(state)
        if meta.get("preprocess") is not None:
            trainer.preprocess = Preprocess.from_dict(meta["preprocess"])
        return trainer


def _rebuild(obj: dict, path) -> tuple[CVAE, MotionSpec, dict]:
    meta = obj["meta"]
    if meta.get("kind") != CHECKPOINT_KIND:
        raise ValueError(f"{path}: not a generator checkpoint (kind {meta.get('kind')!r})")
    spec = MotionSpec.from_dict(meta["spec"])
    cfg = GeneratorConfig.from_dict(meta["config"])
    with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: leave the RNG alone
        model = CVAE(len(spec.class_names), spec.num_joints, spec.channels, cfg.cvae)
    model.load_state_dict(obj["state_dict"])
    return model, spec, meta


def checkpoint_rest(meta: dict) -> RestSkeleton | None:
    """The rest skeleton a generator checkpoint was trained with (None: no position loss)."""
    if meta.get("rest") is None:
        return None
    spec = MotionSpec.from_dict(meta["spec"])
    return RestSkeleton(spec.layout, np.asarray(meta["rest"]["joints"]), meta["rest"].get("source", ""))


def load_generator(path: str | Path, device: str | torch.device | None = "auto") -> tuple[CVAE, MotionSpec, dict]:
    """(model in eval mode on ``device``, its :class:`MotionSpec`, the checkpoint metadata)."""
    model, spec, meta = _rebuild(load_checkpoint(path), path)
    return model.to(resolve_device(device)).eval(), spec, meta


# ----------------------------------------------------------------- sampling
def _requests(spec: MotionSpec, requests: Sequence[tuple[int, int]] | None, per_class: int | None,
              length: int) -> tuple[np.ndarray, np.ndarray]:
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


def sample_motionset(model: CVAE, spec: MotionSpec, requests: Sequence[tuple[int, int]] | None = None,
                     per_class: int | None = None, length: int = 60, *, seed: int, batch_size: int = 256,
                     precision: str = "fp32", dropout: float | None = None,
                     provenance: dict | None = None, progress: bool = False) -> MotionSet:
    """Generate a synthetic motion set, on the model's device, under ``torch.inference_mode``.

    Args:
        requests: (class index, length) pairs, in output order; or
        per_class: N samples of every class, each ``length`` frames (classes in order).
        seed: all latents come from ``torch.Generator().manual_seed(seed)`` on the CPU in
            request order, so the result does not depend on ``batch_size`` or the device
            (up to floating point); sampling-time ``dropout`` draws from torch's RNG seeded
            with ``seed`` too (then it does depend on the batching).
        dropout: sampling-time dropout probability in the decoder (diversity option).
        provenance: ``run`` (str), ``epoch`` and ``round`` (ints) to record per sample.

    Returns a :class:`MotionSet` with source ``synthetic``, the provenance and the seed,
    subject ``"synthetic"``, names ``syn[-run][-eE][-rR]-sSEED-INDEX-CLASS``. The samples
    satisfy the training data's root constraint (``spec.root``, restored with
    :func:`~infagenc.data.preprocess.root_relative`; the decoder's raw output does not).
    """
    labels, lengths = _requests(spec, requests, per_class, length)
    prov = {"run": "", "epoch": -1, "round": -1, **(provenance or {})}
    unknown = set(prov) - {"run", "epoch", "round"}
    if unknown:
        raise ValueError(f"unknown provenance keys {sorted(unknown)}; use run, epoch, round")
    n, t_max = len(labels), int(lengths.max()) if len(labels) else 1
    dev = next(model.parameters()).device
    g = torch.Generator().manual_seed(int(seed))
    z_all = torch.randn((n, model.latent_dim), generator=g)
    out = np.zeros((n, t_max, spec.num_joints, spec.channels), np.float32)
    was = model.training
    model.eval()
    try:
        with torch.inference_mode(), seeded_rng(seed) if dropout else contextlib.nullcontext():
            for idx in tqdm(list(batch_indices(n, batch_size, shuffle=False)), disable=not progress,
                            desc="sampling"):
                lab = torch.as_tensor(labels[idx.numpy()], device=dev)
                lens = torch.as_tensor(lengths[idx.numpy()], device=dev)
                with autocast(dev, precision):
                    y = model.decode(z_all[idx].to(dev), lab, lens, dropout=dropout)
                y = y.float()
                if spec.rep == "rot6d":
                    v = spec.layout.num_joints
                    y[..., :v, :] = from_matrix(to_matrix(y[..., :v, :], "rot6d"), "rot6d")
                    y = y * (torch.arange(y.shape[1], device=dev)[None, :] < lens[:, None])[..., None, None]
                out[idx.numpy(), : y.shape[1]] = y.cpu().numpy()
    finally:
        model.train(was)
    trans = None
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
