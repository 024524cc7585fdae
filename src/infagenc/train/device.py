"""Devices and precision shared by every training loop (seeding: :mod:`infagenc.train.trainer`)."""
from __future__ import annotations

import contextlib

import torch

__all__ = ["resolve_device", "autocast", "PRECISIONS"]

# ``bf16`` autocast pays off on GPUs and on CPUs with native bf16 (AVX512-BF16, AMX); on a CPU
# without it (e.g. AVX2 only) bf16 is emulated and much slower than fp32 (measured:
# benchmarks/README.md, "Speed").
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
