"""Posture recognizers for single frames: a small MLP (or graph network) over one frame's
joints, its late-fusion form over the 2D and 3D keypoints of the same image, and an optional
hierarchical (coarse -> fine) head after the AIMS paper (Huang et al., "Unsupervised Domain
Adaptation Learning for Hierarchical Infant Pose Recognition with Synthetic Data", 2022).

``posture`` (:class:`PostureNet`): no temporal layer anywhere. Each frame is encoded on its
own: the input batch norm of every recognizer (:class:`~.base.Recognizer`: each of the V x C
coordinates standardised), then

* ``kind = "mlp"``: the flattened V x C joints -> ``hidden`` layers (Linear, BatchNorm,
  ReLU; dropout between layers) -> the last width is the feature vector;
* ``kind = "gcn"``: ``gcn_channels`` graph convolutions over the layout's edges (per joint
  Linear, then the row-normalised adjacency with self loops, ``A = D^-1 (A + I)``, BatchNorm,
  ReLU), the joints then flattened (joint identity kept: a posture is where each joint is)
  into the same MLP.

A set of T = 1 (SyRIP images) is what it is for; with T > 1 every true frame is encoded
alone and the features are averaged over the true frames (a frame-wise classifier, not a
sequence model). ``features`` is that vector (``feature_dim = hidden[-1]``), so DANN, LMMD
and the loop's distance selection work on it as on ST-GCN's.

``posture_fusion`` (:class:`PostureFusion`): late fusion of keypoint sets of the same image
held in one set on a fused layout (:func:`infagenc.data.fusion.fuse_keypoints`: joints
``2d:<name>`` then ``3d:<name>``, xyz, the 2D part with z = 0). :func:`split_parts` finds
the parts from the joint-name prefixes; each part gets its own encoder on its own layout
(the 2D one reads x, y only, never the padded z), and the features are concatenated
(``feature_dim = parts x hidden[-1]``). The edge that joins the parts' trees in the fused
layout is not a graph edge of either encoder.

Hierarchical head (``coarse_of``: the coarse class of every fine class, ``coarse_names``):
``coarse = W_c f``, ``fine = W_f [f, coarse]`` (the fine classifier takes the coarse logits
with the features, as the AIMS paper's hierarchical module); ``forward`` / ``head`` give the
fine logits, so training, ``predict`` and ``evaluate`` see a K-class recognizer.
:meth:`PostureNet.auxiliary_loss` is the coarse term the recognizer trainer adds to the
fine cross-entropy: ``coarse_weight x CE(coarse, coarse_of[y])``, on the coarse logits of the
batch the head just classified (with the same per-sample weights and label smoothing).
Under Adam only the ratio of the two weights matters, hence one weight (fine = 1).
:meth:`PostureNet.coarse_logits` gives the coarse head's output for reports.

Sizes: no paper defines this model; ``paper`` and ``slim`` name the same defaults.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..skeleton.layouts import Layout, LayoutError
from .base import Recognizer
from .graph import layout_adjacency, normalize_rows

__all__ = ["POSTURE_KINDS", "FUSED_PARTS", "PostureConfig", "PostureNet", "PostureFusion", "HierarchicalHead",
           "split_parts"]

POSTURE_KINDS = ("mlp", "gcn")
FUSED_PARTS = {"2d": 2, "3d": 3}  # joint-name prefix of a fused layout's part -> the channels it reads


@dataclass(frozen=True)
class PostureConfig:
    """Architecture of the posture models (see module docstring)."""

    kind: str = "mlp"
    hidden: tuple[int, ...] = (256, 128)
    gcn_channels: tuple[int, ...] = (32, 32)
    dropout: float = 0.3
    head_dropout: float = 0.0
    coarse_of: tuple[int, ...] = ()
    coarse_names: tuple[str, ...] = ()
    coarse_weight: float = 1.0

    def __post_init__(self) -> None:
        for key, cast in (("hidden", int), ("gcn_channels", int), ("coarse_of", int), ("coarse_names", str)):
            object.__setattr__(self, key, tuple(cast(v) for v in getattr(self, key)))
        if self.kind not in POSTURE_KINDS:
            raise ValueError(f"posture kind must be one of {POSTURE_KINDS}, got {self.kind!r}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"posture hidden must be one or more positive widths, got {list(self.hidden)}")
        if self.kind == "gcn" and (not self.gcn_channels or min(self.gcn_channels) < 1):
            raise ValueError(f"posture gcn_channels must be positive widths, got {list(self.gcn_channels)}")
        if not (0 <= self.dropout < 1 and 0 <= self.head_dropout < 1):
            raise ValueError(f"dropout and head_dropout must lie in [0, 1), got {self.dropout}, {self.head_dropout}")
        if self.coarse_weight < 0:
            raise ValueError(f"coarse_weight must be >= 0, got {self.coarse_weight}")
        self._check_hierarchy()

    def _check_hierarchy(self) -> None:
        if not self.coarse_of:
            if self.coarse_names:
                raise ValueError("coarse_names without coarse_of: give the coarse class of every fine class")
            return
        k = len(self.coarse_names)
        if min(self.coarse_of) < 0 or max(self.coarse_of) >= max(k, 1):
            raise ValueError(f"coarse_of entries must index coarse_names (0..{k - 1}), got {list(self.coarse_of)}")
        unused = [self.coarse_names[c] for c in range(k) if c not in self.coarse_of]
        if unused:
            raise ValueError(f"coarse classes without a fine class: {unused}")

    @property
    def hierarchical(self) -> bool:
        return bool(self.coarse_of)

    @classmethod
    def paper(cls, **kw) -> "PostureConfig":
        return cls(**kw)

    @classmethod
    def slim(cls, **kw) -> "PostureConfig":
        return cls(**kw)


def split_parts(layout: Layout) -> list[tuple[int, int, Layout, int]]:
    """(first joint, end joint, own layout, channels read) of each part of a fused layout,
    from its joint-name prefixes (:data:`FUSED_PARTS`); a one-line ValueError otherwise."""
    prefixes = [j.split(":", 1)[0] if ":" in j else "" for j in layout.joints]
    bad = sorted({p for p in prefixes if p not in FUSED_PARTS})
    if bad:
        raise ValueError(f"posture_fusion needs a fused layout (joints named '2d:<joint>' / '3d:<joint>', see "
                         f"infagenc.data.fusion); layout {layout.name!r} has joints without such a prefix")
    runs, lo = [], 0
    for hi in range(1, len(prefixes) + 1):
        if hi == len(prefixes) or prefixes[hi] != prefixes[lo]:
            runs.append((lo, hi, prefixes[lo]))
            lo = hi
    if len({p for *_, p in runs}) != len(runs):
        raise ValueError(f"layout {layout.name!r}: each part of a fused layout must be one run of joints")
    return [(lo, hi, _sub_layout(layout, lo, hi, p), FUSED_PARTS[p]) for lo, hi, p in runs]


def _sub_layout(layout: Layout, lo: int, hi: int, prefix: str) -> Layout:
    """Joints lo..hi-1 as a layout of their own (a parent outside the part makes a root)."""
    inside = lambda j: lo <= j < hi  # noqa: E731
    parents = [p - lo if inside(p) else -1 for p in layout.parents[lo:hi]]
    roots = [j for j, p in enumerate(parents) if p == -1]
    center = layout.center - lo if inside(layout.center) else (roots[0] if roots else 0)
    try:
        return Layout(f"{layout.name}[{prefix}]", tuple(j.split(":", 1)[1] for j in layout.joints[lo:hi]),
                      tuple(parents), center,
                      tuple((a - lo, b - lo) for a, b in layout.lr_pairs if inside(a) and inside(b)),
                      tuple((a - lo, b - lo) for a, b in layout.extra_edges if inside(a) and inside(b)))
    except LayoutError as e:
        raise ValueError(f"layout {layout.name!r}: part {prefix!r} is not one tree ({e})") from None


class FrameEncoder(nn.Module):
    """One frame's joints (M, V, C) -> (M, hidden[-1]): optional graph convolutions, then the MLP."""

    def __init__(self, layout: Layout, channels: int, cfg: PostureConfig) -> None:
        super().__init__()
        v = layout.num_joints
        self.gcn = nn.ModuleList()
        self.gcn_bn = nn.ModuleList()
        width = channels
        if cfg.kind == "gcn":
            a = normalize_rows(layout_adjacency(layout) + np.eye(v))
            self.register_buffer("A", torch.as_tensor(a, dtype=torch.float32))
            for c in cfg.gcn_channels:
                self.gcn.append(nn.Linear(width, c))
                self.gcn_bn.append(nn.BatchNorm1d(c))
                width = c
        layers: list[nn.Module] = []
        prev = v * width
        for i, w in enumerate(cfg.hidden):
            if i:
                layers.append(nn.Dropout(cfg.dropout))
            layers += [nn.Linear(prev, w), nn.BatchNorm1d(w), nn.ReLU()]
            prev = w
        self.mlp = nn.Sequential(*layers)
        self.out_dim = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for lin, bn in zip(self.gcn, self.gcn_bn):
            h = torch.einsum("wv,mvc->mwc", self.A.to(x.dtype), lin(x))  # A[target, source]
            x = F.relu(bn(h.transpose(1, 2)).transpose(1, 2))
        return self.mlp(x.flatten(1))


class HierarchicalHead(nn.Module):
    """Coarse logits from the features; fine logits from the features and the coarse logits.

    ``forward`` returns the fine logits; in training (grad enabled) it keeps the batch's coarse
    logits for :meth:`PostureNet.auxiliary_loss`, which takes them (and clears them)."""

    def __init__(self, feature_dim: int, num_classes: int, coarse_of: tuple[int, ...]) -> None:
        super().__init__()
        k = max(coarse_of) + 1
        self.coarse = nn.Linear(feature_dim, k)
        self.fine = nn.Linear(feature_dim + k, num_classes)
        self.register_buffer("coarse_of", torch.as_tensor(coarse_of, dtype=torch.long))
        self.last_coarse: torch.Tensor | None = None

    def __getstate__(self) -> dict:
        """Copies and pickles leave out the kept coarse logits (one training batch's, not weights)."""
        state = dict(super().__getstate__())
        state["last_coarse"] = None
        return state

    def both(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(coarse logits, fine logits)."""
        c = self.coarse(f)
        return c, self.fine(torch.cat([f, c.to(f.dtype)], 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        c, fine = self.both(f)
        self.last_coarse = c if (self.training and torch.is_grad_enabled()) else None
        return fine


class PostureNet(Recognizer):
    """Frame-wise posture recognizer on one layout (see module docstring)."""

    name = "posture"

    def __init__(self, layout: Layout, in_channels: int, num_classes: int,
                 config: PostureConfig | None = None, size: str = "slim") -> None:
        config = config or PostureConfig()
        parts = self.parts(layout, in_channels)
        super().__init__(layout, in_channels, num_classes, len(parts) * config.hidden[-1], size, config)
        self.part_slices = [(lo, hi, c) for lo, hi, _, c in parts]
        self.encoders = nn.ModuleList(FrameEncoder(sub, c, config) for _, _, sub, c in parts)
        if config.hierarchical:
            if len(config.coarse_of) != num_classes:
                raise ValueError(f"{self.name}: coarse_of has {len(config.coarse_of)} entries for "
                                 f"{num_classes} classes: give the coarse class of every fine class")
            self.head = HierarchicalHead(self.feature_dim, num_classes, config.coarse_of)

    @staticmethod
    def parts(layout: Layout, in_channels: int) -> list[tuple[int, int, Layout, int]]:
        return [(0, layout.num_joints, layout, in_channels)]

    def backbone(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, T, V) -> (N, D, T, 1): each true frame encoded alone, padding frames zero."""
        n, c, t, v = x.shape
        frames = x.permute(0, 2, 3, 1).reshape(n * t, v, c)
        real = (torch.arange(t, device=x.device)[None, :] < lengths[:, None]).reshape(-1)
        sel = frames[real]
        feats = torch.cat([enc(sel[:, lo:hi, :ch]) for enc, (lo, hi, ch) in zip(self.encoders, self.part_slices)],
                          dim=1)
        out = feats.new_zeros(n * t, feats.shape[1])
        out[real] = feats
        return out.view(n, t, -1).permute(0, 2, 1)[..., None], lengths

    def coarse_logits(self, features: torch.Tensor) -> torch.Tensor:
        """The coarse head's logits (N, K_coarse) for pooled features (hierarchical head only)."""
        if not isinstance(self.head, HierarchicalHead):
            raise ValueError(f"{self.name}: a flat head has no coarse logits (build it with coarse_of)")
        return self.head.both(features)[0]

    def auxiliary_loss(self, y: torch.Tensor, weights: torch.Tensor | None = None,
                       label_smoothing: float = 0.0) -> torch.Tensor:
        """``coarse_weight x`` the coarse cross-entropy of the batch the head last classified in
        training (0 for a flat head); called by the recognizer trainer after the fine loss."""
        head = self.head
        if not isinstance(head, HierarchicalHead):
            return torch.zeros((), device=y.device)
        c, head.last_coarse = head.last_coarse, None
        if c is None:
            raise RuntimeError(f"{self.name}: auxiliary_loss needs the head's training forward on this batch first")
        per = F.cross_entropy(c.float(), head.coarse_of[y], reduction="none", label_smoothing=label_smoothing)
        loss = (per * weights).mean() if weights is not None else per.mean()
        return self.config.coarse_weight * loss


class PostureFusion(PostureNet):
    """Late fusion of the parts of a fused layout: one encoder per part, features concatenated."""

    name = "posture_fusion"

    @staticmethod
    def parts(layout: Layout, in_channels: int) -> list[tuple[int, int, Layout, int]]:
        if in_channels != 3:
            raise ValueError(f"posture_fusion reads xyz data of a fused layout (3 channels), got {in_channels}")
        return split_parts(layout)
