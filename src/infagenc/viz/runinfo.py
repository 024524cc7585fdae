"""The run-folder side of the report: :class:`RunFiles` (a run folder's JSON and arrays, read
on demand) and the report's first sections (run settings, time, data), built from the files
alone. The class names and per-class counts the notes of other sections name are read here
too (:meth:`RunFiles.class_names`, :meth:`RunFiles.class_counts`)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..data.motionset import MotionSet
from ..jsonio import read_json
from ..runfolder import RunFolder
from .document import Doc, Table
from .tables import DASH, MODE_NAMES, SET_NAMES, class_list

__all__ = ["RunFiles", "header", "preprocessing_line", "settings_rows"]


class RunFiles:
    """The JSON and arrays of a run folder, read on demand (None when absent)."""

    def __init__(self, root: str | Path):
        self.folder = RunFolder(root, create=False)
        self.root = self.folder.root
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such run folder")
        self.config = read_json(self.folder.config_path) or {}
        if not self.config:
            raise FileNotFoundError(f"{self.root}: not a run folder (no config.json)")

    def json(self, path: Path, default: Any = None) -> Any:
        return read_json(path, default)

    def motionset(self, path: Path) -> MotionSet | None:
        return MotionSet.load(path) if path.exists() else None

    def rel(self, path: Path) -> str:
        """``path`` relative to the run folder, for the texts that name it."""
        return Path(path).relative_to(self.root).as_posix()

    @property
    def name(self) -> str:
        return str(self.config.get("name", self.root.name))

    @property
    def selection(self) -> str:
        return str(self.config.get("loop", {}).get("selection", "distance"))

    @property
    def label(self) -> str:
        return MODE_NAMES.get(self.selection, self.selection)

    @property
    def evaluation_enabled(self) -> bool:
        return bool(self.config.get("evaluation", {}).get("enabled", True))

    def execution(self, key: str) -> Any:
        """An execution setting (device, precision) of the config, in ``execution`` or at the top."""
        return self.config.get("execution", {}).get(key, self.config.get(key))

    def class_names(self) -> list[str] | None:
        """The classes in label order (``data/summary.json``: the training split's classes)."""
        counts = ((self.json(self.folder.data_summary_path) or {}).get("train") or {}).get("class_counts")
        return list(counts) if counts else None

    def class_counts(self, what: str) -> dict[str, int] | None:
        """Samples per class of ``train`` / ``test`` (``data/summary.json``) or of the recycled
        ``pool`` (the samples each round selected, ``rounds.json``); None where unknown."""
        names = self.class_names()
        if what in ("train", "test", "val"):
            part = (self.json(self.folder.data_summary_path) or {}).get(what)
            return None if not part or names is None else {c: int(part["class_counts"].get(c, 0)) for c in names}
        rounds = self.json(self.folder.rounds_path) or []
        selected = [r["counts"]["selected"] for r in rounds if r.get("counts")]
        if what != "pool" or names is None or not selected or any(len(s) != len(names) for s in selected):
            return None
        return {c: int(sum(s[k] for s in selected)) for k, c in enumerate(names)}


def preprocessing_line(data: dict) -> str:
    """Every step of the run's preprocessing chain, in the order it is applied
    (:class:`~infagenc.data.preprocess.Preprocess`), from the config's ``data`` section
    (an older config without a step's key gets that step's default, off)."""
    frames = data.get("frames")
    steps = [f"keypoints with confidence 0: {data.get('unlabelled', 'keep')}",
             f"{frames} frames ({data.get('resample', 'resample')})" if frames else "lengths kept",
             f"view alignment {'on' if data.get('align') else 'off'}",
             f"root {data.get('root')}",
             f"scale normalisation {'on (mean bone length 1 per sequence)' if data.get('normalize_scale') else 'off'}"]
    return " → ".join(steps) + f"; representation {data.get('rep') or 'as read'}"


# ------------------------------------------------------------------ run, time, data
def settings_rows(run: RunFiles) -> list[list[str]]:
    cfg = run.config
    data, loop, gen = cfg.get("data", {}), cfg.get("loop", {}), cfg.get("generator", {})
    critic, final, ev = cfg.get("critic", {}), cfg.get("final", {}), cfg.get("evaluation", {})
    env = run.json(run.folder.environment_path, {})
    source = (f"`{data['path']}`" + (f" ({data['format']})" if data.get("format") else "")) if data.get("path") \
        else "built-in made-up demo data (not evidence of quality)"
    rec = final.get("recognizer", {})
    return [
        ["Data", source],
        ["Preprocessing", preprocessing_line(data)],
        ["Selection", f"{loop.get('selection')}"
                      + ("" if loop.get("selection") == "none" else
                         f" (θ = {loop.get('theta')}, weights {loop.get('w_within')} / {loop.get('w_between')}, "
                         f"{loop.get('score_form')} score, keep {loop.get('keep_fraction')})")],
        ["Loop", f"{loop.get('epochs')} epochs in windows of {loop.get('window')}, "
                 + (f"{loop['samples_per_epoch']} samples" if loop.get("samples_per_epoch") else
                    "one sample per real training sample")
                 + (" per epoch, an independent critic (the pre-trained one, never updated) scores"
                    if loop.get("critic_mode") == "independent" else
                    f" per epoch, critic updated {loop.get('critic_update_epochs')} epochs per round")
                 + (f", per-class filter (fallback: top {loop.get('filter_fallback_fraction')} of a class)"
                    if loop.get("filter") == "per_class" else "")],
        ["Generator", f"pre-trained {cfg.get('pretrain_generator_epochs')} epochs; "
                      f"{gen.get('cvae', {}).get('num_layers')} layers, d_model {gen.get('cvae', {}).get('d_model')}"],
        ["Critic", f"{critic.get('model')} ({critic.get('size')}), ≤ {critic.get('epochs')} epochs, "
                   f"target accuracy {critic.get('target_accuracy')}"],
        ["Final recognizers", f"{rec.get('model')} ({rec.get('size')}), {rec.get('epochs')} epochs, seeds "
                              f"{final.get('seeds')}, training sets "
                              f"{', '.join(SET_NAMES.get(t, t) for t in final.get('train_sets') or [])}"
                              + (f"; floor {final['floor']}" if final.get("floor") else "")],
        ["Evaluation", (f"R = {ev.get('repeats')} repeats, {ev.get('diversity_pairs')} diversity pairs, "
                        f"{ev.get('multimodality_pairs')} multimodality pairs per class, seed {ev.get('seed')}")
         if run.evaluation_enabled else "disabled (`evaluation.enabled = false`)"],
        ["Run seed, device, precision", f"{cfg.get('seed')}, {run.execution('device')}, {run.execution('precision')}"],
        ["Environment", (f"{env.get('device')}" + (f" ({env['gpu']})" if env.get("gpu") else "")
                         + f", torch {env.get('torch')}, {env.get('cpu_count')} CPUs, python {env.get('python')}, "
                         f"infagenc {env.get('infagenc')}, commit {env.get('git_commit') or 'unknown'}")
         if env else DASH],
    ]


def header(run: RunFiles, d: Doc) -> None:
    d.h(1, f"InfAGenC run report: {run.name}")
    d.p(f"Run folder `{run.root}`; report built {time.strftime('%Y-%m-%d %H:%M:%S')} from the run folder alone.")
    state = run.json(run.folder.state_path, {"phases_done": []})
    phases = state.get("phases_done", [])
    last = "evaluation" if run.evaluation_enabled else "final"
    if last not in phases:
        d.miss(f"the run has not finished: phases done {phases or 'none'} (rounds done "
               f"{state.get('rounds_done', 0)}); what it has not made yet is missing below.")
    d.h(2, "Run")
    d.table(Table(["Setting", "Value"], settings_rows(run), ["l", "l"]))
    _timing(run, d)
    _data_summary(run, d)


def _timing(run: RunFiles, d: Doc) -> None:
    timing = run.json(run.folder.timing_path)
    d.h(3, "Time (seconds)")
    if not timing:
        d.miss(f"no timings recorded (`{run.rel(run.folder.timing_path)}` is written as the run's phases finish).")
        return
    rows = [[phase.replace("_", " "), f"{sec:.1f}"] for phase, sec in timing.get("phases", {}).items()]
    s = timing.get("sessions", [])
    if s:
        rows.append(["whole run (wall)", f"{sum(s):.1f}" + (f" ({len(s)} sessions: resumed)" if len(s) > 1 else "")])
    epochs, rounds = run.json(run.folder.epochs_path, []), run.json(run.folder.rounds_path, [])
    for key, label in (("time_gen_train", "loop: generator training"), ("time_generate", "loop: generation"),
                       ("time_score", "loop: scoring")):
        if epochs:
            rows.append([label, f"{sum(e.get(key, 0.0) for e in epochs):.1f}"])
    for key, label in (("time_select", "loop: selection"), ("time_critic_update", "loop: critic update")):
        if rounds:
            rows.append([label, f"{sum(r.get(key, 0.0) for r in rounds):.1f}"])
    if not s:
        d.miss("the whole run's wall time (the run has not finished).")
    d.table(Table(["Phase", "Seconds"], rows))


def _data_summary(run: RunFiles, d: Doc) -> None:
    d.h(2, "Data")
    s = run.json(run.folder.data_summary_path)
    if not s:
        d.miss(f"`{run.rel(run.folder.data_summary_path)}` (the run has not prepared its data).")
        return
    train, test, val = s["train"], s["test"], s.get("val")
    classes = list(train["class_counts"])
    rows = [[c, str(train["class_counts"].get(c, 0)), str(test["class_counts"].get(c, 0))]
            + ([str(val["class_counts"].get(c, 0))] if val else []) for c in classes]
    rows.append(["all", str(train["samples"]), str(test["samples"])] + ([str(val["samples"])] if val else []))
    d.table(Table(["Class", "Train", "Test"] + (["Val"] if val else []), rows))
    for name, part in (("Train", train), ("Test", test), ("Val", val)):
        if part:
            d.p(f"{name} subjects ({part['subjects']}): {', '.join(part['subject_counts'])}.")
    d.p(f"Layout {train.get('layout')}, {train.get('joints')} joints, representation {train.get('representation')}, "
        f"{train['frames']['padded']} frames per sample.")
    for name, part in (("training", train), ("test", test), ("validation", val)):
        empty = [c for c in classes if part and not part["class_counts"].get(c, 0)]
        if empty:
            d.p(f"Classes with no {name} samples: {class_list(empty)}.")
    for note in train.get("notes", []):
        d.p(f"Note: {note}")
    excluded = s.get("excluded") or []
    if excluded:
        d.p(f"Left out by the reader ({len(excluded)} sample(s), `data.on_bad = \"skip\"`):")
        d.bullets([f"`{e['file']}`: sample `{e['sample']}`: {e['reason']}" for e in excluded])
