"""Seeds and sampling requests of a run: every random draw of a run has a seed derived from
the run seed and a purpose, so a resumed run repeats an uninterrupted one."""
from __future__ import annotations

import hashlib

__all__ = ["derive_seed", "balanced_requests"]


def derive_seed(seed: int, *keys) -> int:
    """A seed for one purpose (e.g. ``("sample", epoch)``), stable across runs and platforms."""
    h = hashlib.sha256(repr((int(seed),) + tuple(keys)).encode()).digest()
    return int.from_bytes(h[:8], "little") & (2**62 - 1)


def balanced_requests(num_classes: int, total: int, length: int) -> list[tuple[int, int]]:
    """``total`` (class, length) requests, classes as equal as possible (the first
    ``total % K`` classes get one more), in class order."""
    if num_classes < 1 or total < 0:
        raise ValueError("need num_classes >= 1 and total >= 0")
    base, extra = divmod(total, num_classes)
    return [(c, length) for c in range(num_classes) for _ in range(base + (1 if c < extra else 0))]
