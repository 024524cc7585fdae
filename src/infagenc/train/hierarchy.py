"""Label hierarchies (fine class -> coarse class) for the hierarchical posture head: the small
TOML file that declares one, the model options it gives for a data set's classes, and the
coarse and fine reports of a recognizer.

File format (``examples/hierarchies/syrip.toml``)::

    description = "SyRIP postures: lying vs upright"   # optional
    [coarse]                                           # coarse class = [its fine classes]
    lying = ["Prone", "Supine"]
    upright = ["Sitting", "Standing"]

Any number of coarse classes, each with one or more fine classes; a fine class belongs to one
coarse class only. Coarse classes keep the file's order. A data set may hold a subset of the
fine classes (the AIMS paper's 12 postures declared, 4 of them present): only the coarse
classes with a fine class in the data get a coarse output; a data class the file does not
place is an error naming it.

* :func:`load_hierarchy` / :meth:`Hierarchy.from_dict`: the file, checked (one-line errors);
* :meth:`Hierarchy.model_options` -> ``{"coarse_of", "coarse_names", "coarse_weight"}`` for
  ``RecognizerConfig(model="posture", model_options=...)``: the hierarchical head
  (:class:`~infagenc.models.posture.HierarchicalHead`), trained by the plain
  :class:`~infagenc.train.recognizer.RecognizerTrainer` (the model adds its coarse loss);
* :func:`hierarchy_report`: fine and coarse accuracy tables of any recognizer: the coarse
  prediction is the coarse head's for a hierarchical model, and, for every model (a flat one,
  the floor through :func:`reports_from_predictions`), the fine prediction mapped to its
  coarse class, so that flat and hierarchical models compare on the same coarse labels.
* :func:`hierarchical_config`: a :class:`~infagenc.train.recognizer.RecognizerConfig` of a
  posture model with that head (``infagenc recognizer train --hierarchy FILE``);
* :func:`evaluate_hierarchy`: the report of a saved recognizer (deep or classical, flat or
  hierarchical) on a labelled set, its stored preprocessing re-applied, and
  :func:`write_hierarchy_report` (``hierarchy.json``, ``hierarchy.md``): what ``recognizer
  train | eval --hierarchy FILE`` print and write.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..config import ConfigError, read_config_file
from ..data.motionset import MotionSet
from ..jsonio import atomic_write_text, write_json
from ..metrics.recognition import RecognitionReport
from ..models.base import Recognizer
from .classical import is_classical_checkpoint, load_for_evaluation
from .recognizer import RecognizerConfig, predict

__all__ = ["Hierarchy", "HierarchyReport", "HIERARCHICAL_MODELS", "load_hierarchy", "hierarchy_report",
           "reports_from_predictions", "hierarchical_config", "evaluate_hierarchy", "write_hierarchy_report"]

HIERARCHICAL_MODELS = ("posture", "posture_fusion")  # the recognizers with the hierarchical head


@dataclass(frozen=True)
class Hierarchy:
    """Coarse classes in order, each with its fine classes."""

    coarse: tuple[tuple[str, tuple[str, ...]], ...]
    description: str = ""
    source: str = "<hierarchy>"

    def __post_init__(self) -> None:
        where = self.source
        if not self.coarse:
            raise ConfigError(f"{where}: no coarse classes (a [coarse] table of name = [fine classes])")
        seen: dict[str, str] = {}
        for name, fine in self.coarse:
            if not name or not fine:
                raise ConfigError(f"{where}: coarse class {name!r} needs a name and one or more fine classes")
            for f in fine:
                if not isinstance(f, str) or not f:
                    raise ConfigError(f"{where}: coarse class {name!r}: fine classes must be names, got {f!r}")
                if f in seen:
                    raise ConfigError(f"{where}: fine class {f!r} is under both {seen[f]!r} and {name!r}")
                seen[f] = name

    @classmethod
    def from_dict(cls, d: dict, source: str = "<hierarchy>") -> "Hierarchy":
        unknown = sorted(set(d) - {"coarse", "description"})
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; known: ['coarse', 'description']")
        table = d.get("coarse")
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: needs a [coarse] table (coarse class = [fine classes])")
        pairs = []
        for name, fine in table.items():
            if not isinstance(fine, list):
                raise ConfigError(f"{source}: coarse class {name!r} must list its fine classes, got {fine!r}")
            pairs.append((str(name), tuple(fine)))
        return cls(tuple(pairs), str(d.get("description", "")), source)

    @property
    def coarse_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.coarse)

    @property
    def fine_to_coarse(self) -> dict[str, str]:
        return {f: name for name, fine in self.coarse for f in fine}

    def for_classes(self, class_names: Sequence[str]) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """(coarse index of every data class, the coarse classes present, in the file's order)."""
        up = self.fine_to_coarse
        missing = [c for c in class_names if c not in up]
        if missing:
            raise ConfigError(f"{self.source}: data classes {missing} have no coarse class; place them under "
                              f"one of {list(self.coarse_names)}")
        present = tuple(n for n in self.coarse_names if n in {up[c] for c in class_names})
        return tuple(present.index(up[c]) for c in class_names), present

    def model_options(self, class_names: Sequence[str], coarse_weight: float = 1.0) -> dict:
        """The posture model's options for a hierarchical head over these data classes."""
        coarse_of, names = self.for_classes(class_names)
        return {"coarse_of": list(coarse_of), "coarse_names": list(names), "coarse_weight": float(coarse_weight)}

    def coarse_labels(self, labels: np.ndarray, class_names: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
        """Fine label indices -> coarse label indices (and the coarse names they index)."""
        coarse_of, names = self.for_classes(class_names)
        return np.asarray(coarse_of, np.int64)[np.asarray(labels, np.int64)], names


def load_hierarchy(path: str | Path) -> Hierarchy:
    """A hierarchy from its TOML (or JSON) file."""
    return Hierarchy.from_dict(read_config_file(path), source=str(path))


@dataclass
class HierarchyReport:
    """Fine accuracy tables, coarse ones from the fine predictions (every model) and from the
    coarse head (hierarchical models; None otherwise), and how often the two coarse answers agree."""

    fine: RecognitionReport
    coarse_from_fine: RecognitionReport
    coarse_head: RecognitionReport | None = None
    agreement: float | None = None

    @property
    def coarse(self) -> RecognitionReport:
        """The model's own coarse answer: its coarse head's, else its fine prediction's coarse class."""
        return self.coarse_head if self.coarse_head is not None else self.coarse_from_fine

    def to_dict(self) -> dict:
        return {"fine": self.fine.to_dict(), "coarse_from_fine": self.coarse_from_fine.to_dict(),
                "coarse_head": None if self.coarse_head is None else self.coarse_head.to_dict(),
                "agreement": self.agreement}

    def to_markdown(self, subjects: bool = True) -> str:
        """The fine and coarse tables (overall, per class, confusion; per subject unless not
        ``subjects``)."""
        md = (lambda r: r.to_markdown()) if subjects else _without_subjects
        parts = ["### Fine classes", "", md(self.fine), "### Coarse classes (fine prediction mapped)", "",
                 md(self.coarse_from_fine)]
        if self.coarse_head is not None:
            parts += ["### Coarse classes (coarse head)", "", md(self.coarse_head),
                      f"Coarse head and mapped fine prediction agree on {100 * self.agreement:.1f}% of the samples.", ""]
        return "\n".join(parts)


def _without_subjects(report: RecognitionReport) -> str:
    """``report.to_markdown()`` less its per-subject table (one sample per subject for images)."""
    blocks = report.to_markdown().split("\n\n")
    return "\n\n".join(b for b in blocks if not b.startswith("| subject |"))


def reports_from_predictions(hierarchy: Hierarchy, ms: MotionSet, pred: np.ndarray,
                             coarse_pred: np.ndarray | None = None, split: str = "test") -> HierarchyReport:
    """The reports of fine predictions ``pred`` (and a coarse head's ``coarse_pred``) on ``ms``."""
    if not ms.labelled:
        raise ValueError("a hierarchy report needs a labelled set")
    pred = np.asarray(pred, np.int64)
    fine = RecognitionReport.from_arrays(ms.labels, pred, ms.class_names, ms.subjects, split=split)
    true_c, names = hierarchy.coarse_labels(ms.labels, ms.class_names)
    mapped, _ = hierarchy.coarse_labels(pred, ms.class_names)
    mapped_rep = RecognitionReport.from_arrays(true_c, mapped, names, ms.subjects, split=f"{split} (coarse)")
    if coarse_pred is None:
        return HierarchyReport(fine, mapped_rep)
    coarse_pred = np.asarray(coarse_pred, np.int64)
    head = RecognitionReport.from_arrays(true_c, coarse_pred, names, ms.subjects, split=f"{split} (coarse head)")
    agree = float((coarse_pred == mapped).mean()) if len(pred) else float("nan")
    return HierarchyReport(fine, mapped_rep, head, agree)


def hierarchy_report(model: Recognizer, ms: MotionSet, hierarchy: Hierarchy, batch_size: int | None = None,
                     split: str = "test") -> HierarchyReport:
    """Fine and coarse tables of a recognizer on a labelled set (coarse head when it has one)."""
    if ms.num_classes != model.num_classes:
        raise ValueError(f"the set has {ms.num_classes} classes, the model {model.num_classes}")
    p = predict(model, ms, batch_size)
    coarse_pred = None
    coarse_of = getattr(model.config, "coarse_of", ())
    if coarse_of:
        expected, names = hierarchy.for_classes(ms.class_names)
        if tuple(coarse_of) != expected or tuple(model.config.coarse_names) != names:
            raise ValueError(f"the model's hierarchy ({list(model.config.coarse_names)}) is not {hierarchy.source}'s "
                             f"for these classes ({list(names)})")
        was = model.training
        model.eval()
        try:
            with torch.inference_mode():
                f = torch.as_tensor(p.features, device=next(model.parameters()).device)
                coarse_pred = model.coarse_logits(f).argmax(1).cpu().numpy()
        finally:
            model.train(was)
    return reports_from_predictions(hierarchy, ms, p.pred, coarse_pred, split)


def hierarchical_config(cfg: RecognizerConfig, hierarchy: Hierarchy, class_names: Sequence[str]) -> RecognizerConfig:
    """``cfg`` with the hierarchical head of ``hierarchy`` over these data classes (its coarse
    weight: ``cfg.model_options["coarse_weight"]``, else 1.0); posture models only."""
    if cfg.model not in HIERARCHICAL_MODELS:
        raise ValueError(f"{hierarchy.source}: the hierarchical head belongs to the posture models "
                         f"({', '.join(HIERARCHICAL_MODELS)}), not {cfg.model!r}; for a flat model's coarse and fine "
                         f"tables, evaluate its checkpoint with `infagenc recognizer eval --hierarchy FILE`")
    weight = float(cfg.model_options.get("coarse_weight", 1.0))
    return replace(cfg, model_options={**cfg.model_options, **hierarchy.model_options(class_names, weight)})


def evaluate_hierarchy(checkpoint: str | Path, ms: MotionSet, hierarchy: Hierarchy, *,
                       subjects: Sequence[str] | None = None, split: str = "test", batch_size: int | None = None,
                       device: str | None = "cpu") -> HierarchyReport:
    """The coarse and fine report of a saved recognizer (``recognizer.pt``, or a classical
    ``recognizer.npz``) on (the given subjects of) a labelled set; the preprocessing recorded in
    the checkpoint is re-applied, as ``infagenc recognizer eval`` does."""
    model, _, ms = load_for_evaluation(checkpoint, ms, subjects, device)
    if is_classical_checkpoint(checkpoint):
        return reports_from_predictions(hierarchy, ms, model.predict(ms).pred, split=split)
    return hierarchy_report(model, ms, hierarchy, batch_size, split)


def write_hierarchy_report(report: HierarchyReport, out_dir: str | Path, title: str = "") -> dict[str, str]:
    """``hierarchy.md`` and ``hierarchy.json`` (written last) in ``out_dir``; their paths."""
    out = Path(out_dir)
    md = atomic_write_text(out / "hierarchy.md", (f"# {title}\n\n" if title else "") + report.to_markdown())
    return {"hierarchy_markdown": str(md), "hierarchy_report": str(write_json(out / "hierarchy.json",
                                                                              report.to_dict()))}
