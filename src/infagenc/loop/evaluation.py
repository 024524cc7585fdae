"""Generation metrics with an evaluation recognizer trained on REAL data only.

The pure maths live in :mod:`infagenc.metrics.generation`; this module runs the
evaluator to get features and predictions, and follows ACTOR's protocol of a fresh
generated set per repeat: the generator produces ``R x N_ref`` samples (classes
balanced), and each of the R repeats of :func:`generation_metrics` draws its generated
samples from them without replacement, so every repeat sees different generated
samples. The evaluator is never the loop's critic: in a run it is the final "Real"
recognizer of the first seed (trained on the real training subjects only).

:func:`evaluate_run` also saves what the report draws from generated samples (the
evaluator features for the t-SNE, a few samples per class for the snapshot grid and the
animations), so the report is built from the run folder alone.

The generated samples are drawn as the loop draws them (:func:`~infagenc.loop.rounds.draw_samples`:
from the prior, or around the real training samples with ``loop.sampling = "exemplar"``);
``sampling`` in the metrics names which (and ``dropped_by_distance`` the source-distance
filter's drops, when set). ``pose`` holds pose statistics (:mod:`infagenc.metrics.pose`:
bone-length error, feet / knees / hands distances, motion energy; overall and per class) of
the generated samples and of the recycled pool against the real training and test sets, and
of the real test set against the real training set (how far two sets of real subjects lie
apart: the scale the others are read on). A comparison that cannot be computed (rotation
data of a layout without a rest skeleton) is ``{"skipped": reason}``.
"""
from __future__ import annotations

import io

import numpy as np

from ..data.motionset import MotionSet
from ..jsonio import atomic_write_bytes
from ..metrics.generation import fid, generation_metrics
from ..metrics.pose import motionset_pose_statistics
from ..metrics.stats import jsonable
from ..train.generative import load_trainer
from ..train.recognizer import load_recognizer, predict
from .rounds import draw_samples
from .seeds import balanced_requests, derive_seed

__all__ = ["PICTURE_SAMPLES_PER_CLASS", "evaluate_generation", "evaluate_run", "pose_comparisons"]


def evaluate_generation(evaluator, real: MotionSet, synthetic: MotionSet, *, reference: str, R: int = 20,
                        seed: int = 0, num_pairs: int = 200, pairs_per_class: int = 20,
                        batch_size: int | None = None, precision: str = "fp32") -> dict:
    """Paper Table 2 metrics of ``synthetic`` against the real set named ``reference``."""
    synthetic = synthetic.relabel(real.class_names) if synthetic.class_names != real.class_names else synthetic
    pr = predict(evaluator, real, batch_size=batch_size, precision=precision)
    pg = predict(evaluator, synthetic, batch_size=batch_size, precision=precision)
    out = generation_metrics(pr.features, real.labels, pg.features, synthetic.labels, pg.pred, real_pred=pr.pred,
                             R=R, seed=seed, reference=reference, num_pairs=num_pairs,
                             pairs_per_class=pairs_per_class)
    return jsonable(out)


# generated samples per class saved for the report's snapshot grid (two generated rows) and
# animations (one generated panel per class)
PICTURE_SAMPLES_PER_CLASS = 2


def _sample(gen, cfg, requests, exemplars: MotionSet, *, seed: int, progress: bool = False
            ) -> tuple[MotionSet, int | None]:
    """The samples of ``requests`` as the loop draws them (``loop.sampling``; exemplars: the
    real training set) and how many the source-distance filter dropped (None: no filter)."""
    return draw_samples(cfg, gen, requests, exemplars, seed, {"run": cfg.name, "epoch": gen.epoch, "round": -1},
                        progress=progress)


def _pose(real: MotionSet, generated: MotionSet, rest) -> dict:
    try:
        return jsonable(motionset_pose_statistics(real, generated, rest))
    except ValueError as e:  # e.g. rotation data of a layout without a rest skeleton
        return {"skipped": str(e)}


def pose_comparisons(sp, syn: MotionSet, pool: MotionSet | None, rest=None) -> dict:
    """The evaluation's ``pose`` entry (see the module docstring)."""
    out = {"generated_vs_train": _pose(sp.train, syn, rest), "generated_vs_test": _pose(sp.test, syn, rest),
           "real_test_vs_train": _pose(sp.train, sp.test, rest)}
    if pool is not None and len(pool):
        out["recycled_pool_vs_train"] = _pose(sp.train, pool, rest)
        out["recycled_pool_vs_test"] = _pose(sp.test, pool, rest)
    return out


def evaluate_run(folder, sp, cfg, device, progress: bool = True) -> dict:
    """Metrics of a finished run's generator (and of its recycled pool).

    Writes ``folder.metrics_path`` (``evaluation/metrics.json``), the evaluator features of
    real and generated samples for the t-SNE picture (``folder.features_path``) and
    :data:`PICTURE_SAMPLES_PER_CLASS` generated samples per class for the report's other
    pictures (``folder.samples_path``, a :class:`MotionSet`; seed derived from the
    evaluation seed), so the report never needs the generator."""
    if folder.phase_done("evaluation") and folder.metrics_path.exists():
        return folder.read_json(folder.metrics_path)
    ev = cfg.evaluation
    evaluator = load_recognizer(folder.checkpoint("evaluator"), device)
    gen_path = folder.checkpoint("generator")
    if not gen_path.exists():
        gen_path = folder.checkpoint("generator_pretrained")
    gen = load_trainer(gen_path, device)  # whichever generator the run trained (CVAE or MDM)
    n_ref = max(len(sp.train), len(sp.test))
    syn, dropped = _sample(gen, cfg, balanced_requests(sp.train.num_classes, ev.repeats * n_ref, cfg.data.frames),
                           sp.train, seed=derive_seed(ev.seed, "evaluation"), progress=progress)
    kw = dict(R=ev.repeats, seed=ev.seed, num_pairs=ev.diversity_pairs, pairs_per_class=ev.multimodality_pairs,
              precision=cfg.execution.precision)
    result = {
        "evaluator": "final 'real' recognizer, first seed (trained on real training subjects only)",
        "generator_checkpoint": gen_path.name,
        "generated_per_repeat": n_ref,
        "sampling": cfg.loop.sampling,
        **({} if dropped is None else {"dropped_by_distance": dropped}),
        "vs_test": evaluate_generation(evaluator, sp.test, syn, reference="test", **kw),
        "vs_train": evaluate_generation(evaluator, sp.train, syn, reference="train", **kw),
    }
    ftr = predict(evaluator, sp.train, precision=cfg.execution.precision).features
    fte = predict(evaluator, sp.test, precision=cfg.execution.precision).features
    result["fid_real_train_vs_real_test"] = float(fid(ftr, fte))
    pool = None
    if cfg.loop.selection != "none" and folder.synthetic_path.exists():
        pool = MotionSet.load(folder.synthetic_path)
        if len(pool) and np.bincount(pool.labels).max() >= 2:
            result["recycled_pool_vs_test"] = evaluate_generation(evaluator, sp.test, pool, reference="test", **kw)
            result["recycled_pool_vs_train"] = evaluate_generation(evaluator, sp.train, pool, reference="train",
                                                                   **kw)
        else:  # multimodality compares pairs within a class
            result["recycled_pool_not_measured"] = (f"the recycled pool's {len(pool)} samples hold no class with 2 or "
                                                    f"more samples")
    result["pose"] = pose_comparisons(sp, syn, pool, gen.rest)
    folder.write_json(folder.metrics_path, result)
    # features for the t-SNE picture: one repeat's worth of generated samples, classes balanced
    # (the requests are grouped by class, so every R-th sample spreads over all classes)
    one = syn.subset(np.arange(0, len(syn), ev.repeats))
    buf = io.BytesIO()
    np.savez_compressed(buf, real_train=ftr, real_test=fte,
                        synthetic=predict(evaluator, one, precision=cfg.execution.precision).features,
                        real_train_labels=sp.train.labels, real_test_labels=sp.test.labels,
                        synthetic_labels=one.labels)
    atomic_write_bytes(folder.features_path, buf.getvalue())
    pictures = [(c, cfg.data.frames) for c in range(len(gen.spec.class_names)) for _ in range(PICTURE_SAMPLES_PER_CLASS)]
    _sample(gen, cfg, pictures, sp.train, seed=derive_seed(ev.seed, "pictures"))[0].save(folder.samples_path)
    folder.mark_done("evaluation")
    return result
