"""The InfAGenC loop: windows of generator epochs, each ending in a recycle round.

For each epoch t of a window (docs/design.md, "The loop"):

1. train the generator one epoch on X_train (real + the samples recycled so far);
2. generate N_t samples, classes balanced (default N_t = number of real training samples);
   from the prior, or (``loop.sampling = "exemplar"``) around the real training samples
   (:mod:`infagenc.train.exemplar`, :func:`draw_samples`);
3. score them with the critic M: CAS(t) = fraction predicted as their conditioning class
   (under torchrun, generation and scoring are sharded over the ranks and gathered).
   Only the window's best-CAS epoch's samples, probabilities and features are kept
   (:func:`run_window` returns them as a :class:`Window`). With ``score_fraction < 1`` CAS(t)
   is measured on a class-balanced fraction of N_t; the generator's weights at the window's
   best epoch are kept, and its N_t samples generated from them and scored once at the
   window's end: the same selection inputs for less scoring.

At the end of each window (a round, :func:`recycle_round`), unless ``selection == "none"``
(the baseline VAE):

4-6. filter the best epoch's samples on confidence (``loop.filter``: the paper's global
   threshold, or per class with a fallback for classes none of whose samples passes) and
   select by distance to the REAL training samples in M's feature space (or at random, the
   ablation) - :mod:`infagenc.loop.selection`;
7. add the selected samples to X_train (tagged synthetic with run, epoch, round, seed)
   and update M for ``critic_update_epochs`` epochs on X_train. With
   ``loop.critic_mode = "independent"`` M is the pre-trained critic (real data only) in every
   round and is never updated: it scores, filters and measures distances, and no recognizer
   is trained on the recycled samples inside the loop (the final phase trains its own).
   Each round records the mode and a digest of the scoring critic's weights
   (``critic_mode``, ``scoring_critic``).

With ``loop.steps_per_epoch`` every generator epoch and critic-update epoch is that many batches
(every real sample and a seeded draw from the pool, :meth:`LoopState.epoch_set`), so a round's
training cost stays bounded as X_train grows (``gen_steps`` per epoch, ``critic_steps`` per round).

M's features do not change within a window (M is only updated at its end), so the features
computed for CAS are the ones used for selection: nothing is scored twice. After every round
the generator's and the critic's checkpoints (under round-tagged names) and the logs are
written and ``rounds_done`` is set last (the commit); a resumed loop restarts the interrupted
window from the last committed round, ignoring whatever the interrupted round wrote, with
every random draw seeded from the run seed and the epoch / round, so it reaches the same
selections. The pool is rebuilt from the committed rounds' ``selected.npz``.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.motionset import MotionSet
from ..runfolder import RunFolder
from ..train.batching import TensorSet, to_tensors
from ..train.distributed import gather_rows, shard_slice, world_size
from ..train.exemplar import sample_exemplars
from ..train.generative import GenerativeTrainer, load_trainer
from ..train.recognizer import Predictions, RecognizerTrainer, predict
from .config import RunConfig
from .data import Splits, load_or_none
from .seeds import balanced_requests, derive_seed
from .selection import best_epoch, cas, newest_per_class, pool_class_cap, select

__all__ = ["Window", "LoopState", "run_window", "recycle_round", "loop_phase", "Stopped", "draw_samples",
           "weights_digest", "check_generator_options"]


def draw_samples(cfg: RunConfig, gen: GenerativeTrainer, requests, exemplars: MotionSet, seed: int,
                 provenance: dict, progress: bool = False) -> tuple[MotionSet, int | None]:
    """The samples of ``requests`` ((class, length) pairs) as ``cfg.loop.sampling`` draws
    them: from the prior (:meth:`gen.sample <infagenc.train.generative.GenerativeTrainer.sample>`,
    either generator), or (the CVAE) around ``exemplars`` (the same count per class, lengths those
    of the exemplars), with the source-distance filter when ``loop.exemplar_max_distance``
    is set. Returns (samples, how many the filter dropped; None without the filter)."""
    lc = cfg.loop
    common = dict(seed=seed, precision=cfg.execution.precision, dropout=lc.sample_dropout or None,
                  provenance=provenance, progress=progress)
    if lc.sampling == "prior":
        return gen.sample(requests, **common), None
    check_generator_options(cfg)
    counts = np.bincount(np.asarray([c for c, _ in requests], np.int64), minlength=len(gen.spec.class_names))
    res = sample_exemplars(gen.model, gen.spec, exemplars, tau=lc.exemplar_tau, counts="balanced",
                           per_class=counts.tolist(), max_distance=lc.exemplar_max_distance, rest=gen.rest, **common)
    if res.requested and not len(res.samples):
        raise ValueError(f"the source-distance filter (loop.exemplar_max_distance = {lc.exemplar_max_distance:g}) "
                         f"dropped all {res.requested} samples; raise it or unset it")
    return res.samples, (res.dropped if lc.exemplar_max_distance is not None else None)


def check_generator_options(cfg: RunConfig) -> None:
    """Refuse loop options the configured generator does not have (one line naming the key):
    exemplar sampling and sampling-time dropout are the CVAE's."""
    if cfg.generator.model == "cvae":
        return
    if cfg.loop.sampling != "prior":
        raise ValueError(f"loop.sampling = {cfg.loop.sampling!r} encodes real samples: it needs generator.model = "
                         f"'cvae' (this config: {cfg.generator.model!r}); use loop.sampling = 'prior'")
    if cfg.loop.sample_dropout:
        raise ValueError(f"loop.sample_dropout is the CVAE decoder's; set it to 0 for generator.model = "
                         f"{cfg.generator.model!r}")


class Stopped(Exception):
    """The loop stopped after ``rounds`` rounds on request (``stop_after_rounds``)."""

    def __init__(self, rounds: int):
        super().__init__(f"stopped after round {rounds}")
        self.rounds = rounds


@dataclass
class Window:
    """What one window of generator epochs leaves for its round."""

    round: int  # 1-based
    best_epoch: int
    best_cas: float
    samples: MotionSet  # the best epoch's N_t samples
    predictions: Predictions  # the critic's outputs on them
    record: dict = field(default_factory=dict)  # the round's log entry so far


@dataclass
class LoopState:
    """The loop's moving parts: generator, critic, the recycled pool and the logs."""

    cfg: RunConfig
    real: MotionSet
    gen: GenerativeTrainer
    critic: RecognizerTrainer
    pool: MotionSet | None = None
    epochs_log: list = field(default_factory=list)
    rounds_log: list = field(default_factory=list)
    real_feat: np.ndarray | None = None  # critic features of the real training set (None: stale)
    gen_ts: object = None
    dropped: int | None = None  # samples the source-distance filter dropped at the last generate()

    def __post_init__(self):
        lc, real = self.cfg.loop, self.real
        n_t = lc.samples_per_epoch or len(real)
        self.requests = balanced_requests(real.num_classes, n_t, self.cfg.data.frames)
        self.probing = lc.score_fraction < 1.0
        self.probe = balanced_requests(real.num_classes, max(real.num_classes, round(lc.score_fraction * n_t)),
                                       self.cfg.data.frames) if self.probing else self.requests
        self.gen_ts = self.gen.tensors(self.x_train)
        k = lc.steps_per_epoch
        for what, b in (("generator", self.gen.cfg.batch_size), ("critic", self.critic.cfg.batch_size)):
            if k is not None and k * b < len(real):
                raise ValueError(f"loop.steps_per_epoch = {k} batches of {b} ({what}) cannot hold the {len(real)} real "
                                 f"training samples, which every epoch includes; raise it to at least "
                                 f"{math.ceil(len(real) / b)}")

    def epoch_set(self, ts: TensorSet, batch_size: int, *key) -> TensorSet:
        """What one training epoch on X_train (``ts``, the real samples first) uses: all of it, or
        with ``loop.steps_per_epoch`` every real sample and a draw from the recycled pool (seeded
        by the run seed and ``key``) filling that many batches of ``batch_size``."""
        k, n_real = self.cfg.loop.steps_per_epoch, len(self.real)
        if k is None or len(ts) <= k * batch_size:
            return ts
        g = torch.Generator().manual_seed(derive_seed(self.cfg.seed, "bounded", *key))
        extra = n_real + torch.randperm(len(ts) - n_real, generator=g)[: k * batch_size - n_real]
        idx = torch.cat([torch.arange(n_real), extra.sort().values]).to(ts.x.device)
        return TensorSet(ts.x[idx], ts.lengths[idx], ts.labels[idx])

    def grow_pool(self, chosen: MotionSet) -> int:
        """Add a round's selected samples to the pool; with ``loop.pool_cap`` each class then
        keeps only its newest :func:`~infagenc.loop.selection.pool_class_cap` samples. Returns
        how many older samples left the pool."""
        pool = chosen if self.pool is None else MotionSet.concat([self.pool, chosen])
        cap = self.cfg.loop.pool_cap
        if cap is None:
            self.pool = pool
            return 0
        keep = newest_per_class(pool.labels, pool_class_cap(len(self.real), self.real.num_classes, cap))
        self.pool = pool.subset(keep) if len(keep) < len(pool) else pool
        return len(pool) - len(keep)

    @property
    def x_train(self) -> MotionSet:
        return self.real if self.pool is None else MotionSet.concat([self.real, self.pool])

    def generate(self, epoch: int, requests, r: int) -> MotionSet:
        """Epoch ``epoch``'s samples (:func:`draw_samples`; exemplars: the real training set);
        what the source-distance filter dropped goes to ``self.dropped``."""
        cfg = self.cfg
        syn, self.dropped = draw_samples(cfg, self.gen, requests, self.real, derive_seed(cfg.seed, "sample", epoch),
                                         {"run": cfg.name, "epoch": epoch, "round": r + 1})
        return syn

    def score(self, ms: MotionSet) -> Predictions:
        """The critic's outputs on ``ms``; under torchrun each rank scores its contiguous part
        and the parts are gathered (eval mode: every sample's outputs are its own)."""
        kw = dict(batch_size=self.cfg.critic.eval_batch_size, precision=self.cfg.execution.precision)
        if world_size() == 1:
            return predict(self.critic.model, ms, **kw)
        n = len(ms)
        pr = predict(self.critic.model, ms.subset(np.arange(n)[shard_slice(n)]), **kw)
        return Predictions(*(gather_rows(a, n) for a in (pr.probs, pr.features, pr.pred, pr.labels)))


def _weights(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 (first 16 hex digits) of a model's state (parameters and buffers, by name):
    equal digests, equal weights."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def run_window(st: LoopState, r: int, f: RunFolder, bar) -> Window:
    """Window ``r`` (0-based): train, generate and score each epoch; the best-CAS epoch's
    samples and predictions (earliest on ties, :func:`best_epoch`)."""
    lc = st.cfg.loop
    scorer = weights_digest(st.critic.model)  # M does not change within a window
    kept: dict[int, tuple[MotionSet, Predictions, dict | None]] = {}
    cas_window: dict[int, float] = {}
    for t in range(r * lc.window + 1, (r + 1) * lc.window + 1):
        t0 = time.perf_counter()
        ts = st.epoch_set(st.gen_ts, st.gen.cfg.batch_size, "generator", t)
        losses = st.gen.train_epoch(ts)
        t1 = time.perf_counter()
        syn = st.generate(t, st.probe, r)
        t2 = time.perf_counter()
        pr = st.score(syn)
        c = cas(pr.pred, syn.labels)
        cas_window[t] = c
        if best_epoch(cas_window) == t:  # a new best: keep it, drop the previous one
            weights = _weights(st.gen.model) if st.probing and lc.selection != "none" else None
            kept = {t: (syn, pr, weights)}
        st.epochs_log.append({"epoch": t, "round": r + 1, "cas": c, "scored": len(syn),
                              "gen_steps": math.ceil(len(ts) / st.gen.cfg.batch_size),
                              **({} if st.dropped is None else {"dropped_by_distance": st.dropped}),
                              **{f"gen_{k}": v for k, v in losses.items() if k != "epoch"},
                              "time_gen_train": t1 - t0, "time_generate": t2 - t1,
                              "time_score": time.perf_counter() - t2})
        f.log(f"epoch {t}: CAS {c:.3f}, generator loss {losses['total']:.4f}")
        bar.update(1)
        bar.set_postfix(cas=f"{c:.2f}", round=r + 1)
    b = best_epoch(cas_window)
    syn, pr, weights = kept[b]
    rec = {"round": r + 1, "best_epoch": b, "best_cas": cas_window[b], "selection": lc.selection,
           "critic_mode": lc.critic_mode, "scoring_critic": scorer}
    if weights is not None:  # the best epoch's full N_t samples, from its kept weights
        t0 = time.perf_counter()
        now = _weights(st.gen.model)
        st.gen.model.load_state_dict(weights)
        syn = st.generate(b, st.requests, r)
        st.gen.model.load_state_dict(now)
        pr = st.score(syn)
        rec.update({"best_cas_all": cas(pr.pred, syn.labels), "time_rescore": time.perf_counter() - t0})
    return Window(r + 1, b, cas_window[b], syn, pr, rec)


def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def recycle_round(st: LoopState, w: Window, f: RunFolder) -> MotionSet:
    """Steps 4-7 for window ``w``: filter, select, write the round's scores and samples, grow
    the pool, update the critic on X_train. Returns the selected samples."""
    cfg, lc, real = st.cfg, st.cfg.loop, st.real
    syn, pr = w.samples, w.predictions
    t0 = time.perf_counter()
    if st.real_feat is None:
        st.real_feat = st.score(real).features
    res = select(pr.probs, syn.labels, pr.features, st.real_feat, real.labels, mode=lc.selection,
                 theta=lc.theta, w_within=lc.w_within, w_between=lc.w_between, form=lc.score_form,
                 keep_fraction=lc.keep_fraction, filter_mode=lc.filter, fallback_fraction=lc.filter_fallback_fraction,
                 rng=np.random.default_rng(derive_seed(cfg.seed, "random_selection", w.round)))
    chosen = syn.subset(res.selected_index)
    t1 = time.perf_counter()
    chosen.save(f.round_selected_path(w.round))
    f.write_json(f.round_scores_path(w.round), {
        "round": w.round, "best_epoch": w.best_epoch, "class_names": list(syn.class_names),
        "candidates": [
            {"name": str(syn.names[i]), "class": int(syn.labels[i]), "confidence": float(res.confidence[i]),
             "passed_filter": bool(res.passed_filter[i]), "by_fallback": bool(res.by_fallback[i]),
             "d_within": _num(res.d_within[i]),
             "d_between": _num(res.d_between[i]), "score": _num(res.score[i]), "selected": bool(res.selected[i])}
            for i in range(len(syn))]})
    left = st.grow_pool(chosen)
    x_train = st.x_train
    st.gen_ts = st.gen.tensors(x_train)
    t2 = time.perf_counter()
    upd = []
    if lc.critic_mode == "updated":
        crit_ts, b = to_tensors(x_train, st.critic.device), st.critic.cfg.batch_size
        parts = [st.epoch_set(crit_ts, b, "critic", w.round, e) for e in range(lc.critic_update_epochs)]
        upd = [st.critic.train_epoch(p) for p in parts]
        w.record["critic_steps"] = [math.ceil(len(p) / b) for p in parts]
        st.real_feat = None  # the critic changed
    w.record.update({"filter": lc.filter, "counts": res.per_class_counts(syn.labels, real.num_classes),
                     "pool_size": len(st.pool), **({"pool_left": left} if lc.pool_cap is not None else {}),
                     "critic_update": upd, "time_select": t1 - t0,
                     "time_critic_update": time.perf_counter() - t2})
    fb = int(res.by_fallback.sum())
    f.log(f"round {w.round}: best epoch {w.best_epoch} (CAS {w.best_cas:.3f}); kept "
          f"{int(res.passed_filter.sum())} after the filter{f' ({fb} by the per-class fallback)' if fb else ''}, "
          f"selected {len(chosen)}; pool {len(st.pool)}{f' ({left} oldest left: loop.pool_cap)' if left else ''}"
          f"{'; critic not updated (independent)' if lc.critic_mode == 'independent' else ''}")
    return chosen


def _resume(f: RunFolder, cfg: RunConfig, sp: Splits, gen: GenerativeTrainer, critic: RecognizerTrainer,
            device) -> tuple[LoopState, int]:
    """The loop's state after its last committed round (``state.json``'s ``rounds_done``):
    that round's checkpoints and the samples selected in rounds 1..done. Anything a killed
    round wrote after that commit (a later round's checkpoints, scores, samples) is ignored."""
    done = int(f.state().get("rounds_done", 0))
    if not done:
        return LoopState(cfg, sp.train, gen, critic), 0

    def committed(name: str):
        path = f.round_checkpoint(name, done)
        return path if path.exists() else f.checkpoint(name)  # a run folder of an older version

    st = LoopState(cfg, sp.train, load_trainer(committed("generator"), device),
                   RecognizerTrainer.load(committed("critic"), device))
    if cfg.loop.selection != "none":  # the pool as the rounds grew it (the same cap applied in order)
        for r in range(1, done + 1):
            st.grow_pool(MotionSet.load(f.round_selected_path(r)))
        st.gen_ts = st.gen.tensors(st.x_train)
    st.epochs_log = [e for e in f.read_json(f.epochs_path, []) if e["epoch"] <= done * cfg.loop.window]
    st.rounds_log = f.read_json(f.rounds_path, [])[:done]
    return st, done


def _meta(cfg: RunConfig) -> dict:
    return {"preprocess": cfg.data.preprocess().to_dict()}


def _commit_round(f: RunFolder, st: LoopState, r: int) -> None:
    """Round ``r + 1``'s checkpoints under round-tagged names and the logs, then ``rounds_done``
    last (the commit); the previous round's checkpoints go after it."""
    st.gen.save(f.round_checkpoint("generator", r + 1))
    st.critic.save(f.round_checkpoint("critic", r + 1), meta=_meta(st.cfg))
    f.write_json(f.epochs_path, st.epochs_log)
    f.write_json(f.rounds_path, st.rounds_log)
    if st.pool is not None:  # for readers of a running run; a resume rebuilds the pool from the rounds
        st.pool.save(f.synthetic_path)
    f.set_state(rounds_done=r + 1)
    _drop_round_checkpoints(f, keep=r + 1)


def _drop_round_checkpoints(f: RunFolder, keep: int | None) -> None:
    for name in ("generator", "critic"):
        for path in f.round_checkpoints(name):
            if keep is None or path != f.round_checkpoint(name, keep):
                path.unlink(missing_ok=True)


def _finish(f: RunFolder, st: LoopState) -> None:
    """The loop's final generator, critic and pool under their final names, then the phase's
    marker; the round checkpoints are no longer needed."""
    st.gen.save(f.checkpoint("generator"))
    st.critic.save(f.checkpoint("critic"), meta=_meta(st.cfg))
    if st.pool is not None:
        st.pool.save(f.synthetic_path)
    f.mark_done("loop")
    _drop_round_checkpoints(f, keep=None)


def loop_phase(f: RunFolder, cfg: RunConfig, sp: Splits, gen: GenerativeTrainer, critic: RecognizerTrainer,
               device, progress: bool, stop_after_rounds: int | None = None) -> MotionSet | None:
    """All rounds of the loop (resuming after the last committed round); the recycled pool."""
    if f.phase_done("loop"):
        return load_or_none(f.synthetic_path)
    lc = cfg.loop
    st, done = _resume(f, cfg, sp, gen, critic, device)
    bar = tqdm(total=lc.epochs, initial=done * lc.window, desc=f"loop ({lc.selection})", disable=not progress)
    try:
        for r in range(done, lc.rounds):
            w = run_window(st, r, f, bar)
            if lc.selection != "none":
                recycle_round(st, w, f)
            else:
                f.log(f"round {w.round}: best epoch {w.best_epoch} (CAS {w.best_cas:.3f}); no recycling (baseline)")
            st.rounds_log.append(w.record)
            _commit_round(f, st, r)
            if stop_after_rounds is not None and r + 1 >= stop_after_rounds and r + 1 < lc.rounds:
                raise Stopped(r + 1)
    finally:
        bar.close()
    _finish(f, st)
    return st.pool
