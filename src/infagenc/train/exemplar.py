"""Exemplar-conditioned (posterior) sampling of the CVAE: variants around real samples.

Every requested sample has an *exemplar*, a sequence of a given motion set (typically the
real training set). The exemplar is encoded (eval mode, z = its posterior), a latent is
drawn from ``N(mu, (tau sigma)^2)`` (``tau`` the temperature: 0 gives ``z = mu``, the
exemplar's reconstruction; 1 the posterior itself) and decoded under the exemplar's class at
its length, through :func:`~infagenc.train.generator.decode_motionset` (so the samples get
the rot6d projection and the root constraint of :func:`~infagenc.train.generator.sample_motionset`).

* **Counts** (``counts``): ``proportional``: every exemplar gets ``per_exemplar`` variants,
  so the classes keep the exemplar set's proportions (output order: exemplar by exemplar);
  ``balanced``: the same number of samples for every class the exemplars cover
  (``per_class``; default ``per_exemplar`` x the largest class's exemplar count, so no
  exemplar gets fewer than ``per_exemplar``), each class's exemplars cycled in set order
  (output order: class by class); ``per_class`` may also be a count for each class.
* **Randomness**: the noise of all samples is drawn from ``torch.Generator().manual_seed(seed)``
  on the CPU in output order (independent of the batching and the device); sampling-time
  ``dropout`` runs under torch's RNG seeded with ``seed``.
* **Provenance**: the exemplar of every sample is recorded in its name, which
  :class:`~infagenc.data.motionset.MotionSet` save / load keep: the name of
  :func:`~infagenc.train.generator.sample_motionset` followed by :data:`EXEMPLAR_MARK` and
  the exemplar's name (``syn-run-e3-r1-s7-000012-kick-ex=<exemplar name>``);
  :func:`exemplar_name` reads it back.
* **Source-distance filter** (``max_distance``, off by default): a sample whose mean
  per-joint distance to its exemplar (joint positions, rotation data through forward
  kinematics; :func:`~infagenc.metrics.pose.mean_joint_distance`) exceeds ``max_distance``
  is dropped; how many were dropped is in the result (:class:`ExemplarSamples`) and in a
  note of the returned motion set, never silent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..data.motionset import MotionSet
from ..metrics.pose import mean_joint_distance
from ..models.cvae import CVAE
from ..skeleton.kinematics import RestSkeleton
from .batching import batch_indices
from .device import autocast
from .generator import MotionSpec, decode_motionset, motion_tensors

__all__ = ["SAMPLING_MODES", "EXEMPLAR_COUNTS", "EXEMPLAR_MARK", "ExemplarSamples", "exemplar_plan",
           "exemplar_name", "posterior_latents", "source_distances", "sample_exemplars", "sample_around"]

SAMPLING_MODES = ("prior", "exemplar")  # z ~ N(0, I) (the paper) | around real samples (this module)
EXEMPLAR_COUNTS = ("proportional", "balanced")
EXEMPLAR_MARK = "-ex="


def exemplar_name(name: str) -> str | None:
    """The exemplar recorded in a sample name (None: not an exemplar sample)."""
    _, mark, tail = str(name).partition(EXEMPLAR_MARK)
    return tail if mark else None


def exemplar_plan(labels: np.ndarray, num_classes: int, *, per_exemplar: int = 1, counts: str = "proportional",
                  per_class: int | Sequence[int] | None = None) -> np.ndarray:
    """The exemplar (index into ``labels``, the exemplars' classes) of every requested sample,
    in output order (see the module docstring for ``counts``)."""
    labels = np.asarray(labels, np.int64).reshape(-1)
    if counts not in EXEMPLAR_COUNTS:
        raise ValueError(f"counts must be one of {EXEMPLAR_COUNTS}, got {counts!r}")
    if per_exemplar < 1:
        raise ValueError(f"per_exemplar must be >= 1, got {per_exemplar}")
    if counts == "proportional":
        if per_class is not None:
            raise ValueError("per_class is for counts='balanced'; proportional counts take per_exemplar")
        return np.repeat(np.arange(len(labels)), per_exemplar)
    members = [np.flatnonzero(labels == c) for c in range(num_classes)]
    if per_class is None:
        per_class = per_exemplar * max((len(m) for m in members), default=0)
    if np.isscalar(per_class):
        want = [int(per_class) if len(m) else 0 for m in members]
    else:
        want = [int(v) for v in per_class]
        if len(want) != num_classes:
            raise ValueError(f"per_class has {len(want)} counts for {num_classes} classes")
    if min(want, default=0) < 0:
        raise ValueError("per_class counts must be >= 0")
    empty = [c for c in range(num_classes) if want[c] and not len(members[c])]
    if empty:
        raise ValueError(f"class index {empty[0]} has no exemplar to sample around ({want[empty[0]]} requested)")
    parts = [members[c][np.arange(want[c]) % len(members[c])] for c in range(num_classes) if want[c]]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


@torch.inference_mode()
def posterior_latents(model: CVAE, x: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor,
                      index: np.ndarray, tau: float, seed: int, batch_size: int = 256,
                      precision: str = "fp32") -> torch.Tensor:
    """(len(index), latent_dim) CPU latents ``mu + tau sigma eps`` of the exemplars
    ``x[index]`` (each used exemplar encoded once, in eval mode); ``eps`` from
    ``torch.Generator().manual_seed(seed)`` in output order."""
    if not tau >= 0:
        raise ValueError(f"tau must be >= 0, got {tau}")
    used, inverse = np.unique(np.asarray(index, np.int64), return_inverse=True)
    dev = next(model.parameters()).device
    mu = torch.zeros(len(used), model.latent_dim)
    logvar = torch.zeros(len(used), model.latent_dim)
    was = model.training
    model.eval()
    try:
        for idx in batch_indices(len(used), batch_size, shuffle=False):
            sel = torch.as_tensor(used[idx.numpy()])
            lens = lengths[sel].to(dev)
            with autocast(dev, precision):
                m, lv = model.encode(x[sel][:, : int(lens.max())].to(dev), labels[sel].to(dev), lens)
            mu[idx], logvar[idx] = m.float().cpu(), lv.float().cpu()
    finally:
        model.train(was)
    eps = torch.randn((len(inverse), model.latent_dim), generator=torch.Generator().manual_seed(int(seed)))
    inv = torch.as_tensor(inverse.reshape(-1), dtype=torch.long)
    return mu[inv] + float(tau) * torch.exp(0.5 * logvar[inv]) * eps


@dataclass
class ExemplarSamples:
    """What :func:`sample_exemplars` made: the kept ``samples``, the ``exemplar`` (index into
    the exemplar set) and, with the filter, the mean per-joint ``distance`` to it of each kept
    sample; ``requested`` and ``dropped`` counts."""

    samples: MotionSet
    exemplar: np.ndarray
    distance: np.ndarray | None
    requested: int
    dropped: int
    max_distance: float | None = None

    def summary(self) -> dict:
        return {"requested": self.requested, "kept": len(self.samples), "dropped": self.dropped,
                "max_distance": self.max_distance}


def _positions(ms: MotionSet, rest: RestSkeleton | None) -> np.ndarray:
    try:
        return ms.to_xyz(rest).data
    except ValueError as e:
        raise ValueError(f"the source-distance filter needs joint positions: {e}") from None


def source_distances(samples: MotionSet, sources: MotionSet, rest: RestSkeleton | None = None) -> np.ndarray:
    """(N,) mean per-joint distance (:func:`~infagenc.metrics.pose.mean_joint_distance`) of
    every sample to its source, the sample of ``sources`` at the same index (same length):
    joint positions, rotation data through forward kinematics with ``rest`` (default: the
    infant skeleton for ``smpl24``), the translation included where a set has one."""
    if len(samples) != len(sources):
        raise ValueError(f"{len(samples)} samples for {len(sources)} sources")
    if (samples.lengths != sources.lengths).any():
        raise ValueError("every sample must have its source's length")
    if not len(samples):
        return np.zeros(0)
    t = int(samples.lengths.max())
    return mean_joint_distance(_positions(samples, rest)[:, :t], _positions(sources, rest)[:, :t], samples.lengths)


def _exemplar_set(exemplars: MotionSet, spec: MotionSpec) -> MotionSet:
    if not len(exemplars):
        raise ValueError("the exemplar set is empty")
    if not exemplars.labelled:
        raise ValueError("exemplars must be labelled: a sample is decoded under its exemplar's class")
    return exemplars.relabel(spec.class_names) if exemplars.class_names != spec.class_names else exemplars


def sample_exemplars(model: CVAE, spec: MotionSpec, exemplars: MotionSet, per_exemplar: int = 1,
                     tau: float = 1.0, *, seed: int, counts: str = "proportional",
                     per_class: int | Sequence[int] | None = None, max_distance: float | None = None,
                     rest: RestSkeleton | None = None, batch_size: int = 256, precision: str = "fp32",
                     dropout: float | None = None, provenance: dict | None = None,
                     progress: bool = False) -> ExemplarSamples:
    """Variants around the sequences of ``exemplars`` (see the module docstring), on the
    model's device, under ``torch.inference_mode``.

    Args:
        per_exemplar, counts, per_class: how many samples, see :func:`exemplar_plan`.
        tau: temperature of the posterior (>= 0; 0: z = mu).
        seed: seeds the noise and the sampling-time dropout; recorded per sample.
        max_distance: the source-distance filter's threshold (None: off).
        rest: rest skeleton for the filter's forward kinematics of rotation data (default:
            the shipped infant skeleton for ``smpl24``).
        dropout, provenance, batch_size, precision, progress: as for
            :func:`~infagenc.train.generator.sample_motionset`.
    """
    if max_distance is not None and not max_distance > 0:
        raise ValueError(f"max_distance must be > 0 or None, got {max_distance}")
    ex = _exemplar_set(exemplars, spec)
    index = exemplar_plan(ex.labels, len(spec.class_names), per_exemplar=per_exemplar, counts=counts,
                          per_class=per_class)
    ts = motion_tensors(ex, spec)
    z = posterior_latents(model, ts.x, ts.labels, ts.lengths, index, tau, seed, batch_size, precision)
    ms = decode_motionset(model, spec, z, ex.labels[index], ex.lengths[index], seed=seed, batch_size=batch_size,
                          precision=precision, dropout=dropout, provenance=provenance, progress=progress,
                          name_suffixes=[EXEMPLAR_MARK + str(n) for n in ex.names[index]])
    if max_distance is None:
        return ExemplarSamples(ms, index, None, len(index), 0)
    src = ex.subset(index)
    if not spec.trans:  # the samples have no translation: compare without the exemplars' either
        src = src.with_data(src.data, trans=None)
    dist = source_distances(ms, src, rest)
    keep = dist <= max_distance
    kept = ms.subset(keep)
    dropped = int((~keep).sum())
    kept.notes.append(f"source-distance filter: dropped {dropped} of {len(ms)} samples farther than "
                      f"{max_distance:g} (mean per-joint distance) from their exemplar")
    return ExemplarSamples(kept, index[keep], dist[keep], len(ms), dropped, float(max_distance))


def sample_around(model: CVAE, spec: MotionSpec, exemplars: MotionSet, per_exemplar: int = 1, tau: float = 1.0,
                  *, seed: int, **options) -> MotionSet:
    """The samples of :func:`sample_exemplars` (same arguments) as a motion set; what the
    source-distance filter dropped is in its ``notes``."""
    return sample_exemplars(model, spec, exemplars, per_exemplar, tau, seed=seed, **options).samples
