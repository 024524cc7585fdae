"""Repeated measurements and their 95% intervals.

A metric that depends on random draws (pairs of samples, resampled sets) is computed R
times with independent random streams and reported as its mean and a 95% interval of
that mean, ``ci95 = 1.96 * std / sqrt(R)``.

Choices where the paper is silent:

* ``std`` is the *sample* standard deviation (``ddof=1``), the unbiased-variance
  estimate a confidence interval for a mean calls for. The released ACTOR code uses
  ``np.std`` (``ddof=0``), which gives an interval smaller by a factor
  ``sqrt((R - 1) / R)`` (0.975 for R = 20).
* With a single repeat (R = 1) the spread is unknown: ``std`` and ``ci95`` are NaN.
* ``ci95`` uses the normal quantile 1.96 (the convention of the field's tables, right for
  R = 20 repeats); ``ci95_t`` uses Student's t with R - 1 degrees of freedom, the honest
  interval for a handful of run seeds (t = 2.78 for 5 seeds, 4.30 for 3).
* Which interval where: results over a handful of run seeds (recognition accuracy per
  training set) are shown with ``ci95_t`` and their n; ``ci95`` is kept for the R = 20
  repeats of the generation metrics. :func:`interval_t` reads ``ci95_t`` from a summary's
  JSON (or computes it from ``std`` and ``R`` for a summary written before it existed);
  :func:`no_spread` tells a summary whose repeats are all identical (std 0: no interval to
  show, e.g. a metric drawn from the whole set in every repeat).
* Repeat r draws from ``np.random.default_rng(SeedSequence(seed).spawn(R)[r])``: the
  streams are independent, and the first r repeats do not depend on R.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

__all__ = ["Summary", "interval_t", "jsonable", "no_spread", "repeat", "repeat_rngs", "t95"]

Z95 = 1.96


@dataclass(frozen=True)
class Summary:
    """Mean of R repeated values with a 95% interval of the mean (``mean ± ci95``)."""

    mean: float
    ci95: float
    std: float
    values: tuple[float, ...]
    R: int

    @classmethod
    def from_values(cls, values: Sequence[float]) -> "Summary":
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.size == 0:
            raise ValueError("a summary needs at least one value")
        r = int(v.size)
        std = float(v.std(ddof=1)) if r > 1 else math.nan
        return cls(float(v.mean()), Z95 * std / math.sqrt(r), std, tuple(float(x) for x in v), r)

    @property
    def ci95_t(self) -> float:
        """95% interval of the mean with Student's t quantile (R - 1 degrees of freedom)."""
        return t95(self.R) * self.std / math.sqrt(self.R) if self.R >= 2 else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "ci95": self.ci95, "ci95_t": self.ci95_t, "std": self.std, "R": self.R,
                "values": list(self.values)}

    def format(self, digits: int = 3) -> str:
        """``"mean ± ci95"`` with the given number of decimals (the paper's table cells)."""
        return f"{self.mean:.{digits}f} ± {self.ci95:.{digits}f}"

    def __str__(self) -> str:
        return self.format()


def t95(n: int) -> float:
    """Student's t quantile 0.975 with n - 1 degrees of freedom (12.706 for n = 2, 4.303 for
    n = 3); NaN for n < 2."""
    if n < 2:
        return math.nan
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1))


def _number(x) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else math.nan


def _count(d: Mapping) -> int:
    n = d.get("R")
    return int(n) if isinstance(n, int) else len(d.get("values") or ())


def interval_t(d: Mapping) -> float:
    """The t-interval (``ci95_t``) of a summary's JSON (:meth:`Summary.to_dict`); computed from
    ``std`` and ``R`` when the dict has none (written before ``ci95_t`` existed). NaN when
    there is no spread to measure (one value)."""
    ci = _number(d.get("ci95_t"))
    if math.isfinite(ci):
        return ci
    n, std = _count(d), _number(d.get("std"))
    return t95(n) * std / math.sqrt(n) if n >= 2 and math.isfinite(std) else math.nan


def no_spread(d: Mapping) -> bool:
    """Whether a summary of two or more values has them all identical (std 0, up to
    floating-point noise): there is then no interval to show."""
    n, std, mean = _count(d), _number(d.get("std")), _number(d.get("mean"))
    if n < 2 or not math.isfinite(std):
        return False
    return std <= 1e-9 * max(1.0, abs(mean) if math.isfinite(mean) else 1.0)


def repeat_rngs(seed: int, R: int) -> Iterator[np.random.Generator]:
    """R independent generators derived from ``seed`` (the streams every repeat uses)."""
    if R < 1:
        raise ValueError(f"R must be at least 1, got {R}")
    for child in np.random.SeedSequence(seed).spawn(R):
        yield np.random.default_rng(child)


def repeat(fn: Callable[[np.random.Generator], float], R: int = 20, seed: int = 0) -> Summary:
    """Call ``fn(rng)`` R times, each with its own generator, and summarise the results."""
    return Summary.from_values([float(fn(rng)) for rng in repeat_rngs(seed, R)])


def jsonable(obj: Any) -> Any:
    """Nested dicts / lists with :class:`Summary` leaves -> plain JSON-ready values."""
    if isinstance(obj, Summary):
        return obj.to_dict()
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
