"""Skeletons from videos and images: BlazePose over every frame, the main person kept.

``extract(path, labels=...)`` (CLI: ``infagenc data extract``) runs a pose estimator over each
sample's frames (:mod:`infagenc.data.frames` says what a sample is) and returns a motion set:

* estimator: BlazePose (MediaPipe Pose, "full" model, ``model_complexity=1``) from the
  optional ``pose`` extra, ``mediapipe==0.10.21``, whose wheel ships the landmark and
  detection models (nothing is downloaded at run time; newer wheels fetch them). A video is
  run in MediaPipe's video mode (each frame's region comes from the last frame's landmarks,
  the detector runs again when the person is lost; MediaPipe's landmark smoothing is off:
  it lags behind a moving body by several pixels, and the raw estimates are what the data
  should hold); a single image in still-image mode;
* layout ``blazepose33`` (:mod:`infagenc.skeleton.blazepose`), or ``coco17`` with
  ``layout="coco17"`` (the mapping :data:`~infagenc.skeleton.blazepose.BLAZEPOSE33_TO_COCO17`;
  :func:`to_coco17` maps a set later); representation ``xy`` in pixels of the source image
  (x right, y down; draw with ``view="x-y"``), ``image_size`` = (width, height);
  ``conf`` = BlazePose's per-landmark visibility in [0, 1];
* main person (:class:`MainPersonTracker`): the first person found is the main one; in
  each later frame the candidate nearest to where the main person was last seen is kept
  when it lies within ``max_jump`` body sizes (the diagonal of its keypoints' box) per frame
  since then; a farther one is another person, and the frame counts as one without the
  main person. (BlazePose reports one person per frame, the most confident detection, so the
  tracker's work is to refuse a jump to someone else.)
* frames without the main person (no person, or only another one) are never zero-filled;
  ``on_missing`` decides: ``"error"`` (default) the sample is bad, the message naming the
  frames (with ``on_bad="skip"`` it is left out, recorded in ``exclusions``); ``"drop"``
  those frames are left out (the sample is shorter, its kept frame indices are recorded);
  ``"interpolate"`` missing frames at the start and end are dropped and interior gaps of
  at most ``max_gap`` frames are filled by linear interpolation with confidence 0 (a longer
  gap makes the sample bad). A sample with no main person in any frame, or a video that
  cannot be decoded, is a bad sample (``on_bad``);
* provenance: one note per sample ``extract: {json}`` with the sample, its source file,
  its frame rate, the source frame index of every frame kept (as ranges, ``"0-99,103-140"``),
  the frames without the main person and the frames interpolated;
  :func:`extraction_provenance` reads them back. ``fps`` of the set is the videos' frame
  rate when they share one (else None, each sample's in its note); image sequences take
  ``fps`` (default: none recorded);
* labels: an optional CSV file with a header row and the columns ``file`` (the sample's
  name), ``label`` and optionally ``subject`` (default: the sample's name, each sample its
  own subject). Every sample needs a row and every row a sample; without a labels file the
  set is unlabelled.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..skeleton.blazepose import BLAZEPOSE33, blazepose33_to_coco17_index
from ..skeleton.layouts import get_layout
from .errors import DataError, check_on_bad
from .frames import Source, find_sources, open_frames
from .gaps import DEFAULT_MAX_GAP, repair_gaps
from .motionset import MotionSet
from .readers._common import SampleCollector

__all__ = ["ExtractConfig", "MISSING_POLICIES", "MainPersonTracker", "BlazePose", "extract", "to_coco17",
           "extraction_provenance", "read_labels", "ranges", "parse_ranges"]

MISSING_POLICIES = ("error", "drop", "interpolate")
NOTE_PREFIX = "extract: "
POSE_EXTRA = "pip install 'infagenc[pose]' (mediapipe 0.10.21, which ships BlazePose's models and brings OpenCV)"


@dataclass(frozen=True)
class ExtractConfig:
    layout: str = "blazepose33"  # or "coco17"
    on_missing: str = "error"
    max_gap: int = DEFAULT_MAX_GAP
    on_bad: str = "error"
    max_jump: float = 1.0  # body sizes per frame
    fps: float | None = None  # frame rate of image sequences
    min_detection_confidence: float = 0.5  # MediaPipe's defaults
    min_tracking_confidence: float = 0.5

    def __post_init__(self):
        if self.layout not in ("blazepose33", "coco17"):
            raise ValueError(f"layout must be 'blazepose33' or 'coco17', got {self.layout!r}")
        if self.on_missing not in MISSING_POLICIES:
            raise ValueError(f"on_missing must be one of {MISSING_POLICIES}, got {self.on_missing!r}")
        check_on_bad(self.on_bad)
        if self.max_gap < 0 or not self.max_jump > 0 or (self.fps is not None and not self.fps > 0):
            raise ValueError("max_gap must be >= 0, max_jump and fps > 0")


# ------------------------------------------------------------------ estimator
Candidate = tuple[np.ndarray, np.ndarray]  # (V, 2) pixels, (V,) confidence


class Estimator(Protocol):
    name: str

    def start(self, still: bool) -> None: ...
    def __call__(self, rgb: np.ndarray) -> list[Candidate]: ...
    def close(self) -> None: ...


class BlazePose:
    """MediaPipe Pose (BlazePose full) from the ``pose`` extra, one person per frame."""

    def __init__(self, cfg: ExtractConfig = ExtractConfig()):
        os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ log lines
        try:
            import mediapipe as mp
        except ImportError:
            raise ImportError(f"infagenc data extract needs the optional pose extra: {POSE_EXTRA}") from None
        self._mp, self._cfg, self._pose, self._fresh = mp, cfg, None, True
        self.name = f"BlazePose full (MediaPipe {mp.__version__}, model_complexity=1)"

    def start(self, still: bool) -> None:
        self.close()
        self._fresh = True
        with _quiet_stderr():
            self._pose = self._mp.solutions.pose.Pose(
                static_image_mode=still, model_complexity=1, smooth_landmarks=False,
                min_detection_confidence=self._cfg.min_detection_confidence,
                min_tracking_confidence=self._cfg.min_tracking_confidence)

    def __call__(self, rgb: np.ndarray) -> list[Candidate]:
        if self._fresh:  # the first frame sets up TFLite, which logs a few lines
            self._fresh = False
            with _quiet_stderr():
                res = self._pose.process(np.ascontiguousarray(rgb))
        else:
            res = self._pose.process(np.ascontiguousarray(rgb))
        if res.pose_landmarks is None:
            return []
        h, w = rgb.shape[:2]
        lm = res.pose_landmarks.landmark
        xy = np.array([[p.x * w, p.y * h] for p in lm], dtype=np.float64)
        return [(xy, np.array([p.visibility for p in lm], dtype=np.float64))]

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None


@contextlib.contextmanager
def _quiet_stderr():
    """File descriptor 2 to /dev/null while MediaPipe's C++ side sets up (its log lines there
    say nothing a user can act on); Python exceptions still carry their messages."""
    try:
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# ------------------------------------------------------------------ tracker
class MainPersonTracker:
    """Keeps one person across frames (see the module docstring); ``update`` returns the index
    of the candidate that is the main person, ``None`` when there is none, and sets ``why``."""

    def __init__(self, max_jump: float = 1.0):
        self.max_jump = float(max_jump)
        self.centre: np.ndarray | None = None
        self.size = 1.0
        self.since = 0  # frames since the main person was last seen
        self.why = ""

    @staticmethod
    def _box(xy: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, float]:
        pts = xy[conf >= 0.5] if (conf >= 0.5).sum() >= 2 else xy
        lo, hi = pts.min(0), pts.max(0)
        return (lo + hi) / 2, max(float(np.linalg.norm(hi - lo)), 1.0)

    def update(self, candidates: Sequence[Candidate]) -> int | None:
        self.since += 1
        if not candidates:
            self.why = "no person"
            return None
        boxes = [self._box(xy, c) for xy, c in candidates]
        if self.centre is None:  # the first person found: the largest
            k = int(np.argmax([s * float(np.mean(c)) for (_, s), (_, c) in zip(boxes, candidates)]))
        else:
            dist = [float(np.linalg.norm(c - self.centre)) / self.size for c, _ in boxes]
            k = int(np.argmin(dist))
            if dist[k] > self.max_jump * self.since:
                self.why = "another person"
                return None
        self.centre, self.size = boxes[k]
        self.since = 0
        self.why = ""
        return k


# ------------------------------------------------------------------ ranges
def ranges(idx: Sequence[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2,5,7-8"``."""
    idx = [int(i) for i in idx]
    out, start = [], None
    for k, i in enumerate(idx):
        if start is None:
            start = i
        if k + 1 == len(idx) or idx[k + 1] != i + 1:
            out.append(str(start) if start == i else f"{start}-{i}")
            start = None
    return ",".join(out)


def parse_ranges(text: str) -> list[int]:
    out: list[int] = []
    for part in filter(None, text.split(",")):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


# ------------------------------------------------------------------ labels
def read_labels(path: str | Path, names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``{sample name: (label, subject)}`` from a CSV with columns ``file,label[,subject]``."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = [str(c).strip() for c in reader.fieldnames or []]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read the labels file ({e})", file=str(path)) from None
    if not rows or not {"file", "label"} <= set(header):
        raise DataError("the labels file needs a header row with the columns file,label (and optionally subject) "
                        "and one row per sample", file=str(path))
    out: dict[str, tuple[str, str]] = {}
    for n, row in enumerate(rows, start=2):
        row = {str(k).strip(): (v or "").strip() for k, v in row.items() if k is not None}
        name = row["file"].replace("\\", "/").strip("/")
        if not name or not row["label"]:
            raise DataError(f"line {n}: empty file or label", file=str(path))
        if name in out:
            raise DataError(f"line {n}: {name!r} has a row already", file=str(path))
        out[name] = (row["label"], row.get("subject") or name)
    unknown = sorted(set(out) - set(names))
    missing = sorted(set(names) - set(out))
    if unknown:
        raise DataError(f"rows for samples that are not there: {', '.join(unknown[:5])}"
                        f"{' ...' if len(unknown) > 5 else ''} (samples: {', '.join(list(names)[:5])}"
                        f"{' ...' if len(names) > 5 else ''})", file=str(path))
    if missing:
        raise DataError(f"no row for: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} "
                        f"(every sample needs a label)", file=str(path))
    return out


# ------------------------------------------------------------------ one sample
@dataclass
class _Track:
    xy: np.ndarray  # (F, V, 2) frames with the main person
    conf: np.ndarray  # (F, V)
    frames: list[int]  # their source frame indices
    missing: dict[int, str]  # source frame index -> why
    total: int
    fps: float | None
    size: tuple[int, int]


def _track(source: Source, estimator: Estimator, cfg: ExtractConfig, progress: bool) -> _Track:
    frames = open_frames(source)
    estimator.start(still=source.kind == "image")
    tracker = MainPersonTracker(cfg.max_jump)
    xy, conf, kept, missing, size, total = [], [], [], {}, None, 0
    bar = tqdm(total=frames.count, desc=source.name, unit="frame", disable=not progress or source.kind == "image",
               leave=False)
    try:
        for i, rgb in enumerate(frames):
            total += 1
            size = size or (int(rgb.shape[1]), int(rgb.shape[0]))
            cands = estimator(rgb)
            k = tracker.update(cands)
            if k is None:
                missing[i] = tracker.why
            else:
                xy.append(cands[k][0])
                conf.append(cands[k][1])
                kept.append(i)
            bar.update(1)
    finally:
        bar.close()
    if total == 0:
        raise DataError("cannot decode this video (no frame could be read)", file=str(source.path))
    v = BLAZEPOSE33.num_joints
    return _Track(np.asarray(xy, np.float64).reshape(-1, v, 2), np.asarray(conf, np.float64).reshape(-1, v), kept,
                  missing, total, frames.fps if source.kind == "video" else cfg.fps, size)


def _missing_text(tr: _Track) -> str:
    parts = []
    for why in ("no person", "another person"):
        idx = sorted(i for i, w in tr.missing.items() if w == why)
        if idx:
            parts.append(f"{why} in {len(idx)} of {tr.total} frame(s): {_short(ranges(idx))}")
    return "; ".join(parts)


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n].rsplit(",", 1)[0] + ",..."


def _apply_policy(tr: _Track, cfg: ExtractConfig) -> tuple[np.ndarray, np.ndarray, list[int], list[int], str | None]:
    """(xy, conf, kept source frames, interpolated source frames, problem)."""
    if not tr.frames:
        return tr.xy, tr.conf, [], [], f"no person found in any of the {tr.total} frame(s)"
    if not tr.missing or cfg.on_missing == "drop":
        return tr.xy, tr.conf, tr.frames, [], None
    hint = ("--on-missing drop leaves such frames out, --on-missing interpolate fills gaps of up to "
            f"{cfg.max_gap} frames")
    if cfg.on_missing == "error":
        return tr.xy, tr.conf, tr.frames, [], f"{_missing_text(tr)} ({hint})"
    first, last = tr.frames[0], tr.frames[-1]  # interpolate: every source frame between, zeros where missing
    full = np.zeros((last - first + 1,) + tr.xy.shape[1:])
    fconf = np.zeros((last - first + 1,) + tr.conf.shape[1:])
    pos = np.asarray(tr.frames) - first
    full[pos], fconf[pos] = tr.xy, tr.conf
    filled, _, _, problem = repair_gaps(full, None, mode="interpolate", max_gap=cfg.max_gap)
    if problem is not None:
        return tr.xy, tr.conf, tr.frames, [], (f"{_missing_text(tr)}: a gap is longer than --max-gap {cfg.max_gap}"
                                               f" frames")
    interp = sorted(set(range(first, last + 1)) - set(tr.frames))
    return filled, fconf, list(range(first, last + 1)), interp, None  # confidence 0 where interpolated


# ------------------------------------------------------------------ the set
def extract(path: str | Path, labels: str | Path | None = None, cfg: ExtractConfig = ExtractConfig(), *,
            progress: bool = True, estimator: Estimator | None = None) -> MotionSet:
    """A motion set from the videos / images at ``path`` (see the module docstring)."""
    sources = find_sources(path)
    table = read_labels(labels, [s.name for s in sources]) if labels is not None else None
    own = estimator is None
    estimator = estimator or BlazePose(cfg)
    coll = SampleCollector(path, on_bad=cfg.on_bad, labelled=table is not None)
    rates: dict[str, float | None] = {}
    index = blazepose33_to_coco17_index() if cfg.layout == "coco17" else list(range(BLAZEPOSE33.num_joints))
    try:
        for src in tqdm(sources, desc="samples", unit="sample", disable=not progress or len(sources) < 2):
            try:
                tr = _track(src, estimator, cfg, progress)
            except DataError as e:
                coll.bad(e.reason, src.name, src.path)
                continue
            xy, conf, kept, interp, problem = _apply_policy(tr, cfg)
            if problem is not None:
                coll.bad(problem, src.name, src.path)
                continue
            label, subject = table[src.name] if table is not None else (None, src.name)
            if coll.add(xy[:, index].astype(np.float32), name=src.name, subject=subject, label=label,
                        conf=conf[:, index], file=src.path, image_size=tr.size):
                rates[src.name] = tr.fps
                missing = sorted(tr.missing)
                coll.note(NOTE_PREFIX + json.dumps({
                    "sample": src.name, "file": str(src.path.resolve()), "kind": src.kind, "fps": tr.fps,
                    "frames": ranges(kept), "source_frames": tr.total, "missing": ranges(missing),
                    "missing_why": _missing_text(tr), "interpolated": ranges(interp), "on_missing": cfg.on_missing}))
    finally:
        if own:
            estimator.close()
    rate_set = set(rates.values())
    fps = next(iter(rate_set)) if len(rate_set) == 1 else None
    coll.note(f"extracted with {estimator.name}; layout {cfg.layout}; xy in pixels (y down); conf = visibility; "
              f"frames without the main person: on_missing={cfg.on_missing!r}"
              + (f", max_gap={cfg.max_gap}" if cfg.on_missing == "interpolate" else ""))
    if len(rate_set) > 1:
        coll.note("the samples have different frame rates: the set's fps is unset, each sample's is in its note")
    return coll.build(get_layout(cfg.layout), "xy", fps=fps, order=sorted)


def to_coco17(ms: MotionSet) -> MotionSet:
    """A ``blazepose33`` set mapped to ``coco17`` (the other joints left out, noted)."""
    if ms.layout.name != "blazepose33":
        raise ValueError(f"to_coco17 maps blazepose33 data; this set is {ms.layout.name!r}")
    idx = blazepose33_to_coco17_index()
    return replace(ms, data=ms.data[:, :, idx], layout=get_layout("coco17"),
                   conf=None if ms.conf is None else ms.conf[:, :, idx], second_body=None, second_conf=None,
                   exclusions=list(ms.exclusions),
                   notes=ms.notes + ["mapped blazepose33 -> coco17 (BLAZEPOSE33_TO_COCO17; the other 16 landmarks "
                                     "left out)"])


def extraction_provenance(ms: MotionSet) -> dict[str, dict]:
    """``{sample name: its extract note as a dict}`` (``frames`` etc. as index lists)."""
    out = {}
    for n in ms.notes:
        if n.startswith(NOTE_PREFIX + "{"):
            d = json.loads(n[len(NOTE_PREFIX):])
            for k in ("frames", "missing", "interpolated"):
                d[k] = parse_ranges(d.get(k, ""))
            out[d["sample"]] = d
    return out
