"""Devices and precision shared by every training loop (seeding: :mod:`infagenc.train.trainer`).

* :func:`resolve_device` - ``auto`` takes CUDA when present, else the CPU.
* :func:`resolve_precision` - ``auto`` takes ``bf16`` autocast only where it is native (CUDA
  devices of compute capability >= 8.0: Ampere and later), else ``fp32`` (always on the CPU);
  ``fp32`` / ``bf16`` are taken as given.
* :func:`enable_tf32` - TF32 tensor-core matmuls / convolutions for the fp32 parts on CUDA
  (a process-wide torch setting; the application layer calls it, not the trainers).
* :func:`autocast` - the mixed-precision context of a precision.
* :func:`inference_batch_size` - the inference batch when none is configured: chosen for the
  device (16 on a CPU, 64 elsewhere).
"""
from __future__ import annotations

import contextlib

import torch

__all__ = ["resolve_device", "resolve_precision", "bf16_native", "enable_tf32", "autocast", "PRECISIONS",
           "PRECISION_MODES", "inference_batch_size", "CPU_INFERENCE_BATCH", "DEFAULT_INFERENCE_BATCH"]

# ``bf16`` autocast pays off on GPUs and on CPUs with native bf16 (AVX512-BF16, AMX); on a CPU
# without it (e.g. AVX2 only) bf16 is emulated and much slower than fp32 (measured:
# benchmarks/results/speed.md).
PRECISIONS = ("fp32", "bf16")
# what a recognizer config / command line may ask for: ``auto`` is resolved per device
PRECISION_MODES = ("auto", *PRECISIONS)


# The inference batch when a config leaves it unset. On a CPU small batches keep the
# activations in cache: the slim ST-GCN critic scored at 75% of this 2-core machine's fp32
# matmul limit at batch 16 against 52% at batch 64 (benchmarks/speed/throughput.py, idle, 2
# threads). On accelerators larger batches are cheaper per sample; 64 is the earlier default,
# not a measured optimum. Inference outputs do not depend on the batch (eval mode; up to
# floating-point reduction order), so a run may resume with another batch.
CPU_INFERENCE_BATCH = 16
DEFAULT_INFERENCE_BATCH = 64


def inference_batch_size(batch_size: int | None, device: torch.device | str) -> int:
    """``batch_size`` when given, else :data:`CPU_INFERENCE_BATCH` on a CPU and
    :data:`DEFAULT_INFERENCE_BATCH` on any other device."""
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"the inference batch must be >= 1, got {batch_size}")
        return int(batch_size)
    return CPU_INFERENCE_BATCH if torch.device(device).type == "cpu" else DEFAULT_INFERENCE_BATCH


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU; anything else is passed to torch."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but CUDA is not available on this machine")
    return dev


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (a CUDA device of capability >= 8.0)."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 8


def resolve_precision(device: torch.device, precision: str = "auto") -> str:
    """``auto`` -> ``bf16`` where native (:func:`bf16_native`), else ``fp32``; others unchanged."""
    if precision not in PRECISION_MODES:
        raise ValueError(f"precision must be one of {PRECISION_MODES}, got {precision!r}")
    if precision != "auto":
        return precision
    return "bf16" if bf16_native(device) else "fp32"


def enable_tf32(device: torch.device) -> bool:
    """Allow TF32 matmuls and cuDNN convolutions when ``device`` is CUDA; returns whether it did."""
    if device.type != "cuda":
        return False
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return True


def autocast(device: torch.device, precision: str = "fp32"):
    """Mixed-precision context: ``bf16`` uses torch autocast on CPU or CUDA; ``fp32`` does nothing
    (``auto`` is resolved first, see :func:`resolve_precision`)."""
    precision = resolve_precision(device, precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
