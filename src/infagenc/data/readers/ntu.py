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
  frames: they are dropped;
* bodies are followed by their body id across frames. ``bodies="main"`` (default) keeps
  the body with the most motion (largest summed per-joint variance over time, the usual
  NTU preprocessing) and the frames where it is present; ``"first"`` keeps the first body
  seen; ``"all"`` makes one sample per body, named ``<file>/body<k>`` (k in order of
  first appearance);
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


def _parse_file(path: Path, sample: str) -> tuple[int, dict[str, list[tuple[int, np.ndarray]]]]:
    """(frames in file, {body id: [(frame, (25, 4) array of x y z state)]}) in first-seen order."""
    try:
        tokens = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read ({e})", file=str(path), sample=sample) from None
    lines = [t for t in (s.strip() for s in tokens) if t]
    pos = 0

    def take(n: int = 1) -> list[str]:
        nonlocal pos
        if pos + n > len(lines):
            raise DataError("truncated file: it ends inside a frame", file=str(path), sample=sample)
        out = lines[pos:pos + n]
        pos += n
        return out

    def count(what: str) -> int:
        tok = take()[0]
        try:
            return int(tok)
        except ValueError:
            raise DataError(f"corrupt file: expected the {what}, got {tok!r}", file=str(path), sample=sample) from None

    bodies: dict[str, list[tuple[int, np.ndarray]]] = {}
    frames = count("number of frames")
    for f in range(frames):
        for _ in range(count(f"number of bodies of frame {f}")):
            body_id = take()[0].split()[0]
            nj = count(f"number of joints of frame {f}")
            if nj != 25:
                raise DataError(f"frame {f}: {nj} joints, the NTU layout has 25 (wrong joint count)",
                                file=str(path), sample=sample)
            rows = [r.split() for r in take(nj)]
            if any(len(r) != _JOINT_VALUES for r in rows):
                raise DataError(f"frame {f}: a joint line does not have {_JOINT_VALUES} numbers "
                                f"(corrupt or truncated file)", file=str(path), sample=sample)
            vals = parse_floats([t for r in rows for t in r], file=path, sample=sample).reshape(nj, -1)
            bodies.setdefault(body_id, []).append((f, vals[:, [0, 1, 2, 11]]))
    if pos != len(lines):
        raise DataError(f"corrupt file: {len(lines) - pos} line(s) after the last frame", file=str(path),
                        sample=sample)
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


def read_ntu(path: str | Path, *, bodies: str = "main", on_bad: str = "error",
             class_names: Sequence[str] | None = None, min_length: int = 1, progress: bool = True) -> MotionSet:
    """Read one ``.skeleton`` file or every ``.skeleton`` file of a folder (see module docstring)."""
    path = Path(path)
    select_bodies([], bodies)  # validates the policy name before any file is read
    col = SampleCollector(path, on_bad=on_bad, class_names=class_names, min_length=min_length)
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
        tracks = []
        for frames_of_body in found.values():
            x = np.zeros((frames, 25, 4), np.float64)
            for f, v in frames_of_body:
                x[f] = v
            tracks.append(x)
        present = np.zeros(frames, bool)
        for t in tracks:
            present |= t[:, :, :3].any(axis=(1, 2))
        if frames - present.sum():
            col.tally("frames without any body (missing frames), dropped", stem, int(frames - present.sum()))
        keep = select_bodies([t[:, :, :3] for t in tracks], bodies)
        if not keep:
            col.bad("no body in any frame", stem, file)
            continue
        if len(tracks) > 1:
            kept = "one sample per body" if bodies == "all" else f"kept body{keep[0]}"
            col.tally(f"files with more than one body (bodies={bodies!r})", f"{stem}: {len(tracks)} bodies, {kept}")
        for k in keep:
            x = tracks[k]
            on = x[:, :, :3].any(axis=(1, 2))
            lost = int((present & ~on).sum())
            if lost:
                col.tally("frames where the kept body is absent (other bodies only), dropped", stem, lost)
            name = stem if bodies != "all" else f"{stem}/body{k}"
            col.add(x[on, :, :3], conf=x[on, :, 3], name=name, subject=meta["performer"], label=meta["action"],
                    file=file)
    col.note("subjects: the performer (Pppp) of the file name; classes: the action (Aaaa)")
    return col.build(get_layout("ntu25"), "xyz", fps=30.0)
