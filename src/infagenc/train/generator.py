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
* **Auxiliary classification loss** (``lambda_cls`` > 0; refinement of "Generative Data
  Augmentation for Skeleton Action Recognition", off by default): the model gets the
  classification head of :class:`~infagenc.models.cvae.CVAE` over its decoded output, and
  ``lambda_cls`` x label-smoothed cross-entropy (``cls_label_smoothing``, 0.1: our choice,
  the paper gives no value) of those logits against the conditioning labels joins the total
  (history key ``cls``). A checkpoint holds the head exactly when it was trained with one.
* **Sampling around real samples** (posterior / exemplar sampling) is in
  :mod:`infagenc.train.exemplar`; it decodes through :func:`decode_motionset` as
  :func:`sample_motionset` does.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..config import config_from_dict
from ..data.motionset import MotionSet
from ..data.preprocess import Preprocess, root_relative
from ..models.cvae import CVAE, CVAEConfig
from ..skeleton.kinematics import RestSkeleton, fk_from_representation, infant_rest_skeleton
from ..skeleton.rotations import ROTATION_REPRESENTATIONS, from_matrix, to_matrix
from .batching import TensorSet, batch_indices
from .checkpoint import load_checkpoint
from .device import PRECISIONS, autocast, resolve_device
from .losses import KL_REDUCTIONS, generator_losses
from .motionspec import MotionSpec, motion_tensors
from .trainer import Trainer, seeded_rng

__all__ = ["GeneratorConfig", "MotionSpec", "GeneratorTrainer", "build_generator", "motion_tensors",
           "load_generator", "checkpoint_rest", "sample_motionset", "decode_motionset", "CHECKPOINT_KIND"]

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
    lambda_cls: float = 0.0  # auxiliary classification loss on the decoded output; 0 = off (no head)
    cls_label_smoothing: float = 0.1
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
        if min(self.lambda_rec, self.lambda_pos, self.lambda_vel, self.lambda_kl, self.lambda_cls) < 0:
            raise ValueError("loss weights must be >= 0")
        if not 0.0 <= self.cls_label_smoothing < 1.0:
            raise ValueError(f"cls_label_smoothing must lie in [0, 1), got {self.cls_label_smoothing}")
        if self.batch_size < 1 or self.epochs < 0 or self.lr <= 0:
            raise ValueError("need batch_size >= 1, epochs >= 0, lr > 0")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cvae"] = self.cvae.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        return config_from_dict(cls, d, "generator config")


def build_generator(spec: MotionSpec, cfg: CVAEConfig, seed: int, cls_head: bool = False) -> CVAE:
    """A freshly initialised CVAE for ``spec``; the initial weights depend only on ``seed``
    (the optional classification head is built last: the other weights are the same with it)."""
    with seeded_rng(seed):
        return CVAE(len(spec.class_names), spec.num_joints, spec.channels, cfg, cls_head=cls_head)


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
        if cfg.lambda_cls > 0 and model.cls_head is None:
            raise ValueError("lambda_cls > 0 needs a model with the classification head "
                             "(build_generator(..., cls_head=True))")
        self.cfg, self.spec = cfg, spec
        self.rest = _default_rest(spec, cfg, rest)
        super().__init__(model, device if device is not None else cfg.device, lr=cfg.lr, seed=cfg.seed)
        self.preprocess: Preprocess | None = None

    @classmethod
    def from_motionset(cls, ms: MotionSet, cfg: GeneratorConfig, rest: RestSkeleton | None = None,
                       device: str | torch.device | None = None) -> "GeneratorTrainer":
        spec = MotionSpec.from_motionset(ms, cfg.trans, cfg.keep_root)
        return cls(build_generator(spec, cfg.cvae, cfg.seed, cls_head=cfg.lambda_cls > 0), cfg, spec, rest, device)

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
        if c.lambda_cls > 0:
            losses["cls"] = F.cross_entropy(out["logits"].float(), labels, label_smoothing=c.cls_label_smoothing)
            losses["total"] = losses["total"] + c.lambda_cls * losses["cls"]
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
    head = any(k.startswith("cls_head.") for k in obj["state_dict"])  # older checkpoints: never
    with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: leave the RNG alone
        model = CVAE(len(spec.class_names), spec.num_joints, spec.channels, cfg.cvae, cls_head=head)
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
    g = torch.Generator().manual_seed(int(seed))
    z_all = torch.randn((len(labels), model.latent_dim), generator=g)
    return decode_motionset(model, spec, z_all, labels, lengths, seed=seed, batch_size=batch_size,
                            precision=precision, dropout=dropout, provenance=provenance, progress=progress)


def _provenance(provenance: dict | None) -> dict:
    prov = {"run": "", "epoch": -1, "round": -1, **(provenance or {})}
    unknown = set(prov) - {"run", "epoch", "round"}
    if unknown:
        raise ValueError(f"unknown provenance keys {sorted(unknown)}; use run, epoch, round")
    return prov


@torch.inference_mode()
def _decode_all(model: CVAE, spec: MotionSpec, z_all: torch.Tensor, labels: np.ndarray, lengths: np.ndarray,
                seed: int, batch_size: int, precision: str, dropout: float | None, progress: bool) -> np.ndarray:
    n, t_max = len(labels), int(lengths.max()) if len(labels) else 1
    dev = next(model.parameters()).device
    out = np.zeros((n, t_max, spec.num_joints, spec.channels), np.float32)
    was = model.training
    model.eval()
    try:
        with seeded_rng(seed) if dropout else contextlib.nullcontext():
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
    return out


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
    prov = _provenance(provenance)
    n = len(labels)
    if z_all.shape != (n, model.latent_dim) or lengths.shape != (n,):
        raise ValueError(f"need z (N, {model.latent_dim}) and lengths (N,) for N = {n} labels, got "
                         f"{tuple(z_all.shape)} and {lengths.shape}")
    out = _decode_all(model, spec, z_all, labels, lengths, seed, batch_size, precision, dropout, progress)
    trans = None
    if spec.trans:
        trans = out[:, :, -1, :3].copy()
        out = out[:, :, :-1]
    tag = "syn" + (f"-{prov['run']}" if prov["run"] else "") + (f"-e{prov['epoch']}" if prov["epoch"] >= 0 else "") \
        + (f"-r{prov['round']}" if prov["round"] >= 0 else "") + f"-s{int(seed)}"
    suffixes = [""] * n if name_suffixes is None else [str(x) for x in name_suffixes]
    if len(suffixes) != n:
        raise ValueError(f"{len(suffixes)} name suffixes for {n} samples")
    names = [f"{tag}-{i:06d}-{spec.class_names[c]}{sfx}" for i, (c, sfx) in enumerate(zip(labels, suffixes))]
    ms = MotionSet(out, lengths, labels, spec.class_names, ["synthetic"] * n, names, spec.layout, spec.rep,
                   source=["synthetic"] * n, run=[str(prov["run"])] * n, epoch=int(prov["epoch"]),
                   round=int(prov["round"]), seed=int(seed), trans=trans, fps=spec.fps)
    return root_relative(ms, spec.root) if spec.root != "none" and n else ms
