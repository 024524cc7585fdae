"""Preprocessing of motion sets: fixed length, root, scale, view; sample checks.

Every function returns a new :class:`MotionSet` and leaves its input untouched.

* :class:`Preprocess` is the one declared preprocessing chain of the package: keypoints with
  confidence 0 (kept / filled / refused), fixed length, view alignment, root, scale, always
  in that order.
  The run, the recognizer and generator commands and the benchmarks build one, store it with
  every checkpoint (``to_dict``) and re-apply it when a checkpoint meets new data.

* :func:`fixed_length` crops or resamples every sequence to ``num_frames`` (the paper:
  60 for InfActPrimitive, 90 for InfantAction and NTU).
  ``resample`` interpolates linearly over the true length (rotations are interpolated
  as rot6d and re-orthonormalised, so axis-angle data is never averaged component-wise);
  a sequence that already has ``num_frames`` frames is kept exactly as it is, so applying
  the same :class:`Preprocess` twice changes nothing;
  ``crop`` takes a window of ``num_frames`` (centre, or random with a seed) and
  resamples sequences that are shorter than the window (recorded in ``notes``).
* :func:`root_relative` subtracts the centre joint (per frame, or the first frame's
  position from all frames); for rotation data it clears or re-bases ``trans``.
  :func:`root_constraint` tells which of those a set satisfies (a generator trained on it
  restores the same constraint on its samples).
* :func:`normalize_scale` divides positions by the mean bone length of each sequence.
* :func:`align_view` rotates xyz sequences so that, in the first frame, the left/right
  hip (or shoulder) line lies along +x and the spine points up (+y), the first frame's
  centre joint at the origin.
* :func:`check_samples` finds NaN/Inf values, all-zero frames and too-short sequences;
  it raises a :class:`DataError` naming the sample, or (``on_bad="skip"``) leaves the
  sample out and records an :class:`Exclusion`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from ..skeleton.rotations import convert
from .errors import DataError, Exclusion, check_on_bad
from .motionset import MotionSet

__all__ = ["Preprocess", "ROOT_MODES", "RESAMPLE_MODES", "UNLABELLED_MODES", "fixed_length", "unlabelled_mask", "fill_unlabelled", "root_relative", "root_constraint", "normalize_scale", "align_view", "check_samples",
           "resample_sequence"]


# Root handling: the centre joint at the origin in every frame, in the first frame only, or
# left as recorded. One tuple for the data config, the recognizer command and the generator's
# restored constraint.
ROOT_MODES = ("per_frame", "first_frame", "none")
RESAMPLE_MODES = ("resample", "crop")
UNLABELLED_MODES = ("keep", "fill", "error")


def resample_sequence(x: np.ndarray, num_frames: int) -> np.ndarray:
    """Linear interpolation of a (T, ...) array to (num_frames, ...), endpoints kept."""
    t = x.shape[0]
    if t == num_frames:
        return x.copy()
    if t == 1:
        return np.repeat(x, num_frames, axis=0)
    pos = np.linspace(0.0, t - 1, num_frames)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo).reshape((-1,) + (1,) * (x.ndim - 1))
    return (1 - w) * x[lo] + w * x[hi]


def _resample_values(x: np.ndarray, rep: str, num_frames: int) -> np.ndarray:
    if rep == "axis_angle":
        r6 = convert(x.astype(np.float64), "axis_angle", "rot6d")
        return convert(resample_sequence(r6, num_frames), "rot6d", "axis_angle")
    if rep == "rot6d":
        # interpolate then re-project onto valid rotations
        return convert(convert(resample_sequence(x.astype(np.float64), num_frames), "rot6d", "axis_angle"),
                       "axis_angle", "rot6d")
    return resample_sequence(x, num_frames)


def fixed_length(ms: MotionSet, num_frames: int, mode: str = "resample", *, crop: str = "center",
                 seed: int | None = None) -> MotionSet:
    """Every sequence to exactly ``num_frames`` frames (see module docstring)."""
    if num_frames < 1:
        raise ValueError("num_frames must be >= 1")
    if mode not in RESAMPLE_MODES:
        raise ValueError(f"mode must be one of {RESAMPLE_MODES}, got {mode!r}")
    if crop not in ("center", "random"):
        raise ValueError(f"crop must be 'center' or 'random', got {crop!r}")
    if mode == "crop" and crop == "random" and seed is None:
        raise ValueError("random crops need an explicit seed")
    rng = np.random.default_rng(seed)
    n = len(ms)
    data = np.zeros((n, num_frames) + ms.data.shape[2:], np.float32)
    trans = None if ms.trans is None else np.zeros((n, num_frames, 3), np.float32)
    conf = None if ms.conf is None else np.zeros((n, num_frames, ms.num_joints), np.float32)
    short = 0
    for i in range(n):
        L = int(ms.lengths[i])
        x = ms.data[i, :L]
        tr = None if trans is None else ms.trans[i, :L]
        cf = None if conf is None else ms.conf[i, :L]
        if (mode == "crop" and L >= num_frames) or L == num_frames:  # a window, or (already the length) all
            start = 0 if L == num_frames and mode == "resample" else \
                (L - num_frames) // 2 if crop == "center" else int(rng.integers(0, L - num_frames + 1))
            sl = slice(start, start + num_frames)
            data[i] = x[sl]
            if trans is not None:
                trans[i] = tr[sl]
            if conf is not None:
                conf[i] = cf[sl]
            continue
        if mode == "crop":
            short += 1
        data[i] = _resample_values(x, ms.rep, num_frames)
        if trans is not None:
            trans[i] = resample_sequence(tr, num_frames)
        if conf is not None:
            conf[i] = resample_sequence(cf, num_frames)
    out = MotionSet(data, np.full(n, num_frames), ms.labels, ms.class_names, ms.subjects, ms.names,
                    ms.layout, ms.rep, source=ms.source, run=ms.run, epoch=ms.epoch, round=ms.round,
                    seed=ms.seed, trans=trans, conf=conf, fps=None if mode == "resample" else ms.fps,
                    exclusions=ms.exclusions, notes=ms.notes)
    if short:
        out.notes.append(f"fixed_length(crop, {num_frames}): {short} sequences shorter than the window "
                         f"were resampled to {num_frames} frames")
    return out


def unlabelled_mask(ms: MotionSet) -> np.ndarray:
    """(N, T, V) bool: keypoints marked not labelled (``conf == 0``) in valid frames; all
    False for a set without ``conf``."""
    if ms.conf is None:
        return np.zeros(ms.data.shape[:3], dtype=bool)
    return (ms.conf == 0) & ms.frame_mask()[:, :, None]


def fill_unlabelled(ms: MotionSet) -> tuple[MotionSet, int]:
    """Keypoints marked not labelled (``conf == 0``, e.g. COCO visibility 0, whose
    coordinates are placeholders such as SyRIP's -45) -> the mean of the same frame's
    labelled keypoints; returns the filled set and how many keypoints were filled. A set
    without ``conf`` is returned as it is. A frame with no labelled keypoint raises,
    naming the sample: there is nothing to fill it from."""
    if ms.conf is None:
        return ms, 0
    hidden = unlabelled_mask(ms)
    data = ms.data.copy()
    for i, t in zip(*np.nonzero(hidden.any(axis=2))):
        seen = ~hidden[i, t]
        if not seen.any():
            raise ValueError(f"sample {ms.names[i]!r}, frame {t}: no labelled keypoint to fill the others from")
        data[i, t, hidden[i, t]] = data[i, t, seen].mean(axis=0)
    return ms.with_data(data), int(hidden.sum())


def root_relative(ms: MotionSet, mode: str = "per_frame") -> MotionSet:
    """Remove the root (centre joint) position.

    ``per_frame``: every frame's centre joint goes to the origin (all translation removed);
    ``first_frame``: the first frame's centre goes to the origin (trajectory kept).
    For rotation data the root translation ``trans`` is removed (``per_frame``: the set
    then has no ``trans``) or re-based on its first frame (``first_frame``).
    """
    if mode not in ("per_frame", "first_frame"):
        raise ValueError(f"mode must be 'per_frame' or 'first_frame', got {mode!r}")
    mask = ms.frame_mask()
    if ms.rep in ("rot6d", "axis_angle"):
        if ms.trans is None or mode == "per_frame":
            return ms.with_data(ms.data, trans=None)
        tr = ms.trans - ms.trans[:, :1]
        tr[~mask] = 0
        return ms.with_data(ms.data, trans=tr)
    c = ms.layout.center
    root = ms.data[:, :, c:c + 1, :] if mode == "per_frame" else ms.data[:, :1, c:c + 1, :]
    out = ms.data - root
    out[~mask] = 0
    return ms.with_data(out)


def root_constraint(ms: MotionSet, atol: float = 1e-6) -> str:
    """Which root constraint of :func:`root_relative` every sample of ``ms`` satisfies.

    ``per_frame``: positions whose centre joint is at the origin (within ``atol``) in every
    real frame; ``first_frame``: positions whose centre joint is at the origin in the first
    frame, or rotation data whose ``trans`` is zero in the first frame; ``none`` otherwise
    (also for rotation data without ``trans``: nothing positional to constrain). An empty
    set satisfies nothing (``none``).
    """
    if len(ms) == 0:
        return "none"
    if ms.rep in ("rot6d", "axis_angle"):
        if ms.trans is not None and np.all(np.abs(ms.trans[:, 0]) <= atol):
            return "first_frame"
        return "none"
    root = np.abs(ms.data[:, :, ms.layout.center, :]).max(axis=-1)  # (N, T)
    if np.all(root[ms.frame_mask()] <= atol):
        return "per_frame"
    if np.all(root[:, 0] <= atol):
        return "first_frame"
    return "none"


def normalize_scale(ms: MotionSet, target: float = 1.0) -> MotionSet:
    """Scale positions so that each sequence's mean bone length equals ``target``."""
    if ms.rep not in ("xyz", "xy"):
        raise ValueError(f"scale normalisation applies to positions, not {ms.rep!r}")
    edges = np.array(ms.layout.tree_edges)
    out = ms.data.copy()
    for i in range(len(ms)):
        x = ms.data[i, : ms.lengths[i]]
        bones = np.linalg.norm(x[:, edges[:, 0]] - x[:, edges[:, 1]], axis=-1)
        m = float(bones.mean())
        if not np.isfinite(m) or m <= 0:
            raise DataError("cannot normalise scale: mean bone length is zero or not finite",
                            sample=str(ms.names[i]))
        out[i, : ms.lengths[i]] = x * (target / m)
    return ms.with_data(out)


def _find_pair(layout, *words) -> tuple[int, int] | None:
    for a, b in layout.lr_pairs:
        na, nb = layout.joints[a], layout.joints[b]
        if any(w in na for w in words) and any(w in nb for w in words):
            return a, b
    return None


_UP_JOINTS = ("neck", "spine_shoulder", "shoulder_center", "thorax", "head", "head_top")


def align_view(ms: MotionSet) -> MotionSet:
    """Rotate each xyz sequence into a body-centred view (see module docstring).

    In each sequence's first frame: the x axis runs from the right to the left hip (the
    shoulders when the layout names no hips), the y axis along the spine (from the hips'
    midpoint, or the centre joint without hips, to the first joint named neck /
    spine_shoulder / shoulder_center / thorax / head / head_top; the data's own +y when the
    layout names none) made orthogonal to x, z = x cross y; the first frame's centre joint
    goes to the origin. Every frame of the sequence gets the same rigid motion.
    """
    if ms.rep != "xyz":
        raise ValueError(f"view alignment applies to xyz positions, not {ms.rep!r}")
    hips = _find_pair(ms.layout, "hip")
    pair = hips or _find_pair(ms.layout, "shoulder")
    if pair is None:
        raise ValueError(f"layout {ms.layout.name!r} has no hip or shoulder left/right pair to align on")
    left, right = pair
    c = ms.layout.center
    up_j = next((i for i, n in enumerate(ms.layout.joints) if n in _UP_JOINTS), None)
    out = ms.data.copy()
    for i in range(len(ms)):
        f0 = ms.data[i, 0].astype(np.float64)
        low = (f0[hips[0]] + f0[hips[1]]) / 2 if hips is not None else f0[c]
        up = f0[up_j] - low if up_j is not None else np.array([0.0, 1.0, 0.0])
        if np.linalg.norm(up) < 1e-9:
            up = np.array([0.0, 1.0, 0.0])
        x_axis = f0[left] - f0[right]
        if np.linalg.norm(x_axis) < 1e-9:
            raise DataError("cannot align view: left and right joints coincide in the first frame",
                            sample=str(ms.names[i]))
        x_axis = x_axis / np.linalg.norm(x_axis)
        y_axis = up - np.dot(up, x_axis) * x_axis
        if np.linalg.norm(y_axis) < 1e-9:
            raise DataError("cannot align view: spine is parallel to the hip line", sample=str(ms.names[i]))
        y_axis /= np.linalg.norm(y_axis)
        z_axis = np.cross(x_axis, y_axis)
        R = np.stack([x_axis, y_axis, z_axis])  # rows: new axes
        L = ms.lengths[i]
        out[i, :L] = (ms.data[i, :L] - f0[c]) @ R.T
    return ms.with_data(out)


def check_samples(ms: MotionSet, *, on_bad: str = "error", min_length: int = 1,
                  file: str = "") -> MotionSet:
    """Find NaN/Inf values, all-zero frames and too-short sequences.

    Returns the set unchanged when all samples are good; with ``on_bad="skip"`` returns
    the good samples with an :class:`Exclusion` recorded for each bad one.
    """
    check_on_bad(on_bad)
    keep = np.ones(len(ms), dtype=bool)
    new_ex: list[Exclusion] = []
    for i in range(len(ms)):
        reason = sample_problem(ms.sequence(i), min_length=min_length)
        if reason is None:
            continue
        if on_bad == "error":
            raise DataError(reason, file=file or None, sample=str(ms.names[i]))
        keep[i] = False
        new_ex.append(Exclusion(file, str(ms.names[i]), reason))
    if keep.all():
        return ms
    out = ms.subset(keep)
    out.exclusions.extend(new_ex)
    return out


def sample_problem(x: np.ndarray, *, min_length: int = 1) -> str | None:
    """Why a (T, V, C) sequence is unusable, or None."""
    if x.shape[0] < min_length:
        return f"too short: {x.shape[0]} frames, need at least {min_length}"
    finite = np.isfinite(x)
    if not finite.all():
        frames = np.flatnonzero(~finite.all(axis=(1, 2)))
        return f"NaN/Inf values in {len(frames)} frame(s), first at frame {int(frames[0])}"
    zero = ~x.any(axis=(1, 2))
    if zero.any():
        frames = np.flatnonzero(zero)
        return f"all-zero frame(s): {len(frames)} of {x.shape[0]}, first at frame {int(frames[0])}"
    return None


@dataclass(frozen=True)
class Preprocess:
    """The package's one preprocessing chain, applied in one order:

    1. keypoints with confidence 0 (``unlabelled``): ``keep`` them as the file gives them,
       ``fill`` them with the mean of their frame's labelled keypoints, or raise (``error``);
       the confidences are then dropped (the models use positions only, and synthetic samples
       have none);
    2. every sequence to ``frames`` frames (``resample`` or centre ``crop``; None keeps lengths);
    3. ``align`` (False): :func:`align_view`, each sequence rotated so that in its first frame
       the hip (else shoulder) line faces +x and the spine points up (+y), the first frame's
       centre joint at the origin; xyz data of a layout naming a left/right hip or shoulder
       pair only (an error otherwise);
    4. the root: ``per_frame`` / ``first_frame`` (:func:`root_relative`) or ``none``;
    5. ``normalize_scale``: positions scaled to mean bone length 1 per sequence.

    A checkpoint stores ``to_dict()``; :meth:`from_dict` also reads the older recognizer
    record ``{"frames": F, "root": R | None}`` and records without ``align`` (False).
    """

    frames: int | None = None
    resample: str = "resample"
    root: str = "none"
    normalize_scale: bool = False
    unlabelled: str = "keep"
    align: bool = False

    def __post_init__(self):
        if self.frames is not None and self.frames < 1:
            raise ValueError(f"preprocess frames must be >= 1 or None, got {self.frames}")
        for key, value, allowed in (("resample", self.resample, RESAMPLE_MODES), ("root", self.root, ROOT_MODES),
                                    ("unlabelled", self.unlabelled, UNLABELLED_MODES)):
            if value not in allowed:
                raise ValueError(f"preprocess {key} must be one of {allowed}, got {value!r}")

    def to_dict(self) -> dict:
        """The record a checkpoint stores; ``align`` appears only when on, so the records of
        chains without it are those written before the option existed."""
        d = asdict(self)
        if not self.align:
            del d["align"]
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> "Preprocess":
        d = dict(d or {})
        if d.get("root", "none") is None:  # older records: None meant "kept"
            d["root"] = "none"
        unknown = set(d) - {"frames", "resample", "root", "normalize_scale", "unlabelled", "align"}
        if unknown:
            raise ValueError(f"preprocess: unknown keys {sorted(unknown)}")
        return cls(**d)

    def with_frames(self, frames: int | None) -> "Preprocess":
        return replace(self, frames=frames)

    def __call__(self, ms: MotionSet, source: str | None = None) -> MotionSet:
        return self.apply(ms, source)[0]

    def apply(self, ms: MotionSet, source: str | None = None, *,
              unlabelled_hint: str = "set unlabelled = 'fill' or 'keep'") -> tuple[MotionSet, list[str]]:
        """The preprocessed set and notes of what was changed (for a run's log).
        ``source`` names the data in errors and notes; ``unlabelled_hint`` tells the user
        which setting to change when ``unlabelled = 'error'`` refuses the data."""
        notes: list[str] = []
        if ms.conf is not None:
            hidden = unlabelled_mask(ms)
            n = int(hidden.sum())
            if n and self.unlabelled == "error":
                bad = [str(ms.names[i]) for i in np.flatnonzero(hidden.any(axis=(1, 2)))]
                raise ValueError(f"{source or 'data'}: {n} keypoints have confidence 0 (not labelled) in "
                                 f"{len(bad)} samples, e.g. {', '.join(bad[:5])}; {unlabelled_hint}")
            if n and self.unlabelled == "fill":
                ms, _ = fill_unlabelled(ms)
                notes.append(f"{n} keypoints with confidence 0 filled with the mean of their frame's "
                             f"labelled keypoints")
            elif n:
                notes.append(f"{n} keypoints with confidence 0 kept as the file gives them")
            ms = replace(ms, conf=None, notes=list(ms.notes) + notes)
        if self.frames is not None:
            ms = fixed_length(ms, self.frames, self.resample)
        if self.align:
            try:
                ms = align_view(ms)
            except ValueError as e:
                if isinstance(e, DataError):
                    raise
                raise ValueError(f"{source or 'data'}: preprocess align: {e}") from None
        if self.root != "none":
            ms = root_relative(ms, self.root)
        if self.normalize_scale:
            ms = normalize_scale(ms)
        return ms, notes
