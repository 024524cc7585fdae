"""The motion-set model: labelled skeleton sequences with subjects and provenance.

A :class:`MotionSet` holds N sequences padded to a common number of frames:

* ``data`` (N, T, V, C) float32; frames at and after ``lengths[i]`` are padding (zeros)
  and never count as data: every consumer reads ``lengths`` (models mask them);
* ``lengths`` (N,) true number of frames;
* ``labels`` (N,) class index into ``class_names`` (``-1`` only in an unlabelled set,
  one whose ``class_names`` is empty, e.g. MINI-RGBD);
* ``subjects`` (N,) subject ids as strings (splits are by subject);
* ``names`` (N,) sample names (file / ``frame_dir``), used in every error message;
* ``layout``, ``rep`` (``xyz``, ``xy``, ``rot6d``, ``axis_angle``);
* ``trans`` optional (N, T, 3) root translation for rotation representations;
* ``conf`` optional (N, T, V) per-joint confidence / visibility as the source gave it
  (PYSKL ``keypoint_score``, COCO visibility, NTU tracking state); None when the
  format has none;
* ``second_body`` optional (N, T, V, C): a second person frame-aligned with ``data`` (NTU's
  two-person actions, PYSKL's ``keypoint[1]``), all zeros where absent (PYSKL's convention);
  ``second_conf`` (N, T, V) its confidences (needs ``second_body``; zeros where absent). Consumers
  read the main body (``data``); new values (:meth:`with_data`) drop it, with a note;
* ``image_size`` optional (N, 2) int: width and height of each sample's image (COCO), -1 unknown;
* provenance per sample: ``source`` (``real`` / ``synthetic``) and, for synthetic
  samples, the ``run``, ``epoch``, ``round`` and ``seed`` that made it (-1 / "" when not
  applicable);
* ``exclusions`` and ``notes``: what the reader left out and why, and what it changed
  (e.g. repeated frame ids it collapsed).

Saved losslessly to ``.npz`` (no pickles: strings are unicode arrays, metadata JSON).
"""
from __future__ import annotations

import io
import json
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..jsonio import atomic_write_bytes
from ..skeleton.layouts import Layout, LayoutError, resolve_layout
from ..skeleton.rotations import REPRESENTATION_CHANNELS, convert
from .errors import DataError, Exclusion
from .limits import check_bytes, check_npz

__all__ = ["MotionSet", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_REPS = tuple(REPRESENTATION_CHANNELS)
_OPTIONAL = ("trans", "conf", "second_body", "second_conf", "image_size")  # per-sample arrays that may be None


def _str_array(x, n: int, what: str) -> np.ndarray:
    """Strings are held as object arrays (no silent truncation on assignment, as fixed-width
    unicode arrays would do); they are written to .npz as unicode arrays."""
    vals = [""] * n if x is None else [str(v) for v in x]
    a = np.empty(len(vals), dtype=object)
    a[:] = vals
    if a.shape != (n,):
        raise ValueError(f"{what}: expected {n} entries, got {a.shape}")
    return a


def _concat_extras(sets, pad) -> dict:
    """``second_body`` / ``second_conf`` / ``image_size`` of concatenated sets: a set without
    them gives zeros (no second person) and -1 (size unknown)."""
    out = {}
    if any(s.second_body is not None for s in sets):
        out["second_body"] = np.concatenate([pad(np.zeros_like(s.data) if s.second_body is None else s.second_body)
                                             for s in sets])
        if any(s.second_conf is not None for s in sets):
            out["second_conf"] = np.concatenate([pad(np.zeros(s.data.shape[:3], np.float32) if s.second_conf is None
                                                     else s.second_conf) for s in sets])
    if any(s.image_size is not None for s in sets):
        out["image_size"] = np.concatenate([np.full((len(s), 2), -1) if s.image_size is None else s.image_size
                                            for s in sets])
    return out


def _int_array(x, n: int, what: str, fill: int = -1) -> np.ndarray:
    if x is None:
        return np.full(n, fill, dtype=np.int64)
    if np.isscalar(x):
        return np.full(n, int(x), dtype=np.int64)
    a = np.asarray(x, dtype=np.int64).reshape(-1)
    if a.shape != (n,):
        raise ValueError(f"{what}: expected {n} entries, got {a.shape}")
    return a


@dataclass
class MotionSet:
    data: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    subjects: np.ndarray
    names: np.ndarray
    layout: Layout
    rep: str = "xyz"
    source: np.ndarray | None = None
    run: np.ndarray | None = None
    epoch: np.ndarray | None = None
    round: np.ndarray | None = None
    seed: np.ndarray | None = None
    trans: np.ndarray | None = None
    conf: np.ndarray | None = None
    fps: float | None = None
    exclusions: list[Exclusion] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    second_body: np.ndarray | None = None
    second_conf: np.ndarray | None = None
    image_size: np.ndarray | None = None

    # ------------------------------------------------------------------ checks
    def __post_init__(self) -> None:
        self.layout = resolve_layout(self.layout)
        self.data = np.ascontiguousarray(np.asarray(self.data, dtype=np.float32))
        if self.data.ndim != 4:
            raise ValueError(f"data must be (N, T, V, C), got shape {self.data.shape}")
        n, t, v, c = self.data.shape
        if self.rep not in _REPS:
            raise ValueError(f"unknown representation {self.rep!r}; use one of {_REPS}")
        if c != REPRESENTATION_CHANNELS[self.rep]:
            raise ValueError(f"representation {self.rep!r} has {REPRESENTATION_CHANNELS[self.rep]} "
                             f"channels per joint, data has {c}")
        if v != self.layout.num_joints:
            raise ValueError(f"data has {v} joints, layout {self.layout.name!r} has {self.layout.num_joints}")
        self.lengths = _int_array(self.lengths, n, "lengths")
        if n and (self.lengths.min() < 1 or self.lengths.max() > t):
            raise ValueError(f"lengths must lie in 1..{t}, got {self.lengths.min()}..{self.lengths.max()}")
        self.class_names = tuple(str(c) for c in self.class_names)
        self.labels = _int_array(self.labels, n, "labels")
        k = len(self.class_names)
        if n:
            if k == 0:
                if (self.labels != -1).any():
                    raise ValueError("an unlabelled set (no class names) must have all labels -1")
            elif self.labels.min() < 0 or self.labels.max() >= k:
                raise ValueError(f"labels must lie in 0..{k - 1}, got {self.labels.min()}..{self.labels.max()}")
        self.subjects = _str_array(self.subjects, n, "subjects")
        self.names = _str_array(self.names, n, "names")
        self.source = _str_array(self.source if self.source is not None else ["real"] * n, n, "source")
        bad = set(np.unique(self.source)) - {"real", "synthetic"}
        if bad:
            raise ValueError(f"source must be 'real' or 'synthetic', got {sorted(bad)}")
        self.run = _str_array(self.run, n, "run")
        self.epoch = _int_array(self.epoch, n, "epoch")
        self.round = _int_array(self.round, n, "round")
        self.seed = _int_array(self.seed, n, "seed")
        if self.trans is not None:
            self.trans = np.ascontiguousarray(np.asarray(self.trans, dtype=np.float32))
            if self.trans.shape != (n, t, 3):
                raise ValueError(f"trans must be (N, T, 3) = {(n, t, 3)}, got {self.trans.shape}")
        for key, shape in (("conf", (n, t, v)), ("second_body", (n, t, v, c)), ("second_conf", (n, t, v))):
            if getattr(self, key) is not None:
                setattr(self, key, np.ascontiguousarray(np.asarray(getattr(self, key), dtype=np.float32)))
                if getattr(self, key).shape != shape:
                    raise ValueError(f"{key} must be {shape}, got {getattr(self, key).shape}")
        if self.second_conf is not None and self.second_body is None:
            raise ValueError("second_conf needs second_body")
        if self.image_size is not None:
            self.image_size = np.asarray(self.image_size, dtype=np.int64)
            if self.image_size.shape != (n, 2):
                raise ValueError(f"image_size must be (N, 2) = {(n, 2)} (width, height), got {self.image_size.shape}")
        self.exclusions = list(self.exclusions)
        self.notes = list(self.notes)

    # ----------------------------------------------------------- construction
    @classmethod
    def from_sequences(cls, sequences: Sequence[np.ndarray], labels, class_names, subjects, names,
                       layout, rep: str = "xyz", trans: Sequence[np.ndarray] | None = None,
                       conf: Sequence[np.ndarray] | None = None, max_len: int | None = None,
                       second_body: Sequence[np.ndarray] | None = None,
                       second_conf: Sequence[np.ndarray] | None = None, **kw) -> "MotionSet":
        """Pad a list of (T_i, V, C) arrays into a set (``trans``, ``conf``, ``second_body``,
        ``second_conf``: one array per sequence, of its length)."""
        layout = resolve_layout(layout)
        n = len(sequences)
        c = REPRESENTATION_CHANNELS[rep] if rep in REPRESENTATION_CHANNELS else None
        if n == 0:
            t = max_len or 1
            return cls(np.zeros((0, t, layout.num_joints, c or 3), np.float32), np.zeros(0, np.int64),
                       np.zeros(0, np.int64), class_names, [], [], layout, rep, **kw)
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        t = max_len or int(lengths.max())
        first = np.asarray(sequences[0])
        padded = n * t * first.shape[1] * (first.shape[2] + (conf is not None)) * 4
        check_bytes(int(padded), f"padding {n} sequences to the longest ({t} frames)",
                    sample=str(names[int(lengths.argmax())]))
        data = np.zeros((n, t, first.shape[1], first.shape[2]), np.float32)
        given = {"trans": (trans, (3,)), "conf": (conf, ()), "second_body": (second_body, first.shape[2:]),
                 "second_conf": (second_conf, ())}
        extra = {k: np.zeros((n, t, *first.shape[1:-1], *tail) if k != "trans" else (n, t, *tail), np.float32)
                 for k, (seqs, tail) in given.items() if seqs is not None}
        for i, s in enumerate(sequences):
            s = np.asarray(s)
            if s.ndim != 3 or s.shape[1:] != first.shape[1:]:
                raise DataError(f"sequence shape {s.shape} differs from {first.shape}", sample=str(names[i]))
            data[i, : len(s)] = s[:t]
            for k, a in extra.items():
                a[i, : len(s)] = np.asarray(given[k][0][i])[:t]
        return cls(data, np.minimum(lengths, t), labels, class_names, subjects, names, layout, rep, **extra, **kw)

    # ---------------------------------------------------------------- queries
    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.data.shape[1])

    @property
    def num_joints(self) -> int:
        return int(self.data.shape[2])

    @property
    def channels(self) -> int:
        return int(self.data.shape[3])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def labelled(self) -> bool:
        return self.num_classes > 0

    @property
    def is_synthetic(self) -> np.ndarray:
        return self.source == "synthetic"

    def sequence(self, i: int) -> np.ndarray:
        """The i-th sequence without padding, (lengths[i], V, C)."""
        return self.data[i, : self.lengths[i]]

    def frame_mask(self) -> np.ndarray:
        """(N, T) bool, True on real frames."""
        return np.arange(self.num_frames)[None, :] < self.lengths[:, None]

    def class_counts(self) -> dict[str, int]:
        cnt = Counter(self.labels.tolist())
        return {name: int(cnt.get(i, 0)) for i, name in enumerate(self.class_names)}

    def subject_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.subjects.tolist()).items()))

    def summary(self) -> dict:
        """Counts and shapes, as a JSON-ready dict (what ``infagenc data inspect`` prints)."""
        lengths = self.lengths
        per_cs: dict[str, dict[str, int]] = {}
        for s, l in zip(self.subjects.tolist(), self.labels.tolist()):
            cname = self.class_names[l] if l >= 0 else "(unlabelled)"
            per_cs.setdefault(s, {}).setdefault(cname, 0)
            per_cs[s][cname] += 1
        return {
            "samples": len(self),
            "classes": self.num_classes,
            "class_counts": self.class_counts() if self.labelled else {},
            "subjects": len(set(self.subjects.tolist())),
            "subject_counts": self.subject_counts(),
            "subject_class_counts": dict(sorted(per_cs.items())),
            "frames": {
                "padded": self.num_frames,
                "min": int(lengths.min()) if len(self) else 0,
                "mean": float(lengths.mean()) if len(self) else 0.0,
                "max": int(lengths.max()) if len(self) else 0,
            },
            "layout": self.layout.name,
            "joints": self.num_joints,
            "representation": self.rep,
            "channels": self.channels,
            "has_trans": self.trans is not None,
            "has_conf": self.conf is not None,
            "two_person_samples": 0 if self.second_body is None else int(self.second_body.any(axis=(1, 2, 3)).sum()),
            "has_image_size": self.image_size is not None,
            "fps": self.fps,
            "source_counts": dict(Counter(self.source.tolist())),
            "exclusions": [e.to_dict() for e in self.exclusions],
            "notes": list(self.notes),
        }

    # ------------------------------------------------------------- selection
    def subset(self, index) -> "MotionSet":
        """Samples by integer index array or boolean mask (exclusions and notes are kept)."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ValueError(f"mask of shape {idx.shape} for {len(self)} samples")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        return replace(
            self,
            data=self.data[idx], lengths=self.lengths[idx], labels=self.labels[idx],
            subjects=self.subjects[idx], names=self.names[idx], source=self.source[idx],
            run=self.run[idx], epoch=self.epoch[idx], round=self.round[idx], seed=self.seed[idx],
            exclusions=list(self.exclusions), notes=list(self.notes),
            **{k: None if getattr(self, k) is None else getattr(self, k)[idx] for k in _OPTIONAL},
        )

    def select(self, classes: Iterable[str | int] | None = None, subjects: Iterable | None = None,
               source: str | None = None) -> "MotionSet":
        """Samples of the given classes (names or indices), subjects and/or source."""
        mask = np.ones(len(self), dtype=bool)
        if classes is not None:
            ids = []
            for c in classes:
                if isinstance(c, (int, np.integer)):
                    ids.append(int(c))
                elif c in self.class_names:
                    ids.append(self.class_names.index(c))
                else:
                    raise KeyError(f"no class {c!r}; classes: {', '.join(self.class_names)}")
            mask &= np.isin(self.labels, ids)
        if subjects is not None:
            mask &= np.isin(self.subjects, [str(s) for s in subjects])
        if source is not None:
            mask &= self.source == source
        return self.subset(mask)

    def with_data(self, data: np.ndarray, rep: str | None = None, layout: Layout | None = None,
                  trans: np.ndarray | None | str = "keep") -> "MotionSet":
        """A copy with new per-joint values (same samples, lengths and labels); new values (not
        ``self.data`` itself) leave out the second body and image sizes (they no longer match), noted."""
        same = data is self.data and layout in (None, self.layout) and rep in (None, self.rep)
        dropped = [k for k in ("second_body", "image_size") if getattr(self, k) is not None and not same]
        notes = list(self.notes) + [f"new joint values: {', '.join(dropped)} left out (they describe the "
                                    f"values before)"] * bool(dropped)
        return replace(self, data=data, rep=rep or self.rep, layout=layout or self.layout,
                       trans=self.trans if isinstance(trans, str) else trans,
                       exclusions=list(self.exclusions), notes=notes,
                       **({} if same else {"second_body": None, "second_conf": None, "image_size": None}))

    def relabel(self, class_names: Sequence[str]) -> "MotionSet":
        """Re-index labels onto a (super)set of class names, matching by name."""
        class_names = tuple(class_names)
        missing = [c for c in self.class_names if c not in class_names]
        if missing:
            raise ValueError(f"class names {missing} are missing from the target list {list(class_names)}")
        remap = np.array([class_names.index(c) for c in self.class_names], dtype=np.int64)
        labels = remap[self.labels] if len(self) else self.labels
        return replace(self, labels=labels, class_names=class_names,
                       exclusions=list(self.exclusions), notes=list(self.notes))

    def to_rep(self, rep: str) -> "MotionSet":
        """Convert between rotation representations (``rot6d`` <-> ``axis_angle``)."""
        if rep == self.rep:
            return self
        if self.rep not in ("rot6d", "axis_angle") or rep not in ("rot6d", "axis_angle"):
            raise ValueError(f"cannot convert {self.rep!r} to {rep!r}: only rotation representations "
                             f"convert into each other (positions come from forward kinematics: to_xyz)")
        out = convert(self.data.astype(np.float64), self.rep, rep).astype(np.float32)
        out[~self.frame_mask()] = 0.0
        return self.with_data(out, rep=rep)

    def to_xyz(self, rest=None) -> "MotionSet":
        """Joint positions via forward kinematics (rotation representations only)."""
        if self.rep in ("xyz", "xy"):
            return self
        import torch

        from ..skeleton.kinematics import fk_from_representation, infant_rest_skeleton

        if rest is None:
            if self.layout.name != "smpl24":
                raise ValueError(f"no default rest skeleton for layout {self.layout.name!r}; pass rest=")
            rest = infant_rest_skeleton()
        x = torch.as_tensor(self.data, dtype=torch.float64)
        tr = None if self.trans is None else torch.as_tensor(self.trans, dtype=torch.float64)
        xyz = fk_from_representation(x, self.rep, rest, trans=tr).numpy().astype(np.float32)
        xyz[~self.frame_mask()] = 0.0
        return self.with_data(xyz, rep="xyz", trans=None)

    # ------------------------------------------------------------ combining
    @classmethod
    def concat(cls, sets: Sequence["MotionSet"]) -> "MotionSet":
        """Concatenate sets of one layout and representation; provenance is kept per sample.

        Class lists are merged by name (first set's order, then new names in order).
        """
        sets = [s for s in sets if s is not None]
        if not sets:
            raise ValueError("nothing to concatenate")
        first = sets[0]
        for s in sets[1:]:
            if s.layout != first.layout:
                raise ValueError(f"cannot concatenate layouts {first.layout.name!r} and {s.layout.name!r}")
            if s.rep != first.rep:
                raise ValueError(f"cannot concatenate representations {first.rep!r} and {s.rep!r}")
            if (s.trans is None) != (first.trans is None):
                raise ValueError("cannot concatenate a set with root translation and one without")
            if (s.conf is None) != (first.conf is None):
                raise ValueError("cannot concatenate a set with joint confidences and one without")
            if s.labelled != first.labelled and len(s) and len(first):
                raise ValueError("cannot concatenate a labelled and an unlabelled set")
        names: list[str] = list(first.class_names)
        for s in sets[1:]:
            names += [c for c in s.class_names if c not in names]
        sets = [s.relabel(names) if s.labelled else s for s in sets]
        t = max(s.num_frames for s in sets)

        def pad(a):
            return np.concatenate([a, np.zeros((len(a), t - a.shape[1]) + a.shape[2:], a.dtype)], 1)

        cat = lambda attr: np.concatenate([getattr(s, attr) for s in sets])  # noqa: E731
        return cls(
            np.concatenate([pad(s.data) for s in sets]), cat("lengths"), cat("labels"), tuple(names),
            cat("subjects"), cat("names"), first.layout, first.rep, source=cat("source"), run=cat("run"),
            epoch=cat("epoch"), round=cat("round"), seed=cat("seed"),
            **{k: np.concatenate([pad(getattr(s, k)) for s in sets])
               for k in ("trans", "conf") if getattr(first, k) is not None},
            fps=first.fps, exclusions=[e for s in sets for e in s.exclusions],
            notes=[n for s in sets for n in s.notes], **_concat_extras(sets, pad),
        )

    def __add__(self, other: "MotionSet") -> "MotionSet":
        return MotionSet.concat([self, other])

    # ----------------------------------------------------------------- npz io
    def save(self, path: str | Path) -> Path:
        """Write a lossless ``.npz`` (no pickled objects), atomically (a kill leaves the old
        file or the new one)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": "infagenc.motionset",
            "version": FORMAT_VERSION,
            "layout": self.layout.to_dict(),
            "rep": self.rep,
            "class_names": list(self.class_names),
            "fps": self.fps,
            "exclusions": [e.to_dict() for e in self.exclusions],
            "notes": self.notes,
        }
        txt = lambda a: np.asarray(a.tolist(), dtype=str) if len(a) else np.zeros(0, "<U1")  # noqa: E731
        arrays = dict(
            data=self.data, lengths=self.lengths, labels=self.labels, subjects=txt(self.subjects),
            names=txt(self.names), source=txt(self.source), run=txt(self.run), epoch=self.epoch,
            round=self.round, seed=self.seed, meta=np.array(json.dumps(meta)),
        )
        arrays.update({k: getattr(self, k) for k in _OPTIONAL if getattr(self, k) is not None})
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> "MotionSet":
        """Read a set written by :meth:`save` (``allow_pickle=False``)."""
        path = Path(path)
        try:
            z = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise DataError("no such file", file=str(path)) from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise DataError(f"not a readable .npz file ({e})", file=str(path)) from None
        with z:
            try:
                meta = json.loads(str(z["meta"]))
            except KeyError:
                raise DataError("not an infagenc motion set (no 'meta' entry)", file=str(path)) from None
            except (ValueError, json.JSONDecodeError) as e:
                raise DataError(f"corrupt metadata ({e})", file=str(path)) from None
            if meta.get("format") != "infagenc.motionset":
                raise DataError("not an infagenc motion set", file=str(path))
            if int(meta.get("version", 0)) > FORMAT_VERSION:
                raise DataError(f"written by a newer infagenc (format {meta['version']})", file=str(path))
            check_npz(z, str(path))
            try:
                arrays = {k: z[k] for k in z.files if k != "meta"}
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
                raise DataError(f"corrupt or truncated array data ({type(e).__name__}: {e})", file=str(path)) from None
        try:
            layout = Layout.from_dict(meta["layout"], source=str(path))
        except (LayoutError, KeyError) as e:
            raise DataError(f"bad layout in file ({e})", file=str(path)) from None
        missing = {"data", "lengths", "labels", "subjects", "names"} - set(arrays)
        if missing:
            raise DataError(f"missing arrays {sorted(missing)}", file=str(path))
        try:
            return cls(
                arrays["data"], arrays["lengths"], arrays["labels"], tuple(meta["class_names"]),
                arrays["subjects"], arrays["names"], layout, meta["rep"], source=arrays.get("source"),
                run=arrays.get("run"), epoch=arrays.get("epoch"), round=arrays.get("round"),
                seed=arrays.get("seed"), fps=meta.get("fps"), **{k: arrays.get(k) for k in _OPTIONAL},
                exclusions=[Exclusion(**e) for e in meta.get("exclusions", [])], notes=meta.get("notes", []),
            )
        except ValueError as e:
            raise DataError(str(e), file=str(path)) from None

    def __repr__(self) -> str:
        return (f"MotionSet(n={len(self)}, T={self.num_frames}, layout={self.layout.name}, rep={self.rep}, "
                f"classes={self.num_classes}, subjects={len(set(self.subjects.tolist()))}, "
                f"synthetic={int(self.is_synthetic.sum())})")
