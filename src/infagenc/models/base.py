"""What every skeleton recognizer shares: input checks, input batch norm, padding masks,
masked global average pooling, dropout before the linear head (the architecture config's
``head_dropout``, 0 by default: identity in eval mode, so ``features`` and the inference
path ``head(features(x))`` are unchanged), the linear head, and a JSON-able description.

Padding. Inputs are (N, T, V, C) with optional ``lengths`` (N,): frames at and after
``lengths[i]`` are padding. Every layer that mixes frames (temporal convolutions,
temporal pooling, G3D windows) sees padding positions as zeros, exactly like the zero
padding a convolution adds past the end of an unpadded sequence, and the final global
average pooling averages over true frames only. In eval mode a sequence padded to any T
therefore gives the same features and logits as the sequence alone. (In train mode the
batch-norm statistics of a batch also count its padding positions, as zeros.)

A temporal layer with stride ``s`` and "same" padding maps a true length ``L`` to
``(L - 1) // s + 1`` frames (:func:`stride_lengths`).
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from ..skeleton.layouts import Layout

__all__ = ["Recognizer", "frame_mask", "stride_lengths", "masked_mean"]


def frame_mask(lengths: torch.Tensor, num_frames: int, dtype: torch.dtype) -> torch.Tensor:
    """(N, 1, T, 1) mask, 1 on true frames, for activations laid out (N, C, T, V)."""
    t = torch.arange(num_frames, device=lengths.device)
    return (t[None, :] < lengths[:, None]).to(dtype)[:, None, :, None]


def stride_lengths(lengths: torch.Tensor, stride: int) -> torch.Tensor:
    return torch.div(lengths - 1, stride, rounding_mode="floor") + 1


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean of (N, C, T, V) over true frames and all joints -> (N, C)."""
    mask = frame_mask(lengths, x.shape[2], x.dtype)
    denom = (lengths.to(x.dtype) * x.shape[3]).clamp_min(1.0)
    return (x * mask).sum(dim=(2, 3)) / denom[:, None]


class Recognizer(nn.Module):
    """Base class: ``features(x, lengths)`` -> (N, D) pooled vector, ``head`` -> logits.

    Subclasses set ``name`` and implement ``backbone(x, lengths)`` on (N, C, T, V)
    activations, returning the last activations and their true lengths.
    """

    name: str = ""

    def __init__(self, layout: Layout, in_channels: int, num_classes: int, feature_dim: int,
                 size: str, config: Any) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"need in_channels >= 1 and num_classes >= 1, got {in_channels}, {num_classes}")
        self.layout = layout
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.feature_dim = int(feature_dim)
        self.size = size
        self.config = config
        self.data_bn = nn.BatchNorm1d(layout.num_joints * in_channels)
        # dropout on the pooled features before the head (identity in eval mode; no weights)
        self.head_drop = nn.Dropout(float(getattr(config, "head_dropout", 0.0)))
        self.head = nn.Linear(feature_dim, num_classes)

    # ----------------------------------------------------------------- interface
    def backbone(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled feature vector (N, feature_dim) of x (N, T, V, C)."""
        x, lengths = self._prepare(x, lengths)
        h, lengths = self.backbone(x, lengths)
        return masked_mean(h, lengths)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits (N, num_classes); in train mode the features pass the head dropout."""
        return self.head(self.head_drop(self.features(x, lengths)))

    def spec(self) -> dict:
        """JSON-able description from which :func:`~infagenc.models.registry.build_from_spec`
        rebuilds the same module (checkpoint metadata)."""
        return {"model": self.name, "size": self.size, "layout": self.layout.to_dict(),
                "in_channels": self.in_channels, "num_classes": self.num_classes,
                "config": asdict(self.config)}

    # ------------------------------------------------------------------ helpers
    def _prepare(self, x: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim != 4:
            raise ValueError(f"{self.name}: expected x of shape (N, T, V, C), got {tuple(x.shape)}")
        n, t, v, c = x.shape
        if v != self.layout.num_joints or c != self.in_channels:
            raise ValueError(f"{self.name}: built for {self.layout.num_joints} joints ({self.layout.name}) x "
                             f"{self.in_channels} channels, got input with {v} joints x {c} channels")
        if lengths is None:
            lengths = torch.full((n,), t, dtype=torch.long, device=x.device)
        else:
            lengths = torch.as_tensor(lengths, device=x.device).long()
            if lengths.shape != (n,) or (n and (lengths.min() < 1 or lengths.max() > t)):
                raise ValueError(f"{self.name}: lengths must be (N,) = ({n},) in 1..{t}")
        # input batch norm over the V*C values of each frame (ST-GCN's data_bn)
        h = x.permute(0, 2, 3, 1).reshape(n, v * c, t)
        h = self.data_bn(h)
        h = h.reshape(n, v, c, t).permute(0, 2, 3, 1)  # (N, C, T, V)
        return h * frame_mask(lengths, t, h.dtype), lengths
