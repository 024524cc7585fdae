"""Checkpoints: plain state dicts plus JSON-able metadata, loaded with ``weights_only=True``.

A checkpoint file is ``{"state_dict": {name: tensor}, "meta": {...json...}}`` (optionally
with ``"optimizer"``). Loading uses ``torch.load(..., weights_only=True)``, which refuses
any pickled object other than tensors and plain containers, and then checks the
structure; a file that is not such a checkpoint is refused with a clear error.
"""
from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import torch

from ..jsonio import atomic_write_bytes

__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError"]


class CheckpointError(ValueError):
    pass


def _is_plain(x) -> bool:
    if isinstance(x, (torch.Tensor, int, float, str, bool, type(None))):
        return True
    if isinstance(x, (list, tuple)):
        return all(_is_plain(v) for v in x)
    if isinstance(x, dict):
        return all(isinstance(k, (str, int)) and _is_plain(v) for k, v in x.items())
    return False


def save_checkpoint(path: str | Path, state_dict: dict, meta: dict | None = None,
                    optimizer: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.loads(json.dumps(meta or {}))  # must be JSON-able
    obj = {"state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}, "meta": meta}
    if optimizer is not None:
        obj["optimizer"] = optimizer
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())  # an interrupted save never leaves a half-written file


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower():  # torch refused an object that is not plain data
            raise CheckpointError(f"{path}: refused: it holds objects other than tensors and plain data; "
                                  f"only plain state-dict checkpoints are loaded") from None
        raise CheckpointError(f"{path}: corrupt checkpoint (unreadable pickle data); delete it and run the "
                              f"command that wrote it again") from None
    except Exception as e:  # a truncated or damaged file: zip / stream errors, EOF
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({type(e).__name__}); delete it and run "
                              f"the command that wrote it again (a run folder resumes from its last complete "
                              f"step)") from None
    if not isinstance(obj, dict) or "state_dict" not in obj or not isinstance(obj["state_dict"], dict):
        raise CheckpointError(f"{path}: refused: expected {{'state_dict': ..., 'meta': ...}}")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj["state_dict"].items()):
        raise CheckpointError(f"{path}: refused: state_dict must map names to tensors")
    if not _is_plain(obj.get("meta", {})):
        raise CheckpointError(f"{path}: refused: metadata is not plain data")
    obj.setdefault("meta", {})
    return obj
