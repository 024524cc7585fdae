"""Model size names, one set for every model (recognizers and the CVAE).

* ``paper``: the sizes the papers give;
* ``slim``: our smaller models, sized for a CPU.

``small`` is a **legacy alias** of ``slim``: it was the CVAE's name for its slim size before
the names were unified. :func:`canonical_size` maps it (this is the one place that does), so
old configs, scripts and command lines that say ``small`` for the CVAE keep working.
Recognizers never used ``small``; their configs accept only :data:`SIZES`.
"""
from __future__ import annotations

__all__ = ["SIZES", "LEGACY_SIZES", "canonical_size"]

SIZES = ("paper", "slim")
LEGACY_SIZES = {"small": "slim"}  # old name -> size name


def canonical_size(size: str) -> str:
    """``size`` as one of :data:`SIZES`, legacy aliases mapped (``small`` -> ``slim``)."""
    size = LEGACY_SIZES.get(size, size)
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    return size
