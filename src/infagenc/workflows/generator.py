"""``infagenc generator train|sample`` as library functions.

* :func:`read_data` - a dataset any reader understands, or ``"demo"`` (the made-up demo set);
* :func:`train_run` - train a generator (the CVAE, or with a
  :class:`~infagenc.train.diffusion.DiffusionConfig` the MDM-style diffusion model) into a run folder, resuming when the folder already
  holds its checkpoint (the checkpoint's config and preprocessing are then used);
  writes ``config.json``, ``generator.pt`` and ``history.json``;
* :func:`sample_run` - sample N sequences per class (default 10, frames: the length the
  generator was trained on) from a checkpoint of either kind into an infagenc
  ``.npz`` motion set or a PYSKL ``.pkl`` (rotation data through forward kinematics); or,
  given ``exemplars``, variants around the sequences of a motion set
  (:mod:`infagenc.train.exemplar`).

The training data's :class:`~infagenc.data.preprocess.Preprocess` is stored in the
checkpoint's metadata (``"preprocess"``, see :class:`~infagenc.train.generator.GeneratorTrainer`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..data.motionset import MotionSet
from ..data.preprocess import Preprocess
from ..jsonio import write_json
from ..train.checkpoint import load_checkpoint
from ..train.diffusion import CHECKPOINT_KIND as DIFFUSION_KIND
from ..train.diffusion import DiffusionConfig, load_diffusion, sample_diffusion
from ..train.distributed import execution_info, is_main, rank
from ..train.exemplar import sample_exemplars
from ..train.generative import GENERATOR_MODELS, GenerativeTrainer, load_trainer, new_trainer
from ..train.generator import CHECKPOINT_KIND as CVAE_KIND
from ..train.generator import GeneratorConfig, MotionSpec, checkpoint_rest, load_generator, sample_motionset

__all__ = ["read_data", "train_run", "sample_run", "checkpoint_kind", "default_frames", "CHECKPOINT_NAME",
           "GENERATORS"]

GENERATORS = GENERATOR_MODELS  # the transformer CVAE (the paper's) | an MDM-style diffusion generator

CHECKPOINT_NAME = "generator.pt"


def read_data(source: str, fmt: str | None = None, seed: int = 0) -> MotionSet:
    """``"demo"``: the made-up demo set drawn with ``seed``; otherwise any readable dataset
    (format detected unless ``fmt`` is given)."""
    if source == "demo":
        from ..data.demo import make_demo

        return make_demo(seed=seed)
    from ..data.readers import read

    return read(source, fmt)


def checkpoint_kind(path: str | Path) -> str:
    """``cvae`` or ``mdm``: which generator a checkpoint holds (from its metadata)."""
    kind = load_checkpoint(path)["meta"].get("kind")
    if kind == DIFFUSION_KIND:
        return "mdm"
    if kind == CVAE_KIND:
        return "cvae"
    raise ValueError(f"{path}: not a generator checkpoint (kind {kind!r}); give a generator.pt written by "
                     f"'infagenc generator train' or a run")


def _trainer(ckpt: Path, ms: MotionSet, cfg: GeneratorConfig | DiffusionConfig | None, prep: Preprocess,
             device: str | None, log: Callable[[str], Any]) -> tuple[GenerativeTrainer, MotionSet, bool]:
    """(trainer, preprocessed data, resumed?): the checkpoint's trainer when it exists, else a
    new one (a :class:`DiffusionConfig` makes an MDM-style diffusion generator)."""
    if ckpt.exists():
        checkpoint_kind(ckpt)  # a file that is no generator checkpoint is named as such
        trainer = load_trainer(ckpt, device=device)
        log(f"resuming {ckpt} at epoch {trainer.epoch} (its saved config is used)")
        if trainer.preprocess is not None and trainer.preprocess != prep:
            log(f"the checkpoint's preprocessing is used: {trainer.preprocess.to_dict()}")
        prep = trainer.preprocess or prep
        ms = prep(ms)
        resumed = True
    else:
        if cfg is None:
            raise ValueError(f"{ckpt} does not exist and no generator config was given")
        ms = prep(ms)
        trainer = new_trainer(ms, cfg, device=device)
        resumed = False
    trainer.preprocess = prep
    return trainer, ms, resumed


def train_run(ms: MotionSet, out_dir: str | Path, cfg: GeneratorConfig | DiffusionConfig | None = None, *,
              preprocess: Preprocess | None = None, epochs: int | None = None, device: str | None = None,
              data_source: str = "", eval_every: int = 10, save_every: int = 10, progress: bool = True,
              log: Callable[[str], Any] | None = None) -> dict:
    """Train (or resume training) a generator in ``out_dir`` until ``epochs`` epochs in total
    (default: the config's).

    A new run needs ``cfg``; with ``OUT/generator.pt`` present the run resumes from it, with
    its saved config and preprocessing (``cfg`` and ``preprocess`` are then only used for a
    checkpoint that has no stored preprocessing). ``device`` overrides the config's.
    The checkpoint is saved every ``save_every`` epochs (0: only at the end); every
    ``eval_every`` epochs the reconstruction error with z = mu is recorded too (0: never).
    ``log`` receives progress messages (e.g. ``print``). Returns a summary dict (epoch,
    checkpoint, the last epoch's losses). Under ``torchrun`` (a process group joined by the
    caller) training is data-parallel and rank 0 alone writes ``out_dir`` (the others return
    ``{"rank": r, "epoch": e}``).
    """
    out = Path(out_dir)
    ckpt = out / CHECKPOINT_NAME
    prep = preprocess if preprocess is not None else Preprocess()
    trainer, ms, resumed = _trainer(ckpt, ms, cfg, prep, device, log or (lambda _msg: None))
    target = epochs if epochs is not None else trainer.cfg.epochs
    main = is_main()  # under torchrun rank 0 alone writes OUT
    resolved = {"generator": trainer.cfg.to_dict(),
                "data": {"source": data_source, "frames": trainer.preprocess.frames,
                         "preprocess": trainer.preprocess.to_dict(), **trainer.spec.to_dict(),
                         "summary": ms.summary()},
                "device": str(trainer.device), "target_epochs": target,
                "execution": execution_info(trainer.device, trainer.cfg.precision)}
    if main:
        write_json(out / "config.json", resolved)
    trainer.fit(ms, epochs=max(0, target - trainer.epoch), progress=progress, eval_every=eval_every,
                checkpoint=ckpt if main else None, save_every=save_every)
    if main:
        write_json(out / "history.json", trainer.history, indent=1)
    else:
        return {"rank": rank(), "epoch": trainer.epoch}
    last = trainer.history[-1] if trainer.history else {}
    return {"epoch": trainer.epoch, "checkpoint": str(ckpt), "resumed": resumed,
            **{k: v for k, v in last.items() if k != "epoch"}}


def sample_run(checkpoint: str | Path, out: str | Path, *, per_class: int | None = None, frames: int | None = None,
               seed: int = 0, device: str | None = "auto", exemplars: str | Path | MotionSet | None = None,
               per_exemplar: int = 1, tau: float = 1.0, counts: str = "proportional",
               max_distance: float | None = None, **sampling: Any) -> dict:
    """Sample from a generator checkpoint and write the samples to ``out`` (``.npz``: infagenc
    motion set; ``.pkl``: PYSKL annotation pickle, rotation data written as joint positions
    through forward kinematics with the checkpoint's rest skeleton). The samples' provenance
    names the checkpoint's folder as the run and its epoch.

    Without ``exemplars``: ``per_class`` sequences of ``frames`` frames per class from the
    prior. With ``exemplars`` (a motion set or a dataset path any reader understands, brought
    to the checkpoint's preprocessing and representation): variants around its sequences at
    their lengths, ``per_exemplar`` per exemplar (``counts="proportional"``) or ``per_class``
    per class (``counts="balanced"``), posterior temperature ``tau``, the source-distance
    filter at ``max_distance`` (see :func:`~infagenc.train.exemplar.sample_exemplars`).
    ``sampling`` goes to the sampling function (``batch_size``, ``precision``, ``dropout``,
    ``progress``). Returns a summary dict."""
    from ..data.readers import write

    checkpoint, out = Path(checkpoint), Path(out)
    mdm = checkpoint_kind(checkpoint) == "mdm"
    model, spec, meta = (load_diffusion if mdm else load_generator)(checkpoint, device=device)
    prov = {"run": checkpoint.resolve().parent.name, "epoch": int(meta["epoch"])}
    extra: dict = {}
    if exemplars is None:
        frames = frames if frames is not None else default_frames(meta)
        per_class = per_class if per_class is not None else DEFAULT_PER_CLASS
        if frames is None:
            raise ValueError(f"{checkpoint}: the generator was trained on sequences of different lengths; give "
                             f"the number of frames to sample (--frames)")
        if mdm:
            if sampling.pop("dropout", None):
                raise ValueError("sampling-time dropout is a CVAE option; the diffusion generator has none")
            c = meta["config"]
            ms = sample_diffusion(model, spec, per_class=per_class, length=frames, seed=seed, provenance=prov,
                                  steps=c["sampling_steps"], guidance=c["guidance"], **sampling)
        else:
            ms = sample_motionset(model, spec, per_class=per_class, length=frames, seed=seed, provenance=prov,
                                  **sampling)
    elif mdm:
        raise ValueError("exemplar sampling needs a CVAE generator (it encodes each exemplar); this checkpoint "
                         "is a diffusion generator")
    else:
        if frames is not None:
            raise ValueError("frames does not apply to exemplar sampling: variants take their exemplar's length")
        ex = _exemplars(exemplars, spec, meta)
        res = sample_exemplars(model, spec, ex, per_exemplar, tau, seed=seed, counts=counts, per_class=per_class,
                               max_distance=max_distance, rest=checkpoint_rest(meta), provenance=prov, **sampling)
        ms = res.samples
        extra = {"exemplars": len(ex), "tau": tau, "counts": counts, **res.summary()}
    if out.suffix == ".pkl" and ms.rep not in ("xyz", "xy"):
        ms = ms.to_xyz(checkpoint_rest(meta))  # PYSKL holds positions: forward kinematics first
    path = write(ms, out)
    return {"written": str(path), "samples": len(ms), "classes": list(spec.class_names),
            "frames": frames, "seed": seed, "epoch": meta["epoch"], **extra}


DEFAULT_PER_CLASS = 10  # generator sample without --per-class


def default_frames(meta: dict) -> int | None:
    """The sequence length the generator was trained on (its preprocessing's ``frames``), if fixed."""
    prep = meta.get("preprocess")
    return Preprocess.from_dict(prep).frames if prep else None


def _exemplars(exemplars: str | Path | MotionSet, spec: MotionSpec, meta: dict) -> MotionSet:
    """The exemplar set as the generator saw its training data: read (a path), converted to the
    generator's rotation representation, and the checkpoint's preprocessing applied."""
    ms = exemplars if isinstance(exemplars, MotionSet) else read_data(str(exemplars))
    if ms.rep != spec.rep and {ms.rep, spec.rep} <= {"rot6d", "axis_angle"}:
        ms = ms.to_rep(spec.rep)
    if meta.get("preprocess") is not None:
        ms = Preprocess.from_dict(meta["preprocess"])(ms)
    return ms
