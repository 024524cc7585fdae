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
                    "checkpoints/evaluator.pt, not the raw dataset.")
    p.add_argument("--real", required=True, metavar="PATH",
                   help="real reference set (e.g. RUN_DIR/data/test.npz, or the raw files): the preprocessing "
                        "stored in the evaluator's checkpoint is applied to it (a no-op on data already "
                        "prepared that way); any format `infagenc data inspect` reads")
    p.add_argument("--format", help="format of --real (default: detected)")
    p.add_argument("--synthetic", required=True, metavar="PATH.npz", help="synthetic motion set (.npz)")
    p.add_argument("--evaluator", required=True, metavar="CHECKPOINT",
                   help="recognizer checkpoint trained on real data only (e.g. RUN_DIR/checkpoints/evaluator.pt)")
    p.add_argument("--reference", choices=["test", "train"], default="test",
                   help="which real set --real is, recorded in the result (default test)")
    p.add_argument("--repeats", type=int, default=_DEFAULTS["R"], help=f"R repeats (default {_DEFAULTS['R']})")
    p.add_argument("--seed", type=int, default=_DEFAULTS["seed"],
                   help=f"seed of the repeats (default {_DEFAULTS['seed']})")
    p.add_argument("--diversity-pairs", type=int, default=_DEFAULTS["num_pairs"],
                   help=f"random pairs for diversity (default {_DEFAULTS['num_pairs']})")
    p.add_argument("--multimodality-pairs", type=int, default=_DEFAULTS["pairs_per_class"],
                   help=f"same-class pairs per class for multimodality (default {_DEFAULTS['pairs_per_class']})")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, ... (default auto)")
    p.add_argument("--out", metavar="FILE.json", help="write the full result (every repeat's value) as JSON")
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from ..data.motionset import MotionSet
    from ..data.preprocess import Preprocess
    from ..data.readers import read
    from ..loop.evaluation import evaluate_generation
    from ..jsonio import write_json
    from ..train.recognizer import load_recognizer_with_meta
    from ..viz.tables import table_generation

    evaluator, meta = load_recognizer_with_meta(args.evaluator, args.device)
    real = read(args.real, args.format)
    synthetic = MotionSet.load(args.synthetic)
    trained = meta.get("data", {})
    for name, ms in (("--real", real), ("--synthetic", synthetic)):
        if trained.get("rep") and (ms.rep != trained["rep"] or ms.layout.name != trained.get("layout")):
            print(f"infagenc evaluate: error: {name} is {ms.layout.name} / {ms.rep}, the evaluator was trained on "
                  f"{trained.get('layout')} / {trained['rep']}", file=sys.stderr)
            return 2
    if trained.get("class_names"):
        real = real.relabel(trained["class_names"])
    if meta.get("preprocess") is not None:  # the evaluator's own preprocessing, re-applied to the real set
        real = Preprocess.from_dict(meta["preprocess"])(real, str(args.real))
    result = evaluate_generation(evaluator, real, synthetic, reference=args.reference, R=args.repeats,
                                 seed=args.seed, num_pairs=args.diversity_pairs,
                                 pairs_per_class=args.multimodality_pairs)
    result["inputs"] = {"real": str(args.real), "synthetic": str(args.synthetic), "evaluator": str(args.evaluator)}
    print(f"Against the real {args.reference} set ({args.real}); R = {result['R']}, m = {result['sample_size']} "
          f"of {result['n_real']} real / {result['n_generated']} generated; ± = 95% interval\n")
    print(table_generation(result))
    if args.out:
        print(f"written: {write_json(Path(args.out), result)}", file=sys.stderr)
    return 0
