"""Devices, precision and seeding shared by every training loop."""
from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

__all__ = ["resolve_device", "autocast", "seed_everything", "PRECISIONS"]

PRECISIONS = ("fp32", "bf16")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU; anything else is passed to torch."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but CUDA is not available on this machine")
    return dev


def autocast(device: torch.device, precision: str = "fp32"):
    """Mixed-precision context: ``bf16`` uses torch autocast on CPU or CUDA; ``fp32`` does nothing."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch; returns a torch CPU generator seeded the same.

    Called by the library's entry points with the run's explicit seed, never at import.
    """
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g
