"""Tracking gaps: runs of all-zero frames in a sequence, and the readers' ``gaps`` option.

A Kinect-style tracker writes an all-zero frame when it loses the person. Such a frame is
not a pose, so by default (``gaps="error"``) a sequence holding one is a bad sample
(:func:`~infagenc.data.preprocess.sample_problem`). The readers of the formats where these
frames occur (NTU ``.skeleton``, UTKinect, MSR text files, PYSKL pickles) also take:

* ``gaps="trim"``: all-zero frames at the start and at the end are dropped; an all-zero
  frame between two tracked frames (a mid-sequence gap) still makes the sample bad;
* ``gaps="interpolate"``: the ends are trimmed, then each interior gap of at most
  ``max_gap`` frames (default :data:`DEFAULT_MAX_GAP` = 15) is filled by linear
  interpolation between the tracked frames on either side, per joint and channel (the
  confidences, where the format has them, are interpolated the same way); a longer gap
  still makes the sample bad (an exclusion with ``on_bad="skip"``).

Every repaired frame is recorded: one note per repaired sample (frames trimmed at the
start and at the end, frames interpolated and in how many gaps) and one note with the
totals, so ``infagenc data inspect`` shows what was changed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GAP_MODES", "DEFAULT_MAX_GAP", "GapRepair", "GapPlan", "check_gap_options", "plan_gaps",
           "repair_gaps", "zero_frames"]

GAP_MODES = ("error", "trim", "interpolate")
DEFAULT_MAX_GAP = 15


def check_gap_options(gaps: str, max_gap: int, modes: tuple[str, ...] = GAP_MODES) -> tuple[str, int]:
    if gaps not in modes:
        raise ValueError(f"gaps must be one of {modes}, got {gaps!r}")
    if isinstance(max_gap, bool) or not isinstance(max_gap, (int, np.integer)) or max_gap < 0:
        raise ValueError(f"max_gap must be an integer >= 0, got {max_gap!r}")
    return gaps, int(max_gap)


@dataclass(frozen=True)
class GapRepair:
    """What :func:`repair_gaps` changed in one sequence."""

    start: int = 0  # all-zero frames trimmed at the start
    end: int = 0  # ... and at the end
    interpolated: int = 0  # interior all-zero frames filled by interpolation
    gaps: int = 0  # interior gaps (runs) filled

    def __bool__(self) -> bool:
        return bool(self.start or self.end or self.interpolated)

    def __add__(self, other: "GapRepair") -> "GapRepair":
        return GapRepair(self.start + other.start, self.end + other.end, self.interpolated + other.interpolated,
                         self.gaps + other.gaps)

    def describe(self) -> str:
        parts = []
        if self.start or self.end:
            parts.append(f"{self.start + self.end} all-zero frame(s) trimmed ({self.start} at the start, "
                         f"{self.end} at the end)")
        if self.interpolated:
            parts.append(f"{self.interpolated} frame(s) interpolated in {self.gaps} gap(s)")
        return "; ".join(parts) or "nothing changed"


@dataclass(frozen=True)
class GapPlan:
    """Where the tracked frames of a sequence are: ``first`` .. ``last`` (inclusive) and
    the interior gaps as ``(start frame, length)``; ``problem`` when the mode refuses it."""

    first: int
    last: int
    runs: tuple[tuple[int, int], ...]
    problem: str | None = None


def zero_frames(x: np.ndarray) -> np.ndarray:
    """(T,) bool: the frames of a (T, ...) sequence whose values are all zero."""
    x = np.asarray(x)
    return ~x.reshape(len(x), -1).any(axis=1)


def _runs(zero: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True."""
    z = np.concatenate([[False], zero, [False]]).astype(np.int8)
    d = np.diff(z)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return [(int(s), int(e - s)) for s, e in zip(starts, ends)]


def plan_gaps(zero: np.ndarray, mode: str, max_gap: int = DEFAULT_MAX_GAP) -> GapPlan:
    """The plan for a sequence whose all-zero frames are ``zero`` ((T,) bool), under ``mode``."""
    zero = np.asarray(zero, bool)
    t = len(zero)
    tracked = np.flatnonzero(~zero)
    if not len(tracked):
        return GapPlan(0, -1, (), f"all-zero frame(s): every one of the {t} frames (gaps={mode!r})")
    first, last = int(tracked[0]), int(tracked[-1])
    runs = tuple((s + first, n) for s, n in _runs(zero[first:last + 1]))
    problem = None
    if mode == "error" and (runs or first or last < t - 1):
        n = int(zero.sum())
        problem = f"all-zero frame(s): {n} of {t}, first at frame {int(np.flatnonzero(zero)[0])}"
    elif mode == "trim" and runs:
        s, n = max(runs, key=lambda r: r[1])
        problem = (f"all-zero frame(s) inside the sequence: {sum(r[1] for r in runs)} in {len(runs)} gap(s), the "
                   f"longest {n} frame(s) at frame {s} (gaps='trim' removes them at the ends only; "
                   f"gaps='interpolate' fills gaps of up to max_gap frames)")
    elif mode == "interpolate":
        long = [r for r in runs if r[1] > max_gap]
        if long:
            s, n = max(long, key=lambda r: r[1])
            problem = (f"all-zero frame(s) inside the sequence: a gap of {n} frame(s) at frame {s} is longer than "
                       f"max_gap={max_gap} (gaps='interpolate'); {len(long)} such gap(s)")
    return GapPlan(first, last, runs, problem)


def _fill(a: np.ndarray, runs, offset: int) -> np.ndarray:
    a = np.array(a, dtype=np.result_type(a.dtype, np.float64) if a.dtype.kind in "iub" else a.dtype, copy=True)
    for s, n in runs:
        lo, hi = s - offset - 1, s - offset + n  # the tracked frames on either side
        w = (np.arange(1, n + 1, dtype=np.float64) / (n + 1)).reshape((n,) + (1,) * (a.ndim - 1))
        a[lo + 1:hi] = (1 - w) * a[lo] + w * a[hi]
    return a


def repair_gaps(x: np.ndarray, conf: np.ndarray | None = None, *, mode: str,
                max_gap: int = DEFAULT_MAX_GAP) -> tuple[np.ndarray, np.ndarray | None, GapRepair, str | None]:
    """``(x, conf, repair, problem)`` of a (T, V, C) sequence under ``mode`` (see the module
    docstring); with a problem the sequence is returned unchanged. ``"error"`` changes
    nothing (:func:`~infagenc.data.preprocess.sample_problem` judges the sequence)."""
    if mode == "error":
        return x, conf, GapRepair(), None
    zero = zero_frames(x)
    if not zero.any():
        return x, conf, GapRepair(), None
    plan = plan_gaps(zero, mode, max_gap)
    if plan.problem is not None:
        return x, conf, GapRepair(), plan.problem
    sl = slice(plan.first, plan.last + 1)
    x = _fill(x[sl], plan.runs, plan.first)
    conf = None if conf is None else _fill(np.asarray(conf)[sl], plan.runs, plan.first)
    repair = GapRepair(plan.first, len(zero) - 1 - plan.last, sum(n for _, n in plan.runs), len(plan.runs))
    return x, conf, repair, None
