"""Learning rate as a function of the epoch (so a resumed run needs no scheduler state).

:func:`lr_at` gives the learning rate of the epoch with 0-based index ``epoch``:

* warm-up (``warmup_epochs`` = W > 0): epoch e < W runs at ``lr (e + 1) / W``, so the last
  warm-up epoch (e = W - 1) reaches ``lr``;
* ``constant``: ``lr`` afterwards (W = 0: the trainers' behaviour before schedules);
* ``cosine``: ``lr (1 + cos(pi (e - W) / (E - W))) / 2`` for W <= e < E (E = the configured
  number of epochs): ``lr`` at e = W, decaying towards 0, which it would reach at e = E;
  the last epoch (e = E - 1) still learns a little. Epochs past E (the loop's critic
  updates after its training) keep the last epoch's rate.

The rate changes once per epoch, not per batch: our data sets give a few batches an epoch.
"""
from __future__ import annotations

import math

__all__ = ["SCHEDULES", "lr_at"]

SCHEDULES = ("constant", "cosine")


def lr_at(epoch: int, lr: float, schedule: str = "constant", total_epochs: int = 0,
          warmup_epochs: int = 0) -> float:
    """The learning rate of the epoch with 0-based index ``epoch`` (see module docstring)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if epoch < 0 or warmup_epochs < 0:
        raise ValueError(f"need epoch >= 0 and warmup_epochs >= 0, got {epoch}, {warmup_epochs}")
    if epoch < warmup_epochs:
        return lr * (epoch + 1) / warmup_epochs
    if schedule == "constant" or total_epochs <= warmup_epochs:
        return lr
    e = min(epoch, total_epochs - 1)
    return lr * 0.5 * (1.0 + math.cos(math.pi * (e - warmup_epochs) / (total_epochs - warmup_epochs)))
