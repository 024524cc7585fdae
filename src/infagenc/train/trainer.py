"""What the recognizer and generator trainers share.

* :class:`Trainer` owns the model on its device, the Adam optimizer, a seeded CPU
  ``torch.Generator`` (``rng``) for shuffling and per-epoch seeds, the epoch counter and the
  history; ``state_dict`` / ``load_state_dict`` and the checkpoint's training state hold
  everything needed to resume exactly.
* In a process group (``torchrun``, :mod:`infagenc.train.distributed`) the device is this
  rank's (``cuda:LOCAL_RANK`` for ``cuda`` / ``auto`` on CUDA) and :meth:`Trainer.data_parallel`
  wraps a module in :class:`~torch.nn.parallel.DistributedDataParallel`; a single process
  gets its device and the module unchanged.
* :func:`seeded_rng` forks torch's global RNG (CPU and every CUDA device) and seeds it, so
  dropout, initial weights and reparameterisation noise come from an explicit seed while the
  callers' RNG state is left untouched.

Checkpoint layout of the training state (see :mod:`infagenc.train.checkpoint`):
``optimizer = {"optimizer": <Adam state>, "rng": <ByteTensor>}``. Recognizer checkpoints
written before the trainers shared this code used ``{"adam": ..., "generator": ...}`` and
trainer state dicts used ``"generator"`` for the RNG state; both are still read.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import torch

from .checkpoint import CheckpointError, save_checkpoint
from .distributed import is_active, rank_device

__all__ = ["Trainer", "seeded_rng", "cuda_devices", "LEGACY_STATE_KEYS"]

# new key -> the key older checkpoints / state dicts used for it
LEGACY_STATE_KEYS = {"optimizer": "adam", "rng": "generator"}


def cuda_devices() -> list[int]:
    """The CUDA devices whose RNG state a fork must save (``manual_seed`` reseeds them all)."""
    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


@contextlib.contextmanager
def seeded_rng(seed: int) -> Iterator[None]:
    """Run the block under torch's global RNG seeded with ``seed``; the RNG state of the CPU
    and of every CUDA device is restored afterwards."""
    with torch.random.fork_rng(devices=cuda_devices()):
        torch.manual_seed(int(seed))
        yield


def _get(d: dict, key: str, where: str = "training state"):
    """``d[key]``, or the value under the key older checkpoints used for it."""
    if key in d:
        return d[key]
    old = LEGACY_STATE_KEYS.get(key)
    if old is not None and old in d:
        return d[old]
    raise KeyError(f"{where}: no {key!r}")


class Trainer:
    """Model, Adam optimizer, seeded ``rng``, epoch counter and history (see module docstring).

    Subclasses add their own loss, epoch loop and checkpoint metadata.
    """

    def __init__(self, model: torch.nn.Module, device: str | torch.device | None, *, lr: float,
                 weight_decay: float = 0.0, seed: int = 0) -> None:
        self.device = rank_device(device)
        self.model = model.to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr, weight_decay=weight_decay)
        self.rng = torch.Generator()
        self.rng.manual_seed(int(seed))
        self.epoch = 0
        self.history: list[dict] = []

    def data_parallel(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` under DistributedDataParallel in a process group (gradients averaged over
        the ranks; buffers left to the caller: no broadcast per forward), else ``module``."""
        if not is_active():
            return module
        import inspect

        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        # newer torch names the per-forward buffer broadcast forward_sync_buffers
        key = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters \
            else "broadcast_buffers"
        return DDP(module, device_ids=ids, **{key: False})

    def epoch_seed(self) -> int:
        """A seed for the global RNG during one epoch (dropout, noise), drawn from ``rng``."""
        return int(torch.randint(0, 2**62, (1,), generator=self.rng))

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """Model, optimizer, epoch, RNG state and history: enough for an exact resume."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "epoch": self.epoch, "rng": self.rng.get_state(), "history": [dict(h) for h in self.history]}

    def load_state_dict(self, state: dict) -> None:
        """Load :meth:`state_dict` output (the old key ``generator`` for ``rng`` is read too)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(_get(state, "optimizer"))
        self.epoch = int(state["epoch"])
        self.rng.set_state(_get(state, "rng").cpu())
        self.history = [dict(h) for h in state.get("history", [])]

    def extra_state(self) -> dict:
        """Training state a subclass adds beside the model (tensors, numbers, dicts of them);
        stored in the checkpoint's optimizer record under ``extra`` (empty: nothing stored)."""
        return {}

    def save_training_state(self, path: str | Path, meta: dict) -> Path:
        """A checkpoint of the model's weights, ``meta`` and the optimizer + RNG state (and the
        subclass's :meth:`extra_state`)."""
        st = self.state_dict()
        opt = {"optimizer": st["optimizer"], "rng": st["rng"]}
        extra = self.extra_state()
        if extra:
            opt["extra"] = extra
        return save_checkpoint(path, st["model"], meta, optimizer=opt)

    @staticmethod
    def training_state(ck: dict, path: str | Path = "checkpoint") -> dict:
        """The :meth:`load_state_dict` input stored in a checkpoint loaded by
        :func:`~infagenc.train.checkpoint.load_checkpoint` (old key names read too)."""
        opt, meta = ck.get("optimizer"), ck["meta"]
        if not isinstance(opt, dict) or "epoch" not in meta:
            raise CheckpointError(f"{path}: no training state (optimizer, RNG, epoch); cannot resume from it")
        try:
            return {"model": ck["state_dict"], "optimizer": _get(opt, "optimizer", str(path)),
                    "rng": _get(opt, "rng", str(path)), "epoch": meta["epoch"],
                    "history": meta.get("history", []), "extra": opt.get("extra", {})}
        except KeyError as e:
            raise CheckpointError(str(e.args[0])) from None
