"""Readers and writers of the field's skeleton formats, behind one registry.

>>> from infagenc.data.readers import read, write, discover
>>> ms = read("../shared/data/utkinect/joints")            # format detected
>>> ms = read("primitive_train.pkl", field="keypoint")      # options go to the reader
>>> write(ms, "out.pkl")                                     # PYSKL pickle (or .npz)
>>> discover("../shared/data")                               # [(format, path), ...]

==============  ===========================================================  ============
format          what                                                         one dataset
==============  ===========================================================  ============
``npz``         the project's own motion sets (read and write)                a file
``coco``        COCO keypoint JSON with a per-image label (SyRIP 2D)          a file
``syrip3d``     SyRIP 3D ``*.npy`` poses + ``output_imgnames.npy``            a file
``ntu``         raw NTU RGB+D ``.skeleton``                                   a file or folder
``msr``         one text file per sequence, ``aXX_sYY_eZZ_skeleton3D.txt``    a file or folder
``minirgbd``    MINI-RGBD ``result_pzXXX.csv`` 2D annotations                 a file or folder
``infact``      InfActPrimitive / InfantAction release pickles                a file
``pyskl``       PYSKL / MMAction2 annotation pickle (read and write)          a file
``utkinect``    UTKinect-Action3D joints files + ``actionLabel.txt``          a folder
==============  ===========================================================  ============

Every reader takes ``on_bad="error"`` (raise a :class:`~infagenc.data.errors.DataError`
naming the file and sample at the first bad sample) or ``"skip"`` (leave bad samples out,
each recorded in ``ms.exclusions``); what a reader changes is in ``ms.notes``. See each
module's docstring for the format and the choices made where it is silent. The readers of
formats with tracking gaps (``ntu``, ``utkinect``, ``msr``, ``pyskl``) take ``gaps`` and
``max_gap`` (:mod:`infagenc.data.gaps`): ``read(path, "msr", gaps="interpolate", max_gap=15)``.
Sizes a file declares are checked before anything is allocated
(:mod:`infagenc.data.limits`; raise the limit with ``INFAGENC_MAX_ARRAY_BYTES``).

Detection (``format=None``): a file goes to the first format that claims it (by suffix and
name; a ``.pkl`` is ``infact`` when it has one of the release's file names, else ``pyskl``).
A folder is read when :func:`discover` finds exactly one dataset in it.
"""
from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..motionset import MotionSet
from .coco import claims_coco, read_coco
from .infact import claims_infact, read_infact
from .minirgbd import claims_minirgbd, read_minirgbd
from .msr import claims_msr, read_msr
from .npz import claims_npz, read_npz, write_npz
from .ntu import claims_ntu, read_ntu
from .pyskl import claims_pyskl, read_pyskl, write_pyskl
from .syrip3d import claims_syrip3d, read_syrip3d
from .utkinect import claims_utkinect, read_utkinect

__all__ = ["Format", "FORMATS", "get_format", "locate", "discover", "read", "write", "convert", "reader_options"]


@dataclass(frozen=True)
class Format:
    """A registered format.

    ``claims(path)``: whether the path is of this format (a file; for ``kind="folder"`` a
    folder). ``kind``: ``"file"`` (each file is a dataset), ``"collection"`` (a folder of
    such files is one dataset; one file is readable too) or ``"folder"`` (only a folder).
    """

    name: str
    description: str
    read: Callable[..., MotionSet]
    claims: Callable[[Path], bool]
    kind: str = "file"
    write: Callable[..., Path] | None = None
    suffix: str | None = None  # the suffix a written file gets


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("npz", "infagenc motion set (.npz)", read_npz, claims_npz, write=write_npz, suffix=".npz"),
    Format("coco", "COCO keypoint JSON with a per-image label (SyRIP 2D)", read_coco, claims_coco),
    Format("syrip3d", "SyRIP 3D poses (.npy + output_imgnames.npy)", read_syrip3d, claims_syrip3d),
    Format("ntu", "raw NTU RGB+D .skeleton files", read_ntu, claims_ntu, kind="collection"),
    Format("msr", "one text file per sequence (aXX_sYY_eZZ_skeleton3D.txt)", read_msr, claims_msr,
           kind="collection"),
    Format("minirgbd", "MINI-RGBD 2D annotations (result_pzXXX.csv)", read_minirgbd, claims_minirgbd,
           kind="collection"),
    Format("infact", "InfActPrimitive / InfantAction release pickle", read_infact, claims_infact),
    Format("pyskl", "PYSKL / MMAction2 annotation pickle", read_pyskl, claims_pyskl, write=write_pyskl,
           suffix=".pkl"),
    Format("utkinect", "UTKinect-Action3D folder (joints_sXX_eYY.txt + actionLabel.txt)", read_utkinect,
           claims_utkinect, kind="folder"),
)}


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; formats: {', '.join(FORMATS)}") from None


def reader_options(name: str) -> dict[str, object]:
    """The keyword options of a format's reader and their defaults."""
    sig = inspect.signature(get_format(name).read)
    return {p.name: p.default for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY}


def _claim_file(path: Path) -> Format | None:
    return next((f for f in FORMATS.values() if f.kind != "folder" and f.claims(path)), None)


def discover(path: str | Path) -> list[tuple[str, Path]]:
    """Every readable dataset under ``path`` (a file or a folder, searched recursively), as
    ``(format, path)``: one entry per file of a file format, one per folder for a folder of
    collection files (e.g. ``.skeleton``) or a UTKinect folder. Hidden folders are skipped."""
    path = Path(path)
    if path.is_file():
        f = _claim_file(path)
        return [(f.name, path)] if f else []
    if not path.is_dir():
        raise DataError("no such file or folder", file=str(path))
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        for f in FORMATS.values():
            if f.kind == "folder" and f.claims(here):
                found.append((f.name, here))
        collections: list[str] = []
        for name in sorted(filenames):
            f = _claim_file(here / name)
            if f is None:
                continue
            if f.kind == "collection":
                if f.name not in collections:
                    collections.append(f.name)
            else:
                found.append((f.name, here / name))
        found.extend((c, here) for c in collections)
    return found


def locate(path: str | Path) -> tuple[str, Path]:
    """``(format, path)`` of the dataset at ``path``: a file, a dataset folder, or a folder
    holding exactly one dataset somewhere below it."""
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or folder", file=str(path))
    if path.is_file():
        f = _claim_file(path)
        if f is None:
            raise DataError(f"cannot tell the format of this file; pass format= (one of {', '.join(FORMATS)})",
                            file=str(path))
        return f.name, path
    found = discover(path)
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError("no readable dataset found in this folder", file=str(path))
    listing = "; ".join(f"{f}: {p}" for f, p in found)
    raise DataError(f"this folder holds {len(found)} datasets, read one of them: {listing}", file=str(path))


def read(path: str | Path, format: str | None = None, **options) -> MotionSet:
    """Read a dataset (see the module docstring); ``options`` go to the format's reader."""
    if format is None:
        format, path = locate(path)
    known = reader_options(format)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"format {format!r} has no option(s) {unknown}; its options: {', '.join(known)}")
    return get_format(format).read(path, **options)


def write(ms: MotionSet, path: str | Path, format: str | None = None, **options) -> Path:
    """Write a set as ``.npz`` or PYSKL ``.pkl`` (by ``format`` or the path's suffix)."""
    path = Path(path)
    writable = {f.suffix: f for f in FORMATS.values() if f.write is not None}
    if format is None:
        if path.suffix not in writable:
            raise ValueError(f"cannot tell the output format from {path.name!r}; use a suffix "
                             f"({', '.join(writable)}) or format= ({', '.join(f.name for f in writable.values())})")
        f = writable[path.suffix]
    else:
        f = get_format(format)
        if f.write is None:
            raise ValueError(f"format {format!r} is read-only; writable: {', '.join(x.name for x in writable.values())}")
    known = [p.name for p in inspect.signature(f.write).parameters.values() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"the {f.name} writer has no option(s) {unknown}; its options: {', '.join(known) or 'none'}")
    return f.write(ms, path, **options)


def convert(src: str | Path, dst: str | Path, format: str | None = None, *, to: str | None = None,
            on_bad: str = "error", progress: bool = True, subject_split: dict | None = None,
            **options) -> tuple[MotionSet, Path]:
    """Read ``src`` (any format) and write it to ``dst`` (``.npz`` or PYSKL ``.pkl``).

    ``progress`` goes to readers that have it; ``subject_split`` to the PYSKL writer."""
    if format is None:
        format, src = locate(src)
    if "progress" in reader_options(format):
        options["progress"] = progress
    ms = read(src, format, on_bad=on_bad, **options)
    return ms, write(ms, dst, to, **({} if subject_split is None else {"subject_split": subject_split}))
