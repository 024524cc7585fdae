"""``infagenc recognizer tune``: choose recognizer settings on validation subjects only.

:func:`tune_run` removes the test subjects first (they are never preprocessed, trained on or
scored), preprocesses the training subjects with the given
:class:`~infagenc.data.preprocess.Preprocess`, splits them into k folds by subject
(:func:`subject_folds`: ``folds`` seeded folds, or leave-one-subject-out when there are fewer
training subjects than folds), trains every setting of a declared grid on each fold's training
subjects and measures its accuracy on the fold's validation subjects. A setting's score is its
mean validation accuracy over the folds (std: the sample standard deviation, ddof 1).

**Epochs are read, not retrained.** Deep settings that differ only in ``epochs`` are trained
once per fold, to the largest epoch count, and the validation accuracy is read after each
listed count (:func:`validation_accuracies`); a setting's accuracy is the one at its own epoch
count, never the best epoch. This equals separate runs of each length (the same seed, the same
batches; exact on a CPU with one thread) as long as training does not look at the total number
of epochs: a setting with ``target_accuracy`` (early stop) or with a ``schedule`` other than
constant (a learning-rate schedule spanning the run) is trained once per epoch count.

**Choice**: the highest mean validation accuracy; ties (within 1e-9) go to the simpler /
cheaper setting: classical before deep (``linear`` before ``knn``), then fewer epochs, then
the smaller size (``slim`` before ``paper``), then the earlier setting in the grid file.

**Grid file** (TOML or JSON), its keys :class:`~infagenc.train.recognizer.RecognizerConfig`
fields::

    size = "slim"                       # a single value: fixed
    model = ["stgcn", "linear"]         # a list: the values to try
    lr = [1e-3, 3e-3]
    epochs = [30, 60]
    model_options = [{dropout = 0.0}, {dropout = 0.5}]   # nested fields: a list of tables
    [base]                              # optional: fixed fields of every setting
    batch_size = 16

A list is always a list of candidates (a field that takes a list itself is given as a list of
lists). Instead of top-level fields the file may hold several sub-grids, ``[[grid]]`` tables
(JSON: ``"grid": [{...}, {...}]``), expanded one by one and joined, e.g. one for the deep
models and one for ``model = "linear"`` with ``model_options = [{C = 0.1}, {C = 1.0}]``.
A setting's values replace the base's (whole values: nested tables are not merged). For a
classical model (``linear``, ``knn``) only ``model`` and ``model_options`` count (the other
fields are dropped from its setting and equal settings are tried once). ``--seed`` seeds the
folds and every recognizer (unless the grid sets ``seed``); ``--device`` / ``--precision`` apply
unless the grid sets them.

Writes into ``out_dir``: ``chosen.toml`` (the base fields and the chosen setting's values:
RecognizerConfig fields, written with inline tables so that the file can be read by
``recognizer train --config`` or pasted under a run config's ``[critic]`` or
``[final.recognizer]`` header; ``chosen.json`` instead when a value is None, which TOML cannot
write) and ``tune.json`` (every setting with its fold accuracies, mean and std, the folds'
subjects, the preprocessing, the rule, the choice).
"""
from __future__ import annotations

import itertools
import json
import math
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..config import ConfigError, read_config_file
from ..data.motionset import MotionSet
from ..data.preprocess import Preprocess
from ..data.splits import split_by_subjects, subject_kfold
from ..jsonio import atomic_write_text, write_json
from ..train.batching import to_tensors
from ..train.classical import CLASSICAL, CLASSICAL_FIELDS, RECOGNIZER_NAMES, ClassicalRecognizer, is_classical
from ..train.recognizer import RecognizerConfig, RecognizerTrainer, new_recognizer

__all__ = ["TIE_RULE", "read_grid", "expand_grid", "subject_folds", "validation_accuracies", "choose",
           "tune_run", "format_table", "toml_text"]

TIE_RULE = ("highest mean validation accuracy; ties (within 1e-9) go to classical before deep (linear before knn), "
            "then fewer epochs, then slim before paper, then the earlier setting in the grid")
_TIE = 1e-9
_SIZE_COST = {"slim": 0, "paper": 1}


# ------------------------------------------------------------------------ the grid
def read_grid(path: str | Path) -> tuple[dict, list[dict]]:
    """(base fields, settings) of a grid file (see the module docstring)."""
    spec = read_config_file(path)
    try:
        return expand_grid(spec)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def _expand_one(grid: dict, where: str) -> list[dict]:
    keys = list(grid)
    choices = []
    for k in keys:
        v = grid[k]
        if isinstance(v, list):
            if not v:
                raise ConfigError(f"{where}: {k} lists no values")
            choices.append(v)
        else:
            choices.append([v])
    return [dict(zip(keys, combo)) for combo in itertools.product(*choices)]


def _project(values: dict, base: dict) -> dict:
    """A classical model's setting keeps only the fields a classical fit reads."""
    model = values.get("model", base.get("model", RecognizerConfig().model))
    return {k: v for k, v in values.items() if k in CLASSICAL_FIELDS} if is_classical(model) else values


def expand_grid(spec: dict) -> tuple[dict, list[dict]]:
    """(base, settings): every combination of every sub-grid, classical settings reduced to
    :data:`~infagenc.train.classical.CLASSICAL_FIELDS`, duplicates dropped (first kept), each
    checked as a RecognizerConfig."""
    spec = dict(spec)
    base = spec.pop("base", {})
    if not isinstance(base, dict):
        raise ConfigError("grid: base must be a table of RecognizerConfig fields")
    if "grid" in spec:
        grids = spec.pop("grid")
        if spec:
            raise ConfigError(f"grid: fields {sorted(spec)} beside [[grid]]: put them in [base] or in each [[grid]]")
        if isinstance(grids, dict):
            grids = [grids]
        if not isinstance(grids, list) or not all(isinstance(g, dict) for g in grids):
            raise ConfigError("grid: 'grid' must be a list of tables ([[grid]])")
    else:
        grids = [spec]
    settings: list[dict] = []
    seen: set[str] = set()
    for i, g in enumerate(grids):
        for values in _expand_one(g, f"grid {i + 1}"):
            values = _project(values, base)
            key = json.dumps(values, sort_keys=True)
            if key not in seen:
                seen.add(key)
                settings.append(values)
    for values in settings:
        _config(base, values, {})
    return base, settings


def _config(base: dict, values: dict, execution: dict) -> RecognizerConfig:
    d = {**execution, **base, **values}
    try:
        cfg = RecognizerConfig.from_dict(d)
    except ConfigError as e:
        raise ConfigError(f"grid setting {json.dumps(values)}: {e}") from None
    if cfg.model not in RECOGNIZER_NAMES:
        raise ConfigError(f"grid setting {json.dumps(values)}: unknown model {cfg.model!r}; "
                          f"known: {', '.join(RECOGNIZER_NAMES)}")
    if is_classical(cfg.model):
        try:
            ClassicalRecognizer.from_config(cfg)
        except ValueError as e:
            raise ConfigError(f"grid setting {json.dumps(values)}: {e}") from None
    return cfg


def _cost(cfg: RecognizerConfig, index: int) -> tuple:
    if is_classical(cfg.model):
        return (0, 0, 0, CLASSICAL.index(cfg.model), index)
    return (1, cfg.epochs, _SIZE_COST.get(cfg.size, len(_SIZE_COST)), RECOGNIZER_NAMES.index(cfg.model), index)


def choose(means: Sequence[float], costs: Sequence[tuple]) -> int:
    """The index of the chosen setting (see :data:`TIE_RULE`); NaN means never win."""
    m = np.array([x if math.isfinite(x) else -np.inf for x in means])
    best = m.max()
    tied = [i for i in range(len(m)) if m[i] >= best - _TIE]
    return min(tied, key=lambda i: costs[i])


# ------------------------------------------------------------------------ the folds
def subject_folds(ms: MotionSet, folds: int, seed: int) -> list[dict[str, list[str]]]:
    """``[{"train": subjects, "val": subjects}, ...]``: ``folds`` seeded folds by subject, or
    leave-one-subject-out when there are fewer subjects than folds."""
    subjects = sorted(set(ms.subjects.tolist()))
    if folds < 2:
        raise ValueError(f"need at least 2 folds, got {folds}")
    if len(subjects) < 2:
        raise ValueError(f"subject folds need at least two training subjects, got {subjects}")
    k = min(folds, len(subjects))
    out = []
    for tr, va in subject_kfold(ms, k, seed=seed):
        out.append({"train": sorted(set(tr.subjects.tolist())), "val": sorted(set(va.subjects.tolist()))})
    return out


# ------------------------------------------------------------------------ training
def _shares_epochs(cfg: RecognizerConfig) -> bool:
    """Whether a run to E epochs passes through the runs of fewer epochs (no early stop, no
    schedule over the run's length; the latter read through the generic config dict)."""
    schedule = cfg.to_dict().get("schedule")
    return cfg.target_accuracy is None and schedule in (None, "constant", "none")


def validation_accuracies(cfg: RecognizerConfig, train: MotionSet, val: MotionSet,
                          epochs: Sequence[int]) -> dict[int, dict[str, float]]:
    """``{e: {"val_acc", "val_loss"}}`` of one deep run trained to ``max(epochs)`` (its config's
    epochs set to that), read after each of ``epochs`` (0: the untrained model). A run that stops
    early (``target_accuracy``) gives its last record to the later counts."""
    top = max(epochs)
    run_cfg = replace(cfg, epochs=top)
    trainer = RecognizerTrainer(new_recognizer(run_cfg, train.layout, train.channels, train.num_classes), run_cfg)
    out: dict[int, dict[str, float]] = {}
    if 0 in epochs:
        out[0] = trainer.validate(to_tensors(val, trainer.device))
    history = trainer.fit(train, val, epochs=top, progress=False) if top else []
    for e in epochs:
        if e:
            rec = history[min(e, len(history)) - 1]
            out[e] = {"val_acc": rec["val_acc"], "val_loss": rec["val_loss"]}
    return out


def _groups(configs: list[RecognizerConfig]) -> list[list[int]]:
    """Setting indices trained together: deep settings equal but for epochs (when they may share)."""
    groups: dict[str, list[int]] = {}
    for i, cfg in enumerate(configs):
        if is_classical(cfg.model) or not _shares_epochs(cfg):
            key = f"#{i}"
        else:
            key = json.dumps({**cfg.to_dict(), "epochs": None}, sort_keys=True, default=str)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _score_group(idx: list[int], configs: list[RecognizerConfig], train: MotionSet, val: MotionSet
                 ) -> dict[int, float]:
    cfg = configs[idx[0]]
    if is_classical(cfg.model):
        return {idx[0]: ClassicalRecognizer.from_config(cfg).fit(train).evaluate(val, "val").overall}
    accs = validation_accuracies(cfg, train, val, sorted({configs[i].epochs for i in idx}))
    return {i: accs[configs[i].epochs]["val_acc"] for i in idx}


# ------------------------------------------------------------------------ output
def _fmt(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))


def format_table(settings: list[dict], rows: list[dict], chosen: int) -> str:
    """One row per setting: its values, mean ± std and each fold's accuracy (in %); ``*`` marks the choice."""
    keys = list(dict.fromkeys(k for s in settings for k in s))
    n_folds = len(rows[0]["fold_accuracy"]) if rows else 0
    head = ["", "#", *keys, "mean ± std", *[f"fold {j + 1}" for j in range(n_folds)]]
    body = []
    for i, (s, r) in enumerate(zip(settings, rows)):
        body.append(["*" if i == chosen else "", str(i + 1), *[_fmt(s[k]) if k in s else "-" for k in keys],
                     f"{100 * r['mean']:.1f} ± {100 * r['std']:.1f}",
                     *[f"{100 * a:.1f}" for a in r["fold_accuracy"]]])
    widths = [max(len(row[j]) for row in [head, *body]) for j in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [head, *body]]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise ValueError(f"TOML cannot write {v!r}")


def toml_text(d: dict, header: Sequence[str] = ()) -> str:
    """``key = value`` lines (nested tables inline), read back by ``tomllib`` as ``d``."""
    lines = [f"# {h}" for h in header] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in d.items()]
    text = "\n".join(lines) + "\n"
    if tomllib.loads(text) != d:
        raise ValueError("the settings do not round-trip through TOML")
    return text


def _has_none(v: Any) -> bool:
    if isinstance(v, dict):
        return any(_has_none(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(_has_none(x) for x in v)
    return v is None


def _write_chosen(out: Path, chosen: dict, header: list[str]) -> Path:
    if not _has_none(chosen):
        try:
            return atomic_write_text(out / "chosen.toml", toml_text(chosen, header))
        except ValueError:
            pass
    return write_json(out / "chosen.json", chosen)


# ------------------------------------------------------------------------ the run
def tune_run(ms: MotionSet, grid: str | Path | dict, out_dir: str | Path, *,
             test_subjects: Sequence[str] | None = None, folds: int = 3, seed: int = 0,
             preprocess: Preprocess | None = None, device: str | None = None, precision: str | None = None,
             data_source: str = "", progress: bool = True) -> dict:
    """Choose a setting of ``grid`` (a grid file or its dict) by subject folds of the
    training subjects; writes ``chosen.toml`` (or ``.json``) and ``tune.json`` into ``out_dir``
    and returns ``{"chosen", "chosen_file", "tune_json", "table", "mean", "std"}``."""
    out = Path(out_dir)
    base, settings = read_grid(grid) if not isinstance(grid, dict) else expand_grid(grid)
    if not settings:
        raise ConfigError("the grid declares no setting")
    train_ms = split_by_subjects(ms, list(test_subjects))[0] if test_subjects else ms
    prep = preprocess if preprocess is not None else Preprocess()
    train_ms, notes = prep.apply(train_ms, data_source or None)
    execution = {k: v for k, v in {"seed": seed, "device": device, "precision": precision}.items() if v is not None}
    configs = [_config(base, s, execution) for s in settings]
    fold_subjects = subject_folds(train_ms, folds, seed)
    groups = _groups(configs)
    acc = np.full((len(settings), len(fold_subjects)), np.nan)
    bar = tqdm(total=len(fold_subjects) * len(groups), desc="tune", disable=not progress)
    for j, f in enumerate(fold_subjects):
        tr, va = split_by_subjects(train_ms, f["val"])
        for g in groups:
            bar.set_postfix_str(f"fold {j + 1} {_fmt(settings[g[0]])}"[:60])
            for i, a in _score_group(g, configs, tr, va).items():
                acc[i, j] = a
            bar.update()
    bar.close()
    means = acc.mean(axis=1)
    stds = acc.std(axis=1, ddof=1) if acc.shape[1] > 1 else np.zeros(len(settings))
    best = choose(means.tolist(), [_cost(c, i) for i, c in enumerate(configs)])
    rows = [{"setting": s, "config": c.to_dict(), "fold_accuracy": acc[i].tolist(), "mean": float(means[i]),
             "std": float(stds[i]), "chosen": i == best} for i, (s, c) in enumerate(zip(settings, configs))]
    chosen = {**base, **settings[best]}
    header = [f"chosen by infagenc recognizer tune: mean validation accuracy {100 * means[best]:.1f}% "
              f"(± {100 * stds[best]:.1f}) over {len(fold_subjects)} subject folds",
              f"preprocessing: {json.dumps(prep.to_dict())}"]
    chosen_file = _write_chosen(out, chosen, header)
    table = format_table(settings, rows, best)
    tune_json = write_json(out / "tune.json", {
        "data": data_source, "preprocess": prep.to_dict(), "preprocess_notes": notes,
        "test_subjects": sorted(map(str, test_subjects or [])), "train_subjects": sorted(set(train_ms.subjects.tolist())),
        "seed": seed, "folds": fold_subjects, "rule": TIE_RULE, "base": base, "settings": rows,
        "chosen": {"index": best, "setting": settings[best], "config_file": str(chosen_file),
                   "mean": float(means[best]), "std": float(stds[best])}})
    return {"chosen": chosen, "chosen_file": str(chosen_file), "tune_json": str(tune_json), "table": table,
            "mean": float(means[best]), "std": float(stds[best])}
