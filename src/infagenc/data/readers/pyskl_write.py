"""Writing PYSKL / MMAction2 skeleton annotation pickles (:func:`write_pyskl`).

What the file holds, per sample: ``frame_dir`` (the sample name; names must be unique),
``label`` (int), ``keypoint`` float32 (M, T, V, C) with T the true length (no padding) and
M = 2 where the set has a second person in that sample (main body first, PYSKL's
convention; else M = 1), ``total_frames``, and

* ``keypoint_score`` float32 (M, T, V) in [0, 1] (:func:`~.interop.unit_scores`: COCO
  visibility and Kinect tracking flags 0/1/2 become 0, 0.5, 1): by default for 2D sets only
  (``conf`` where the set has it, else ones, since PYSKL's 2D pipelines need a score); 3D
  sets get none unless ``scores=True`` (PYSKL / MMAction2's 3D pipelines refuse a score:
  ``GenSkeFeat`` asserts "Only 2D keypoints have keypoint_score"), then ``conf`` or ones;
* 2D sets: ``img_shape`` and ``original_shape`` = (height, width) of the sample's image
  (``ms.image_size``, e.g. from a COCO file), else ``img_shape=`` when given; a sample with
  neither gets none and a warning says that PYSKL's ``PreNormalize2D`` will assume 1080x1920;
* ``subject`` and the provenance keys ``source``, ``run``, ``epoch``, ``round``, ``seed``
  (extra keys, ignored by PYSKL).

Top level: ``split``, ``annotations``; ``class_names`` and ``layout`` (ignored by PYSKL;
reading the file back gives the same set); ``graph``: what to give PYSKL / MMAction2 as the
graph (``"nturgb+d"`` for ntu25, ``"coco"`` for coco17, else a ``{"num_node", "inward",
"center"}`` description: :func:`~infagenc.skeleton.layouts.pyskl_graph`); ``filled_joints``
when ``to_layout="ntu25"`` mapped a kinect20 set (:func:`~.interop.to_ntu25`).

NTU sources (every class name an action code ``Aaaa``; ``ntu=None`` detects it, ``ntu=False``
turns it off): label = action number - 1 and ``class_names`` = ``A001`` .. ``A060`` (``A120``),
so labels match PYSKL's own NTU files; splits, when no ``split`` / ``subject_split`` is given
and every name is an NTU name, the standard ``xsub_train`` / ``xsub_val`` / ``xview_train``
/ ``xview_val`` (and ``xset_*`` for NTU 120); otherwise one split ``all``.

Rotation representations are refused (convert with ``ms.to_xyz()`` first). Arrays are
pickled as ``numpy.ndarray(shape, dtype, buffer)`` so that numpy 1.x loads files written
under numpy 2 (see :class:`_PortablePickler`).
"""
from __future__ import annotations

import pickle
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ...skeleton.layouts import pyskl_graph
from ..motionset import MotionSet
from .interop import NTU25_FILL, ntu_labels, ntu_splits, to_ntu25, unit_scores

__all__ = ["write_pyskl"]


def _splits(ms: MotionSet, names: list[str], split, subject_split, ntu: bool) -> dict[str, list[str]]:
    if split is not None and subject_split is not None:
        raise ValueError("give split or subject_split, not both")
    if subject_split is not None:
        known = set(ms.subjects.tolist())
        unknown = sorted({str(s) for v in subject_split.values() for s in v} - known)
        if unknown:
            raise ValueError(f"subject_split names subjects not in the set: {unknown}")
        return {k: [n for n, s in zip(names, ms.subjects) if s in {str(x) for x in v}]
                for k, v in subject_split.items()}
    if split is not None:
        unknown = sorted({str(n) for v in split.values() for n in v} - set(names))
        if unknown:
            raise ValueError(f"split names samples not in the set: {unknown[:5]}")
        return {str(k): [str(n) for n in v] for k, v in split.items()}
    return (ntu_splits(names) if ntu else None) or {"all": names}


def _score_arrays(ms: MotionSet, write: bool, filled: list[str]):
    """(main scores (N, T, V) or None, second-person scores or None), in [0, 1]."""
    if not write:
        return None, None
    valid = np.broadcast_to(ms.frame_mask()[:, :, None], ms.data.shape[:3])
    ones = np.ones(ms.data.shape[:3], np.float32)
    main = ones if ms.conf is None else unit_scores(ms.conf, valid)[0]
    second = None
    if ms.second_body is not None:
        second = (ms.second_body.any(axis=-1).astype(np.float32) if ms.second_conf is None
                  else unit_scores(ms.second_conf, valid & ms.second_body.any(axis=-1))[0])
    if filled:  # joints a mapping filled: score 0, whatever the rule gave them
        cols = [ms.layout.index(n) for n in filled]
        main = main.copy()
        main[:, :, cols] = 0.0
        if second is not None:
            second = second.copy()
            second[:, :, cols] = 0.0
    return main, second


def _image_shapes(ms: MotionSet, img_shape) -> list[tuple[int, int] | None]:
    """(height, width) per sample for a 2D set (None for 3D sets or unknown sizes)."""
    if ms.rep != "xy":
        return [None] * len(ms)
    given = None if img_shape is None else (int(img_shape[0]), int(img_shape[1]))
    sizes = ms.image_size if ms.image_size is not None else np.full((len(ms), 2), -1)
    out = [(int(h), int(w)) if w > 0 and h > 0 else given for w, h in sizes]
    unknown = [str(n) for n, s in zip(ms.names, out) if s is None]
    if unknown:
        warnings.warn(f"{len(unknown)} 2D sample(s) (e.g. {unknown[0]}) have no image size: written without "
                      f"img_shape, so PYSKL / MMAction2's PreNormalize2D will assume 1080x1920; pass img_shape=(h, w)",
                      stacklevel=3)
    return out


def _annotation(ms: MotionSet, i: int, label: int, scores, shape) -> dict:
    L = int(ms.lengths[i])
    two = ms.second_body is not None and bool(ms.second_body[i, :L].any())
    persons = [ms.data[i, :L]] + ([ms.second_body[i, :L]] if two else [])
    a = {"frame_dir": str(ms.names[i]), "label": int(label), "keypoint": np.stack(persons).astype(np.float32),
         "total_frames": L, "subject": str(ms.subjects[i]), "source": str(ms.source[i]), "run": str(ms.run[i]),
         "epoch": int(ms.epoch[i]), "round": int(ms.round[i]), "seed": int(ms.seed[i])}
    main, second = scores
    if main is not None:
        a["keypoint_score"] = np.stack([main[i, :L]] + ([second[i, :L]] if two else [])).astype(np.float32)
    if shape is not None:
        a["img_shape"] = a["original_shape"] = shape
    return a


def write_pyskl(ms: MotionSet, path: str | Path, *, split: Mapping[str, Sequence[str]] | None = None,
                subject_split: Mapping[str, Sequence[str]] | None = None, scores: bool | None = None,
                img_shape: Sequence[int] | None = None, to_layout: str | None = None,
                ntu: bool | None = None) -> Path:
    """Write a PYSKL / MMAction2 annotation pickle (see the module docstring).

    ``split``: {split name: [sample names]}; ``subject_split``: {split name: [subjects]}
    (e.g. ``{"xsub_train": [...], "xsub_val": [...]}``); neither: the NTU splits for NTU
    sources, else one split ``"all"``. ``scores``: write ``keypoint_score`` (default: 2D
    only). ``img_shape``: (height, width) for 2D samples whose image size is unknown.
    ``to_layout="ntu25"``: map a kinect20 set to the NTU-25 joint order first.
    """
    path = Path(path)
    if ms.rep not in ("xyz", "xy"):
        raise ValueError(f"PYSKL stores joint positions; convert {ms.rep!r} data first (ms.to_xyz())")
    if not ms.labelled:
        raise ValueError("PYSKL annotations need integer labels; this set is unlabelled")
    filled: list[str] = []
    if to_layout is not None:
        if str(to_layout) != "ntu25":
            raise ValueError(f"to_layout={to_layout!r}: the only mapping is to 'ntu25' (from kinect20)")
        ms, filled = to_ntu25(ms)
    names = [str(n) for n in ms.names]
    dup = sorted(n for n, c in Counter(names).items() if c > 1)
    if dup:
        raise ValueError(f"sample names must be unique to serve as frame_dir; repeated: {dup[:5]}")
    numbered = ntu_labels(ms) if ntu is not False else None
    if ntu and numbered is None:
        raise ValueError("ntu=True needs NTU action codes (A001, A002, ...) as class names")
    labels, class_names = numbered if numbered is not None else (ms.labels, list(ms.class_names))
    out = {"split": _splits(ms, names, split, subject_split, numbered is not None)}
    score = _score_arrays(ms, ms.rep == "xy" if scores is None else bool(scores), filled)
    shapes = _image_shapes(ms, img_shape)
    out["annotations"] = [_annotation(ms, i, labels[i], score, shapes[i]) for i in range(len(ms))]
    out.update(class_names=class_names, layout=ms.layout.to_dict(), graph=pyskl_graph(ms.layout))
    if filled:
        out["filled_joints"] = {n: NTU25_FILL[n][0] for n in filled}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        _PortablePickler(f, protocol=4).dump(out)
    return path


class _PortablePickler(pickle.Pickler):
    """Pickles arrays as ``numpy.ndarray(shape, dtype, bytearray)``.

    numpy >= 2 pickles arrays through ``numpy._core.multiarray``, which numpy < 1.26 (common
    in PYSKL / MMAction2 environments) cannot import; ``numpy.ndarray`` exists in every
    version. The bytearray buffer keeps the loaded arrays writable.
    """

    def reducer_override(self, obj):
        if type(obj) is np.ndarray:
            a = np.ascontiguousarray(obj)
            return np.ndarray, (a.shape, a.dtype.str, bytearray(a.tobytes()))
        return NotImplemented
