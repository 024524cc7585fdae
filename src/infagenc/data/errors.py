"""Errors and exclusion reports of the data layer.

Every problem names the file and, where there is one, the sample. Readers either raise
:class:`DataError` at the first bad sample (``on_bad="error"``, the default) or leave the
bad sample out and record an :class:`Exclusion` (``on_bad="skip"``); nothing is dropped
or zero-filled without a record.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["DataError", "Exclusion", "check_on_bad"]


class DataError(ValueError):
    """Bad input data. ``file`` and ``sample`` say where."""

    def __init__(self, message: str, *, file: str | None = None, sample: str | None = None):
        self.file = None if file is None else str(file)
        self.sample = None if sample is None else str(sample)
        self.reason = message
        where = []
        if self.file:
            where.append(self.file)
        if self.sample is not None:
            where.append(f"sample {self.sample!r}")
        super().__init__(f"{': '.join(where)}: {message}" if where else message)


@dataclass(frozen=True)
class Exclusion:
    """A sample left out, and why."""

    file: str
    sample: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.file}: sample {self.sample!r}: {self.reason}"


def check_on_bad(on_bad: str) -> str:
    if on_bad not in ("error", "skip"):
        raise ValueError(f"on_bad must be 'error' or 'skip', got {on_bad!r}")
    return on_bad
