"""MS-G3D (Liu, Zhang, Chen, Wang, Ouyang: Disentangling and Unifying Graph Convolutions for
Skeleton-Based Action Recognition, CVPR 2020), for any layout and any number of input channels.

Three STGC stages (channels 96, 192, 384; temporal stride 1, 2, 2). Each stage sums two
pathways and applies a multi-scale temporal convolution (MS-TCN):

* factorised pathway: MS-GCN (disentangled multi-scale adjacencies of scales
  0..``gcn_scales``-1, each symmetric-normalised, plus a learnable residual mask ``A_res``
  initialised in U(-1e-6, 1e-6); features of all scales concatenated and mixed by a
  1x1 conv + BN + ReLU), then MS-TCN (stride), MS-TCN (no final activation);
* G3D pathways, one per (window size tau, dilation d) in ``windows``: the frames of each
  temporal window are unfolded into a tau*V-node space-time graph (each joint linked to
  itself and its neighbours in all tau frames), aggregated with ``g3d_scales`` disentangled
  scales + ``A_res``, mixed by 1x1 conv + BN, ReLU, then collapsed over the window by a
  (1, tau, 1) 3-D convolution + BN; the pathways' outputs are summed.

MS-TCN: ``len(dilations) + 2`` branches of ``out / branches`` channels each: 1x1 conv + BN +
ReLU then a 3 x 1 temporal conv with dilation d (+BN), one for each d in ``tcn_dilations``
(1, 2, 3, 4); a 1x1 + BN + ReLU + 3 x 1 max-pool + BN branch; a strided 1x1 + BN branch;
concatenated, plus a residual (identity, or strided 1x1 conv + BN), ReLU.

Global average pooling over true frames and joints -> 384-d features, linear head
(``head_dropout``, our option for small data sets, puts dropout before it; 0 by default).
Input batch norm over V*C as in ST-GCN.

Choices: the paper's NTU setting has 13 MS-GCN scales and 6 G3D scales (scales beyond the
graph's diameter hold only self loops); the brief asks for G3D windows of size 3 with
dilations, so ``windows`` defaults to (tau 3, d 1) and (tau 3, d 2); the released code's
(tau 3, d 1) + (tau 5, d 1) is ``windows=((3, 1), (5, 1))``.

Slim size (:meth:`MSG3DConfig.slim`), our choice for the 2-core CPU budget: channels
48 / 96 / 192, 6 MS-GCN scales, 3 G3D scales, a single G3D window (3, 1), MS-TCN
dilations (1, 2) -> 192-d features; several times faster to train than paper size
(measured: benchmarks/results/speed.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..skeleton.layouts import Layout
from .base import Recognizer, frame_mask, stride_lengths
from .graph import layout_adjacency, multiscale_adjacency, spatio_temporal_graph

__all__ = ["MSG3DConfig", "MSG3D", "MSGCN", "MSTCN", "G3D"]


@dataclass(frozen=True)
class MSG3DConfig:
    """Architecture of MS-G3D; the defaults are the paper's (NTU setting)."""

    channels: tuple[int, int, int] = (96, 192, 384)
    gcn_scales: int = 13
    g3d_scales: int = 6
    windows: tuple[tuple[int, int], ...] = ((3, 1), (3, 2))  # (window size tau, dilation)
    tcn_dilations: tuple[int, ...] = (1, 2, 3, 4)
    head_dropout: float = 0.0  # dropout on the pooled features before the head (not in the paper)

    def __post_init__(self) -> None:
        if not 0 <= self.head_dropout < 1:
            raise ValueError(f"head_dropout must lie in [0, 1), got {self.head_dropout}")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "windows", tuple((int(w), int(d)) for w, d in self.windows))
        object.__setattr__(self, "tcn_dilations", tuple(int(d) for d in self.tcn_dilations))
        if len(self.channels) != 3:
            raise ValueError(f"MS-G3D has 3 stages: channels needs 3 values, got {self.channels}")
        branches = len(self.tcn_dilations) + 2
        if any(c % branches for c in self.channels):
            raise ValueError(f"channels {self.channels} must be divisible by the {branches} MS-TCN branches")
        if not self.windows or any(w < 1 or d < 1 for w, d in self.windows):
            raise ValueError(f"windows must be (size >= 1, dilation >= 1) pairs, got {self.windows}")
        if self.gcn_scales < 1 or self.g3d_scales < 1:
            raise ValueError("gcn_scales and g3d_scales must be >= 1")

    @classmethod
    def paper(cls, **kw) -> "MSG3DConfig":
        return cls(**kw)

    @classmethod
    def slim(cls, **kw) -> "MSG3DConfig":
        return cls(**{"channels": (48, 96, 192), "gcn_scales": 6, "g3d_scales": 3, "windows": ((3, 1),),
                      "tcn_dilations": (1, 2), **kw})


def _conv_bn(cin: int, cout: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 1, (stride, 1)), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class _ScaleAggregation(nn.Module):
    """Multi-scale aggregation ``sum_u A_k[v, u] x[u]`` for every scale k, scales stacked
    along channels, then a 1x1 conv + BN (+ ReLU)."""

    def __init__(self, adj: np.ndarray, in_channels: int, out_channels: int, relu: bool) -> None:
        super().__init__()
        self.register_buffer("A", torch.from_numpy(adj))
        self.A_res = nn.Parameter(torch.empty(adj.shape).uniform_(-1e-6, 1e-6))
        self.mlp = _conv_bn(in_channels * adj.shape[0], out_channels, relu=relu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v = x.shape
        agg = torch.einsum("kvu,nctu->nkctv", self.A + self.A_res, x)
        return self.mlp(agg.reshape(n, -1, t, v))


class MSGCN(_ScaleAggregation):
    """Multi-scale disentangled graph convolution over the skeleton (no temporal mixing)."""

    def __init__(self, a_binary: np.ndarray, num_scales: int, in_channels: int, out_channels: int) -> None:
        super().__init__(multiscale_adjacency(a_binary, num_scales), in_channels, out_channels, relu=True)


class MSTCN(nn.Module):
    """Multi-scale temporal convolution (see module docstring); maps lengths with the stride."""

    def __init__(self, in_channels: int, out_channels: int, dilations: tuple[int, ...], stride: int = 1,
                 activation: bool = True, kernel: int = 3) -> None:
        super().__init__()
        bc = out_channels // (len(dilations) + 2)
        self.stride = stride
        self.activation = activation
        self.pre = nn.ModuleList(_conv_bn(in_channels, bc) for _ in range(len(dilations) + 1))
        self.temporal = nn.ModuleList(
            nn.Sequential(nn.Conv2d(bc, bc, (kernel, 1), (stride, 1), ((kernel - 1) * d // 2, 0), (d, 1)),
                          nn.BatchNorm2d(bc))
            for d in dilations)
        self.temporal.append(nn.Sequential(nn.MaxPool2d((3, 1), (stride, 1), (1, 0)), nn.BatchNorm2d(bc)))
        self.pointwise = _conv_bn(in_channels, bc, stride, relu=False)
        if in_channels == out_channels and stride == 1:
            self.residual: nn.Module = nn.Identity()
        else:
            self.residual = _conv_bn(in_channels, out_channels, stride, relu=False)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = frame_mask(lengths, x.shape[2], x.dtype)
        # padding positions are zeros for the temporal convs; after ReLU they never win a max-pool
        outs = [tmp(pre(x) * mask) for pre, tmp in zip(self.pre, self.temporal)]
        outs.append(self.pointwise(x))
        y = torch.cat(outs, dim=1) + self.residual(x)
        return (F.relu(y) if self.activation else y), stride_lengths(lengths, self.stride)


class G3D(nn.Module):
    """One G3D pathway: unfold windows of ``window`` frames (dilation, stride), aggregate over
    the space-time graph at several scales, collapse each window back to one frame."""

    def __init__(self, a_binary: np.ndarray, num_scales: int, in_channels: int, embed_channels: int,
                 out_channels: int, window: int, dilation: int, stride: int) -> None:
        super().__init__()
        self.window, self.dilation, self.stride = window, dilation, stride
        self.pad = (window - 1) * dilation // 2
        adj = multiscale_adjacency(spatio_temporal_graph(a_binary, window), num_scales)
        self.gcn = _ScaleAggregation(adj, in_channels, embed_channels, relu=False)
        self.out_conv = nn.Conv3d(embed_channels, out_channels, (1, window, 1))
        self.out_bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        n, c, t, v = x.shape
        x = F.pad(x * frame_mask(lengths, t, x.dtype), (0, 0, self.pad, self.pad))
        t_out = (t - 1) // self.stride + 1
        idx = (torch.arange(t_out, device=x.device)[:, None] * self.stride
               + torch.arange(self.window, device=x.device)[None, :] * self.dilation)
        win = x[:, :, idx.reshape(-1), :].reshape(n, c, t_out, self.window * v)
        y = F.relu(self.gcn(win))
        y = self.out_conv(y.reshape(n, -1, t_out, self.window, v)).squeeze(3)
        return self.out_bn(y)


class _Stage(nn.Module):
    """One STGC stage: relu(MS-GCN -> MS-TCN(stride) -> MS-TCN  +  sum of G3D pathways) -> MS-TCN."""

    def __init__(self, a_binary: np.ndarray, cfg: MSG3DConfig, in_channels: int, out_channels: int,
                 stride: int, first: bool) -> None:
        super().__init__()
        mid = out_channels if first else in_channels
        self.gcn = MSGCN(a_binary, cfg.gcn_scales, in_channels, mid)
        self.tcn_a = MSTCN(mid, out_channels, cfg.tcn_dilations, stride)
        self.tcn_b = MSTCN(out_channels, out_channels, cfg.tcn_dilations, activation=False)
        # released code: the G3D embedding keeps the input width, except in the first stage
        embed = out_channels if first else in_channels
        self.g3d = nn.ModuleList(G3D(a_binary, cfg.g3d_scales, in_channels, embed, out_channels, w, d, stride)
                                 for w, d in cfg.windows)
        self.tcn_out = MSTCN(out_channels, out_channels, cfg.tcn_dilations)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, new_lengths = self.tcn_a(self.gcn(x), lengths)
        y, new_lengths = self.tcn_b(y, new_lengths)
        for g in self.g3d:
            y = y + g(x, lengths)
        return self.tcn_out(F.relu(y), new_lengths)


class MSG3D(Recognizer):
    name = "msg3d"

    def __init__(self, layout: Layout, in_channels: int, num_classes: int,
                 config: MSG3DConfig | None = None, size: str = "paper") -> None:
        config = config or MSG3DConfig()
        super().__init__(layout, in_channels, num_classes, config.channels[-1], size, config)
        a = layout_adjacency(layout)
        c1, c2, c3 = config.channels
        self.stages = nn.ModuleList([
            _Stage(a, config, in_channels, c1, 1, first=True),
            _Stage(a, config, c1, c2, 2, first=False),
            _Stage(a, config, c2, c3, 2, first=False),
        ])

    def backbone(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for stage in self.stages:
            x, lengths = stage(x, lengths)
        return x, lengths
