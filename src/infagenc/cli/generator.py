"""``infagenc generator``: train the CVAE generator, sample synthetic sets from it."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

CHECKPOINT_NAME = "generator.pt"


def register(sub) -> None:
    p = sub.add_parser("generator", help="train the CVAE generator; sample synthetic motion sets",
                       description="Train the transformer CVAE generator, or sample synthetic motion sets from it.")
    gsub = p.add_subparsers(dest="generator_command", metavar="SUBCOMMAND")
    gsub.required = True

    t = gsub.add_parser("train", help="train (or resume training) a generator",
                        description="Train a generator on a motion set; resumes if OUT already holds a checkpoint. "
                                    "Writes OUT/config.json, OUT/generator.pt and OUT/history.json.")
    t.add_argument("--data", required=True,
                   help="a dataset any reader understands (an infagenc .npz, a PYSKL .pkl, a UTKinect folder, ...; "
                        "format detected), or 'demo' for the made-up demo set")
    t.add_argument("--format", default=None, help="the dataset's format, when detection is not enough")
    t.add_argument("--out", required=True, type=Path, help="run folder")
    t.add_argument("--epochs", type=int, default=None, help="train until this many epochs in total "
                                                            "(default: the config's, 1100)")
    t.add_argument("--size", choices=("paper", "small"), default="paper", help="CVAE size (default: paper)")
    t.add_argument("--frames", type=int, default=None,
                   help="resample every sequence to this many frames first (default: keep lengths)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--kl-weight", type=float, default=1.0, help="lambda_kl (default 1.0, the paper's)")
    t.add_argument("--kl-reduction", choices=("mean", "batchmean", "sum"), default="mean",
                   help="KL reduction (default 'mean' over batch and latent dims; the released code: "
                        "'sum' with --kl-weight 1e-5)")
    t.add_argument("--vel-weight", type=float, default=0.001, help="lambda_vel (default 0.001)")
    t.add_argument("--pos-weight", type=float, default=1.0,
                   help="weight of the forward-kinematics position loss, rotation data only (default 1.0)")
    t.add_argument("--trans", action="store_true", help="also model the root translation (rotation data with trans)")
    t.add_argument("--no-keep-root", dest="keep_root", action="store_false",
                   help="leave generated samples as the decoder makes them (default: restore the root "
                        "constraint the training data satisfy, e.g. the centre joint at the origin per frame)")
    t.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    t.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    t.add_argument("--save-every", type=int, default=10, help="checkpoint every N epochs (0: only at the end)")
    t.add_argument("--eval-every", type=int, default=10,
                   help="every N epochs also record the reconstruction error with z = mu (0: never)")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.set_defaults(func=_train)

    s = gsub.add_parser("sample", help="sample a synthetic motion set from a trained generator",
                        description="Sample N sequences per class from a generator checkpoint and write them as an "
                                    "infagenc .npz motion set or a PYSKL .pkl (tagged synthetic, with run, epoch "
                                    "and seed).")
    s.add_argument("--checkpoint", required=True, type=Path, help="generator checkpoint (generator.pt)")
    s.add_argument("--per-class", required=True, type=int, help="samples per class")
    s.add_argument("--frames", required=True, type=int, help="frames per sample")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, type=Path,
                   help="output file: .npz (infagenc motion set) or .pkl (PYSKL / MMAction2 annotation pickle; "
                        "rotation data is written as joint positions, through forward kinematics with the "
                        "generator's rest skeleton)")
    s.add_argument("--dropout", type=float, default=None,
                   help="sampling-time dropout in the decoder: more diversity, less fidelity (default: off)")
    s.add_argument("--batch-size", type=int, default=256)
    s.add_argument("--device", default="auto")
    s.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=_sample)


def _load_data(spec: str, fmt: str | None, frames: int | None, seed: int):
    from ..data.preprocess import fixed_length
    from ..data.readers import read

    if spec == "demo":
        from ..data.demo import make_demo

        ms = make_demo(seed=seed)
    else:
        ms = read(spec, fmt)
    return fixed_length(ms, frames) if frames else ms


def _train(args: argparse.Namespace) -> int:
    from ..models.cvae import CVAEConfig
    from ..train.generator import GeneratorConfig, GeneratorTrainer

    ms = _load_data(args.data, args.format, args.frames, args.seed)
    ckpt = args.out / CHECKPOINT_NAME
    if ckpt.exists():
        trainer = GeneratorTrainer.load(ckpt, device=args.device)
        print(f"resuming {ckpt} at epoch {trainer.epoch} (its saved config is used)")
    else:
        cfg = GeneratorConfig(cvae=CVAEConfig.of_size(args.size), lambda_kl=args.kl_weight,
                              kl_reduction=args.kl_reduction, lambda_vel=args.vel_weight, lambda_pos=args.pos_weight,
                              trans=args.trans, keep_root=args.keep_root, lr=args.lr, batch_size=args.batch_size,
                              epochs=args.epochs if args.epochs is not None else GeneratorConfig.epochs,
                              seed=args.seed, device=args.device, precision=args.precision)
        trainer = GeneratorTrainer.from_motionset(ms, cfg)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.epochs if args.epochs is not None else trainer.cfg.epochs
    resolved = {"generator": trainer.cfg.to_dict(), "data": {"source": args.data, "frames": args.frames,
                                                              **trainer.spec.to_dict(), "summary": ms.summary()},
                "device": str(trainer.device), "target_epochs": target}
    (args.out / "config.json").write_text(json.dumps(resolved, indent=2))
    trainer.fit(ms, epochs=max(0, target - trainer.epoch), progress=not args.no_progress,
                eval_every=args.eval_every, checkpoint=ckpt, save_every=args.save_every)
    (args.out / "history.json").write_text(json.dumps(trainer.history, indent=1))
    last = trainer.history[-1] if trainer.history else {}
    print(json.dumps({"epoch": trainer.epoch, "checkpoint": str(ckpt), **{k: v for k, v in last.items()
                                                                          if k != "epoch"}}))
    return 0


def _sample(args: argparse.Namespace) -> int:
    from ..data.readers import write
    from ..train.generator import checkpoint_rest, load_generator, sample_motionset

    model, spec, meta = load_generator(args.checkpoint, device=args.device)
    ms = sample_motionset(model, spec, per_class=args.per_class, length=args.frames, seed=args.seed,
                          batch_size=args.batch_size, precision=args.precision, dropout=args.dropout,
                          provenance={"run": args.checkpoint.resolve().parent.name, "epoch": int(meta["epoch"])},
                          progress=not args.no_progress)
    if args.out.suffix == ".pkl" and ms.rep not in ("xyz", "xy"):
        ms = ms.to_xyz(checkpoint_rest(meta))  # PYSKL holds positions: forward kinematics first
    path = write(ms, args.out)
    print(json.dumps({"written": str(path), "samples": len(ms), "classes": list(spec.class_names),
                      "frames": args.frames, "seed": args.seed, "epoch": meta["epoch"]}))
    return 0
