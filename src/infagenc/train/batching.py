"""Tensors from motion sets, once, and seeded mini-batch index streams."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from ..data.motionset import MotionSet

__all__ = ["TensorSet", "to_tensors", "batch_indices"]


@dataclass
class TensorSet:
    """A motion set as tensors: x (N, T, V, C), lengths (N,), labels (N,)."""

    x: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device) -> "TensorSet":
        return TensorSet(self.x.to(device), self.lengths.to(device), self.labels.to(device))

    def batch(self, idx) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.x[idx], self.lengths[idx], self.labels[idx]


def to_tensors(ms: MotionSet, device="cpu") -> TensorSet:
    """Convert once (training loops never re-read data per epoch)."""
    return TensorSet(
        torch.as_tensor(ms.data, dtype=torch.float32, device=device),
        torch.as_tensor(ms.lengths, dtype=torch.long, device=device),
        torch.as_tensor(ms.labels, dtype=torch.long, device=device),
    )


def batch_indices(n: int, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None,
                  drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Index batches over ``range(n)``; shuffled with the given seeded generator."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - (n % batch_size) if drop_last and n >= batch_size else n
    for i in range(0, stop, batch_size):
        yield order[i:i + batch_size]
