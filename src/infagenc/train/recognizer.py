"""Training, inference, evaluation and checkpoints of skeleton recognizers (ST-GCN, MS-G3D).

* :class:`RecognizerConfig` - what to train and how (optimizer, loss, schedule, batches,
  augmentation: :class:`~infagenc.train.augment.AugmentConfig`).
* :func:`new_recognizer` - a freshly initialised model, its weights drawn from ``cfg.seed``.
* :class:`RecognizerTrainer` - a :class:`~infagenc.train.trainer.Trainer` (model, Adam, the
  seeded ``rng`` for shuffling and dropout, the epoch counter); ``fit`` stops early once a
  target accuracy is reached (the paper stops its critic at 85% so that it stays a fair
  judge); ``state_dict`` / ``save`` capture everything needed to resume exactly.
* :func:`predict`, :func:`evaluate`, :class:`Predictions`, :func:`save_recognizer` /
  :func:`load_recognizer` (/ ``_with_meta``): inference, evaluation and plain checkpoints,
  defined in :mod:`infagenc.train.inference` and re-exported here.

What ``infagenc recognizer train|eval`` do (run folders, preprocessing, reports) is in
:mod:`infagenc.workflows.recognizer`.

Choices where the papers are silent: Adam with lr 1e-3 and no weight decay, batch 16,
constant learning rate (each a :class:`RecognizerConfig` option: AdamW, label smoothing,
warm-up + cosine schedule, augmentation, head dropout; all off by default); the training
accuracy of an epoch is measured on the fly (dropout on, weights changing, batches
augmented) as in the released code; early stopping looks at the validation accuracy when a
validation set is given, else at that training accuracy, and the model kept is the last
epoch's (never one chosen on a test set). Per epoch, the trainer's ``rng`` gives the
dropout seed, the batch order and (only when augmentation is on) the augmentation seed, so
a resumed run repeats an uninterrupted one exactly (on CPU); the global RNG is left alone.
The learning rate is a function of the epoch counter, so resuming needs no scheduler state.
A final batch of a single sample is merged into the previous batch (batch norm cannot
train on one single-frame sample).

Several processes (``torchrun``, :mod:`infagenc.train.distributed`): every rank draws the same
global batches from the same ``rng`` and trains on its contiguous slice through
DistributedDataParallel, its loss scaled so that the averaged gradient is the global batch
mean's (an uneven last batch too); augmentation is drawn for the whole global batch on every
rank, so each sample is transformed as in one process. Not exact against one process: float
sums in another order; dropout (each rank seeds it with the epoch seed + rank); batch-norm
statistics, which are per rank (rank 0's running statistics kept) unless ``sync_bn``.
DANN / LMMD (batch-level terms) are refused over several ranks.

Precision: ``bf16`` autocast pays off on GPUs and on CPUs with native bf16; elsewhere it is
emulated and much slower than fp32 (see :data:`~infagenc.train.device.PRECISIONS`).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..config import config_from_dict
from ..data.motionset import MotionSet
from ..models.base import Recognizer
from ..models.registry import build_from_spec, build_recognizer
from ..skeleton.layouts import Layout
from .augment import AugmentConfig, augment_batch, check_rep
from .batching import TensorSet, to_tensors
from .checkpoint import CheckpointError, load_checkpoint
from .device import PRECISION_MODES, autocast, resolve_precision
from .distributed import all_sum, broadcast_tensor, convert_sync_batchnorm, is_active, is_main, rank, shard_slice
from .distributed import sync_buffers, world_size
from .inference import (Predictions, _batches, _infer, evaluate, load_recognizer, load_recognizer_with_meta,
                        predict, save_recognizer)
from .realsyn import CLASS_BALANCE, DomainTerms, RealSynConfig, loss_weights, mixed_batches, weighted_ce
from .schedule import SCHEDULES, lr_at
from .trainer import Trainer, seeded_rng

__all__ = [
    "OPTIMIZERS",
    "AugmentConfig",
    "RealSynConfig",
    "RecognizerConfig",
    "RecognizerTrainer",
    "Predictions",
    "new_recognizer",
    "predict",
    "evaluate",
    "save_recognizer",
    "load_recognizer",
    "load_recognizer_with_meta",
]

OPTIMIZERS = ("adam", "adamw")  # Adam + L2 (coupled) | AdamW (decoupled weight decay)


@dataclass
class RecognizerConfig:
    """How to build and train a recognizer (every default is the behaviour before the option).

    * ``model`` (``stgcn`` | ``msg3d``), ``size`` (``paper`` | ``slim``); ``model_options``
      overrides fields of the architecture config of ``size`` (e.g. ``{"dropout": 0.0}``,
      ``{"partition": "spatial_original"}`` or ``{"head_dropout": 0.5}``: dropout on the
      pooled features before the linear head, 0 by default).
    * ``epochs`` (50), ``batch_size`` (16), ``eval_batch_size`` (unset: chosen for the
      device, 16 on a CPU, 64 elsewhere; an execution setting: outputs do not depend on it), ``seed`` (0: initial
      weights, shuffling, dropout, augmentation), ``device``, ``precision`` (``fp32``, ``bf16``
      or ``auto``: bf16 autocast where native, see :func:`~infagenc.train.device.resolve_precision`).
    * ``lr`` (1e-3): the base learning rate; ``schedule`` (``constant`` | ``cosine``) and
      ``warmup_epochs`` (0) make it a function of the epoch (:mod:`infagenc.train.schedule`:
      linear warm-up to ``lr`` over ``warmup_epochs``, then constant, or a cosine decay
      towards 0 at epoch ``epochs``).
    * ``optimizer`` (``adam``) and ``weight_decay`` (0): ``adam`` adds ``weight_decay * w``
      to the gradient (L2, coupled: Adam then divides it by the gradient's running scale,
      so weights with large gradients are hardly decayed); ``adamw`` decays the weights
      directly by ``lr * weight_decay * w`` per step (Loshchilov & Hutter), the form that
      regularises as intended with Adam; values around 1e-2 to 5e-2 are usual there, against
      1e-4 to 5e-4 for an L2 term. Both decay every parameter (batch norm and biases too).
    * ``label_smoothing`` (0): cross-entropy's own option (targets ``1 - eps`` on the class
      plus ``eps / K`` on every class) for the training loss; the validation loss is plain
      cross-entropy.
    * ``augment``: an :class:`~infagenc.train.augment.AugmentConfig` (every part off by
      default): random rotation, scale, shear, temporal crop, jitter, mirror of each training
      batch, and ``repeat`` passes per epoch.
    * ``class_balance`` (``none`` | ``loss``): ``loss`` weighs each sample's loss by
      ``N / (K n_c)`` so that rare classes count as much as frequent ones.
    * ``realsyn``: a :class:`~infagenc.train.realsyn.RealSynConfig`: how the synthetic samples
      of a training set (``MotionSet.is_synthetic``) are used: a loss weight, a per-batch
      real:synthetic ratio, DANN (a domain classifier through gradient reversal), LMMD
      (class-wise feature alignment), or two stages (Syn, then Real). A set without
      synthetic samples trains as before.
    * ``target_accuracy`` (None): stop once the validation accuracy (the training accuracy
      without a validation set) reaches it; ``false`` (TOML has no None) also means none. The model kept is always the last epoch's: no
      epoch is ever chosen by a test set.
    * ``sync_bn`` (False): in a multi-process run (torchrun), batch norm over the global batch
      (:func:`~infagenc.train.distributed.convert_sync_batchnorm`) instead of each rank's
      slice; no effect in one process.
    """

    model: str = "stgcn"
    size: str = "paper"
    epochs: int = 50
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.0
    target_accuracy: float | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    eval_batch_size: int | None = None  # None: chosen for the device (16 on a CPU, 64 elsewhere)
    model_options: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "adam"
    label_smoothing: float = 0.0
    schedule: str = "constant"
    warmup_epochs: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    class_balance: str = "none"
    realsyn: RealSynConfig = field(default_factory=RealSynConfig)
    sync_bn: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISION_MODES:
            raise ValueError(f"precision must be one of {PRECISION_MODES}, got {self.precision!r}")
        if self.target_accuracy is False:
            self.target_accuracy = None
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise ValueError(f"target_accuracy must lie in (0, 1], got {self.target_accuracy}")
        if self.epochs < 0 or self.batch_size < 1 or (self.eval_batch_size is not None and self.eval_batch_size < 1):
            raise ValueError("need epochs >= 0, batch_size >= 1 and eval_batch_size >= 1")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs}")
        if isinstance(self.augment, dict):
            self.augment = config_from_dict(AugmentConfig, self.augment, "recognizer config.augment")
        if isinstance(self.realsyn, dict):
            self.realsyn = config_from_dict(RealSynConfig, self.realsyn, "recognizer config.realsyn")
        if self.class_balance not in CLASS_BALANCE:
            raise ValueError(f"class_balance must be one of {CLASS_BALANCE}, got {self.class_balance!r}")

    def lr_at(self, epoch: int) -> float:
        """The learning rate of the epoch with 0-based index ``epoch``."""
        return lr_at(epoch, self.lr, self.schedule, self.epochs, self.warmup_epochs)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RecognizerConfig":
        return config_from_dict(cls, d, "recognizer config")


def new_recognizer(cfg: RecognizerConfig, layout: Layout | str, in_channels: int, num_classes: int) -> Recognizer:
    """A fresh model whose initial weights depend only on ``cfg.seed`` (global RNG untouched)."""
    with seeded_rng(cfg.seed):
        return build_recognizer(cfg.model, layout, in_channels, num_classes, cfg.size, **cfg.model_options)


class _TrainForward(torch.nn.Module):
    """A recognizer's training forward, (features, logits), as one module for DDP."""

    def __init__(self, model: Recognizer) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.model.features(x, lengths)
        return feats, self.model.head(self.model.head_drop(feats))


class RecognizerTrainer(Trainer):
    """Fits a recognizer with Adam (or AdamW) and cross-entropy (see module docstring)."""

    model: Recognizer

    def __init__(self, model: Recognizer, cfg: RecognizerConfig, device: str | torch.device | None = None) -> None:
        super().__init__(model, device if device is not None else cfg.device, lr=cfg.lr,
                         weight_decay=cfg.weight_decay, seed=cfg.seed)
        self.cfg = cfg
        self.precision = resolve_precision(self.device, cfg.precision)
        if cfg.sync_bn and is_active():
            self.model = convert_sync_batchnorm(self.model, self.device)
        self._ddp: torch.nn.Module | None = None  # the DDP-wrapped forward, built on the first batch
        self.domain = DomainTerms(cfg.realsyn, model.feature_dim, model.num_classes, self.device, cfg.seed)
        self.optimizer = self._new_optimizer()
        self.data_info: dict = {}
        # the current training stage (two-stage Real+Syn): its first epoch and its length,
        # which the learning-rate schedule and the DANN / LMMD ramps follow
        self.stage_start, self.stage_epochs = 0, cfg.epochs

    def _new_optimizer(self) -> torch.optim.Optimizer:
        kind = torch.optim.AdamW if self.cfg.optimizer == "adamw" else torch.optim.Adam
        groups = [{"params": list(self.model.parameters())}]
        if self.domain.parameters():
            groups.append({"params": self.domain.parameters()})
        return kind(groups, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)

    # ------------------------------------------------------------------ training
    def _epoch_augmenter(self, rep: str | None) -> torch.Generator | None:
        """The epoch's augmentation generator, seeded from ``rng`` (None when augmentation is off)."""
        aug = self.cfg.augment
        if not aug.active:
            return None
        rep = rep or self.data_info.get("rep")
        if rep is None:
            raise ValueError("augmentation needs the data's representation: train with fit() first or pass rep=")
        check_rep(rep, aug)
        gen = torch.Generator()
        gen.manual_seed(self.epoch_seed())
        return gen

    def train_epoch(self, ts: TensorSet, rep: str | None = None,
                    is_syn: torch.Tensor | None = None) -> dict[str, float]:
        """One pass (``augment.repeat`` passes) over ``ts`` in a seeded random order, each batch
        augmented as ``cfg.augment`` says; returns the mean loss and accuracy on the batches
        as trained (augmented, dropout on), and ``lr`` when a schedule varies it. ``rep`` (the
        data's representation) defaults to that of the set :meth:`fit` last saw; ``is_syn``
        (N,) marks synthetic samples for ``cfg.realsyn`` (None: all real). In a process group
        each rank trains on its slice of every global batch (see the module docstring)."""
        if len(ts) == 0:
            raise ValueError("cannot train on an empty set")
        if int(ts.labels.min()) < 0 or int(ts.labels.max()) >= self.model.num_classes:
            raise ValueError(f"labels must lie in 0..{self.model.num_classes - 1}")
        cfg, n, world = self.cfg, len(ts), world_size()
        syn = is_syn.cpu().bool() if is_syn is not None and bool(is_syn.any()) else None
        mixed = syn is not None and not bool(syn.all())
        domain = mixed and cfg.realsyn.needs_both
        if domain and world > 1:
            raise ValueError("realsyn DANN / LMMD (batch-level domain terms) train in one process only, not "
                             f"over {world} ranks")
        lr = self._lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        dropout_seed = self.epoch_seed()
        batches = self._epoch_batches(n, syn, mixed)
        gen = self._epoch_augmenter(rep)  # drawn after the order: without augmentation nothing changes
        w = loss_weights(ts.labels.cpu().numpy(), syn.numpy() if syn is not None else np.zeros(n, bool),
                         self.model.num_classes, cfg.realsyn.syn_weight, cfg.class_balance)
        weights = torch.as_tensor(w, device=self.device) if w is not None else None
        syn_dev = syn.to(self.device) if syn is not None else None
        self.model.train()
        total_loss, correct, seen, parts_sum = 0.0, 0, 0, {}
        with seeded_rng(dropout_seed + rank()):  # rank 0 (one process): the epoch's seed itself
            for b, idx in enumerate(batches):
                n_global = len(idx)
                idx, x, lengths, y = self._rank_batch(ts, idx % n, gen)
                feats, logits = self._forward(x, lengths)
                loss = weighted_ce(logits.float(), y, weights[idx] if weights is not None else None,
                                   cfg.label_smoothing)
                aux = getattr(self.model, "auxiliary_loss", None)  # a model's own term (e.g. a coarse head's)
                if aux is not None:
                    loss = loss + aux(y, weights[idx] if weights is not None else None, cfg.label_smoothing)
                if domain:
                    progress = (self.epoch - self.stage_start + b / len(batches)) / max(self.stage_epochs, 1)
                    extra, parts = self.domain.loss(feats.float(), y, syn_dev[idx], progress)
                    loss = loss + extra
                    for k, v in parts.items():
                        parts_sum[k] = parts_sum.get(k, 0.0) + v * len(idx)
                self.optimizer.zero_grad(set_to_none=True)
                # DDP averages the ranks' gradients: scaled so that they are the global batch mean's
                (loss * (len(idx) * world / n_global) if world > 1 else loss).backward()
                self.optimizer.step()
                total_loss += float(loss.detach()) * len(idx)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(idx)
        if world > 1:
            total_loss, correct, seen = all_sum([total_loss, correct, seen])
            sync_buffers(self.model)  # per-rank batch-norm running statistics: rank 0's everywhere
        self.epoch += 1
        out = {"loss": total_loss / seen, "acc": correct / seen, **{k: v / seen for k, v in parts_sum.items()}}
        if cfg.schedule != "constant" or cfg.warmup_epochs:
            out["lr"] = lr
        return out

    def _epoch_batches(self, n: int, syn: torch.Tensor | None, mixed: bool) -> list[torch.Tensor]:
        """The epoch's global index batches (the same on every rank: drawn from ``rng``); in a
        group, a last batch smaller than the world size joins the previous one (no empty slice)."""
        cfg, world = self.cfg, world_size()
        if cfg.batch_size < world:
            raise ValueError(f"batch_size {cfg.batch_size} is smaller than the {world} ranks; give a global "
                             f"batch of at least one sample per rank")
        if mixed and cfg.realsyn.separate_batches:
            ratio = cfg.realsyn.syn_ratio if cfg.realsyn.syn_ratio is not None else float(syn.float().mean())
            everyone = torch.arange(n)
            batches = mixed_batches(everyone[~syn], everyone[syn], cfg.batch_size, ratio, cfg.augment.repeat,
                                    self.rng)
        else:
            batches = _batches(n * cfg.augment.repeat, cfg.batch_size, self.rng)
        if world > 1 and len(batches) > 1 and len(batches[-1]) < world:
            batches[-2:] = [torch.cat(batches[-2:])]
        return batches

    def _rank_batch(self, ts: TensorSet, idx: torch.Tensor, gen: torch.Generator | None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(indices, x, lengths, labels) of this rank's slice of the global batch ``idx`` (all of it
        in one process); with augmentation the whole batch is augmented on every rank, then
        sliced, so that each sample gets the transform it gets in one process."""
        if gen is None:
            idx = idx[shard_slice(len(idx))] if world_size() > 1 else idx
            x, lengths, y = (t.to(self.device) for t in ts.batch(idx))
            return idx, x, lengths, y
        x, lengths, y = (t.to(self.device) for t in ts.batch(idx))
        x = augment_batch(x, lengths, self.cfg.augment, gen, self.model.layout)
        if world_size() == 1:
            return idx, x, lengths, y
        part = shard_slice(len(idx))
        return idx[part], x[part], lengths[part], y[part]

    def _forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, logits) of a training batch; in a group through DistributedDataParallel."""
        with autocast(self.device, self.precision):
            if not is_active():
                feats = self.model.features(x, lengths)
                return feats, self.model.head(self.model.head_drop(feats))
            if self._ddp is None:
                self._ddp = self.data_parallel(_TrainForward(self.model))
            return self._ddp(x, lengths)

    def _lr(self) -> float:
        """The learning rate of the current epoch within its stage."""
        c = self.cfg
        return lr_at(self.epoch - self.stage_start, c.lr, c.schedule, self.stage_epochs, c.warmup_epochs)

    def validate(self, ts: TensorSet) -> dict[str, float]:
        """Validation loss and accuracy; in a group computed on rank 0 and broadcast (every rank
        then takes the same early-stopping decision)."""
        if is_main():
            logits, _ = _infer(self.model, ts, self.cfg.eval_batch_size, self.device, self.precision)
            y = ts.labels.cpu()
            res = torch.tensor([float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())],
                               dtype=torch.float64)
        else:
            res = torch.zeros(2, dtype=torch.float64)
        res = broadcast_tensor(res)
        return {"val_loss": float(res[0]), "val_acc": float(res[1])}

    def fit(self, train: MotionSet, val: MotionSet | None = None, epochs: int | None = None,
            progress: bool = True) -> list[dict]:
        """Train ``epochs`` more epochs (default ``cfg.epochs``); stop early once the
        validation accuracy (or, without ``val``, the training accuracy) reaches
        ``cfg.target_accuracy``. Returns this call's history (also appended to ``history``).

        The model left is the last epoch's: ``val`` only decides when to stop, and no test
        set ever reaches this method (the callers test once, after it). Synthetic samples in
        ``train`` are used as ``cfg.realsyn`` says; with ``realsyn.syn_epochs`` a fresh
        trainer runs two stages (Syn alone, then Real alone for ``epochs``)."""
        self._check_data(train)
        check_rep(train.rep, self.cfg.augment)
        if val is not None:
            self._check_data(val)
            if val.class_names != train.class_names:
                raise ValueError("validation and training sets have different class lists")
        self.data_info = {"class_names": list(train.class_names), "layout": train.layout.name, "rep": train.rep}
        n_epochs = self.cfg.epochs if epochs is None else epochs
        syn = train.is_synthetic
        if self.cfg.realsyn.syn_epochs and syn.any() and self.epoch == 0:
            if syn.all():
                raise ValueError("two-stage training (realsyn.syn_epochs) needs real samples too")
            return self._two_stage(train.subset(np.flatnonzero(syn)), train.subset(np.flatnonzero(~syn)), val,
                                   n_epochs, progress)
        return self._epochs(train, val, n_epochs, progress)

    def _two_stage(self, syn: MotionSet, real: MotionSet, val: MotionSet | None, n_epochs: int,
                   progress: bool) -> list[dict]:
        """Stage 1 on the synthetic samples alone, then (fresh optimizer, schedule restarted)
        stage 2 on the real ones; the target accuracy only applies to stage 2."""
        self.stage_start, self.stage_epochs = 0, self.cfg.realsyn.syn_epochs
        first = self._epochs(syn, None, self.cfg.realsyn.syn_epochs, progress, stage="Syn", stop=False)
        self.optimizer = self._new_optimizer()
        self.stage_start, self.stage_epochs = self.epoch, n_epochs
        return first + self._epochs(real, val, n_epochs, progress, stage="Real")

    def _epochs(self, train: MotionSet, val: MotionSet | None, n_epochs: int, progress: bool,
                stage: str | None = None, stop: bool = True) -> list[dict]:
        tr = to_tensors(train, self.device)
        is_syn = torch.as_tensor(train.is_synthetic) if train.is_synthetic.any() else None
        vs = to_tensors(val, self.device) if val is not None else None
        key = "val_acc" if vs is not None else "acc"
        out: list[dict] = []
        desc = f"{self.model.name} epochs" + (f" ({stage})" if stage else "")
        bar = tqdm(range(n_epochs), desc=desc, disable=not progress or not is_main())
        for _ in bar:
            t0 = time.perf_counter()
            rec: dict[str, Any] = {"epoch": self.epoch + 1, **self.train_epoch(tr, is_syn=is_syn)}
            if stage:
                rec["stage"] = stage
            if vs is not None:
                rec.update(self.validate(vs))
            rec["seconds"] = round(time.perf_counter() - t0, 3)
            out.append(rec)
            self.history.append(rec)
            bar.set_postfix({k: f"{v:.3f}" for k, v in rec.items() if k in ("loss", "acc", "val_acc")})
            if stop and self.cfg.target_accuracy is not None and rec[key] >= self.cfg.target_accuracy:
                rec["stopped"] = f"{key} {rec[key]:.3f} >= target {self.cfg.target_accuracy}"
                break
        return out

    def _check_data(self, ms: MotionSet) -> None:
        m = self.model
        if ms.layout != m.layout or ms.channels != m.in_channels or ms.num_classes != m.num_classes:
            raise ValueError(f"data ({ms.layout.name}, {ms.channels} channels, {ms.num_classes} classes) does not "
                             f"match the model ({m.layout.name}, {m.in_channels} channels, {m.num_classes} classes)")

    # ------------------------------------------------------------------- state
    def extra_state(self) -> dict:
        out = {"domain": self.domain.state_dict()} if self.domain.parameters() else {}
        if self.stage_start or self.stage_epochs != self.cfg.epochs:
            out["stage"] = [int(self.stage_start), int(self.stage_epochs)]
        return out

    def state_dict(self) -> dict:
        return {**super().state_dict(), "data_info": dict(self.data_info), "extra": self.extra_state()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.data_info = dict(state.get("data_info", {}))
        extra = state.get("extra") or {}
        if self.domain.parameters():
            self.domain.load_state_dict(extra.get("domain", {}))
        self.stage_start, self.stage_epochs = extra.get("stage", (0, self.cfg.epochs))

    def save(self, path: str | Path, meta: dict | None = None) -> Path:
        """Checkpoint with everything :meth:`load` needs to resume exactly."""
        full_meta = {"recognizer": self.model.spec(), "config": self.cfg.to_dict(), "epoch": self.epoch,
                     "history": [dict(h) for h in self.history], "data": dict(self.data_info), **(meta or {})}
        return self.save_training_state(path, full_meta)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> "RecognizerTrainer":
        """A trainer from :meth:`save`'s checkpoint (also one written before the trainers shared
        :class:`~infagenc.train.trainer.Trainer`: old key names are read)."""
        ck = load_checkpoint(path)
        meta = ck["meta"]
        if "config" not in meta or "optimizer" not in ck:
            raise CheckpointError(f"{path}: not a trainer checkpoint (no training state)")
        model = build_from_spec(meta["recognizer"])
        trainer = cls(model, RecognizerConfig.from_dict(meta["config"]), device)
        trainer.load_state_dict({**cls.training_state(ck, path), "data_info": meta.get("data", {})})
        return trainer
