"""ST-GCN (Yan, Xiong, Lin: Spatial Temporal Graph Convolutional Networks for Skeleton-Based
Action Recognition, AAAI 2018), for any layout and any number of input channels.

Paper size (:meth:`STGCNConfig.paper`): input batch norm over V*C, 10 blocks of 64 x4,
128 x3 (stride 2 at the first), 256 x3 (stride 2 at the first), temporal kernel 9,
residual connections (none in the first block), dropout 0.5 after each temporal
convolution except the first block's (the released NTU configuration), spatial-configuration
partition with 3 subsets (see :mod:`.graph`), a learnable edge-importance mask per block,
global average pooling over true frames and joints -> 256-d features, and a linear head
(``head_dropout``, our option for small data sets, puts dropout before it; 0 by default).

Slim size (:meth:`STGCNConfig.slim`), our choice for the 2-core CPU budget: 6 blocks
32 x2, 64 x2 (stride 2 at the first), 128 x2 (stride 2 at the first), same kernel,
partition, dropout and head -> 128-d features; about 6x fewer multiply-adds and several
times faster to train (measured: benchmarks/results/speed.md).

Where the paper is silent we keep the released code (PyTorch default initialisation
instead of its N(0, 0.02) re-initialisation, which its processor applies, not the model).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from ..skeleton.layouts import Layout
from .base import Recognizer, frame_mask, stride_lengths
from .graph import PARTITIONS, spatial_partition

__all__ = ["STGCNConfig", "STGCN", "STGCNBlock"]

_PAPER_BLOCKS = ((64, 1), (64, 1), (64, 1), (64, 1), (128, 2), (128, 1), (128, 1), (256, 2), (256, 1), (256, 1))
_SLIM_BLOCKS = ((32, 1), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1))


@dataclass(frozen=True)
class STGCNConfig:
    """Architecture of ST-GCN; the defaults are the paper's."""

    blocks: tuple[tuple[int, int], ...] = field(default=_PAPER_BLOCKS)  # (out channels, temporal stride)
    temporal_kernel: int = 9
    dropout: float = 0.5
    partition: str = "spatial"  # or "spatial_original" (hop distances cut at 1, released code)
    edge_importance: bool = True
    head_dropout: float = 0.0  # dropout on the pooled features before the head (not in the paper)

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple((int(c), int(s)) for c, s in self.blocks))
        if not (0 <= self.dropout < 1 and 0 <= self.head_dropout < 1):
            raise ValueError(f"dropout and head_dropout must lie in [0, 1), got {self.dropout}, {self.head_dropout}")
        if not self.blocks:
            raise ValueError("ST-GCN needs at least one block")
        if self.temporal_kernel < 1 or self.temporal_kernel % 2 == 0:
            raise ValueError(f"temporal_kernel must be odd and positive, got {self.temporal_kernel}")
        if self.partition not in PARTITIONS:
            raise ValueError(f"partition must be one of {PARTITIONS}, got {self.partition!r}")

    @classmethod
    def paper(cls, **kw) -> "STGCNConfig":
        return cls(**kw)

    @classmethod
    def slim(cls, **kw) -> "STGCNConfig":
        return cls(**{"blocks": _SLIM_BLOCKS, **kw})


class STGCNBlock(nn.Module):
    """Spatial graph convolution (K subsets) -> BN, ReLU -> temporal conv (k x 1, stride)
    -> BN, dropout; plus the residual; ReLU."""

    def __init__(self, in_channels: int, out_channels: int, num_subsets: int, stride: int,
                 temporal_kernel: int, dropout: float, residual: bool) -> None:
        super().__init__()
        self.num_subsets = num_subsets
        self.stride = stride
        self.gcn = nn.Conv2d(in_channels, out_channels * num_subsets, kernel_size=1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.tcn = nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), (stride, 1),
                             ((temporal_kernel - 1) // 2, 0))
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.residual: nn.Module | None
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, (stride, 1)),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor, a: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        y = self.gcn(x).view(n, self.num_subsets, -1, t, v)
        y = torch.einsum("nkctv,kwv->nctw", y, a)  # a[k, target, source]
        y = F.relu(self.bn1(y)) * frame_mask(lengths, t, y.dtype)  # padding = zeros for the conv
        y = self.dropout(self.bn2(self.tcn(y)))
        if self.residual is not None:
            y = y + self.residual(x)
        return F.relu(y)


class STGCN(Recognizer):
    name = "stgcn"

    def __init__(self, layout: Layout, in_channels: int, num_classes: int,
                 config: STGCNConfig | None = None, size: str = "paper") -> None:
        config = config or STGCNConfig()
        super().__init__(layout, in_channels, num_classes, config.blocks[-1][0], size, config)
        self.register_buffer("A", torch.from_numpy(spatial_partition(layout, config.partition)))
        k = self.A.shape[0]
        chans = [in_channels] + [c for c, _ in config.blocks]
        self.blocks = nn.ModuleList(
            STGCNBlock(chans[i], c, k, s, config.temporal_kernel, 0.0 if i == 0 else config.dropout,
                       residual=i > 0)
            for i, (c, s) in enumerate(config.blocks))
        self.edge_importance = nn.ParameterList(
            nn.Parameter(torch.ones_like(self.A), requires_grad=config.edge_importance)
            for _ in self.blocks)

    def backbone(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for block, importance in zip(self.blocks, self.edge_importance):
            x = block(x, self.A * importance, lengths)
            lengths = stride_lengths(lengths, block.stride)
        return x, lengths
