"""Training, inference, evaluation and checkpoints of skeleton recognizers (ST-GCN, MS-G3D).

* :class:`RecognizerConfig` - what to train and how (Adam, cross-entropy, batches).
* :func:`new_recognizer` - a freshly initialised model, its weights drawn from ``cfg.seed``.
* :class:`RecognizerTrainer` - owns the model, the Adam optimizer, a seeded generator for
  shuffling and dropout, and the epoch counter; ``fit`` stops early once a target accuracy
  is reached (the paper stops its critic at 85% so that it stays a fair judge);
  ``state_dict`` / ``save`` capture everything needed to resume exactly.
* :func:`predict` - batched inference under ``torch.inference_mode``: probabilities,
  pooled features (the f(.) of InfAGenC's selection step) and predictions.
* :func:`evaluate` - a :class:`~infagenc.metrics.recognition.RecognitionReport`.
* :func:`save_recognizer` / :func:`load_recognizer` - plain state dict + JSON metadata
  (the model's description), loaded with ``weights_only=True``.
* :func:`train_run` / :func:`eval_run` - what ``infagenc recognizer train|eval`` do: a run
  folder with the resolved config, checkpoint, history, report JSON / Markdown and
  confusion PNG.

Choices where the papers are silent: Adam with lr 1e-3 and no weight decay, batch 16,
constant learning rate; the training accuracy of an epoch is measured on the fly
(dropout on, weights changing) as in the released code; early stopping looks at the
validation accuracy when a validation set is given, else at that training accuracy.
Each epoch's dropout masks come from a seed drawn from the trainer's generator, so a
resumed run repeats an uninterrupted one exactly (on CPU); the global RNG is left alone.
A final batch of a single sample is merged into the previous batch (batch norm cannot
train on one single-frame sample).

Precision: ``bf16`` autocast pays off on GPUs and on CPUs with native bf16 (AVX512-BF16,
AMX); on an AVX2-only CPU it is emulated and several times slower than fp32 (see
``benchmarks/results/speed_recognizers.json``).
"""
from __future__ import annotations

import json
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
from ..data.preprocess import fixed_length, root_relative
from ..data.splits import split_by_subjects
from ..metrics.recognition import RecognitionReport
from ..models.base import Recognizer
from ..models.registry import build_from_spec, build_recognizer
from ..skeleton.layouts import Layout
from ..viz.confusion import plot_confusion
from .batching import TensorSet, batch_indices, to_tensors
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .device import PRECISIONS, autocast, resolve_device

__all__ = [
    "RecognizerConfig",
    "RecognizerTrainer",
    "Predictions",
    "new_recognizer",
    "predict",
    "evaluate",
    "save_recognizer",
    "load_recognizer",
    "load_recognizer_with_meta",
    "preprocess_for_recognizer",
    "write_report",
    "train_run",
    "eval_run",
]


@dataclass
class RecognizerConfig:
    """How to build and train a recognizer.

    ``model_options`` overrides fields of the architecture config of ``size`` (e.g.
    ``{"dropout": 0.0}`` or ``{"partition": "spatial_original"}``).
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
    eval_batch_size: int = 64
    model_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise ValueError(f"target_accuracy must lie in (0, 1], got {self.target_accuracy}")
        if self.epochs < 0 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("need epochs >= 0, batch_size >= 1 and eval_batch_size >= 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RecognizerConfig":
        return config_from_dict(cls, d, "recognizer config")


def new_recognizer(cfg: RecognizerConfig, layout: Layout | str, in_channels: int, num_classes: int) -> Recognizer:
    """A fresh model whose initial weights depend only on ``cfg.seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=_cuda_devices()):
        torch.manual_seed(cfg.seed)
        return build_recognizer(cfg.model, layout, in_channels, num_classes, cfg.size, **cfg.model_options)


def _cuda_devices() -> list[int]:
    """Devices whose RNG state ``fork_rng`` must save (``manual_seed`` reseeds them all)."""
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    out = list(batch_indices(n, batch_size, shuffle=generator is not None, generator=generator))
    if len(out) > 1 and len(out[-1]) == 1:
        out[-2:] = [torch.cat(out[-2:])]
    return out


def _infer(model: Recognizer, ts: TensorSet, batch_size: int, device: torch.device, precision: str,
           progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, features) of a whole set, fp32 on the CPU, in eval mode (mode restored)."""
    was_training = model.training
    model.eval()
    logits, feats = [], []
    try:
        with torch.inference_mode(), autocast(device, precision):
            for idx in tqdm(_batches(len(ts), batch_size, None), desc="inference", leave=False,
                            disable=not progress):
                x, lengths, _ = ts.batch(idx)
                f = model.features(x.to(device), lengths.to(device))
                logits.append(model.head(f).float().cpu())
                feats.append(f.float().cpu())
    finally:
        model.train(was_training)
    if not logits:
        k, d = model.num_classes, model.feature_dim
        return torch.zeros(0, k), torch.zeros(0, d)
    return torch.cat(logits), torch.cat(feats)


class RecognizerTrainer:
    """Fits a recognizer with Adam and cross-entropy (see module docstring)."""

    def __init__(self, model: Recognizer, cfg: RecognizerConfig, device: str | torch.device | None = None) -> None:
        self.cfg = cfg
        self.device = resolve_device(device if device is not None else cfg.device)
        self.model = model.to(self.device)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.generator = torch.Generator()
        self.generator.manual_seed(cfg.seed)
        self.epoch = 0
        self.history: list[dict] = []
        self.data_info: dict = {}

    # ------------------------------------------------------------------ training
    def train_epoch(self, ts: TensorSet) -> dict[str, float]:
        """One pass over ``ts`` in a seeded random order; returns mean loss and accuracy."""
        if len(ts) == 0:
            raise ValueError("cannot train on an empty set")
        if int(ts.labels.min()) < 0 or int(ts.labels.max()) >= self.model.num_classes:
            raise ValueError(f"labels must lie in 0..{self.model.num_classes - 1}")
        dropout_seed = int(torch.randint(0, 2**62, (1,), generator=self.generator))
        batches = _batches(len(ts), self.cfg.batch_size, self.generator)
        self.model.train()
        total_loss, correct = 0.0, 0
        with torch.random.fork_rng(devices=_cuda_devices()):
            torch.manual_seed(dropout_seed)
            for idx in batches:
                x, lengths, y = (t.to(self.device) for t in ts.batch(idx))
                with autocast(self.device, self.cfg.precision):
                    logits = self.model(x, lengths)
                loss = F.cross_entropy(logits.float(), y)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                total_loss += float(loss.detach()) * len(idx)
                correct += int((logits.argmax(1) == y).sum())
        self.epoch += 1
        return {"loss": total_loss / len(ts), "acc": correct / len(ts)}

    def validate(self, ts: TensorSet) -> dict[str, float]:
        logits, _ = _infer(self.model, ts, self.cfg.eval_batch_size, self.device, self.cfg.precision)
        y = ts.labels.cpu()
        return {"val_loss": float(F.cross_entropy(logits, y)), "val_acc": float((logits.argmax(1) == y).float().mean())}

    def fit(self, train: MotionSet, val: MotionSet | None = None, epochs: int | None = None,
            progress: bool = True) -> list[dict]:
        """Train ``epochs`` more epochs (default ``cfg.epochs``); stop early once the
        validation accuracy (or, without ``val``, the training accuracy) reaches
        ``cfg.target_accuracy``. Returns this call's history (also appended to ``history``)."""
        self._check_data(train)
        if val is not None:
            self._check_data(val)
            if val.class_names != train.class_names:
                raise ValueError("validation and training sets have different class lists")
        self.data_info = {"class_names": list(train.class_names), "layout": train.layout.name, "rep": train.rep}
        tr = to_tensors(train, self.device)
        vs = to_tensors(val, self.device) if val is not None else None
        n_epochs = self.cfg.epochs if epochs is None else epochs
        key = "val_acc" if vs is not None else "acc"
        out: list[dict] = []
        bar = tqdm(range(n_epochs), desc=f"{self.model.name} epochs", disable=not progress)
        for _ in bar:
            t0 = time.perf_counter()
            rec: dict[str, Any] = {"epoch": self.epoch + 1, **self.train_epoch(tr)}
            if vs is not None:
                rec.update(self.validate(vs))
            rec["seconds"] = round(time.perf_counter() - t0, 3)
            out.append(rec)
            self.history.append(rec)
            bar.set_postfix({k: f"{v:.3f}" for k, v in rec.items() if k in ("loss", "acc", "val_acc")})
            if self.cfg.target_accuracy is not None and rec[key] >= self.cfg.target_accuracy:
                rec["stopped"] = f"{key} {rec[key]:.3f} >= target {self.cfg.target_accuracy}"
                break
        return out

    def _check_data(self, ms: MotionSet) -> None:
        m = self.model
        if ms.layout != m.layout or ms.channels != m.in_channels or ms.num_classes != m.num_classes:
            raise ValueError(f"data ({ms.layout.name}, {ms.channels} channels, {ms.num_classes} classes) does not "
                             f"match the model ({m.layout.name}, {m.in_channels} channels, {m.num_classes} classes)")

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": self.epoch,
                "generator": self.generator.get_state(), "history": list(self.history),
                "data_info": dict(self.data_info)}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.generator.set_state(state["generator"])
        self.history = list(state.get("history", []))
        self.data_info = dict(state.get("data_info", {}))

    def save(self, path: str | Path, meta: dict | None = None) -> Path:
        """Checkpoint with everything :meth:`load` needs to resume exactly."""
        st = self.state_dict()
        full_meta = {"recognizer": self.model.spec(), "config": self.cfg.to_dict(), "epoch": self.epoch,
                     "history": st["history"], "data": st["data_info"], **(meta or {})}
        return save_checkpoint(path, st["model"], full_meta,
                               optimizer={"adam": st["optimizer"], "generator": st["generator"]})

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> "RecognizerTrainer":
        ck = load_checkpoint(path)
        meta = ck["meta"]
        if "config" not in meta or "optimizer" not in ck:
            raise CheckpointError(f"{path}: not a trainer checkpoint (no training state)")
        model = build_from_spec(meta["recognizer"])
        trainer = cls(model, RecognizerConfig.from_dict(meta["config"]), device)
        trainer.load_state_dict({"model": ck["state_dict"], "optimizer": ck["optimizer"]["adam"],
                                 "epoch": meta["epoch"], "generator": ck["optimizer"]["generator"],
                                 "history": meta.get("history", []), "data_info": meta.get("data", {})})
        return trainer


# ---------------------------------------------------------------------- inference
@dataclass
class Predictions:
    """Outputs of :func:`predict` for N samples: probabilities (N, K), pooled features
    (N, D), predicted class (N,), and the given labels (N,; -1 where unlabelled)."""

    probs: np.ndarray
    features: np.ndarray
    pred: np.ndarray
    labels: np.ndarray

    @property
    def confidence(self) -> np.ndarray:
        """Softmax probability of the predicted class."""
        return self.probs.max(axis=1) if len(self.probs) else np.zeros(0, np.float32)


def predict(model: Recognizer, data: MotionSet | TensorSet, batch_size: int = 64,
            device: str | torch.device | None = None, precision: str = "fp32",
            progress: bool = False) -> Predictions:
    """Batched inference (eval mode, ``torch.inference_mode``); the model is moved to
    ``device`` when one is given, else run where it is."""
    if device is not None:
        model.to(resolve_device(device))
    dev = _model_device(model)
    if isinstance(data, MotionSet):
        ts = to_tensors(data)
    else:
        ts = data
    logits, feats = _infer(model, ts, batch_size, dev, precision, progress)
    probs = torch.softmax(logits, dim=1)
    return Predictions(probs.numpy(), feats.numpy(), logits.argmax(1).numpy(), ts.labels.cpu().numpy())


def evaluate(model: Recognizer, ms: MotionSet, batch_size: int = 64, device: str | torch.device | None = None,
             precision: str = "fp32", split: str = "test", progress: bool = False) -> RecognitionReport:
    """Accuracy tables of ``model`` on a labelled set (``split`` names the set in the report)."""
    if not ms.labelled:
        raise ValueError("evaluation needs a labelled set")
    if ms.num_classes != model.num_classes:
        raise ValueError(f"the set has {ms.num_classes} classes, the model {model.num_classes}")
    p = predict(model, ms, batch_size, device, precision, progress)
    return RecognitionReport.from_arrays(ms.labels, p.pred, ms.class_names, ms.subjects, split=split)


# -------------------------------------------------------------------- checkpoints
def save_recognizer(path: str | Path, model: Recognizer, meta: dict | None = None) -> Path:
    """Weights + the model's description (and any JSON-able ``meta``)."""
    return save_checkpoint(path, model.state_dict(), {"recognizer": model.spec(), **(meta or {})})


def load_recognizer_with_meta(path: str | Path, device: str | torch.device | None = "cpu"
                              ) -> tuple[Recognizer, dict]:
    """Rebuild a recognizer from a checkpoint written by :func:`save_recognizer` or
    :meth:`RecognizerTrainer.save` (eval mode), with the checkpoint's metadata."""
    ck = load_checkpoint(path)
    spec = ck["meta"].get("recognizer")
    if not isinstance(spec, dict):
        raise CheckpointError(f"{path}: not a recognizer checkpoint (no 'recognizer' description)")
    try:
        model = build_from_spec(spec)
        model.load_state_dict(ck["state_dict"])
    except (ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: cannot rebuild the recognizer: {str(e).splitlines()[0]}") from None
    return model.to(resolve_device(device)).eval(), ck["meta"]


def load_recognizer(path: str | Path, device: str | torch.device | None = "cpu") -> Recognizer:
    return load_recognizer_with_meta(path, device)[0]



# ---------------------------------------------------------------------- run folders
ROOT_MODES = ("per_frame", "first_frame")


def preprocess_for_recognizer(ms: MotionSet, frames: int | None = None, root: str | None = None) -> MotionSet:
    """The preprocessing a recognizer run records and re-applies at evaluation: the root
    (centre joint, positions only) removed ``per_frame`` / from the ``first_frame`` or kept
    (``None``), then every sequence resampled to ``frames`` frames (or kept as it is)."""
    if root is not None:
        if root not in ROOT_MODES:
            raise ValueError(f"root must be one of {ROOT_MODES} or None, got {root!r}")
        ms = root_relative(ms, root)
    if frames is not None:
        ms = fixed_length(ms, frames)
    return ms


def write_report(report: RecognitionReport, out_dir: str | Path, title: str = "") -> dict[str, str]:
    """``report.json``, ``report.md`` and ``confusion.png`` in ``out_dir``; returns their paths."""
    out = Path(out_dir)
    paths = {"report": report.save_json(out / "report.json")}
    (out / "report.md").write_text((f"# {title}\n\n" if title else "") + report.to_markdown(), encoding="utf-8")
    paths["markdown"] = out / "report.md"
    paths["confusion"] = plot_confusion(report.confusion, report.class_names, out / "confusion.png",
                                        title=title or f"{report.split}: {100 * report.overall:.1f}%")
    return {k: str(v) for k, v in paths.items()}


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def train_run(ms: MotionSet, cfg: RecognizerConfig, out_dir: str | Path, *, test_subjects=None,
              val_subjects=None, frames: int | None = None, root: str | None = None, data_source: str = "",
              progress: bool = True) -> dict:
    """Preprocess, split by subject, train, save and report into ``out_dir``.

    Writes ``config.json`` (the resolved settings), ``recognizer.pt`` (trainer checkpoint),
    ``history.json`` and the report of the test subjects (or, without test subjects, of the
    training set, named ``train`` in the report). Returns a summary dict.
    """
    out = Path(out_dir)
    ms = preprocess_for_recognizer(ms, frames, root)
    train, test = split_by_subjects(ms, test_subjects) if test_subjects else (ms, None)
    val = None
    if val_subjects:
        train, val = split_by_subjects(train, val_subjects)
    prep = {"frames": frames, "root": root}
    resolved = {"recognizer": cfg.to_dict(), "data": data_source, "preprocess": prep,
                "test_subjects": sorted(set(test.subjects.tolist())) if test is not None else [],
                "val_subjects": sorted(set(val.subjects.tolist())) if val is not None else [],
                "train_subjects": sorted(set(train.subjects.tolist())),
                "samples": {"train": len(train), "val": 0 if val is None else len(val),
                            "test": 0 if test is None else len(test)}}
    _write_json(out / "config.json", resolved)
    trainer = RecognizerTrainer(new_recognizer(cfg, ms.layout, ms.channels, ms.num_classes), cfg)
    trainer.fit(train, val, progress=progress)
    ckpt = trainer.save(out / "recognizer.pt", meta={"preprocess": prep})
    _write_json(out / "history.json", trainer.history)
    split, eval_set = ("test", test) if test is not None else ("train", train)
    report = evaluate(trainer.model, eval_set, cfg.eval_batch_size, precision=cfg.precision, split=split)
    files = write_report(report, out, f"{cfg.model} ({cfg.size}) on {split}")
    return {"checkpoint": str(ckpt), "epochs": trainer.epoch, "split": split,
            "accuracy": report.overall, **files}


def eval_run(checkpoint: str | Path, ms: MotionSet, out_dir: str | Path, *, subjects=None, split: str = "test",
             batch_size: int = 64, device: str | None = "auto", precision: str = "fp32",
             progress: bool = True) -> dict:
    """Evaluate a saved recognizer on (the given subjects of) a labelled set, re-applying the
    preprocessing recorded in the checkpoint; writes the report files into ``out_dir``."""
    model, meta = load_recognizer_with_meta(checkpoint, device)
    names = meta.get("data", {}).get("class_names")
    if names:
        ms = ms.relabel(names)
    if subjects:
        ms = ms.select(subjects=subjects)
        if not len(ms):
            raise ValueError(f"no samples of subjects {list(subjects)}")
    prep = meta.get("preprocess", {})
    ms = preprocess_for_recognizer(ms, prep.get("frames"), prep.get("root"))
    report = evaluate(model, ms, batch_size, precision=precision, split=split, progress=progress)
    files = write_report(report, out_dir, f"{model.name} ({model.size}) on {split}")
    return {"split": split, "accuracy": report.overall, **files}
