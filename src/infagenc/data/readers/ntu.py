"""Raw NTU RGB+D ``.skeleton`` files (NTU RGB+D 60 / 120), one file or a folder of them.

File name ``SsssCcccPpppRrrrAaaa``: setup, camera, performer, replication, action.
The performer is the subject (``P001``); the action is the class (``A001`` ...); the
full name is the sample name, so setup / camera / replication stay recoverable from it.

File body: number of frames; per frame the number of bodies; per body one line of body
info (body id first), the number of joints (25), then one line per joint of 12 numbers:
x y z (metres, camera space), depth x y, colour x y, orientation w x y z, tracking state
(0 not tracked, 1 inferred, 2 tracked). Data = x y z (layout ``ntu25``); ``conf`` = the
tracking state as given; ``fps`` = 30 (Kinect v2).

Choices where the dataset is silent (all recorded in ``notes`` with counts):

* frames with no body (or only bodies whose coordinates are all zero) are missing
  frames: with ``gaps="drop"`` (default) they are dropped, and so are the frames where the
  kept body is absent; with ``gaps="error"``, ``"trim"`` or ``"interpolate"``
  (:mod:`infagenc.data.gaps`) the kept body's frames stay in place and the frames where it
  is absent are all-zero frames: a bad sample, trimmed at the ends, or interpolated
  (interior gaps of up to ``max_gap`` frames), the gaps being checked on the frame indices
  before anything is allocated;
* memory follows the file's size, never a count the file declares: a body holds only the
  frames it is listed in, and a count larger than the file could hold is a corrupt file;
* bodies are followed by their body id across frames. ``bodies="main"`` (default) keeps
  the body with the most motion (largest summed per-joint variance over time, the usual
  NTU preprocessing) and the frames where it is present; ``"first"`` keeps the first body
  seen; ``"all"`` makes one sample per body, named ``<file>/body<k>`` (k in order of
  first appearance). With ``main`` / ``first`` the next body (the most motion among the
  others, or the next seen) is kept as ``second_body`` on the main body's frames (its
  tracking state as ``second_conf``; zeros where it is absent), as PYSKL keeps two persons;
* class names: the actions found, sorted (``A001``, ``A003``, ...), unless ``class_names``
  is given (e.g. all 60 or 120 action codes, to keep label indices fixed; a listed class
  with no sample is then an empty class, see ``on_bad``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from ...skeleton.layouts import get_layout
from ..errors import DataError
from ..gaps import DEFAULT_MAX_GAP, GAP_MODES, check_gap_options, plan_gaps
from ..motionset import MotionSet
from ._common import SampleCollector, parse_floats, select_bodies

__all__ = ["read_ntu", "claims_ntu", "parse_ntu_name", "NTU_NAME"]

NTU_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
_JOINT_VALUES = 12


def parse_ntu_name(name: str) -> dict[str, str] | None:
    """``{"setup": "S001", "camera": "C001", "performer": "P001", "replication": "R001",
    "action": "A001"}`` from a name containing ``SsssCcccPpppRrrrAaaa``, or None."""
    m = NTU_NAME.search(name)
    if m is None:
        return None
    keys = ("setup", "camera", "performer", "replication", "action")
    return {k: p + g for k, p, g in zip(keys, "SCPRA", m.groups())}


def claims_ntu(path: Path) -> bool:
    return path.suffix == ".skeleton"


def _parse_file(path: Path, sample: str) -> tuple[int, dict[str, dict[int, np.ndarray]]]:
    """(frames in file, {body id: {frame: (25, 4) array of x y z state}}) in first-seen order.

    The file is read line by line and nothing is allocated per declared frame: a body holds
    only the frames it is listed in, so memory follows the file's content, whatever frame
    count it declares; a count larger than the file could hold is a corrupt file."""
    try:
        with open(path, encoding="utf-8") as f:
            return _parse_lines((t for t in (s.strip() for s in f) if t), path.stat().st_size, path, sample)
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read ({e})", file=str(path), sample=sample) from None


def _parse_lines(lines, size: int, path: Path, sample: str) -> tuple[int, dict[str, dict[int, np.ndarray]]]:
    def take() -> str:
        line = next(lines, None)
        if line is None:
            raise DataError("truncated file: it ends inside a frame", file=str(path), sample=sample)
        return line

    def count(what: str, most: int) -> int:
        tok = take()
        try:
            n = int(tok)
        except ValueError:
            raise DataError(f"corrupt file: expected the {what}, got {tok!r}", file=str(path), sample=sample) from None
        if not 0 <= n <= most:
            raise DataError(f"corrupt file: the {what} is {n}, impossible in a file of {size} bytes",
                            file=str(path), sample=sample)
        return n

    bodies: dict[str, dict[int, np.ndarray]] = {}
    frames = count("number of frames", size // 2)  # a frame takes at least "0\n"
    for f in range(frames):
        for _ in range(count(f"number of bodies of frame {f}", size // 54)):  # a body: 27 lines at least
            body_id = take().split()[0]
            nj = count(f"number of joints of frame {f}", size)
            if nj != 25:
                raise DataError(f"frame {f}: {nj} joints, the NTU layout has 25 (wrong joint count)",
                                file=str(path), sample=sample)
            rows = [take().split() for _ in range(nj)]
            if any(len(r) != _JOINT_VALUES for r in rows):
                raise DataError(f"frame {f}: a joint line does not have {_JOINT_VALUES} numbers "
                                f"(corrupt or truncated file)", file=str(path), sample=sample)
            vals = parse_floats([t for r in rows for t in r], file=path, sample=sample).reshape(nj, -1)
            bodies.setdefault(body_id, {})[f] = vals[:, [0, 1, 2, 11]]  # a repeated body: the last entry
    extra = sum(1 for _ in lines)
    if extra:
        raise DataError(f"corrupt file: {extra} line(s) after the last frame", file=str(path), sample=sample)
    return frames, bodies


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.skeleton"))
        if not files:
            raise DataError("no .skeleton files in folder", file=str(path))
        return files
    if not path.exists():
        raise DataError("no such file", file=str(path))
    return [path]


def _tracks(found: dict[str, dict[int, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per body (frame indices (n,), values (n, 25, 4)), only the frames the body is listed in."""
    out = []
    for entries in found.values():
        idx = np.array(sorted(entries), np.int64)
        out.append((idx, np.stack([entries[int(f)] for f in idx])))
    return out


def _on_frames(track: tuple[np.ndarray, np.ndarray] | None, frames: np.ndarray) -> np.ndarray | None:
    """A body's (len(frames), 25, 4) values on the given frame indices, zeros where it is absent."""
    if track is None:
        return None
    out = np.zeros((len(frames), 25, 4), np.float64)
    pos = {int(f): k for k, f in enumerate(frames)}
    for f, v in zip(*track):
        if int(f) in pos:
            out[pos[int(f)]] = v
    return out


def _add_body(col: SampleCollector, track: tuple[np.ndarray, np.ndarray], frames: int, present: int, gaps: str,
              max_gap: int, second: tuple[np.ndarray, np.ndarray] | None = None, **sample) -> None:
    """One body's sample: its tracked frames (``gaps="drop"``), or its frames in place with
    the absent ones as all-zero frames, planned before anything is allocated; ``second``:
    the track of the second body, taken on the same frames."""
    idx, vals = track
    on = vals[:, :, :3].any(axis=(1, 2))
    idx, vals = idx[on], vals[on]

    def add(x: np.ndarray, frame_ids: np.ndarray, **kw) -> None:
        sec = _on_frames(second, frame_ids)
        col.add(x[:, :, :3], conf=x[:, :, 3], second=None if sec is None else sec[:, :, :3],
                second_conf=None if sec is None else sec[:, :, 3], **kw, **sample)

    if gaps == "drop":
        if present - len(idx):
            col.tally("frames where the kept body is absent (other bodies only), dropped", sample["name"],
                      present - len(idx))
        add(vals, idx)
        return
    tracked = np.zeros(frames, bool)
    tracked[idx] = True
    plan = plan_gaps(~tracked, gaps, max_gap)
    if plan.problem is not None:
        col.bad(f"{plan.problem} (frames where the body is absent)", sample["name"], sample["file"])
        return
    x = np.zeros((plan.last - plan.first + 1, 25, 4), np.float64)
    x[idx - plan.first] = vals
    add(x, np.arange(plan.first, plan.last + 1), trimmed=(plan.first, frames - 1 - plan.last))


def _second(tracks: list, main: int, bodies: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The second body's track (``main`` / ``first``: the same policy among the other bodies)."""
    rest = [k for k in range(len(tracks)) if k != main]
    if bodies == "all" or not rest:
        return None
    pick = select_bodies([tracks[k][1][:, :, :3] for k in rest], bodies)
    return tracks[rest[pick[0]]] if pick else None


def read_ntu(path: str | Path, *, bodies: str = "main", on_bad: str = "error",
             class_names: Sequence[str] | None = None, min_length: int = 1, gaps: str = "drop",
             max_gap: int = DEFAULT_MAX_GAP, progress: bool = True) -> MotionSet:
    """Read one ``.skeleton`` file or every ``.skeleton`` file of a folder (see module docstring)."""
    path = Path(path)
    select_bodies([], bodies)  # validates the policy name before any file is read
    check_gap_options(gaps, max_gap, ("drop",) + GAP_MODES)
    col = SampleCollector(path, on_bad=on_bad, class_names=class_names, min_length=min_length,
                          gaps="error" if gaps == "drop" else gaps, max_gap=max_gap)
    for file in tqdm(_files(path), desc="NTU files", disable=not progress):
        stem = file.stem
        meta = parse_ntu_name(stem)
        if meta is None:
            col.bad("file name does not encode SsssCcccPpppRrrrAaaa (setup, camera, performer, "
                    "replication, action): missing label", stem, file)
            continue
        try:
            frames, found = _parse_file(file, stem)
        except DataError as e:
            col.bad(e.reason, stem, file)
            continue
        tracks = _tracks(found)
        present = len(np.unique(np.concatenate([i[v[:, :, :3].any(axis=(1, 2))] for i, v in tracks]))) \
            if tracks else 0
        if frames - present and gaps == "drop":
            col.tally("frames without any body (missing frames), dropped", stem, frames - present)
        keep = select_bodies([v[:, :, :3] for _, v in tracks], bodies)
        if not keep:
            col.bad("no body in any frame", stem, file)
            continue
        if len(tracks) > 1:
            kept = "one sample per body" if bodies == "all" else f"kept body{keep[0]}"
            col.tally(f"files with more than one body (bodies={bodies!r})", f"{stem}: {len(tracks)} bodies, {kept}")
        second = _second(tracks, keep[0], bodies)
        for k in keep:
            _add_body(col, tracks[k], frames, present, gaps, max_gap, second=second, file=file,
                      subject=meta["performer"], label=meta["action"],
                      name=stem if bodies != "all" else f"{stem}/body{k}")
    col.note("subjects: the performer (Pppp) of the file name; classes: the action (Aaaa)")
    return col.build(get_layout("ntu25"), "xyz", fps=30.0)
