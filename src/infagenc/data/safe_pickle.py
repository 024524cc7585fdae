"""A restricted unpickler for the field's pickled datasets.

The InfActPrimitive / InfantAction releases and PYSKL / MMAction2 annotation files are
pickles. Unpickling an arbitrary pickle runs arbitrary code, so these files are read
with :func:`safe_load`, which admits only plain containers, numbers, strings and numpy
arrays / dtypes / scalars. Anything else (``os.system``, ``builtins.eval``, any class)
is refused with :class:`UnsafePickleError` before it is called: ``find_class`` is the
only way a pickle can reach a callable, and it is closed.
"""
from __future__ import annotations

import codecs
import collections
import io
import pickle
from pathlib import Path

import numpy as np

from .errors import DataError

__all__ = ["safe_load", "safe_loads", "UnsafePickleError"]


class UnsafePickleError(DataError):
    """The pickle refers to something other than plain data."""


def _numpy_allowed() -> dict[tuple[str, str], object]:
    try:
        from numpy._core import multiarray as ma  # numpy >= 2
        from numpy._core import numeric as nu
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray as ma  # type: ignore
        from numpy.core import numeric as nu  # type: ignore
    allowed = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = ma._reconstruct
        allowed[(mod, "scalar")] = ma.scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(mod, "_frombuffer")] = nu._frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    # dtype classes that numpy >= 1.25 pickles by name (numpy.dtypes.Float32DType, ...)
    import numpy.dtypes as npd

    for name in dir(npd):
        obj = getattr(npd, name)
        if isinstance(obj, type) and issubclass(obj, np.dtype):
            allowed[("numpy.dtypes", name)] = obj
    return allowed


_BUILTINS = {"set": set, "frozenset": frozenset, "complex": complex, "bytes": bytes, "bytearray": bytearray,
             "slice": slice}
_ALLOWED: dict[tuple[str, str], object] = {
    # "__builtin__": Python 2 pickles, and protocol <= 2 pickles written by Python 3 (mmcv / PYSKL
    # write protocol 2; an empty numpy array's data is then pickled as __builtin__.bytes())
    **{(mod, name): obj for mod in ("builtins", "__builtin__") for name, obj in _BUILTINS.items()},
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): codecs.encode,  # protocol-2 pickles of bytes
}
_ALLOWED.update(_numpy_allowed())


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str):
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise UnsafePickleError(
                f"refused to load: the pickle refers to {module}.{name}, which is not plain data "
                f"(only containers, numbers, strings and numpy arrays are admitted; nothing was run)",
                file=self._source)
        return obj

    def persistent_load(self, pid):
        raise UnsafePickleError("refused to load: the pickle uses persistent ids", file=self._source)


def safe_loads(data: bytes, source: str = "<bytes>"):
    try:
        return _RestrictedUnpickler(io.BytesIO(data), source).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, UnicodeDecodeError, MemoryError) as e:
        raise DataError(f"not a readable pickle, or truncated/corrupt ({type(e).__name__}: {e})",
                        file=source) from None


def safe_load(path: str | Path):
    """Unpickle a file, admitting only plain data (see module docstring)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("no such file", file=str(path)) from None
    except OSError as e:
        raise DataError(f"cannot read ({e.strerror})", file=str(path)) from None
    return safe_loads(data, str(path))
