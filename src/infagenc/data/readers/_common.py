"""Helpers shared by the readers: collecting samples, bad-sample policy, classes, bodies.

Every reader builds its :class:`~infagenc.data.motionset.MotionSet` through a
:class:`SampleCollector`, so the rules below hold for all formats:

* a bad sample (NaN/Inf, an all-zero frame, too short: :func:`~infagenc.data.preprocess.sample_problem`;
  or a format-specific problem such as a missing label) raises :class:`DataError` naming
  the file and the sample (``on_bad="error"``), or is left out with an :class:`Exclusion`
  (``on_bad="skip"``);
* labels are class-name strings; with an explicit class list a name outside it is an
  "unknown label"; without one the classes are the names found, in an order the reader
  chooses (default: sorted);
* empty classes: after bad samples are left out, every class of the final class list must
  have at least one sample. With ``on_bad="error"`` an empty class raises a DataError naming
  the class and the file; with ``on_bad="skip"`` the class is *kept* (so label indices stay
  the same as in the other splits of the data set) and a note says it is empty. A reader
  whose class list is stated for the whole data set (``empty_classes="note"``: PYSKL files
  with a class list, or one split of a file) only notes an empty class;
* a second person (``second=``, frame-aligned with the main one, all-zero where absent) goes
  with its sample: trimmed with it, never interpolated, refused when not finite;
* sample names are unique: a second sample with the name of an earlier one (e.g. a repeated
  ``frame_dir``) is a bad sample naming the duplicate;
* ``gaps`` / ``max_gap`` (:mod:`infagenc.data.gaps`): all-zero frames at the ends trimmed and
  short interior gaps interpolated before the checks above, every repaired frame recorded
  in ``notes`` (one note per repaired sample and one with the totals);
* what a reader changes is recorded in ``notes``; repeated events are tallied into one
  note with a count and a few examples (:meth:`SampleCollector.tally`).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from ...skeleton.layouts import Layout, LayoutError, resolve_layout
from ..errors import DataError, Exclusion, check_on_bad
from ..gaps import DEFAULT_MAX_GAP, GapRepair, check_gap_options, repair_gaps
from ..motionset import MotionSet
from ..preprocess import sample_problem

__all__ = ["SampleCollector", "BODY_POLICIES", "select_bodies", "person_slots", "layout_or_error",
           "subject_from", "parse_floats", "PROVENANCE_DEFAULTS"]

BODY_POLICIES = ("main", "first", "all")
PROVENANCE_DEFAULTS = {"source": "real", "run": "", "epoch": -1, "round": -1, "seed": -1}
_EXAMPLES = 3


class SampleCollector:
    """Accumulates the samples of one data set and builds the MotionSet.

    Args:
        source: the data set's path, used in messages (file of the data set).
        on_bad: ``"error"`` or ``"skip"``.
        class_names: explicit class order (labels outside it are unknown), or None to take
            the names found.
        labelled: False for an unlabelled data set (labels -1, no classes).
        min_length: shortest acceptable sequence, in frames.
        gaps, max_gap: the repair of all-zero frames (:mod:`infagenc.data.gaps`).
    """

    def __init__(self, source: str | Path, *, on_bad: str = "error",
                 class_names: Sequence[str] | None = None, labelled: bool = True, min_length: int = 1,
                 gaps: str = "error", max_gap: int = DEFAULT_MAX_GAP, empty_classes: str = "error"):
        self.source = str(source)
        self.on_bad = check_on_bad(on_bad)
        self.class_names = None if class_names is None else tuple(str(c) for c in class_names)
        if self.class_names is not None and len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"class_names has duplicates: {list(self.class_names)}")
        self.labelled = labelled
        self.min_length = int(min_length)
        self.seqs: list[np.ndarray] = []
        self.confs: list[np.ndarray] = []
        self.labels: list[str] = []
        self.subjects: list[str] = []
        self.names: list[str] = []
        self.provenance: list[dict] = []
        self.extras: list[dict] = []  # per sample: second, second_conf, image_size where given
        self.empty_classes = empty_classes
        self.exclusions: list[Exclusion] = []
        self.notes: list[str] = []
        self._tallies: dict[str, list] = {}
        self.gaps, self.max_gap = check_gap_options(gaps, max_gap)
        self.repairs: dict[str, GapRepair] = {}
        self._seen: set[str] = set()

    # ------------------------------------------------------------- problems
    def bad(self, reason: str, sample: str, file: str | Path | None = None) -> None:
        """A bad sample: raise (``error``) or record an exclusion (``skip``)."""
        f = str(file) if file is not None else self.source
        if self.on_bad == "error":
            raise DataError(reason, file=f, sample=sample)
        self.exclusions.append(Exclusion(f, str(sample), reason))

    def exclude(self, sample: str, reason: str, file: str | Path | None = None) -> None:
        """Record a sample that does not exist in the data (never an error, e.g. a NaN range)."""
        self.exclusions.append(Exclusion(str(file) if file is not None else self.source, str(sample), reason))

    def note(self, message: str) -> None:
        self.notes.append(message)

    def tally(self, what: str, example: str, count: int = 1) -> None:
        """Count an event; becomes one note ``what: N (e.g. a, b, c)`` when the set is built."""
        entry = self._tallies.setdefault(what, [0, []])
        entry[0] += count
        if len(entry[1]) < _EXAMPLES:
            entry[1].append(str(example))

    # -------------------------------------------------------------- samples
    def add(self, x: np.ndarray, *, name: str, subject: str, label: str | None = None,
            conf: np.ndarray | None = None, file: str | Path | None = None,
            provenance: dict | None = None, trimmed: tuple[int, int] = (0, 0), second: np.ndarray | None = None,
            second_conf: np.ndarray | None = None, image_size: tuple[int, int] | None = None) -> bool:
        """Check and add one (T, V, C) sequence; returns False when it was left out.

        ``provenance``: the sample's ``source`` / ``run`` / ``epoch`` / ``round`` / ``seed``
        where the file records them (the PYSKL files our writer makes). ``trimmed``: all-zero
        frames the reader already trimmed at the start and the end (recorded with the repair).
        ``second`` / ``second_conf``: a second person, (T, V, C) / (T, V) like ``x``;
        ``image_size``: (width, height) of the sample's image.
        """
        name = str(name)
        if name in self._seen:
            self.bad(f"duplicate sample name: an earlier sample is also named {name!r}", name, file)
            return False
        self._seen.add(name)
        if self.labelled:
            if label is None or str(label).strip() == "":
                self.bad("missing label", name, file)
                return False
            label = str(label)
            if self.class_names is not None and label not in self.class_names:
                self.bad(f"unknown label {label!r}; classes: {', '.join(self.class_names)}", name, file)
                return False
        t = len(x)
        x, conf, repair, problem = repair_gaps(x, conf, mode=self.gaps, max_gap=self.max_gap)
        problem = problem or sample_problem(x, min_length=self.min_length)
        if problem is None and second is not None and not np.isfinite(np.asarray(second, np.float64)).all():
            problem = "the second person's values are NaN or Inf"
        if problem is not None:
            self.bad(problem, name, file)
            return False
        extra = {} if image_size is None else {"image_size": tuple(int(v) for v in image_size)}
        if second is not None and np.asarray(second).any():
            keep = slice(repair.start, t - repair.end)
            extra["second"] = np.asarray(second, np.float32)[keep]
            if second_conf is not None:
                extra["second_conf"] = np.asarray(second_conf, np.float32)[keep]
        self.extras.append(extra)
        repair = repair + GapRepair(*trimmed)
        if repair:
            self.repairs[name] = repair
        self.seqs.append(np.asarray(x, dtype=np.float32))
        if conf is not None:
            self.confs.append(np.asarray(conf, dtype=np.float32))
        self.labels.append(label if self.labelled else "")
        self.subjects.append(str(subject))
        self.names.append(str(name))
        self.provenance.append(provenance or {})
        return True

    # ---------------------------------------------------------------- build
    def build(self, layout: Layout, rep: str, *, order: Callable[[Iterable[str]], Sequence[str]] = sorted,
              fps: float | None = None) -> MotionSet:
        """The MotionSet of the samples added so far (see the module docstring for classes)."""
        if self.confs and len(self.confs) != len(self.seqs):
            raise RuntimeError("confidences were given for some samples only")  # reader bug
        if self.labelled:
            classes = self.class_names if self.class_names is not None else tuple(order(set(self.labels)))
            index = {c: i for i, c in enumerate(classes)}
            labels = [index[l] for l in self.labels]
            self._check_empty_classes(classes, labels)
        else:
            classes, labels = (), [-1] * len(self.seqs)
        notes = list(self.notes) + self._repair_notes()
        for what, (count, examples) in self._tallies.items():
            more = ", ..." if count > len(examples) else ""
            notes.append(f"{what}: {count} (e.g. {', '.join(examples)}{more})")
        prov = {}
        if any(self.provenance):
            for key, default in PROVENANCE_DEFAULTS.items():
                prov[key] = [p.get(key, default) for p in self.provenance]
        try:
            return MotionSet.from_sequences(
                self.seqs, labels, classes, self.subjects, self.names, layout, rep,
                conf=self.confs or None, fps=fps, exclusions=self.exclusions, notes=notes, **prov, **self._extras())
        except DataError as e:
            if e.file is None:
                raise DataError(e.reason, file=self.source, sample=e.sample) from None
            raise
        except (ValueError, TypeError) as e:  # e.g. a provenance value the model does not admit
            raise DataError(str(e), file=self.source) from None

    def _extras(self) -> dict:
        """``second_body`` / ``second_conf`` / ``image_size`` where any sample has them: zeros for a
        sample with one person, -1 for an unknown size."""
        out: dict = {}
        if any("second" in e for e in self.extras):
            out["second_body"] = [e.get("second", np.zeros_like(x)) for e, x in zip(self.extras, self.seqs)]
        if any("second_conf" in e for e in self.extras):
            out["second_conf"] = [e.get("second_conf", np.zeros(x.shape[:2], np.float32))
                                  for e, x in zip(self.extras, self.seqs)]
        if any("image_size" in e for e in self.extras):
            out["image_size"] = np.array([e.get("image_size", (-1, -1)) for e in self.extras], np.int64)
        return out

    def _repair_notes(self) -> list[str]:
        if self.gaps == "error" and not self.repairs:
            return []
        how = f"gaps={self.gaps!r}" + (f", max_gap={self.max_gap}" if self.gaps == "interpolate" else "")
        total = sum(self.repairs.values(), GapRepair())
        notes = [f"gap repair ({how}): {len(self.repairs)} sample(s) repaired: {total.describe()}"]
        notes += [f"gap repair: sample {n!r}: {r.describe()}" for n, r in self.repairs.items()]
        return notes

    def _check_empty_classes(self, classes: Sequence[str], labels: list[int]) -> None:
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
        for c, n in zip(classes, counts):
            if n:
                continue
            if self.on_bad == "error" and self.empty_classes == "error":
                raise DataError(f"class {c!r} has no samples (classes: {', '.join(classes)})", file=self.source)
            self.notes.append(f"class {c!r} has no samples; kept in class_names so label indices "
                              f"match the other splits")


# ------------------------------------------------------------------ bodies
def _motion(x: np.ndarray) -> float:
    """Summed per-joint temporal variance over the frames where the body is present."""
    x = np.asarray(x, dtype=np.float64)  # float16 pixel values overflow in a variance
    present = x.reshape(len(x), -1).any(axis=1)
    if present.sum() < 2:
        return 0.0
    return float(np.nan_to_num(x[present].var(axis=0)).sum())


def select_bodies(bodies: Sequence[np.ndarray], policy: str) -> list[int]:
    """Indices of the bodies (each (T_b, V, C), absent frames all-zero) that a policy keeps.

    ``main``: the one with the most motion (largest summed per-joint variance over time,
    the choice of the usual NTU preprocessing; ties go to the body seen in more frames,
    then to the earlier one); ``first``: the first body; ``all``: every body that is
    present in at least one frame.
    """
    if policy not in BODY_POLICIES:
        raise ValueError(f"bodies must be one of {BODY_POLICIES}, got {policy!r}")
    present = [i for i, b in enumerate(bodies) if np.asarray(b).any()]
    if not present:
        return []
    if policy == "first":
        return [present[0]]
    if policy == "all":
        return present

    def key(i: int):
        b = np.asarray(bodies[i])
        return (-_motion(b), -int(b.reshape(len(b), -1).any(axis=1).sum()), i)

    return [min(present, key=key)]


def person_slots(arr: np.ndarray, policy: str) -> tuple[list[int], int]:
    """For an (M, T, V, C) array of person slots (PYSKL / InfAct pickles): the slots that
    ``policy`` keeps (see :func:`select_bodies`) and the number of non-empty slots."""
    kept = select_bodies(list(arr), policy)
    return kept, int(sum(bool(np.asarray(a).any()) for a in arr))


# ------------------------------------------------------------------ misc
def layout_or_error(spec, file: str | Path) -> Layout:
    """Resolve a layout name / file / object, turning an unknown one into a DataError."""
    try:
        return resolve_layout(spec)
    except LayoutError as e:
        raise DataError(f"unknown layout: {e}", file=str(file)) from None


def subject_from(name: str, pattern: re.Pattern | None) -> str | None:
    """First group of ``pattern`` searched in ``name`` (the whole match if no group); None if no match."""
    if pattern is None:
        return None
    m = pattern.search(name)
    if m is None:
        return None
    return m.group(1) if m.groups() else m.group(0)


def parse_floats(tokens: Sequence[str], *, file: str | Path, sample: str, what: str = "values") -> np.ndarray:
    """Floats from text tokens; a token that is not a number is a DataError (corrupt file)."""
    try:
        return np.asarray([float(t) for t in tokens], dtype=np.float64)
    except ValueError as e:
        raise DataError(f"corrupt {what}: {e}", file=str(file), sample=sample) from None
