"""The data phase of a run: read the real data, preprocess it with the config's one
:class:`~infagenc.data.preprocess.Preprocess`, split it by subject (train / val / test).

The test subjects are never seen by any training step; the validation subjects (a
fraction of the training subjects) serve early stopping and the choice of settings.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..data.demo import make_demo
from ..data.errors import Exclusion
from ..data.motionset import MotionSet
from ..data.splits import assert_disjoint, holdout_subjects, split_by_subjects
from ..runfolder import RunFolder
from .config import RunConfig
from .seeds import derive_seed

__all__ = ["Splits", "load_real", "prepare_data", "stored_splits", "load_or_none", "data_phase"]


@dataclass
class Splits:
    train: MotionSet
    val: MotionSet | None
    test: MotionSet
    notes: tuple[str, ...] = ()  # what preparing the data changed (for the run log)
    exclusions: tuple[Exclusion, ...] = ()  # samples the readers left out, and why


def load_real(cfg: RunConfig, progress: bool = True, *, test: bool = False) -> MotionSet:
    """The configured real data set (the built-in demo set when ``data.path`` is unset), or
    with ``test`` the fixed test set of ``data.test_path``; ``progress`` goes to readers that
    show a progress bar."""
    d = cfg.data
    if test and d.test_path is None:
        raise ValueError("data.test_path is not set")
    where = d.test_path if test else d.path
    if where is None:
        ms = make_demo(num_subjects=cfg.demo.subjects, per_class=cfg.demo.per_class, seed=cfg.demo.seed,
                       rep=d.rep or "rot6d")
    else:
        from ..data.readers import locate, read, reader_options

        fmt, path = (d.format, where) if d.format else locate(where)
        options = dict(d.options)
        if "progress" in reader_options(fmt):
            options.setdefault("progress", progress)
        ms = read(path, fmt, on_bad=d.on_bad, **options)
    if not ms.labelled:
        raise ValueError(f"{where}: the InfAGenC loop needs labelled data (this set has no classes)")
    if d.rep is not None and d.rep != ms.rep:
        ms = ms.to_rep(d.rep)
    return ms


def prepare_data(cfg: RunConfig, progress: bool = True) -> Splits:
    """Read, preprocess (``cfg.data.preprocess()``) and split by subject (train / val / test);
    with ``data.test_path`` the test set is that file, preprocessed the same way."""
    d = cfg.data
    prep = d.preprocess()
    notes: list[str] = []

    def prepared(ms: MotionSet, where: str | None, role: str) -> MotionSet:
        ms, changed = prep.apply(ms, where, unlabelled_hint="set data.unlabelled = 'fill' or 'keep'")
        notes.extend(f"{role} data: {n}" for n in changed)
        return ms

    ms = prepared(load_real(cfg, progress), d.path, "training" if d.test_path is not None else "all subjects'")
    excluded = list(ms.exclusions)
    if d.test_path is not None:
        train, test = ms, prepared(load_real(cfg, progress, test=True), d.test_path, "test")
        excluded += test.exclusions
        if test.layout.name != train.layout.name or test.rep != train.rep:
            raise ValueError(f"{d.test_path}: the test set's layout / representation ({test.layout.name}, "
                             f"{test.rep}) differ from those of {d.path} ({train.layout.name}, {train.rep})")
        try:  # the same classes, matched by name (a file may list them in another order)
            test = test.relabel(train.class_names)
        except ValueError as e:
            raise ValueError(f"{d.test_path}: the test set has classes the training set {d.path} lacks: {e}") from None
    elif d.test_subjects is not None:
        train, test = split_by_subjects(ms, d.test_subjects)
    else:
        train, test = holdout_subjects(ms, d.test_fraction, seed=d.split_seed)
    val = None
    if d.val_fraction > 0:
        train, val = holdout_subjects(train, d.val_fraction, seed=derive_seed(d.split_seed, "val"))
        assert_disjoint(val, test)
    assert_disjoint(train, test)
    _no_empty_class(train, ms)
    return Splits(train, val, test, tuple(notes), tuple(excluded))


def _no_empty_class(train: MotionSet, full: MotionSet) -> None:
    """A class without training samples after the split is an error naming the class and the
    subjects whose samples it had (all of them held out for testing or validation)."""
    empty = [c for c, n in train.class_counts().items() if n == 0]
    if not empty:
        return
    parts = []
    for c in empty:
        k = full.class_names.index(c)
        subjects = sorted({str(s) for s, y in zip(full.subjects, full.labels) if y == k})
        parts.append(f"{c!r} (its samples are all of subjects {', '.join(subjects) or 'none'})")
    raise ValueError(f"no training samples after the subject split for class {'; '.join(parts)}: choose other "
                     f"test / validation subjects (data.test_subjects, data.val_fraction, data.split_seed)")


def load_or_none(path) -> MotionSet | None:
    return MotionSet.load(path) if path.exists() else None


def stored_splits(f: RunFolder) -> Splits:
    """The splits a run folder's data phase wrote."""
    summary = f.read_json(f.data_summary_path, {})
    excluded = tuple(Exclusion(**e) for e in summary.get("excluded", []))
    return Splits(MotionSet.load(f.split_path("train")), load_or_none(f.split_path("val")),
                  MotionSet.load(f.split_path("test")), exclusions=excluded)


def data_phase(f: RunFolder, cfg: RunConfig, progress: bool) -> Splits:
    """Prepare and store the splits (or read them back when the phase is done)."""
    if f.phase_done("data"):
        return stored_splits(f)
    sp = prepare_data(cfg, progress)
    for name in ("train", "val", "test"):
        ms = getattr(sp, name)
        if ms is not None:
            ms.save(f.split_path(name))
    f.write_json(f.data_summary_path, {"train": sp.train.summary(), "test": sp.test.summary(),
                                       "val": None if sp.val is None else sp.val.summary(),
                                       "excluded": [e.to_dict() for e in sp.exclusions], "notes": list(sp.notes)})
    f.log(f"data: train {len(sp.train)} ({len(set(sp.train.subjects))} subjects), test {len(sp.test)} "
          f"({len(set(sp.test.subjects))} subjects), val {0 if sp.val is None else len(sp.val)}")
    for note in sp.notes:
        f.log(note)
    for e in sp.exclusions:
        f.log(f"left out: {e}")
    f.mark_done("data")
    return sp
