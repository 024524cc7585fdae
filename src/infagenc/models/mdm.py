"""Transformer denoiser of a motion diffusion model (MDM, Tevet et al., ICLR 2023).

The second generator of InfAGenC (the first is the CVAE of :mod:`infagenc.models.cvae`).
:class:`MDM` is the network only; the noise schedule, the loss, training and DDIM
sampling with classifier-free guidance live in :mod:`infagenc.train.diffusion`.

* **Input**: a noised sequence ``x_t`` (N, T, V, C); every frame (V x C values) is
  projected to ``d_model`` by a linear layer.
* **Condition token** (as in MDM): the diffusion step ``t`` is encoded with sinusoidal
  codes and a two-layer MLP (Linear, SiLU, Linear), a learned class embedding is added,
  and the sum is prepended to the frames as one extra token. The class embedding has one
  more row than there are classes: the learned **null class** (index ``num_classes``),
  the unconditional model of classifier-free guidance. ``forward(..., drop=mask)`` puts
  the null class where ``mask`` is True; training does so with probability
  ``MDMConfig.cond_drop_prob`` (MDM's ``cond_mask_prob``; MDM zeroes the class embedding
  instead of learning a null one).
* **Positions**: sinusoidal codes of positions 0 (the condition token) .. T are added to
  the tokens, followed by dropout (MDM's PositionalEncoding).
* **Encoder**: a transformer encoder (post-norm GELU layers, MDM's ``trans_enc``) with a
  key padding mask that hides the padded frames (never the condition token).
* **Output**: a linear layer per frame back to V x C: the prediction of the **clean**
  sequence ``x0`` (MDM predicts x0, not the noise). Outputs at padding frames are exactly 0.

Sequences of different lengths share a batch: ``lengths`` (N,) gives each one's true
number of frames, and padded frames never change the outputs at real frames. The model
knows only shapes (classes, joints, channels); what they mean is the business of
:class:`infagenc.train.generator.MotionSpec`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..config import config_from_dict
from .cvae import length_mask, sinusoidal_positions
from .sizes import canonical_size

__all__ = ["MDMConfig", "MDM", "timestep_embedding"]


@dataclass
class MDMConfig:
    """Sizes of the denoiser and of its diffusion process.

    Defaults are the **slim**, CPU-sized model (2 layers, d 64, 4 heads, feed-forward 128,
    dropout 0.1, GELU) with MDM's process: ``diffusion_steps`` 1000 training steps of a
    cosine noise schedule and ``cond_drop_prob`` 0.1 (the probability that a training
    sample sees the null class, for classifier-free guidance). :meth:`paper` gives MDM's
    size (8 layers, d 512, 4 heads, feed-forward 1024). ``norm_first`` False: post-norm
    layers, as MDM's code (PyTorch's default layer).
    """

    num_layers: int = 2
    d_model: int = 64
    num_heads: int = 4
    ff_size: int = 128
    dropout: float = 0.1
    activation: str = "gelu"
    norm_first: bool = False
    diffusion_steps: int = 1000
    cond_drop_prob: float = 0.1

    def __post_init__(self) -> None:
        if self.num_layers < 1 or self.d_model < 2 or self.num_heads < 1 or self.ff_size < 1:
            raise ValueError("need num_layers >= 1, d_model >= 2, num_heads >= 1, ff_size >= 1")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model {self.d_model} must be divisible by num_heads {self.num_heads}")
        if self.d_model % 2:
            raise ValueError("d_model must be even (sinusoidal codes)")
        if self.activation not in ("gelu", "relu"):
            raise ValueError(f"activation must be 'gelu' or 'relu', got {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.diffusion_steps < 1:
            raise ValueError(f"diffusion_steps must be >= 1, got {self.diffusion_steps}")
        if not 0.0 <= self.cond_drop_prob < 1.0:
            raise ValueError(f"cond_drop_prob must lie in [0, 1), got {self.cond_drop_prob}")

    @classmethod
    def paper(cls) -> "MDMConfig":
        """MDM's size: 8 layers, d 512, 4 heads, feed-forward 1024."""
        return cls(num_layers=8, d_model=512, num_heads=4, ff_size=1024)

    @classmethod
    def slim(cls) -> "MDMConfig":
        """The defaults: 2 layers, d 64, 4 heads, feed-forward 128."""
        return cls()

    @classmethod
    def of_size(cls, size: str) -> "MDMConfig":
        """The config of a size name of :data:`~infagenc.models.sizes.SIZES` (``small`` = ``slim``)."""
        return {"paper": cls.paper, "slim": cls.slim}[canonical_size(size)]()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MDMConfig":
        return config_from_dict(cls, d, "MDM config")


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(N, dim) sinusoidal codes of integer diffusion steps ``t`` (N,), the same codes as
    :func:`~infagenc.models.cvae.sinusoidal_positions` gives for positions."""
    t = t.to(torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=t.device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    out = torch.zeros(t.shape[0], dim, device=t.device, dtype=torch.float32)
    out[:, 0::2] = torch.sin(t * div)
    out[:, 1::2] = torch.cos(t * div)
    return out


class MDM(nn.Module):
    """MDM-style transformer denoiser predicting x0 (see module docstring).

    Args:
        num_classes: number of action classes (labels 0..num_classes-1; index
            ``num_classes`` is the null class).
        num_joints, channels: per-frame shape (V, C) of the sequences it models.
        cfg: sizes and process; :class:`MDMConfig` defaults are the slim model.
    """

    def __init__(self, num_classes: int, num_joints: int, channels: int, cfg: MDMConfig | None = None):
        super().__init__()
        self.cfg = cfg or MDMConfig()
        self.num_classes, self.num_joints, self.channels = int(num_classes), int(num_joints), int(channels)
        if min(self.num_classes, self.num_joints, self.channels) < 1:
            raise ValueError("num_classes, num_joints and channels must be >= 1")
        c, d = self.cfg, self.cfg.d_model
        feats = self.num_joints * self.channels
        self.input_proj = nn.Linear(feats, d)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.class_embed = nn.Embedding(self.num_classes + 1, d)  # the last row: the null class
        self.pos_dropout = nn.Dropout(c.dropout)
        layer = nn.TransformerEncoderLayer(d, c.num_heads, c.ff_size, c.dropout, c.activation,
                                           batch_first=True, norm_first=c.norm_first)
        self.encoder = nn.TransformerEncoder(layer, c.num_layers, enable_nested_tensor=False)
        self.output_proj = nn.Linear(d, feats)

    @property
    def null_class(self) -> int:
        """The class index of the unconditional model."""
        return self.num_classes

    def _check(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor) -> None:
        if x.ndim != 4 or tuple(x.shape[2:]) != (self.num_joints, self.channels):
            raise ValueError(f"x must be (N, T, {self.num_joints}, {self.channels}), got {tuple(x.shape)}")
        n, frames = x.shape[:2]
        if t.shape != (n,) or labels.shape != (n,) or lengths.shape != (n,):
            raise ValueError(f"t {tuple(t.shape)}, labels {tuple(labels.shape)} and lengths "
                             f"{tuple(lengths.shape)} must all be ({n},)")
        if n and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"labels must lie in 0..{self.num_classes - 1}")
        if n and (t.min() < 0 or t.max() >= self.cfg.diffusion_steps):
            raise ValueError(f"diffusion steps t must lie in 0..{self.cfg.diffusion_steps - 1}")
        if n and (lengths.min() < 1 or lengths.max() > frames):
            raise ValueError(f"lengths must lie in 1..{frames}")

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor | None = None,
                drop: torch.Tensor | bool | None = None) -> torch.Tensor:
        """The x0 prediction (N, T, V, C) for noised sequences ``x`` at diffusion steps ``t``.

        ``drop``: True (every sample) or an (N,) bool mask of samples that get the null
        class instead of their label (unconditional prediction); None / False: none.
        Outputs at padding frames (t >= lengths[n]) are zero.
        """
        n, frames = x.shape[:2]
        if lengths is None:
            lengths = torch.full((n,), frames, dtype=torch.long, device=x.device)
        t, labels, lengths = t.to(x.device), labels.to(x.device), lengths.to(x.device)
        self._check(x, t, labels, lengths)
        cls = labels
        if drop is not None and drop is not False:
            mask = torch.ones(n, dtype=torch.bool, device=x.device) if drop is True else drop.to(x.device)
            cls = torch.where(mask, torch.full_like(labels, self.null_class), labels)
        d = self.cfg.d_model
        cond = self.time_mlp(timestep_embedding(t, d).to(x.dtype)) + self.class_embed(cls)
        h = torch.cat([cond[:, None], self.input_proj(x.reshape(n, frames, -1))], dim=1)
        h = self.pos_dropout(h + sinusoidal_positions(frames + 1, d, device=x.device, dtype=h.dtype))
        real = length_mask(lengths, frames)
        pad = None  # no mask when nothing is padded: same result, faster attention kernels
        if n and int(lengths.min()) < frames:
            pad = torch.cat([torch.zeros(n, 1, dtype=torch.bool, device=x.device), ~real], dim=1)
        out = self.output_proj(self.encoder(h, src_key_padding_mask=pad)[:, 1:])
        return out.reshape(x.shape) * real[:, :, None, None].to(out.dtype)
