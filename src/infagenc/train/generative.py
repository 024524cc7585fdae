"""What the two generators' trainers share, and the one interface the loop uses.

:class:`GenerativeTrainer` is the base of :class:`~infagenc.train.generator.GeneratorTrainer`
(the CVAE) and :class:`~infagenc.train.diffusion.DiffusionTrainer` (MDM-style diffusion). A
subclass gives its model builder, the losses of one batch and its sampler; the base owns the
rest, the same for both:

* **construction**: :meth:`GenerativeTrainer.from_motionset` (the spec of the data, initial
  weights from ``cfg.seed``), the model / spec shape check, the rest skeleton of the
  forward-kinematics losses (the shipped infant skeleton for ``smpl24``), ``preprocess``;
* **training**: :meth:`~GenerativeTrainer.train_epoch` (seeded shuffling, a per-epoch seed for
  torch's forked global RNG), :meth:`~GenerativeTrainer.evaluate`,
  :meth:`~GenerativeTrainer.fit` (epochs, periodic evaluation and checkpoints);
* **state**: :meth:`~GenerativeTrainer.save` / :meth:`~GenerativeTrainer.load` (the
  checkpoint's ``kind`` says which generator it holds; ``GenerativeTrainer.load`` reads
  either, a subclass's ``load`` only its own), exact resume, the history;
* **sampling**: :meth:`~GenerativeTrainer.sample` (per-class requests, a seed, provenance) ->
  a synthetic :class:`MotionSet` (:func:`synthetic_motionset`: names, provenance, rot6d
  projected onto rotations, the training data's root constraint restored).

:func:`new_trainer` builds the trainer ``cfg.model`` names (``"cvae"`` / ``"mdm"``,
:data:`GENERATOR_MODELS`), :func:`load_trainer` whichever a checkpoint holds.

**Several processes** (``torchrun``, :mod:`infagenc.train.distributed`): every rank draws the
same shuffled global batch and all its random numbers (the CVAE's reparameterisation noise, the
diffusion steps, noise and class drop) on the CPU, then computes the losses of its contiguous
slice through :class:`~torch.nn.parallel.DistributedDataParallel`, scaled by
``n_rank * world / n_batch`` so the averaged gradient is that of the global batch. With dropout
off and sequences of equal length this is the 1-process computation up to float summation
order; dropout masks are drawn per rank, and with unequal lengths the per-frame means are
weighted per sample over the ranks. The epoch statistics are summed over the ranks (every rank
keeps the same history). Sampling decodes this rank's contiguous part of the requests (the
latents / initial noise of all of them come from the seed) and gathers the parts, so every
rank holds the same full set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.motionset import MotionSet
from ..data.preprocess import Preprocess, root_relative
from ..skeleton.kinematics import RestSkeleton, fk_from_representation, infant_rest_skeleton
from ..skeleton.rotations import from_matrix, to_matrix
from .batching import TensorSet, batch_indices
from .checkpoint import load_checkpoint
from .device import PRECISIONS, resolve_device
from .distributed import all_sum, gather_rows, shard_slice, world_size
from .motionspec import MotionSpec, motion_tensors
from .trainer import Trainer, seeded_rng

__all__ = ["GENERATOR_MODELS", "GenerativeSettings", "GenerativeTrainer", "new_trainer", "load_trainer",
           "checkpoint_model", "checkpoint_settings", "checkpoint_rest", "request_arrays", "provenance_of",
           "decode_requests", "synthetic_motionset"]

GENERATOR_MODELS = ("cvae", "mdm")  # the transformer CVAE (the paper's) | an MDM-style diffusion generator


@dataclass
class GenerativeSettings:
    """The training settings both generators' configs share (defaults: the paper's lr 1e-4 and
    batch 16; 1100 epochs, the generator pre-training length of the paper's schedule)."""

    trans: bool = False
    keep_root: bool = True
    lr: float = 1e-4
    batch_size: int = 16
    epochs: int = 1100
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"

    def _check_settings(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.batch_size < 1 or self.epochs < 0 or self.lr <= 0:
            raise ValueError("need batch_size >= 1, epochs >= 0, lr > 0")


def _rest_for(spec: MotionSpec, rest: RestSkeleton | None, needed: bool, hint: tuple[str, str]
              ) -> RestSkeleton | None:
    if not needed:
        return None
    if rest is None:
        if spec.layout.name != "smpl24":
            raise ValueError(f"{hint[0]} a rest skeleton for layout {spec.layout.name!r}: pass rest= or set "
                             f"{hint[1]}")
        return infant_rest_skeleton()
    if rest.layout.num_joints != spec.layout.num_joints or rest.layout.parents != spec.layout.parents:
        raise ValueError(f"rest skeleton is for layout {rest.layout.name!r}, data is {spec.layout.name!r}")
    return rest


class GenerativeTrainer(Trainer):
    """A generator's :class:`~infagenc.train.trainer.Trainer` (see module docstring).

    Subclasses set ``KIND`` (the checkpoint kind), ``MODEL`` (``"cvae"`` / ``"mdm"``),
    ``CONFIG`` (the config class), ``TERM`` (the loss term shown beside the total) and
    implement :meth:`build_model`, :meth:`rebuild_model`, :meth:`needs_rest`, :meth:`step_module`,
    :meth:`batch_losses` and :meth:`sample`.

    Args:
        model: the generator (moved to ``device``).
        cfg: the run's config (``CONFIG``).
        spec: what the data means (:class:`MotionSpec`).
        rest: rest skeleton for the forward-kinematics losses of rotation data (default: the
            shipped infant skeleton for ``smpl24``).
        device: overrides ``cfg.device``.
    """

    KIND = ""
    MODEL = ""
    CONFIG: type = GenerativeSettings
    TERM = "total"
    REST_HINT = ("the position loss of rotation data needs", "its weight to 0")  # (what needs it, how to avoid)
    _registry: dict[str, type["GenerativeTrainer"]] = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.KIND:
            GenerativeTrainer._registry[cls.KIND] = cls

    def __init__(self, model: torch.nn.Module, cfg, spec: MotionSpec, rest: RestSkeleton | None = None,
                 device: str | torch.device | None = None):
        if (model.num_classes, model.num_joints, model.channels) != (len(spec.class_names), spec.num_joints,
                                                                     spec.channels):
            raise ValueError("model shape does not match the motion spec")
        self.check_model(model, cfg)
        self.cfg, self.spec = cfg, spec
        self.rest = _rest_for(spec, rest, self.needs_rest(spec, cfg), self.REST_HINT)
        super().__init__(model, device if device is not None else cfg.device, lr=cfg.lr, seed=cfg.seed)
        self.preprocess: Preprocess | None = None
        self._step = None  # the (DDP-wrapped) training forward, built on first use

    # ------------------------------------------------------ subclass hooks
    @classmethod
    def build_model(cls, spec: MotionSpec, cfg) -> torch.nn.Module:
        """A freshly initialised model for ``spec`` (weights from ``cfg.seed``)."""
        raise NotImplementedError

    @classmethod
    def rebuild_model(cls, spec: MotionSpec, cfg, state_dict: dict) -> torch.nn.Module:
        """An empty model of the checkpoint's shape (its weights are loaded afterwards)."""
        raise NotImplementedError

    def check_model(self, model: torch.nn.Module, cfg) -> None:
        """Refuse a model that does not fit ``cfg``."""

    @staticmethod
    def needs_rest(spec: MotionSpec, cfg) -> bool:
        """Whether the losses need forward kinematics (a rest skeleton)."""
        raise NotImplementedError

    def step_module(self) -> torch.nn.Module:
        """The module whose forward the training step calls (wrapped in DDP under torchrun)."""
        return self.model

    def batch_losses(self, step: torch.nn.Module, ts: TensorSet, idx: torch.Tensor, part: slice,
                     g: torch.Generator | None, train: bool) -> dict[str, torch.Tensor]:
        """Losses (means over ``idx[part]``) of the global batch ``idx``'s slice ``part``; every
        random number is drawn for the whole of ``idx`` (from ``g``, or torch's global RNG)."""
        raise NotImplementedError

    def sample(self, requests: Sequence[tuple[int, int]] | None = None, per_class: int | None = None,
               length: int = 60, *, seed: int, precision: str = "fp32", dropout: float | None = None,
               provenance: dict | None = None, progress: bool = False, batch_size: int = 256) -> MotionSet:
        """A synthetic :class:`MotionSet` of ``requests`` ((class, length) pairs) or ``per_class``
        samples of every class, drawn from ``seed``; ``dropout``: the CVAE's sampling-time
        dropout (refused by a generator without one)."""
        raise NotImplementedError

    # -------------------------------------------------------------- data
    @classmethod
    def from_motionset(cls, ms: MotionSet, cfg, rest: RestSkeleton | None = None,
                       device: str | torch.device | None = None) -> "GenerativeTrainer":
        spec = MotionSpec.from_motionset(ms, cfg.trans, cfg.keep_root)
        return cls(cls.build_model(spec, cfg), cfg, spec, rest, device)

    def tensors(self, ms: MotionSet) -> TensorSet:
        return motion_tensors(ms, self.spec, self.device)

    def _positions(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        if self.rest is None:
            return None
        v, rep, rest = self.spec.layout.num_joints, self.spec.rep, self.rest
        return lambda frames: fk_from_representation(frames[..., :v, :], rep, rest)

    # ---------------------------------------------------------- training
    def _training_step_module(self) -> torch.nn.Module:
        if self._step is None:
            self._step = self.data_parallel(self.step_module())
        return self._step

    def train_epoch(self, ts: TensorSet, progress: bool = False) -> dict[str, float]:
        """One pass over ``ts`` (from :meth:`tensors`) in shuffled global batches (each rank
        computing its slice); returns the epoch's mean losses (weighted by batch size, summed
        over ranks) and appends them to ``history``."""
        if len(ts) == 0:
            raise ValueError("cannot train on an empty set")
        world = world_size()
        if self.cfg.batch_size < world:
            raise ValueError(f"batch_size {self.cfg.batch_size} is smaller than the {world} ranks; raise it")
        ts = ts.to(self.device)
        step = self._training_step_module()
        epoch_seed = self.epoch_seed()
        self.model.train()
        sums: dict[str, float] = {}
        batches = batch_indices(len(ts), self.cfg.batch_size, shuffle=True, generator=self.rng)
        with seeded_rng(epoch_seed):
            for idx in tqdm(batches, total=math.ceil(len(ts) / self.cfg.batch_size), disable=not progress,
                            desc=f"{self.MODEL} epoch {self.epoch + 1}", leave=False):
                part = shard_slice(len(idx))
                n = part.stop - part.start
                losses = self.batch_losses(step, ts, idx, part, None, train=True)
                self.optimizer.zero_grad(set_to_none=True)
                (losses["total"] * (n * world / len(idx))).backward()
                self.optimizer.step()
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) * n
        self.epoch += 1
        keys = sorted(sums)
        totals = dict(zip(keys, all_sum([sums[k] for k in keys])))
        record = {"epoch": self.epoch, **{k: totals[k] / len(ts) for k in sums}}
        self.history.append(record)
        return record

    @torch.inference_mode()
    def evaluate(self, ts: TensorSet, batch_size: int = 64, seed: int = 0) -> dict[str, float]:
        """Losses in eval mode (no dropout; the CVAE with z = mu, the diffusion model with steps
        and noise drawn from ``seed``: the same draw every call). Mean over samples."""
        ts = ts.to(self.device)
        was = self.model.training
        self.model.eval()
        g = torch.Generator().manual_seed(int(seed))
        sums: dict[str, float] = {}
        try:
            for idx in batch_indices(len(ts), batch_size, shuffle=False):
                for k, v in self.batch_losses(self.step_module(), ts, idx, slice(0, len(idx)), g,
                                              train=False).items():
                    sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
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
        bar = tqdm(range(epochs), disable=not progress, desc=self.MODEL)
        for i in bar:
            rec = self.train_epoch(ts)
            if eval_every > 0 and (self.epoch % eval_every == 0 or i == epochs - 1):
                rec.update({f"eval_{k}": v for k, v in self.evaluate(ts).items()})
            bar.set_postfix(loss=f"{rec['total']:.4g}", **{self.TERM: f"{rec[self.TERM]:.4g}"})
            if checkpoint is not None and save_every > 0 and self.epoch % save_every == 0:
                self.save(checkpoint)
        if checkpoint is not None:
            self.save(checkpoint)
        return self.history

    # ------------------------------------------------------------- state
    def meta(self) -> dict:
        m = {"kind": self.KIND, "config": self.cfg.to_dict(), "spec": self.spec.to_dict(),
             "rest": None if self.rest is None else self.rest.to_dict(), "epoch": self.epoch,
             "history": self.history}
        if self.preprocess is not None:
            m["preprocess"] = self.preprocess.to_dict()
        return m

    def save(self, path: str | Path, extra_meta: dict | None = None) -> Path:
        """Checkpoint (plain state dicts, see :mod:`infagenc.train.checkpoint`)."""
        return self.save_training_state(path, {**self.meta(), **(extra_meta or {})})

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> "GenerativeTrainer":
        """Rebuild a trainer from a checkpoint written by :meth:`save`, ready to resume
        (``GenerativeTrainer.load``: of whichever kind the checkpoint holds)."""
        obj = load_checkpoint(path)
        kind = _kind_class(obj, path, cls)
        model, spec, meta = _rebuild(kind, obj)
        trainer = kind(model, kind.CONFIG.from_dict(meta["config"]), spec, checkpoint_rest(meta), device)
        trainer.load_state_dict(kind.training_state(obj, path))
        if meta.get("preprocess") is not None:
            trainer.preprocess = Preprocess.from_dict(meta["preprocess"])
        return trainer


def _classes() -> dict[str, type[GenerativeTrainer]]:
    from . import diffusion, generator  # noqa: F401  (they register their trainers)

    return GenerativeTrainer._registry


_WHAT = {"infagenc.generator": "generator", "infagenc.diffusion": "diffusion-generator"}


def _kind_class(obj: dict, path, want: type[GenerativeTrainer]) -> type[GenerativeTrainer]:
    kind = obj["meta"].get("kind")
    found = _classes().get(kind)
    if found is None or not issubclass(found, want):
        what = _WHAT.get(want.KIND, "generator")
        raise ValueError(f"{path}: not a {what} checkpoint (kind {kind!r})")
    return found


def _rebuild(kind: type[GenerativeTrainer], obj: dict) -> tuple[torch.nn.Module, MotionSpec, dict]:
    meta = obj["meta"]
    spec = MotionSpec.from_dict(meta["spec"])
    cfg = kind.CONFIG.from_dict(meta["config"])
    with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: leave the RNG alone
        model = kind.rebuild_model(spec, cfg, obj["state_dict"])
    model.load_state_dict(obj["state_dict"])
    return model, spec, meta


def checkpoint_model(path: str | Path, device: str | torch.device | None = "auto",
                     want: type[GenerativeTrainer] = GenerativeTrainer) -> tuple[torch.nn.Module, MotionSpec, dict]:
    """(model in eval mode on ``device``, its :class:`MotionSpec`, the checkpoint metadata) of a
    generator checkpoint of the kind of ``want`` (any, by default)."""
    obj = load_checkpoint(path)
    model, spec, meta = _rebuild(_kind_class(obj, path, want), obj)
    return model.to(resolve_device(device)).eval(), spec, meta


def checkpoint_settings(path: str | Path) -> tuple[Any, Preprocess | None, RestSkeleton | None]:
    """(config, preprocessing, rest skeleton) a generator checkpoint of either kind was trained
    with: what :func:`new_trainer` needs to train the same generator again on other data (e.g.
    on one validation fold's training part). The weights are not rebuilt."""
    obj = load_checkpoint(path)
    kind = _kind_class(obj, path, GenerativeTrainer)
    meta = obj["meta"]
    prep = Preprocess.from_dict(meta["preprocess"]) if meta.get("preprocess") is not None else None
    return kind.CONFIG.from_dict(meta["config"]), prep, checkpoint_rest(meta)


def checkpoint_rest(meta: dict) -> RestSkeleton | None:
    """The rest skeleton a generator checkpoint was trained with (None: no position loss)."""
    if meta.get("rest") is None:
        return None
    spec = MotionSpec.from_dict(meta["spec"])
    return RestSkeleton(spec.layout, np.asarray(meta["rest"]["joints"]), meta["rest"].get("source", ""))


def new_trainer(ms: MotionSet, cfg, rest: RestSkeleton | None = None,
                device: str | torch.device | None = None) -> GenerativeTrainer:
    """A new trainer of the generator ``cfg`` names: a :class:`~infagenc.train.generator.GeneratorConfig`
    with ``model = "mdm"`` trains its diffusion settings
    (:meth:`~infagenc.train.generator.GeneratorConfig.diffusion_config`); a
    :class:`~infagenc.train.diffusion.DiffusionConfig` the diffusion generator; else the CVAE."""
    from .diffusion import DiffusionConfig, DiffusionTrainer
    from .generator import GeneratorTrainer

    if getattr(cfg, "model", "cvae") == "mdm":
        cfg = cfg.diffusion_config()
    kind = DiffusionTrainer if isinstance(cfg, DiffusionConfig) else GeneratorTrainer
    return kind.from_motionset(ms, cfg, rest, device)


def load_trainer(path: str | Path, device: str | torch.device | None = None) -> GenerativeTrainer:
    """The trainer of whichever generator the checkpoint holds (its ``kind``), ready to resume."""
    return GenerativeTrainer.load(path, device)


# ------------------------------------------------------------------ sampling
def request_arrays(spec: MotionSpec, requests: Sequence[tuple[int, int]] | None, per_class: int | None,
                   length: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, lengths) int64 arrays of ``requests`` ((class, length) pairs) or of ``per_class``
    samples of every class at ``length`` frames (exactly one of the two)."""
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


def provenance_of(provenance: dict | None) -> dict:
    """``run`` / ``epoch`` / ``round`` with their defaults; other keys are refused."""
    prov = {"run": "", "epoch": -1, "round": -1, **(provenance or {})}
    unknown = set(prov) - {"run", "epoch", "round"}
    if unknown:
        raise ValueError(f"unknown provenance keys {sorted(unknown)}; use run, epoch, round")
    return prov


def decode_requests(model: torch.nn.Module, spec: MotionSpec, labels: np.ndarray, lengths: np.ndarray,
                    batch_size: int, decode: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
                    progress: bool = False) -> np.ndarray:
    """(N, max length, V, C) float32 outputs of ``decode(idx, labels, lengths)`` (request indices
    and their labels / lengths on the model's device -> (n, T, V, C)), in eval mode, batch by
    batch over this rank's part of the requests, gathered over the ranks; rot6d projected onto
    rotations, padding frames zero."""
    n, t_max = len(labels), int(lengths.max()) if len(labels) else 1
    dev = next(model.parameters()).device
    mine = np.arange(n)[shard_slice(n)]
    out = np.zeros((len(mine), t_max, spec.num_joints, spec.channels), np.float32)
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for b in tqdm(list(batch_indices(len(mine), batch_size, shuffle=False)), disable=not progress,
                          desc="sampling"):
                idx = mine[b.numpy()]
                lens = torch.as_tensor(lengths[idx], device=dev)
                y = decode(torch.as_tensor(idx), torch.as_tensor(labels[idx], device=dev), lens).float()
                if spec.rep == "rot6d":
                    v = spec.layout.num_joints
                    y[..., :v, :] = from_matrix(to_matrix(y[..., :v, :], "rot6d"), "rot6d")
                    y = y * (torch.arange(y.shape[1], device=dev)[None, :] < lens[:, None])[..., None, None]
                out[b.numpy(), : y.shape[1]] = y.cpu().numpy()
    finally:
        model.train(was)
    return gather_rows(out, n)


def synthetic_motionset(out: np.ndarray, labels: np.ndarray, lengths: np.ndarray, spec: MotionSpec,
                        provenance: dict | None, seed: int, name_suffixes: Sequence[str] | None = None) -> MotionSet:
    """The synthetic :class:`MotionSet` of generated arrays ``out`` (N, T, V', C): source
    ``synthetic``, the provenance and the seed, subject ``"synthetic"``, names
    ``syn[-run][-eE][-rR]-sSEED-INDEX-CLASS[SUFFIX]``, the translation joint split off into
    ``trans`` and the training data's root constraint (``spec.root``) restored."""
    prov = provenance_of(provenance)
    n, trans = len(labels), None
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
