"""``infagenc generator``: train a generator (the CVAE, or ``--model mdm``: diffusion), sample
synthetic sets from it; argument
parsing only (the work is in :mod:`infagenc.workflows.generator`). Defaults come from
:class:`~infagenc.train.generator.GeneratorConfig`, :class:`~infagenc.models.cvae.CVAEConfig`
sizes and the workflow functions."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..data.preprocess import Preprocess
from ..models.cvae import CVAEConfig
from ..models.sizes import SIZES, canonical_size
from ..train import distributed
from ..train.device import PRECISIONS
from ..train.exemplar import EXEMPLAR_COUNTS, sample_exemplars
from ..models.mdm import MDMConfig
from ..train.diffusion import DiffusionConfig
from ..train.generator import GeneratorConfig, sample_motionset
from ..train.losses import KL_REDUCTIONS
from ..workflows.generator import CHECKPOINT_NAME, DEFAULT_PER_CLASS, GENERATORS, read_data, sample_run, train_run

_RUN = train_run.__kwdefaults__
_SAMPLE = sample_motionset.__kwdefaults__
_EXEMPLAR = dict(zip(("per_exemplar", "tau"), sample_exemplars.__defaults__))


def _size(text: str) -> str:
    """A size name with the legacy alias mapped (``small`` -> ``slim``); unknown names are left
    for argparse's ``choices`` to refuse."""
    try:
        return canonical_size(text)
    except ValueError:
        return text


def _train_parser(gsub) -> None:
    d = GeneratorConfig()
    t = gsub.add_parser("train", help="train (or resume training) a generator",
                        description=f"Train a generator on a motion set; resumes if OUT already holds a checkpoint "
                                    f"(its saved config and preprocessing are used). Writes OUT/config.json, "
                                    f"OUT/{CHECKPOINT_NAME} and OUT/history.json.")
    t.add_argument("--data", required=True,
                   help="a dataset any reader understands (an infagenc .npz, a PYSKL .pkl, a UTKinect folder, ...; "
                        "format detected), or 'demo' for the made-up demo set")
    t.add_argument("--format", default=None, help="the dataset's format, when detection is not enough")
    t.add_argument("--out", required=True, type=Path, help="run folder")
    t.add_argument("--epochs", type=int, default=None,
                   help=f"train until this many epochs in total (default: the config's, {d.epochs})")
    t.add_argument("--model", choices=GENERATORS, default="cvae",
                   help="cvae: the paper's transformer CVAE (default); mdm: an MDM-style diffusion generator "
                        "(transformer denoiser predicting the clean sequence, DDIM sampling, classifier-free "
                        "guidance)")
    t.add_argument("--size", type=_size, choices=SIZES, default="paper",
                   help="model size (default: paper; the legacy name 'small' means slim)")
    dd = DiffusionConfig()
    t.add_argument("--sampling-steps", type=int, default=dd.sampling_steps,
                   help=f"mdm: DDIM steps when sampling (default {dd.sampling_steps})")
    t.add_argument("--guidance", type=float, default=dd.guidance,
                   help=f"mdm: classifier-free guidance scale (1: none; default {dd.guidance:g})")
    t.add_argument("--frames", type=int, default=Preprocess.frames,
                   help="resample every sequence to this many frames first (default: keep lengths)")
    t.add_argument("--seed", type=int, default=d.seed, help=f"default {d.seed}")
    t.add_argument("--batch-size", type=int, default=d.batch_size, help=f"default {d.batch_size}")
    t.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (default {d.lr:g})")
    t.add_argument("--kl-weight", type=float, default=d.lambda_kl, help=f"lambda_kl (default {d.lambda_kl:g})")
    t.add_argument("--kl-reduction", choices=KL_REDUCTIONS, default=d.kl_reduction,
                   help=f"KL reduction (default {d.kl_reduction!r}; 'mean' is over batch and latent dims; the "
                        f"released code: 'sum' with --kl-weight 1e-5)")
    t.add_argument("--vel-weight", type=float, default=d.lambda_vel, help=f"lambda_vel (default {d.lambda_vel:g})")
    t.add_argument("--pos-weight", type=float, default=d.lambda_pos,
                   help=f"weight of the forward-kinematics position loss, rotation data only "
                        f"(default {d.lambda_pos:g})")
    t.add_argument("--cls-weight", type=float, default=d.lambda_cls,
                   help=f"lambda_cls: weight of the auxiliary classification loss on the decoded output (adds the "
                        f"classification head; default {d.lambda_cls:g} = off)")
    t.add_argument("--cls-label-smoothing", type=float, default=d.cls_label_smoothing,
                   help=f"label smoothing of that loss (default {d.cls_label_smoothing:g})")
    t.add_argument("--trans", action="store_true", default=d.trans,
                   help="also model the root translation (rotation data with trans)")
    t.add_argument("--no-keep-root", dest="keep_root", action="store_false", default=d.keep_root,
                   help="leave generated samples as the decoder makes them (default: restore the root "
                        "constraint the training data satisfy, e.g. the centre joint at the origin per frame)")
    t.add_argument("--device", default=d.device, help="auto (CUDA when present), cpu, cuda, cuda:N")
    t.add_argument("--precision", choices=PRECISIONS, default=d.precision, help=f"default {d.precision}")
    t.add_argument("--save-every", type=int, default=_RUN["save_every"],
                   help=f"checkpoint every N epochs (0: only at the end; default {_RUN['save_every']})")
    t.add_argument("--eval-every", type=int, default=_RUN["eval_every"],
                   help=f"every N epochs also record the reconstruction error with z = mu (0: never; "
                        f"default {_RUN['eval_every']})")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.set_defaults(func=_train)


def _sample_parser(gsub) -> None:
    s = gsub.add_parser("sample", help="sample a synthetic motion set from a trained generator",
                        description="Sample N sequences per class from a generator checkpoint (or, with --exemplars, "
                                    "variants around the sequences of a motion set) and write them as an infagenc "
                                    ".npz motion set or a PYSKL .pkl (tagged synthetic, with run, epoch and seed; "
                                    "exemplar samples name their exemplar after '-ex=').")
    s.add_argument("--checkpoint", required=True, type=Path, help=f"generator checkpoint ({CHECKPOINT_NAME})")
    s.add_argument("--per-class", type=int, default=None,
                   help=f"samples per class (prior sampling: default {DEFAULT_PER_CLASS}; with --exemplars: the "
                        "count per class of --counts balanced, default per-exemplar x the largest class's "
                        "exemplar count)")
    s.add_argument("--frames", type=int, default=None,
                   help="frames per sample (prior sampling; default: the length the generator was trained on)")
    s.add_argument("--exemplars", default=None,
                   help="sample around the sequences of this motion set (any readable dataset, brought to the "
                        "checkpoint's preprocessing): z ~ N(mu, (tau sigma)^2) of each one's posterior, decoded "
                        "under its class at its length")
    s.add_argument("--tau", type=float, default=_EXEMPLAR["tau"],
                   help=f"with --exemplars: the posterior's temperature (0: z = mu; default {_EXEMPLAR['tau']:g})")
    s.add_argument("--per-exemplar", type=int, default=_EXEMPLAR["per_exemplar"],
                   help=f"with --exemplars: variants per exemplar (default {_EXEMPLAR['per_exemplar']})")
    s.add_argument("--counts", choices=EXEMPLAR_COUNTS, default="proportional",
                   help="with --exemplars: proportional (every exemplar gets --per-exemplar variants; default) or "
                        "balanced (the same number per class, exemplars cycled)")
    s.add_argument("--max-distance", type=float, default=None,
                   help="with --exemplars: drop samples whose mean per-joint distance to their exemplar exceeds "
                        "this (joint positions, data units; the count dropped is reported; default: off)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, type=Path,
                   help="output file: .npz (infagenc motion set) or .pkl (PYSKL / MMAction2 annotation pickle; "
                        "rotation data is written as joint positions, through forward kinematics with the "
                        "generator's rest skeleton)")
    s.add_argument("--dropout", type=float, default=_SAMPLE["dropout"],
                   help="sampling-time dropout in the decoder: more diversity, less fidelity (default: off)")
    s.add_argument("--batch-size", type=int, default=_SAMPLE["batch_size"], help=f"default {_SAMPLE['batch_size']}")
    s.add_argument("--device", default="auto")
    s.add_argument("--precision", choices=PRECISIONS, default=_SAMPLE["precision"])
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=_sample)


def register(sub) -> None:
    p = sub.add_parser("generator", help="train a generator (CVAE or diffusion); sample synthetic motion sets",
                       description="Train the transformer CVAE generator (or an MDM-style diffusion generator: "
                                   "--model mdm), or sample synthetic motion sets from either.")
    gsub = p.add_subparsers(dest="generator_command", metavar="SUBCOMMAND")
    gsub.required = True
    _train_parser(gsub)
    _sample_parser(gsub)


def _diffusion_config(args: argparse.Namespace) -> DiffusionConfig:
    return DiffusionConfig(mdm=MDMConfig.of_size(args.size), lambda_vel=args.vel_weight, lambda_pos=args.pos_weight,
                           trans=args.trans, keep_root=args.keep_root, lr=args.lr, batch_size=args.batch_size,
                           **({"epochs": args.epochs} if args.epochs is not None else {}),
                           sampling_steps=args.sampling_steps, guidance=args.guidance, seed=args.seed,
                           device=args.device, precision=args.precision)


def _train(args: argparse.Namespace) -> int:
    cfg = _diffusion_config(args) if args.model == "mdm" else GeneratorConfig(cvae=CVAEConfig.of_size(args.size), lambda_kl=args.kl_weight,
                          kl_reduction=args.kl_reduction, lambda_vel=args.vel_weight, lambda_pos=args.pos_weight,
                          lambda_cls=args.cls_weight, cls_label_smoothing=args.cls_label_smoothing,
                          trans=args.trans, keep_root=args.keep_root, lr=args.lr, batch_size=args.batch_size,
                          **({"epochs": args.epochs} if args.epochs is not None else {}),
                          seed=args.seed, device=args.device, precision=args.precision)
    data = read_data(args.data, args.format, args.seed)
    distributed.init_from_env(args.device)  # under torchrun: every process joins the group here
    main = distributed.is_main()
    try:
        summary = train_run(data, args.out, cfg, preprocess=Preprocess(frames=args.frames), epochs=args.epochs,
                            device=args.device, data_source=args.data, eval_every=args.eval_every,
                            save_every=args.save_every, progress=not args.no_progress and main,
                            log=print if main else None)
    except BaseException:
        distributed.cleanup(wait=False)  # torchrun then stops the other ranks
        raise
    distributed.cleanup()
    if main:
        print(json.dumps(summary))
    return 0


def _sample_errors(args: argparse.Namespace) -> str | None:
    if args.exemplars is None:
        given = [f for f, v in (("--tau", args.tau != _EXEMPLAR["tau"]), ("--max-distance", args.max_distance),
                                ("--per-exemplar", args.per_exemplar != _EXEMPLAR["per_exemplar"]),
                                ("--counts", args.counts != "proportional")) if v]
        return f"{given[0]} needs --exemplars" if given else None
    if args.frames is not None:
        return "--frames does not apply with --exemplars (variants take their exemplar's length)"
    if args.per_class is not None and args.counts != "balanced":
        return "--per-class with --exemplars needs --counts balanced"
    return None


def _sample(args: argparse.Namespace) -> int:
    err = _sample_errors(args)
    if err:
        raise ValueError(err)
    ex = {} if args.exemplars is None else dict(exemplars=args.exemplars, per_exemplar=args.per_exemplar,
                                                tau=args.tau, counts=args.counts, max_distance=args.max_distance)
    summary = sample_run(args.checkpoint, args.out, per_class=args.per_class, frames=args.frames, seed=args.seed,
                         device=args.device, batch_size=args.batch_size, precision=args.precision,
                         dropout=args.dropout, progress=not args.no_progress, **ex)
    print(json.dumps(summary))
    return 0
