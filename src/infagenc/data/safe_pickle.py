"""A restricted unpickler for the field's pickled datasets.

The InfActPrimitive / InfantAction releases and PYSKL / MMAction2 annotation files are
pickles. Unpickling an arbitrary pickle runs arbitrary code, and numpy's own pickle
support trusts its input (a dtype's state from the file can clear the flags that mark an
object dtype, and numpy then reads pointers from the file's bytes), so these files are
read with :func:`safe_load`, which admits exactly this:

* the pickle opcodes for plain containers, numbers, strings, bytes, ``True`` / ``False`` /
  ``None`` (dict, list, tuple, set, frozenset);
* ``builtins`` (also Python 2's ``__builtin__``) ``set``, ``frozenset``, ``complex``,
  ``slice`` and ``collections.OrderedDict`` as themselves; ``bytes`` / ``bytearray`` only
  as ``bytes()``, ``bytes(b)`` / ``bytearray(b)`` of bytes, or of a text with the latin-1
  codec (never from a size); ``_codecs.encode(text, "latin1")`` (protocol-2 pickles of
  bytes), any other codec or argument being refused;
* numpy dtypes only as ``numpy.dtype(spec)`` with ``spec`` a plain type string: bool,
  integers, floats, complex numbers, fixed-width bytes ``S`` and text ``U`` (never an
  object ``O``, void / structured ``V``, datetime, sub-array or comma-separated record
  spec), always built as a fresh copy. Its state (the ``BUILD`` that follows in numpy's
  pickles) is read for the byte order and, for ``S`` / ``U``, the item size only; it must
  have no sub-array, names or fields, version 3 and flags 0 or 8 (what numpy writes for
  these types), and the state applied is numpy's own state for the plain dtype so
  described, never the file's flags, alignment or fields;
* numpy arrays only through numpy's three reconstruction paths, each with a plain dtype
  (as above) and the data **in the file**, of exactly the declared size:
  ``_reconstruct(ndarray, (0,), b"b")`` followed by the array state ``(1, shape, dtype,
  is_fortran, data)`` with ``data`` bytes (or a latin-1 text: Python 2); protocol 5's
  ``_frombuffer(bytes, dtype, shape, order)``; ``numpy.ndarray(shape, dtype, bytes)`` (the
  form :func:`~infagenc.data.readers.pyskl.write_pyskl` writes); numpy scalars as
  ``scalar(dtype, bytes)``. No array of objects, no raw pointer, no state (``BUILD``) of
  any other object;
* every array size is checked against :func:`~infagenc.data.limits.max_array_bytes`
  before anything is allocated (and so is the file's own size, as it is read whole).

Anything else (``os.system``, ``builtins.eval``, any class) is refused with
:class:`UnsafePickleError` before it is called: ``find_class`` is the only way a pickle can
reach a callable, and it hands out only the checked callables above. The unpickler is the
standard library's pure-Python one (``pickle._Unpickler``), so that the state of each
object can be checked before it is applied; every failure, of any kind, is a
:class:`~infagenc.data.errors.DataError` naming the file.
"""
from __future__ import annotations

import collections
import io
import math
import pickle
import re
import struct
from pathlib import Path

import numpy as np

from .errors import DataError
from .limits import check_bytes, max_array_bytes

__all__ = ["safe_load", "safe_loads", "UnsafePickleError"]

try:
    from numpy._core import multiarray as _ma  # numpy >= 2
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _ma  # type: ignore

_PLAIN_KINDS = "biufcSU"
_DTYPE_STRING = re.compile(r"[<>|=]?(?:b1|\?|[iu][1248]|f(?:2|4|8|10|12|16)|c(?:8|16|20|24|32)|[SU]\d{1,10})")
_LATIN1 = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"}
_MAX_MESSAGE = 300


class UnsafePickleError(DataError):
    """The pickle refers to something other than plain data."""


def _refuse(what: str) -> UnsafePickleError:
    return UnsafePickleError(f"refused to load: {what} (only containers, numbers, strings and plain numpy "
                             f"arrays are admitted; nothing was run)")


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _plain_dtype(spec) -> np.dtype:
    """A fresh dtype from a plain type string; anything else is refused."""
    if isinstance(spec, bytes):
        spec = spec.decode("latin-1")
    if not isinstance(spec, str) or not _DTYPE_STRING.fullmatch(spec):
        raise _refuse(f"the pickle asks for numpy.dtype({_short(spec)}), not a plain numeric, bool or string type")
    d = np.dtype(spec, align=False, copy=True)
    _check_plain(d)
    return d


def _check_plain(d: np.dtype) -> None:
    if (d.kind not in _PLAIN_KINDS or d.hasobject or d.fields is not None or d.subdtype is not None
            or d.itemsize <= 0 or d.flags != np.dtype(d.str).flags):
        raise _refuse(f"the pickle uses the dtype {_short(d)}, which is not a plain numeric, bool or string type")


def _use_dtype(x) -> np.dtype:
    """The dtype an array is built with: a canonical plain dtype, never the pickle's object."""
    if isinstance(x, (str, bytes)):
        return np.dtype(_plain_dtype(x).str)
    if not isinstance(x, np.dtype):
        raise _refuse(f"an array's dtype is {_short(x)}")
    _check_plain(x)
    return np.dtype(x.str)


def _dtype_state(d: np.dtype, state) -> tuple:
    """numpy's own state of the plain dtype that ``d``'s spec and the file's ``state`` describe."""
    if not isinstance(state, tuple) or len(state) != 8 or state[0] != 3:
        raise _refuse(f"the state of a dtype is {_short(state)}, not that of a plain dtype")
    _, order, subarray, names, fields, elsize, _alignment, flags = state
    if subarray is not None or names is not None or fields is not None:
        raise _refuse("the state of a dtype has a sub-array, names or fields")
    if order not in ("<", ">", "|", "=") or flags not in (0, 8) or not isinstance(elsize, int):
        raise _refuse(f"the state of a dtype is {_short(state)}, not that of a plain dtype")
    if d.kind in "SU":
        width = 4 if d.kind == "U" else 1
        if elsize <= 0 or elsize % width:
            raise _refuse(f"the state of a {d.kind} dtype gives the item size {elsize}")
        target = np.dtype(f"{d.kind}{elsize // width}")
    else:
        if elsize not in (-1, d.itemsize):
            raise _refuse(f"the state of the dtype {d} gives the item size {elsize}")
        target = np.dtype(d.str)
    return target.newbyteorder(order).__reduce__()[2]


def _shape(shape) -> tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if (not isinstance(shape, (tuple, list)) or len(shape) > 32
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise DataError(f"corrupt pickle: an array's shape is {_short(shape)}")
    return tuple(shape)


def _data_bytes(raw) -> bytes | bytearray:
    if isinstance(raw, (bytes, bytearray)):
        return raw
    if isinstance(raw, str):  # Python 2 pickles, decoded as latin-1
        return raw.encode("latin-1")
    raise _refuse(f"an array's data is a {type(raw).__name__}, not bytes (object arrays are not admitted)")


def _latin1(text, encoding="latin1", errors="strict") -> bytes:
    if not isinstance(text, str) or not isinstance(encoding, str) or errors != "strict":
        raise _refuse(f"the pickle encodes {type(text).__name__} with {_short(encoding)}, {_short(errors)}")
    if encoding.lower().replace("_", "-") not in _LATIN1:
        raise _refuse(f"the pickle encodes text with the codec {_short(encoding)} (only latin-1 is admitted)")
    return text.encode("latin-1")


class _RestrictedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler with ``find_class`` closed and ``BUILD`` checked."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, source: str, size: int, limit: int):
        super().__init__(file, encoding="latin1")
        self._source = source
        self._size = size
        self._limit = limit
        self._fresh_dtypes: dict[int, np.dtype] = {}  # made by numpy.dtype(spec), state not yet set
        self._empty_arrays: dict[int, np.ndarray] = {}  # made by _reconstruct, state not yet set
        builtins = {"set": set, "frozenset": frozenset, "complex": complex, "slice": slice,
                    "bytes": self._bytes, "bytearray": self._bytearray}
        self._globals: dict[tuple[str, str], object] = {
            # "__builtin__": Python 2 pickles, and protocol <= 2 pickles written by Python 3 (mmcv / PYSKL
            # write protocol 2; an empty numpy array's data is then pickled as __builtin__.bytes())
            **{(mod, name): obj for mod in ("builtins", "__builtin__") for name, obj in builtins.items()},
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("_codecs", "encode"): _latin1,  # protocol-2 pickles of bytes
            ("numpy", "dtype"): self._dtype,
            ("numpy", "ndarray"): self._ndarray,
        }
        for mod in ("numpy.core", "numpy._core"):
            self._globals[(f"{mod}.multiarray", "_reconstruct")] = self._reconstruct
            self._globals[(f"{mod}.multiarray", "scalar")] = self._scalar
            self._globals[(f"{mod}.numeric", "_frombuffer")] = self._frombuffer

    # ---------------------------------------------------------------- closed doors
    def find_class(self, module: str, name: str):
        obj = self._globals.get((module, name))
        if obj is None:
            raise _refuse(f"the pickle refers to {module}.{name}, which is not plain data")
        return obj

    def persistent_load(self, pid):
        raise UnsafePickleError("refused to load: the pickle uses persistent ids")

    def _check(self, nbytes: int, what: str) -> None:
        check_bytes(nbytes, what, file=self._source, limit=self._limit)

    def _sized(self, dt: np.dtype, shape: tuple[int, ...], data) -> None:
        nbytes = math.prod(shape) * dt.itemsize
        self._check(nbytes, f"an array of shape {shape} and dtype {dt}")
        if len(data) != nbytes:
            raise DataError(f"corrupt pickle: an array of shape {shape} and dtype {dt} needs {nbytes} bytes, "
                            f"the file holds {len(data)}")

    # ---------------------------------------------------------------- builtins
    def _bytes(self, *args):
        return bytes(self._byte_args(args, "bytes"))

    def _bytearray(self, *args):
        return bytearray(self._byte_args(args, "bytearray"))

    @staticmethod
    def _byte_args(args: tuple, what: str) -> bytes | bytearray:
        if not args:
            return b""
        if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
            return args[0]
        if len(args) in (2, 3) and isinstance(args[0], str):
            return _latin1(*args)
        raise _refuse(f"the pickle calls {what}({', '.join(type(a).__name__ for a in args)}) "
                      f"(only bytes, or a text with latin-1, are admitted; never a size)")

    # ---------------------------------------------------------------- numpy
    def _dtype(self, spec, align=False, copy=True):
        d = _plain_dtype(spec)  # align / copy of the file are ignored: always a fresh copy
        self._fresh_dtypes[id(d)] = d
        return d

    def _reconstruct(self, subtype, shape, typecode):
        if subtype != self._ndarray:
            raise _refuse(f"the pickle reconstructs a {_short(subtype)}, not a numpy.ndarray")
        if _shape(shape) != (0,) or typecode not in (b"b", "b"):
            raise _refuse(f"_reconstruct(ndarray, {_short(shape)}, {_short(typecode)}) declares an array "
                          f"whose data are not in the file (numpy writes (0,), b'b')")
        arr = np.ndarray((0,), np.int8)
        self._empty_arrays[id(arr)] = arr
        return arr

    def _ndarray(self, shape, dtype="f8", buffer=None):
        shape, dt, data = _shape(shape), _use_dtype(dtype), buffer
        if not isinstance(data, (bytes, bytearray)):
            raise _refuse(f"numpy.ndarray{_short((shape, str(dt)))} with a {type(data).__name__} buffer: "
                          f"an array whose data are not in the file")
        self._sized(dt, shape, data)
        return np.ndarray(shape, dt, data)

    def _frombuffer(self, buf, dtype, shape, order):
        shape, dt = _shape(shape), _use_dtype(dtype)
        if not isinstance(buf, (bytes, bytearray)) or order not in ("C", "F"):
            raise _refuse(f"_frombuffer with a {type(buf).__name__} buffer and order {_short(order)}")
        self._sized(dt, shape, buf)
        return np.frombuffer(buf, dtype=dt).reshape(shape, order=order)

    def _scalar(self, dtype, data):
        dt, data = _use_dtype(dtype), _data_bytes(data)
        self._sized(dt, (), data)
        return _ma.scalar(dt, bytes(data))

    # ---------------------------------------------------------------- BUILD
    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is np.ndarray and self._empty_arrays.pop(id(inst), None) is inst:
            self._build_array(inst, state)
        elif isinstance(inst, np.dtype) and self._fresh_dtypes.pop(id(inst), None) is inst:
            np.dtype.__setstate__(inst, _dtype_state(inst, state))
            _check_plain(inst)
        else:
            raise _refuse(f"the pickle sets the state of a {type(inst).__name__} (only numpy's state of a "
                          f"plain array or dtype, once, right after it is made)")

    dispatch[pickle.BUILD[0]] = load_build

    def load_bytearray8(self):
        # the standard one allocates the declared length before it reads: check it first
        n, = struct.unpack("<Q", self.read(8))
        if n > self._size:
            raise DataError(f"corrupt pickle: a bytearray of {n} bytes declared in a file of {self._size}")
        self._check(n, "a bytearray")
        b = bytearray(n)
        if self.readinto(b) != n or len(b) != n:
            raise DataError("corrupt pickle: a bytearray is truncated")
        self.append(b)

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8

    def _build_array(self, arr: np.ndarray, state) -> None:
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not isinstance(state, tuple) or len(state) != 4:
            raise DataError(f"corrupt pickle: the state of an array is {_short(state)}")
        shape, dtype, fortran, raw = state
        shape, dt, data = _shape(shape), _use_dtype(dtype), _data_bytes(raw)
        if not isinstance(fortran, (bool, int)):
            raise DataError(f"corrupt pickle: an array's order flag is {_short(fortran)}")
        self._sized(dt, shape, data)
        np.ndarray.__setstate__(arr, (1, shape, dt, bool(fortran), data))


def safe_loads(data: bytes, source: str = "<bytes>", *, limit: int | None = None):
    """Unpickle bytes, admitting only plain data (see module docstring); ``source`` names them,
    ``limit`` (bytes) overrides :func:`~infagenc.data.limits.max_array_bytes`."""
    limit = max_array_bytes() if limit is None else limit
    try:
        return _RestrictedUnpickler(io.BytesIO(data), source, len(data), limit).load()
    except DataError as e:
        if e.file is None:
            raise type(e)(e.reason, file=source, sample=e.sample) from None
        raise
    except Exception as e:  # noqa: BLE001 - any failure of a corrupt file is a DataError naming it
        detail = f"{type(e).__name__}: {e}"
        if len(detail) > _MAX_MESSAGE:
            detail = detail[:_MAX_MESSAGE - 3] + "..."
        raise DataError(f"not a readable pickle, or truncated/corrupt ({detail})", file=source) from None


def safe_load(path: str | Path):
    """Unpickle a file, admitting only plain data (see module docstring)."""
    path = Path(path)
    limit = max_array_bytes()
    try:
        size = path.stat().st_size
        if path.is_file():
            check_bytes(size, "reading the pickle whole", file=str(path), limit=limit)
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("no such file", file=str(path)) from None
    except OSError as e:
        raise DataError(f"cannot read ({e.strerror})", file=str(path)) from None
    return safe_loads(data, str(path), limit=limit)
