"""``infagenc recognizer train|eval|tune|on-run``: train a recognizer (ST-GCN, MS-G3D, or the
classical floor: ``linear``, ``knn``) on a labelled set, evaluate a saved one, choose settings
on validation subjects, or run the final recognition of a finished InfAGenC run with another
recognizer; argument parsing only (the work is in :mod:`infagenc.workflows.recognizer`,
:mod:`infagenc.workflows.tune` and :func:`infagenc.loop.runner.recognize_run`)."""
from __future__ import annotations

import argparse
import json
import sys

from ..data.motionset import MotionSet
from ..data.preprocess import RESAMPLE_MODES, ROOT_MODES, UNLABELLED_MODES, Preprocess
from ..data.readers import FORMATS, locate, read, reader_options
from ..models.registry import RECOGNIZERS
from ..models.sizes import SIZES
from ..runfolder import TRAIN_SETS
from ..train.classical import RECOGNIZER_NAMES
from ..train import distributed
from ..train.device import PRECISION_MODES
from ..train.hierarchy import evaluate_hierarchy, hierarchical_config, load_hierarchy, write_hierarchy_report
from ..train.recognizer import RecognizerConfig
from ..workflows.recognizer import config_with_overrides, eval_run, train_run
from ..workflows.tune import tune_run

# the --root word of older command lines for what Preprocess calls "none"
_LEGACY_ROOT = {"keep": "none"}


def _subjects(values: list[str] | None) -> list[str] | None:
    """Subjects given as separate words and / or comma-separated (``s02 s04`` = ``s02,s04``, the
    form ``infagenc run --test-subjects`` takes)."""
    if values is None:
        return None
    return [s for v in values for s in v.split(",") if s]


def _read(args: argparse.Namespace):
    """The --data set, with the reader's progress bar unless --no-progress."""
    fmt, path = (args.format, args.data) if args.format else locate(args.data)
    options = {"progress": not args.no_progress} if "progress" in reader_options(fmt) else {}
    return read(path, fmt, **options)


def _preprocess(args: argparse.Namespace) -> Preprocess:
    return Preprocess(frames=args.frames, resample=args.resample, root=args.root,
                      normalize_scale=args.normalize_scale, unlabelled=args.unlabelled, align=args.align)


def _train(args: argparse.Namespace) -> int:
    """Under ``torchrun`` every process runs this; they join one process group here."""
    flags = {k: getattr(args, k) for k in ("model", "size", "epochs", "batch_size", "lr", "weight_decay",
                                           "target_accuracy", "seed", "device", "precision", "sync_bn")}
    cfg = config_with_overrides(args.config, flags)
    hierarchy = load_hierarchy(args.hierarchy) if args.hierarchy else None
    prep = _preprocess(args)
    syn = MotionSet.load(args.synthetic) if args.synthetic else None
    data = _read(args)
    if hierarchy is not None:  # a class the file does not place: refused before anything runs
        cfg = hierarchical_config(cfg, hierarchy, data.class_names)
    distributed.init_from_env(cfg.device)
    main = distributed.is_main()
    try:
        if main:
            ex = distributed.execution_info(cfg.device, cfg.precision, cfg.sync_bn)
            print(f"execution: world size {ex['world_size']}" + (f" ({ex['backend']})" if ex["backend"] else "")
                  + f", device {ex['device']}, precision {ex['precision']}" + (", sync_bn" if ex["sync_bn"] else ""),
                  file=sys.stderr)
        summary = train_run(data, cfg, args.out, test_subjects=_subjects(args.test_subjects),
                            val_subjects=_subjects(args.val_subjects), preprocess=prep, data_source=args.data,
                            progress=not args.no_progress, synthetic=syn, synthetic_mode=args.synthetic_mode,
                            guard_generator=args.guard_generator)
    except BaseException:
        distributed.cleanup(wait=False)  # torchrun then stops the other ranks
        raise
    distributed.cleanup()
    if main:  # rank 0 (or the only process)
        if hierarchy is not None:
            val = set(_subjects(args.val_subjects) or ())
            subjects = _subjects(args.test_subjects) or sorted(set(data.subjects.tolist()) - val)
            summary.update(_hierarchy_report(summary["checkpoint"], data, hierarchy, args.out, subjects,
                                             summary["split"], cfg.device))
        print(json.dumps(summary, indent=2))
    return 0


def _hierarchy_report(checkpoint, data, hierarchy, out, subjects, split, device) -> dict:
    """Print the coarse and fine tables of ``--hierarchy``; their files and accuracies."""
    rep = evaluate_hierarchy(checkpoint, data, hierarchy, subjects=subjects, split=split, device=device)
    print(rep.to_markdown(subjects=False))
    return {**write_hierarchy_report(rep, out, f"{hierarchy.source} on {split}"),
            "fine_accuracy": rep.fine.overall, "coarse_accuracy": rep.coarse.overall}


def _on_run(args: argparse.Namespace) -> int:
    from ..loop.runner import recognize_run

    cfg = RecognizerConfig(model=args.model, size=args.size, epochs=args.epochs, batch_size=args.batch_size,
                           lr=args.lr, weight_decay=args.weight_decay)
    res = recognize_run(args.run, cfg, out=args.out, train_sets=args.train_sets, seeds=args.seeds,
                        progress=not args.no_progress)
    print(json.dumps({k: (v["overall"] if "overall" in v else v) for k, v in res.items()}, indent=2))
    return 0


def _tune(args: argparse.Namespace) -> int:
    res = tune_run(_read(args), args.grid, args.out, test_subjects=_subjects(args.test_subjects),
                   folds=args.folds, seed=args.seed, preprocess=_preprocess(args), device=args.device,
                   precision=args.precision, data_source=args.data, progress=not args.no_progress)
    print(res["table"])
    print(f"chosen (*): {json.dumps(res['chosen'])}\nwritten: {res['chosen_file']}, {res['tune_json']}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    hierarchy = load_hierarchy(args.hierarchy) if args.hierarchy else None
    data = _read(args)
    summary = eval_run(args.checkpoint, data, args.out, subjects=_subjects(args.subjects),
                       split=args.split, batch_size=args.batch_size, device=args.device, precision=args.precision,
                       progress=not args.no_progress)
    if hierarchy is not None:
        summary.update(_hierarchy_report(args.checkpoint, data, hierarchy, args.out, _subjects(args.subjects),
                                         args.split, args.device))
    print(json.dumps(summary, indent=2))
    return 0


def _common(p: argparse.ArgumentParser, over_file: bool = False) -> None:
    """--format, --device, --precision, --no-progress; with ``over_file`` the execution flags
    default to None (not given: the --config file's value, else auto / fp32)."""
    p.add_argument("--format", choices=sorted(FORMATS), default=None,
                   help="format of --data (default: detected from the path)")
    p.add_argument("--device", default=None if over_file else "auto",
                   help="auto (CUDA when present), cpu, cuda, cuda:1 ... (default auto)")
    p.add_argument("--precision", choices=PRECISION_MODES, default=None if over_file else "fp32",
                   help="bf16 = autocast; auto = bf16 where native (CUDA capability >= 8.0), else fp32 "
                        "(default fp32)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _model_args(p: argparse.ArgumentParser, d: RecognizerConfig, names=tuple(RECOGNIZERS),
                over_file: bool = False) -> None:
    """The model and its training settings (``train`` and ``on-run``); with ``over_file`` every
    flag defaults to None (not given: the --config file's value, else the default shown)."""
    def dflt(v):
        return None if over_file else v

    p.add_argument("--model", choices=names, default=dflt(d.model),
                   help=f"{', '.join(names)} (default {d.model})")
    p.add_argument("--size", choices=SIZES, default=dflt(d.size), help=f"paper or slim (default {d.size})")
    p.add_argument("--epochs", type=int, default=dflt(d.epochs), help=f"training epochs (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=dflt(d.batch_size), help=f"default {d.batch_size}")
    p.add_argument("--lr", type=float, default=dflt(d.lr), help=f"Adam learning rate (default {d.lr})")
    p.add_argument("--weight-decay", type=float, default=dflt(d.weight_decay), help=f"default {d.weight_decay}")


def _preprocess_args(p: argparse.ArgumentParser) -> None:
    """The data preprocessing (one :class:`~infagenc.data.preprocess.Preprocess`, stored in the
    checkpoint and re-applied by ``eval``)."""
    d = Preprocess()
    p.add_argument("--frames", type=int, default=d.frames, help="every sequence to N frames (default: keep lengths)")
    p.add_argument("--resample", choices=RESAMPLE_MODES, default=d.resample,
                   help=f"how --frames changes lengths: linear resampling or a centre crop (default {d.resample})")
    p.add_argument("--root", type=lambda w: _LEGACY_ROOT.get(w, w), choices=ROOT_MODES, default=d.root,
                   help=f"move the centre joint to the origin in every frame / in the first frame, or leave it "
                        f"(none; 'keep' is an older word for none; default {d.root})")
    p.add_argument("--normalize-scale", action="store_true", default=d.normalize_scale,
                   help="scale positions so that each sequence's mean bone length is 1")
    p.add_argument("--align", action="store_true", default=d.align,
                   help="view alignment (xyz): rotate each sequence so that its hip line faces +x and its spine "
                        "+y in the first frame")
    p.add_argument("--unlabelled", choices=UNLABELLED_MODES, default=d.unlabelled,
                   help=f"keypoints with confidence 0: keep as the file gives them, fill with the mean of the "
                        f"frame's labelled keypoints, or refuse the data (default {d.unlabelled})")


def register(subparsers) -> None:
    d = RecognizerConfig()
    p = subparsers.add_parser("recognizer", help="train / evaluate skeleton action recognizers (ST-GCN, MS-G3D)",
                              description="Train or evaluate a skeleton action recognizer.")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    t = sub.add_parser("train", help="train a recognizer and report on held-out subjects",
                       description="Train a recognizer; writes config.json, recognizer.pt (linear / knn: "
                                   "recognizer.npz), history.json, report.json / report.md and confusion.png "
                                   "into --out. linear = logistic regression, knn = nearest neighbours, on the "
                                   "standardised positions of fixed-length sequences (give --frames). Several "
                                   "processes: torchrun --nproc_per_node N -m infagenc recognizer train ... "
                                   "(--batch-size is the global batch, split over the ranks; rank 0 writes).")
    t.add_argument("--data", required=True, help="labelled data set: .npz or any readable format (file or folder)")
    t.add_argument("--config", default=None, metavar="FILE",
                   help="TOML / JSON file of recognizer settings (e.g. chosen.toml of `recognizer tune`); "
                        "flags given override it")
    _model_args(t, d, RECOGNIZER_NAMES, over_file=True)
    t.add_argument("--target-accuracy", type=float, default=None,
                   help="stop once validation (else training) accuracy reaches this, e.g. 0.85")
    _preprocess_args(t)
    t.add_argument("--test-subjects", nargs="+", default=None, metavar="S",
                   help="held-out test subjects (report on them); without: report on the training set")
    t.add_argument("--val-subjects", nargs="+", default=None, metavar="S",
                   help="validation subjects taken out of training (validation accuracy, early stop)")
    _synthetic_args(t)
    t.add_argument("--hierarchy", default=None, metavar="FILE",
                   help="label hierarchy (TOML: [coarse] coarse class = [fine classes], e.g. "
                        "examples/hierarchies/syrip.toml): the posture models' hierarchical head (coarse logits "
                        "into the fine classifier, loss on both); prints and writes coarse and fine tables "
                        "(hierarchy.md / hierarchy.json)")
    t.add_argument("--seed", type=int, default=None, help=f"default {d.seed}")
    t.add_argument("--sync-bn", action="store_true", default=None,
                   help="under torchrun: batch norm over the global batch (default: per-rank statistics)")
    t.add_argument("--out", required=True, help="output folder")
    _common(t, over_file=True)
    t.set_defaults(func=_train)

    e = sub.add_parser("eval", help="evaluate a saved recognizer",
                       description="Evaluate a checkpoint on a labelled set (re-applying its recorded "
                                   "preprocessing); writes report.json / report.md and confusion.png into --out.")
    e.add_argument("--checkpoint", required=True,
                   help="recognizer.pt (or a classical recognizer.npz) written by `recognizer train`")
    e.add_argument("--data", required=True, help="labelled data set: .npz or any readable format (file or folder)")
    e.add_argument("--subjects", nargs="+", default=None, metavar="S", help="evaluate only these subjects")
    e.add_argument("--split", default="test", help="name of the evaluated set in the report (default test)")
    e.add_argument("--batch-size", type=int, default=d.eval_batch_size,
                   help="inference batch (default: chosen for the device, 16 on a CPU, 64 on a GPU)")
    e.add_argument("--hierarchy", default=None, metavar="FILE",
                   help="label hierarchy file: also print and write coarse and fine tables (any recognizer; a "
                        "flat one's coarse answer is its fine prediction's coarse class)")
    e.add_argument("--out", required=True, help="output folder")
    _common(e)
    e.set_defaults(func=_eval)

    _register_tune(sub)

    o = sub.add_parser("on-run", help="final recognition of a finished `infagenc run` with another recognizer",
                       description="Train this recognizer on the run's Real, Syn and Real+Syn sets (its own split "
                                   "and synthetic samples, its seeds) and test it on the run's held-out subjects; "
                                   "results in RUN/recognition_<model>-<size>/ (or --out), beside the run's own.")
    o.add_argument("--run", required=True, help="a finished run folder")
    _model_args(o, d)
    o.add_argument("--train-sets", nargs="+", choices=TRAIN_SETS, default=None,
                   help="default: the run's final.train_sets")
    o.add_argument("--seeds", nargs="+", type=int, default=None, help="default: the run's final.seeds")
    o.add_argument("--out", default=None, help="folder name inside the run (default recognition_<model>-<size>)")
    o.add_argument("--no-progress", action="store_true", help="no progress bars")
    o.set_defaults(func=_on_run)


def _synthetic_args(t) -> None:
    """`recognizer train`'s synthetic-data flags: the set, how it is used, the guard's generator."""
    t.add_argument("--synthetic", default=None, metavar="SET.npz",
                   help="generated samples (e.g. from 'infagenc generator sample') added to the training "
                        "subjects; how they are used: the config file's [realsyn] table (loss weight, "
                        "per-batch ratio, DANN, LMMD, two-stage) or --synthetic-mode auto")
    t.add_argument("--synthetic-mode", choices=("given", "auto"), default="given",
                   help="given: train on Real+Syn as configured; auto: compare Real with Real+Syn and each "
                        "technique on subject folds of the training subjects and train the best (Real kept "
                        "when validation cannot tell them apart; table in OUT/guard.json)")
    t.add_argument("--guard-generator", default=None, metavar="GENERATOR.pt",
                   help="with --synthetic-mode auto: the generator checkpoint that made --synthetic; the guard "
                        "trains a new generator of its settings on each fold's training subjects and validates "
                        "on that fold's own samples (costs one generator training a fold; without it every fold "
                        "uses --synthetic, whose generator saw the validation subjects: optimistic for Real+Syn "
                        "when real samples are few)")


def _register_tune(sub) -> None:
    u = sub.add_parser("tune", help="choose recognizer settings on validation subjects (never the test subjects)",
                       description="Remove the test subjects, split the training subjects into folds by subject, "
                                   "train every setting of --grid on each fold and choose the best mean validation "
                                   "accuracy (ties: the cheaper setting); writes chosen.toml (for `recognizer train "
                                   "--config`, or a run config's [critic] / [final.recognizer]) and tune.json into "
                                   "--out and prints the table. The grid file's format: infagenc.workflows.tune.")
    u.add_argument("--data", required=True, help="labelled data set: .npz or any readable format (file or folder)")
    u.add_argument("--grid", required=True, metavar="GRID",
                   help="TOML / JSON grid: RecognizerConfig fields, a list = values to try; [base], [[grid]]")
    u.add_argument("--test-subjects", nargs="+", default=None, metavar="S",
                   help="test subjects, removed before anything else and never used")
    u.add_argument("--folds", type=int, default=3,
                   help="subject folds (default 3; leave-one-subject-out with fewer training subjects)")
    u.add_argument("--seed", type=int, default=0, help="seeds the folds and the recognizers (default 0)")
    _preprocess_args(u)
    u.add_argument("--out", required=True, help="output folder")
    _common(u, over_file=True)
    u.set_defaults(func=_tune)
