"""``infagenc evaluate``: generation metrics of a synthetic set with an evaluation recognizer
(argument parsing only; the work is in :func:`infagenc.loop.evaluation.evaluate_generation`)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..metrics.generation import generation_metrics

_DEFAULTS = generation_metrics.__kwdefaults__


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="FID, accuracy, diversity, multimodality of a synthetic set (paper Table 2)",
        description="Generation metrics (the paper's Table 2: FID, accuracy, diversity, multimodality) of a synthetic set against a real reference set, with an "
                    "evaluation recognizer trained on REAL data only (never the loop's critic): FID of the "
                    "evaluator's features, accuracy of the evaluator on the synthetic samples, diversity and "
                    "multimodality, each repeated --repeats times and reported as mean ± 95% interval. "
                    "The real set must be preprocessed like the evaluator's training data (same frames, root "
                    "handling and representation): use a run folder's data/test.npz or data/train.npz with its "
                    "checkpoints/evaluator.pt, not the raw dataset; or give --run RUN_DIR for a finished run's "
                    "own files.")
    p.add_argument("--run", metavar="RUN_DIR",
                   help="a finished run folder: evaluate its synthetic set (RUN_DIR/synthetic.npz: the recycled pool, "
                        "or the baseline's samples) against its real test set (data/test.npz; data/train.npz with "
                        "--reference train) with its evaluator (checkpoints/evaluator.pt) and its evaluation "
                        "settings (config.json: repeats, seed, pairs); any of --real, --synthetic, --evaluator and "
                        "the settings given override the run's")
    p.add_argument("--real", metavar="PATH",
                   help="real reference set (e.g. RUN_DIR/data/test.npz, or the raw files): the preprocessing "
                        "stored in the evaluator's checkpoint is applied to it (a no-op on data already "
                        "prepared that way); any format `infagenc data inspect` reads (required without --run)")
    p.add_argument("--format", help="format of --real (default: detected)")
    p.add_argument("--synthetic", metavar="PATH.npz", help="synthetic motion set (.npz; required without --run)")
    p.add_argument("--evaluator", metavar="CHECKPOINT",
                   help="recognizer checkpoint trained on real data only (e.g. RUN_DIR/checkpoints/evaluator.pt; "
                        "required without --run)")
    p.add_argument("--reference", choices=["test", "train"], default="test",
                   help="which real set --real is, recorded in the result (default test)")
    p.add_argument("--repeats", type=int, default=None,
                   help=f"R repeats (default: the run's evaluation.repeats, else {_DEFAULTS['R']})")
    p.add_argument("--seed", type=int, default=None,
                   help=f"seed of the repeats (default: the run's evaluation.seed, else {_DEFAULTS['seed']})")
    p.add_argument("--diversity-pairs", type=int, default=None,
                   help=f"random pairs for diversity (default: the run's, else {_DEFAULTS['num_pairs']})")
    p.add_argument("--multimodality-pairs", type=int, default=None,
                   help=f"same-class pairs per class for multimodality (default: the run's, else "
                        f"{_DEFAULTS['pairs_per_class']})")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ... (default auto)")
    p.add_argument("--out", metavar="FILE.json", help="write the full result (every repeat's value) as JSON")
    p.set_defaults(func=_evaluate)


# (flag, the run config's evaluation key, generation_metrics' keyword)
_SETTINGS = (("repeats", "repeats", "R"), ("seed", "seed", "seed"), ("diversity_pairs", "diversity_pairs", "num_pairs"),
             ("multimodality_pairs", "multimodality_pairs", "pairs_per_class"))


def _inputs(args: argparse.Namespace) -> tuple[str, str, str, dict]:
    """--real, --synthetic, --evaluator and the metric settings: the flags given, then (with
    --run) the run folder's files and evaluation settings, then the library's defaults."""
    from ..runfolder import RunFolder

    paths, stored = {}, {}
    if args.run:
        folder = RunFolder(args.run, create=False)
        config = folder.read_json(folder.config_path)
        if config is None:
            raise FileNotFoundError(f"{folder.config_path} not found: {args.run} is not a run folder")
        stored = config.get("evaluation", {})
        paths = {"real": folder.split_path(args.reference), "synthetic": folder.synthetic_path,
                 "evaluator": folder.checkpoint("evaluator")}
        for key, what in (("synthetic", "the run has not finished its loop"),
                          ("evaluator", "the run has not finished its final phase")):
            if getattr(args, key) is None and not paths[key].exists():
                raise ValueError(f"{paths[key]} not found ({what}): finish the run first (run it again with the "
                                 f"same config)")
    chosen = {k: getattr(args, k) if getattr(args, k) is not None else paths.get(k) for k in
              ("real", "synthetic", "evaluator")}
    missing = [f"--{k}" for k, v in chosen.items() if v is None]
    if missing:
        raise ValueError(f"give --run RUN_DIR (a finished run folder), or {', '.join(missing)}")
    settings = {kw: getattr(args, flag) if getattr(args, flag) is not None else stored.get(key, _DEFAULTS[kw])
                for flag, key, kw in _SETTINGS}
    return str(chosen["real"]), str(chosen["synthetic"]), str(chosen["evaluator"]), settings


def _evaluate(args: argparse.Namespace) -> int:
    from ..data.motionset import MotionSet
    from ..data.preprocess import Preprocess
    from ..data.readers import read
    from ..loop.evaluation import evaluate_generation
    from ..jsonio import write_json
    from ..train.recognizer import load_recognizer_with_meta
    from ..viz.tables import left_out_notes, no_interval_note, table_generation

    real_path, syn_path, evaluator_path, settings = _inputs(args)
    evaluator, meta = load_recognizer_with_meta(evaluator_path, args.device)
    real = read(real_path, args.format)
    synthetic = MotionSet.load(syn_path)
    trained = meta.get("data", {})
    for name, ms in (("--real", real), ("--synthetic", synthetic)):
        if trained.get("rep") and (ms.rep != trained["rep"] or ms.layout.name != trained.get("layout")):
            print(f"infagenc evaluate: error: {name} is {ms.layout.name} / {ms.rep}, the evaluator was trained on "
                  f"{trained.get('layout')} / {trained['rep']}", file=sys.stderr)
            return 2
    if trained.get("class_names"):
        real = real.relabel(trained["class_names"])
    if meta.get("preprocess") is not None:  # the evaluator's own preprocessing, re-applied to the real set
        real = Preprocess.from_dict(meta["preprocess"])(real, real_path)
    result = evaluate_generation(evaluator, real, synthetic, reference=args.reference, **settings)
    result["inputs"] = {"real": real_path, "synthetic": syn_path, "evaluator": evaluator_path}
    print(f"Against the real {args.reference} set ({real_path}); R = {result['R']}, m = {result['sample_size']} "
          f"of {result['n_real']} real / {result['n_generated']} generated; ± = 95% interval of the mean over the "
          f"R repeats (1.96·std/√R)\n")
    print(table_generation(result))
    counts = {"real": real.class_counts(), "generated": synthetic.relabel(real.class_names).class_counts()}
    for note in filter(None, [no_interval_note(result), *left_out_notes(result, real.class_names, counts)]):
        print(note)
    if args.out:
        print(f"written: {write_json(Path(args.out), result)}", file=sys.stderr)
    return 0
