"""Time limits for tests that wait on child processes, scaled by how busy the machine is: on
idle cores a child gets the stated seconds; beside other jobs (a benchmark, a second test run)
it gets up to 4x as long, so a test fails for a hung child and not for a shared machine."""
from __future__ import annotations

import os

MAX_FACTOR = 4.0


def load_factor(load1: float | None = None, cores: int | None = None) -> float:
    """``load1 / cores`` (the 1-minute load average per core) clipped to [1, MAX_FACTOR]."""
    if load1 is None:
        try:
            load1 = os.getloadavg()[0]
        except OSError:  # no load average on this platform: the stated limits as they are
            return 1.0
    cores = cores or os.cpu_count() or 1
    return min(MAX_FACTOR, max(1.0, load1 / cores))


def scaled(seconds: float) -> float:
    """``seconds`` times :func:`load_factor` now."""
    return seconds * load_factor()
