"""Inference, evaluation and plain checkpoints of skeleton recognizers.

* :func:`predict` - batched inference under ``torch.inference_mode``: probabilities,
  pooled features (the f(.) of InfAGenC's selection step) and predictions
  (:class:`Predictions`).
* :func:`evaluate` - a :class:`~infagenc.metrics.recognition.RecognitionReport`.
* :func:`save_recognizer` / :func:`load_recognizer` - plain state dict + JSON metadata
  (the model's description), loaded with ``weights_only=True``.

Everything here is re-exported by :mod:`infagenc.train.recognizer` (where it lived first), so
``from infagenc.train.recognizer import predict`` keeps working. Inference batches are taken
in order, a final batch of a single sample merged into the previous one (as in training).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.motionset import MotionSet
from ..metrics.recognition import RecognitionReport
from ..models.base import Recognizer
from ..models.registry import build_from_spec
from .batching import TensorSet, batch_indices, to_tensors
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .device import autocast, inference_batch_size, resolve_device

__all__ = ["Predictions", "predict", "evaluate", "save_recognizer", "load_recognizer",
           "load_recognizer_with_meta"]


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _batches(n: int, batch_size: int, rng: torch.Generator | None) -> list[torch.Tensor]:
    """Index batches, shuffled with ``rng`` (in order without it)."""
    out = list(batch_indices(n, batch_size, shuffle=rng is not None, generator=rng))
    if len(out) > 1 and len(out[-1]) == 1:
        out[-2:] = [torch.cat(out[-2:])]
    return out


def _infer(model: Recognizer, ts: TensorSet, batch_size: int | None, device: torch.device, precision: str,
           progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, features) of a whole set, fp32 on the CPU, in eval mode (mode restored);
    ``batch_size`` None: :func:`~infagenc.train.device.inference_batch_size` of ``device``."""
    batch_size = inference_batch_size(batch_size, device)
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


def predict(model: Recognizer, data: MotionSet | TensorSet, batch_size: int | None = None,
            device: str | torch.device | None = None, precision: str = "fp32",
            progress: bool = False) -> Predictions:
    """Batched inference (eval mode, ``torch.inference_mode``); the model is moved to
    ``device`` when one is given, else run where it is. ``batch_size`` None: chosen for the
    device (:func:`~infagenc.train.device.inference_batch_size`)."""
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


def evaluate(model: Recognizer, ms: MotionSet, batch_size: int | None = None, device: str | torch.device | None = None,
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
