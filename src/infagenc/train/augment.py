"""On-the-fly augmentation of training batches of joint positions (xyz or xy).

Every function is pure: it takes a batch ``x`` (N, T, V, C) with the true ``lengths`` (N,)
and a CPU ``torch.Generator``, draws its random parameters from that generator only (so the
same seed gives the same batch, on any device), and returns a new tensor whose padding
frames (t >= lengths[i]) are zero. The recognizer trainer seeds one generator per epoch
from its checkpointed ``rng`` (:mod:`infagenc.train.recognizer`), so a resumed run repeats
an uninterrupted one exactly.

Spatial transforms act about a **pivot**, by default the origin; :func:`augment_batch`
uses each sample's centre joint (``layout.center``) in its first frame, which is the origin
for root-relative data and keeps a skeleton in place when the root was kept.

* :func:`random_rotation`: xyz: a rotation about the vertical axis (``up_axis``, y by the
  package's convention: rest poses and :func:`~infagenc.data.preprocess.align_view` put
  the spine along +y) by an angle uniform in +-``rotate_deg``, after tilts about the two
  horizontal axes, each uniform in +-``tilt_deg``; xy: an in-plane rotation uniform in
  +-``rotate_deg`` (``tilt_deg`` and ``up_axis`` do not apply to 2D data).
* :func:`random_scale`: factors uniform in [1 - s, 1 + s], one per axis (``per_axis``, as
  PYSKL's RandomScale) or one for all axes (isotropic, as CTR-GCN's small-data feeder).
* :func:`random_shear`: the matrix with ones on the diagonal and every off-diagonal entry
  uniform in +-s (the shear of the skeleton contrastive-learning recipes, e.g. AimCLR).
* :func:`random_crop`: a random window of at least ``crop_min`` of each sample's true
  duration (measured in frame intervals, ``lengths[i] - 1``), resampled linearly back to
  its own true length, so lengths and padding are unchanged.
* :func:`random_jitter`: independent Gaussian noise of std ``std`` (the data's units) on
  every coordinate of every real frame.
* :func:`random_mirror`: with probability ``p`` a sample is reflected: the layout's
  ``lr_pairs`` are swapped and x is negated (about the pivot). Only for classes that are
  symmetric under a mirror: fine for postures ("sit", "lie on the back"), wrong for
  "wave the left hand" (a mirrored sample of it is a "wave the right hand").

:func:`augment_batch` applies the parts an :class:`AugmentConfig` switches on, in this
order: crop, mirror, scale, shear, rotation, jitter.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

__all__ = ["AugmentConfig", "POSITION_REPS", "UP_AXES", "augment_batch", "random_rotation", "random_scale",
           "random_shear", "random_crop", "random_jitter", "random_mirror", "check_rep"]

POSITION_REPS = ("xyz", "xy")
UP_AXES = ("x", "y", "z")


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations a recognizer's training batches get; every part is off by default.

    * ``rotate_deg`` (0): xyz: rotation about the vertical axis by an angle uniform in
      +-``rotate_deg`` degrees; xy: the in-plane rotation.
    * ``tilt_deg`` (0): xyz only: tilts about each of the two horizontal axes, uniform in
      +-``tilt_deg`` degrees (ignored for xy).
    * ``up_axis`` (``"y"``): the vertical axis of xyz data (y: the package's convention).
    * ``scale`` (0): scale factors uniform in [1 - scale, 1 + scale]; ``scale_per_axis``
      (True) draws one factor per axis (PYSKL), False one for all axes (isotropic).
    * ``shear`` (0): off-diagonal shear terms uniform in +-``shear``.
    * ``crop_min`` (1.0 = off): keep a random window of at least this fraction of each
      sample's true duration, resampled back to its true length.
    * ``jitter`` (0): std of Gaussian noise added to every coordinate (data units; after
      ``normalize_scale`` a unit is the mean bone length).
    * ``mirror`` (0): probability of a left/right mirror (swap ``lr_pairs``, negate x). Off
      unless the classes allow it: right for postures, wrong for "wave the left hand".
    * ``repeat`` (1): passes over the training set per epoch, each sample drawn ``repeat``
      times per epoch in one shuffled order, each time augmented anew (CTR-GCN repeats small
      data sets 5 times). An epoch is then ``repeat`` times longer: the learning-rate
      schedule, ``epochs`` and early stopping count these longer epochs.

    Positions only: a recognizer trained on rotation representations refuses any
    augmentation (``repeat`` alone is allowed). Presets: :meth:`moderate` (PYSKL) and
    :meth:`strong` (CTR-GCN's small-data recipe).
    """

    rotate_deg: float = 0.0
    tilt_deg: float = 0.0
    up_axis: str = "y"
    scale: float = 0.0
    scale_per_axis: bool = True
    shear: float = 0.0
    crop_min: float = 1.0
    jitter: float = 0.0
    mirror: float = 0.0
    repeat: int = 1

    def __post_init__(self) -> None:
        checks = (("rotate_deg", 0 <= self.rotate_deg <= 180, "in [0, 180]"),
                  ("tilt_deg", 0 <= self.tilt_deg <= 90, "in [0, 90]"),
                  ("scale", 0 <= self.scale < 1, "in [0, 1)"),
                  ("shear", 0 <= self.shear <= 1, "in [0, 1]"),
                  ("crop_min", 0 < self.crop_min <= 1, "in (0, 1] (1 = off)"),
                  ("jitter", self.jitter >= 0, ">= 0"),
                  ("mirror", 0 <= self.mirror <= 1, "a probability in [0, 1]"),
                  ("repeat", isinstance(self.repeat, int) and self.repeat >= 1, "an integer >= 1"))
        for name, ok, what in checks:
            if not ok:
                raise ValueError(f"augment {name} must be {what}, got {getattr(self, name)!r}")
        if self.up_axis not in UP_AXES:
            raise ValueError(f"augment up_axis must be one of {UP_AXES}, got {self.up_axis!r}")

    @property
    def active(self) -> bool:
        """Whether any part changes the data (``repeat`` alone does not)."""
        return bool(self.rotate_deg or self.tilt_deg or self.scale or self.shear or self.crop_min < 1
                    or self.jitter or self.mirror)

    @classmethod
    def moderate(cls, **overrides) -> "AugmentConfig":
        """PYSKL's defaults: rotations uniform in +-0.3 rad (17.2 degrees) about all three
        axes (``rotate_deg`` = ``tilt_deg`` = 17.2) and scale +-0.1 per axis."""
        return cls(**{"rotate_deg": math.degrees(0.3), "tilt_deg": math.degrees(0.3), "scale": 0.1,
                      "scale_per_axis": True, **overrides})

    @classmethod
    def strong(cls, **overrides) -> "AugmentConfig":
        """After CTR-GCN's small-data recipe (NW-UCLA): rotation +-60 degrees about the
        vertical axis, isotropic scale 0.5-1.5, the training set repeated 5 times per epoch.
        CTR-GCN also tilts by +-60 degrees about one horizontal axis; we tilt by +-10 degrees
        (a 60-degree forward tilt turns standing into lying, which posture classes tell apart)."""
        return cls(**{"rotate_deg": 60.0, "tilt_deg": 10.0, "scale": 0.5, "scale_per_axis": False,
                      "repeat": 5, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)


def check_rep(rep: str | None, cfg: AugmentConfig) -> None:
    """Raise when ``cfg`` changes data that are not joint positions."""
    if cfg.active and rep not in POSITION_REPS:
        raise ValueError(f"augmentation applies to joint positions ({', '.join(POSITION_REPS)}), not to "
                         f"{rep!r} data: switch every augment option off (repeat may stay)")


# ---------------------------------------------------------------------- helpers
def _mask(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(N, T, 1, 1) mask, 1 on real frames."""
    t = torch.arange(x.shape[1], device=x.device)
    return (t[None, :] < lengths.to(x.device)[:, None]).to(x.dtype)[:, :, None, None]


def _uniform(gen: torch.Generator, shape, half_width: float) -> torch.Tensor:
    """Uniform in [-half_width, half_width] (float64, CPU)."""
    return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * half_width


def _check(x: torch.Tensor, lengths: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[-1] not in (2, 3):
        raise ValueError(f"augmentation needs positions of shape (N, T, V, 2 or 3), got {tuple(x.shape)}")
    if lengths.shape != x.shape[:1]:
        raise ValueError(f"lengths must be (N,) = ({x.shape[0]},), got {tuple(lengths.shape)}")


def _linear(x: torch.Tensor, lengths: torch.Tensor, m: torch.Tensor, pivot: torch.Tensor | None) -> torch.Tensor:
    """Each sample's points mapped by its (C, C) matrix ``m[i]`` about ``pivot[i]``; padding zero."""
    m = m.to(x.device, x.dtype)
    p = torch.zeros(x.shape[0], x.shape[-1], device=x.device, dtype=x.dtype) if pivot is None \
        else pivot.to(x.device, x.dtype)
    p = p[:, None, None, :]
    y = torch.einsum("ntvc,ndc->ntvd", x - p, m) + p
    return y * _mask(x, lengths)


def _axis_rotation(angle: torch.Tensor, axis: int) -> torch.Tensor:
    """(N, 3, 3) rotations by ``angle`` (radians) about coordinate axis ``axis`` (right-handed)."""
    n = angle.shape[0]
    c, s = torch.cos(angle), torch.sin(angle)
    r = torch.eye(3, dtype=angle.dtype).repeat(n, 1, 1)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]  # the plane the rotation turns
    r[:, i, i], r[:, i, j], r[:, j, i], r[:, j, j] = c, -s, s, c
    return r


# -------------------------------------------------------------------- transforms
def random_rotation(x: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator, rotate_deg: float,
                    tilt_deg: float = 0.0, up_axis: str = "y", pivot: torch.Tensor | None = None) -> torch.Tensor:
    """Random rotations (see module docstring): xyz about ``up_axis`` after tilts about the
    two horizontal axes; xy in-plane (``tilt_deg`` and ``up_axis`` unused)."""
    _check(x, lengths)
    n = x.shape[0]
    yaw = _uniform(gen, (n,), math.radians(rotate_deg))
    if x.shape[-1] == 2:
        c, s = torch.cos(yaw), torch.sin(yaw)
        m = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
        return _linear(x, lengths, m, pivot)
    up = UP_AXES.index(up_axis)
    h1, h2 = (a for a in range(3) if a != up)
    tilt1, tilt2 = _uniform(gen, (n,), math.radians(tilt_deg)), _uniform(gen, (n,), math.radians(tilt_deg))
    m = _axis_rotation(yaw, up) @ _axis_rotation(tilt1, h1) @ _axis_rotation(tilt2, h2)
    return _linear(x, lengths, m, pivot)


def random_scale(x: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator, scale: float,
                 per_axis: bool = True, pivot: torch.Tensor | None = None) -> torch.Tensor:
    """Scale by factors uniform in [1 - scale, 1 + scale], per axis or isotropic."""
    _check(x, lengths)
    n, c = x.shape[0], x.shape[-1]
    f = 1 + _uniform(gen, (n, c if per_axis else 1), scale)
    return _linear(x, lengths, torch.diag_embed(f.expand(n, c)), pivot)


def random_shear(x: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator, shear: float,
                 pivot: torch.Tensor | None = None) -> torch.Tensor:
    """Multiply by I + S, S's off-diagonal entries uniform in +-``shear``, zero diagonal."""
    _check(x, lengths)
    n, c = x.shape[0], x.shape[-1]
    off = _uniform(gen, (n, c, c), shear) * (1 - torch.eye(c, dtype=torch.float64))
    return _linear(x, lengths, torch.eye(c, dtype=torch.float64) + off, pivot)


def random_crop(x: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator, crop_min: float) -> torch.Tensor:
    """A random window of each sample's real frames resampled to its true length.

    For a sample of length L the window spans a fraction f ~ U[crop_min, 1] of its L - 1
    frame intervals and starts uniformly where it fits; output frame t reads the window at
    start + f (L - 1) t / (L - 1), interpolating linearly between the two original frames
    around it. ``crop_min`` = 1 returns the input (padding zeroed)."""
    _check(x, lengths)
    if not 0 < crop_min <= 1:
        raise ValueError(f"crop_min must lie in (0, 1], got {crop_min}")
    n, t = x.shape[:2]
    last = (lengths.cpu().to(torch.float64) - 1)  # index of each sample's last real frame
    frac = crop_min + (1 - crop_min) * torch.rand(n, generator=gen, dtype=torch.float64)
    span = frac * last
    start = torch.rand(n, generator=gen, dtype=torch.float64) * (last - span)
    step = torch.arange(t, dtype=torch.float64)[None, :] / last.clamp_min(1)[:, None]
    pos = torch.minimum(start[:, None] + span[:, None] * step, last[:, None])  # (N, T); padding rows clamped
    lo = pos.floor().long()
    hi = torch.minimum(lo + 1, last.long()[:, None])
    w = (pos - lo).to(x.device, x.dtype)[:, :, None, None]
    rows = torch.arange(n, device=x.device)[:, None]
    lo, hi = lo.to(x.device), hi.to(x.device)
    y = (1 - w) * x[rows, lo] + w * x[rows, hi]
    return y * _mask(x, lengths)


def random_jitter(x: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator, std: float) -> torch.Tensor:
    """Add N(0, std^2) noise to every coordinate of every real frame."""
    _check(x, lengths)
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float32).to(x.device, x.dtype)
    return (x + std * noise) * _mask(x, lengths)


def random_mirror(x: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator, p: float,
                  lr_pairs, pivot: torch.Tensor | None = None) -> torch.Tensor:
    """With probability ``p`` per sample: swap the (left, right) joints of ``lr_pairs`` and
    negate x about the pivot's x."""
    _check(x, lengths)
    n, _, v, c = x.shape
    flip = torch.rand(n, generator=gen, dtype=torch.float64) < p
    perm = list(range(v))
    for a, b in lr_pairs:
        perm[a], perm[b] = b, a
    sign = torch.ones(c, dtype=torch.float64)
    sign[0] = -1
    mirrored = _linear(x[:, :, perm], lengths, torch.diag(sign).expand(n, c, c), pivot)
    return torch.where(flip.to(x.device)[:, None, None, None], mirrored, x * _mask(x, lengths))


def augment_batch(x: torch.Tensor, lengths: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator,
                  layout) -> torch.Tensor:
    """The parts of ``cfg`` that are on, in order crop, mirror, scale, shear, rotation,
    jitter; spatial parts about each sample's first-frame centre joint (``layout.center``)."""
    _check(x, lengths)
    if cfg.crop_min < 1:
        x = random_crop(x, lengths, gen, cfg.crop_min)
    pivot = x[:, 0, layout.center].clone()
    if cfg.mirror:
        x = random_mirror(x, lengths, gen, cfg.mirror, layout.lr_pairs, pivot)
    if cfg.scale:
        x = random_scale(x, lengths, gen, cfg.scale, cfg.scale_per_axis, pivot)
    if cfg.shear:
        x = random_shear(x, lengths, gen, cfg.shear, pivot)
    if cfg.rotate_deg or cfg.tilt_deg:
        x = random_rotation(x, lengths, gen, cfg.rotate_deg, cfg.tilt_deg, cfg.up_axis, pivot)
    if cfg.jitter:
        x = random_jitter(x, lengths, gen, cfg.jitter)
    return x * _mask(x, lengths)
