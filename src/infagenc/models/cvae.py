"""Transformer conditional VAE for skeleton action sequences (ACTOR, Petrovich et al., ICCV 2021).

This is the generator of InfAGenC.

* **Encoder**: every frame (V x C values) is embedded by a linear layer; two learned
  per-class query tokens (``mu_query[y]``, ``sigma_query[y]``) are prepended; sinusoidal
  positions are added to the whole sequence (the tokens take positions 0 and 1, frame t
  takes position t + 2, as in ACTOR); a transformer encoder runs over it with a key
  padding mask hiding the padded frames. Its outputs at the two tokens are ``mu`` and
  ``logvar`` (latent size = ``d_model``, as in ACTOR).
* **Decoder**: the queries are sinusoidal time codes ``PE(0..T-1)`` for the requested
  length; the memory is a single token ``z + action_bias[y]``; a transformer decoder
  (self-attention masked to the true length) and a linear layer give (T, V x C). Outputs
  at padding frames are exactly zero.

Sequences of different lengths share a batch: ``lengths`` (N,) gives each one's true
number of frames and padded frames never change the outputs at real frames (attention
never looks at them; the time codes of real frames do not depend on the padded length).

The model knows only shapes (classes, joints, channels). What the joints and channels
mean (layout, representation, an optional root-translation joint) is the business of
:mod:`infagenc.train.generator` (``MotionSpec``).

Sampling-time dropout (option from "Generative Data Augmentation for Skeleton Action
Recognition"): ``sample(..., dropout=p)`` / ``decode(..., dropout=p)`` keep dropout with
probability ``p`` active in the decoder (all its dropout layers, attention dropout
included, and the time-code dropout), which trades fidelity for diversity. It draws from
torch's global RNG; :func:`infagenc.train.generator.sample_motionset` seeds it.

Auxiliary classification head (refinement option of the same paper, off by default):
``CVAE(..., cls_head=True)`` adds :class:`SequenceClassifier`, a small classifier over a
decoded sequence (a per-frame MLP, mean-pooled over the real frames, then a linear layer to
the classes); :meth:`CVAE.forward` then also returns its ``logits`` on the decoder's output,
which the trainer puts under a cross-entropy (``GeneratorConfig.lambda_cls``), so the
gradient pushes the decoder towards sequences of the conditioning class. The head is built
after every other layer, so the other initial weights of a seed do not change, and a model
without it has exactly the state dict of older versions.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..config import config_from_dict
from .sizes import canonical_size

__all__ = ["CVAEConfig", "CVAE", "SequenceClassifier", "sinusoidal_positions", "length_mask"]


@dataclass
class CVAEConfig:
    """Sizes of the CVAE. Defaults are the paper's (= ACTOR's): 8 layers, d 256, 4 heads,
    feed-forward 1024, dropout 0.1, GELU. ``num_layers`` is used for the encoder and for
    the decoder each. :meth:`of_size` gives the ``paper`` or ``slim`` sizes
    (:data:`~infagenc.models.sizes.SIZES`; the legacy name ``small`` means ``slim``).

    ``norm_first``: the paper does not say where the layer norms sit; ACTOR's code uses
    PyTorch's default post-norm layers. We default to pre-norm (``norm_first=True``) after
    a comparison on validation subjects (``benchmarks/studies/cvae_norm.py``; the numbers are
    in benchmarks/results/cvae_norm.md): the learning rate matters more than the
    placement; pre-norm reconstructed slightly better at the higher learning rate, and at
    ACTOR's learning rate post-norm generated near-static poses while pre-norm at least moved.
    ``norm_first=False`` gives ACTOR's layers."""

    num_layers: int = 8
    d_model: int = 256
    num_heads: int = 4
    ff_size: int = 1024
    dropout: float = 0.1
    activation: str = "gelu"
    norm_first: bool = True  # pre-norm layers; False = ACTOR's post-norm (see the class docstring)

    def __post_init__(self) -> None:
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model {self.d_model} must be divisible by num_heads {self.num_heads}")
        if self.d_model % 2:
            raise ValueError("d_model must be even (sinusoidal positions)")
        if self.activation not in ("gelu", "relu"):
            raise ValueError(f"activation must be 'gelu' or 'relu', got {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must lie in [0, 1)")

    @classmethod
    def paper(cls) -> "CVAEConfig":
        return cls()

    @classmethod
    def slim(cls) -> "CVAEConfig":
        """A CPU-sized model for tests and demos: 2 layers, d 64, 4 heads, feed-forward 128."""
        return cls(num_layers=2, d_model=64, num_heads=4, ff_size=128)

    @classmethod
    def of_size(cls, size: str) -> "CVAEConfig":
        """The config of a size name of :data:`~infagenc.models.sizes.SIZES`; the legacy
        ``small`` is read as ``slim`` (:func:`~infagenc.models.sizes.canonical_size`)."""
        return {"paper": cls.paper, "slim": cls.slim}[canonical_size(size)]()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CVAEConfig":
        return config_from_dict(cls, d, "CVAE config")


def sinusoidal_positions(num: int, dim: int, offset: int = 0, device=None, dtype=torch.float32) -> torch.Tensor:
    """(num, dim) sinusoidal codes of positions ``offset .. offset + num - 1`` (Vaswani et al.)."""
    pos = torch.arange(offset, offset + num, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(num, dim, device=device, dtype=torch.float32)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe.to(dtype)


def length_mask(lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
    """(N, T) bool, True on real frames (t < lengths[n])."""
    return torch.arange(num_frames, device=lengths.device)[None, :] < lengths[:, None]


class SequenceClassifier(nn.Module):
    """Logits (N, K) of sequences (N, T, V, C): a two-layer per-frame MLP (GELU), its
    outputs averaged over the real frames (``lengths``), then a linear layer."""

    def __init__(self, features: int, hidden: int, num_classes: int):
        super().__init__()
        self.frame = nn.Sequential(nn.Linear(features, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[:2]
        h = self.frame(x.reshape(n, t, -1))
        m = length_mask(lengths, t).to(h.dtype)[..., None]
        return self.out((h * m).sum(1) / m.sum(1).clamp_min(1.0))


class CVAE(nn.Module):
    """ACTOR-style transformer conditional VAE (see module docstring).

    Args:
        num_classes: number of action classes (labels 0..num_classes-1).
        num_joints, channels: per-frame shape (V, C) of the sequences it models.
        cfg: sizes; :class:`CVAEConfig` defaults are the paper's.
        cls_head: add the auxiliary classification head (``self.cls_head``, a
            :class:`SequenceClassifier` of width ``d_model``); None without it.
    """

    def __init__(self, num_classes: int, num_joints: int, channels: int, cfg: CVAEConfig | None = None,
                 cls_head: bool = False):
        super().__init__()
        self.cfg = cfg or CVAEConfig()
        self.num_classes, self.num_joints, self.channels = int(num_classes), int(num_joints), int(channels)
        if min(self.num_classes, self.num_joints, self.channels) < 1:
            raise ValueError("num_classes, num_joints and channels must be >= 1")
        c, d = self.cfg, self.cfg.d_model
        self.latent_dim = d
        feats = self.num_joints * self.channels
        # encoder
        self.skel_embedding = nn.Linear(feats, d)
        self.mu_query = nn.Parameter(torch.randn(self.num_classes, d))
        self.sigma_query = nn.Parameter(torch.randn(self.num_classes, d))
        enc_layer = nn.TransformerEncoderLayer(d, c.num_heads, c.ff_size, c.dropout, c.activation,
                                               batch_first=True, norm_first=c.norm_first)
        self.encoder = nn.TransformerEncoder(enc_layer, c.num_layers, enable_nested_tensor=False)
        # decoder
        self.action_bias = nn.Parameter(torch.randn(self.num_classes, d))
        dec_layer = nn.TransformerDecoderLayer(d, c.num_heads, c.ff_size, c.dropout, c.activation,
                                               batch_first=True, norm_first=c.norm_first)
        self.decoder = nn.TransformerDecoder(dec_layer, c.num_layers)
        self.final = nn.Linear(d, feats)
        self.pos_dropout = nn.Dropout(c.dropout)  # on the time codes, as ACTOR's PositionalEncoding
        self.enc_pos_dropout = nn.Dropout(c.dropout)
        # last, so that the head does not change the other initial weights of a seed
        self.cls_head = SequenceClassifier(feats, d, self.num_classes) if cls_head else None

    # ------------------------------------------------------------------ checks
    def _check(self, labels: torch.Tensor, lengths: torch.Tensor, num_frames: int | None = None) -> None:
        if labels.ndim != 1 or lengths.shape != labels.shape:
            raise ValueError(f"labels {tuple(labels.shape)} and lengths {tuple(lengths.shape)} must be (N,)")
        if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"labels must lie in 0..{self.num_classes - 1}")
        if len(lengths) and lengths.min() < 1:
            raise ValueError("lengths must be >= 1")
        if num_frames is not None and len(lengths) and lengths.max() > num_frames:
            raise ValueError(f"lengths up to {int(lengths.max())} exceed the {num_frames} frames given")

    # ----------------------------------------------------------------- encoder
    def encode(self, x: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar), each (N, latent_dim), of sequences x (N, T, V, C)."""
        n, t, v, ch = x.shape
        if (v, ch) != (self.num_joints, self.channels):
            raise ValueError(f"x has (V, C) = {(v, ch)}, the model was built for "
                             f"{(self.num_joints, self.channels)}")
        if lengths is None:
            lengths = torch.full((n,), t, dtype=torch.long, device=x.device)
        self._check(labels, lengths, t)
        h = self.skel_embedding(x.reshape(n, t, v * ch))
        h = torch.cat([self.mu_query[labels][:, None], self.sigma_query[labels][:, None], h], dim=1)
        h = self.enc_pos_dropout(h + sinusoidal_positions(t + 2, self.latent_dim, device=x.device, dtype=h.dtype))
        pad = None  # no mask when nothing is padded: same result, faster attention kernels
        if len(lengths) and int(lengths.min()) < t:
            pad = torch.cat([torch.zeros(n, 2, dtype=torch.bool, device=x.device), ~length_mask(lengths, t)], dim=1)
        out = self.encoder(h, src_key_padding_mask=pad)
        return out[:, 0], out[:, 1]

    # ----------------------------------------------------------------- decoder
    def decode(self, z: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor,
               num_frames: int | None = None, dropout: float | None = None) -> torch.Tensor:
        """Sequences (N, T, V, C) for latents z (N, latent_dim); T = ``num_frames`` or max(lengths).

        ``dropout``: if given, dropout with this probability stays active in the decoder
        (sampling-time dropout); otherwise the module's train/eval mode decides.
        """
        n = z.shape[0]
        if z.shape != (n, self.latent_dim):
            raise ValueError(f"z must be (N, {self.latent_dim}), got {tuple(z.shape)}")
        t = int(num_frames if num_frames is not None else (lengths.max() if n else 1))
        self._check(labels, lengths, t)
        with self._decoder_dropout(dropout):
            memory = (z + self.action_bias[labels])[:, None]
            queries = sinusoidal_positions(t, self.latent_dim, device=z.device, dtype=memory.dtype)
            queries = self.pos_dropout(queries.expand(n, t, self.latent_dim))
            mask = length_mask(lengths, t)
            padded = bool(n) and int(lengths.min()) < t
            h = self.decoder(queries, memory, tgt_key_padding_mask=~mask if padded else None)
            out = self.final(h).reshape(n, t, self.num_joints, self.channels)
        return out * mask[:, :, None, None].to(out.dtype)

    @contextlib.contextmanager
    def _decoder_dropout(self, p: float | None):
        if p is None:
            yield
            return
        if not 0.0 <= p < 1.0:
            raise ValueError("sampling dropout must lie in [0, 1)")
        mods = [self.pos_dropout] + [m for m in self.decoder.modules() if isinstance(m, nn.Dropout)]
        mhas = [m for m in self.decoder.modules() if isinstance(m, nn.MultiheadAttention)]
        saved = ([(m.p, m.training) for m in mods], [(m.dropout, m.training) for m in mhas])
        try:
            for m in mods:
                m.p, m.training = p, p > 0
            for m in mhas:
                m.dropout, m.training = p, p > 0
            yield
        finally:
            for m, (pp, tr) in zip(mods, saved[0]):
                m.p, m.training = pp, tr
            for m, (pp, tr) in zip(mhas, saved[1]):
                m.dropout, m.training = pp, tr

    # ------------------------------------------------------------------- whole
    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
                       ) -> torch.Tensor:
        dev = generator.device if generator is not None else mu.device
        eps = torch.randn(mu.shape, generator=generator, device=dev, dtype=mu.dtype).to(mu.device)
        return mu + eps * torch.exp(0.5 * logvar)

    def forward(self, x: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor | None = None,
                generator: torch.Generator | None = None, use_mean: bool = False) -> dict[str, torch.Tensor]:
        """Encode, draw z (or take z = mu with ``use_mean``), decode at the input's lengths.

        Returns ``dict(output (N, T, V, C), mu, logvar, z)``; output is zero at padding. With
        the classification head also ``logits`` (N, num_classes) of the output.
        """
        n, t = x.shape[:2]
        if lengths is None:
            lengths = torch.full((n,), t, dtype=torch.long, device=x.device)
        mu, logvar = self.encode(x, labels, lengths)
        z = mu if use_mean else self.reparameterize(mu, logvar, generator)
        out = {"output": self.decode(z, labels, lengths, num_frames=t), "mu": mu, "logvar": logvar, "z": z}
        if self.cls_head is not None:
            out["logits"] = self.cls_head(out["output"], lengths)
        return out

    def sample(self, labels: torch.Tensor, lengths: torch.Tensor, generator: torch.Generator | None = None,
               dropout: float | None = None) -> torch.Tensor:
        """Decode z ~ N(0, I) for each (label, length); (N, max(lengths), V, C).

        z is drawn on the generator's device (CPU for a CPU generator) and moved to the
        model's, so a seed gives the same latents on every device.
        """
        dev = self.action_bias.device
        z = torch.randn((len(labels), self.latent_dim), generator=generator,
                        device=generator.device if generator is not None else dev)
        return self.decode(z.to(dev), labels.to(dev), lengths.to(dev), dropout=dropout)
