"""Small helpers for typed config dataclasses: dict round trips with unknown-key errors,
and reading partial overrides from TOML / JSON files."""
from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["ConfigError", "config_to_dict", "config_from_dict", "read_config_file", "merge_dicts"]

T = TypeVar("T")


class ConfigError(ValueError):
    pass


def config_to_dict(cfg) -> dict:
    """A plain, JSON-ready dict of a (nested) config dataclass."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            v = config_to_dict(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out


def _dataclass_type(tp) -> type | None:
    """The dataclass inside a type annotation (``X`` or ``X | None``), else None."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for a in typing.get_args(tp):
            if dataclasses.is_dataclass(a) and isinstance(a, type):
                return a
    return None


def config_from_dict(cls: type[T], d: dict | None, where: str = "config") -> T:
    """Build ``cls`` from a (partial) dict; missing keys keep their defaults.

    Nested dataclass fields take nested dicts, given on top of the field's own default (a
    partial ``[critic]`` table keeps the run's critic defaults, e.g. its target accuracy, for
    the keys it does not name); an unknown key is an error naming it. A nested dataclass may
    define ``from_dict`` to take over its own parsing.
    """
    d = dict(d or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    names = set(fields)
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        sub = _dataclass_type(hints.get(key))
        if sub is not None and isinstance(value, dict):
            value = _onto_field_default(fields[key], sub, value)
            if hasattr(sub, "from_dict") and sub.from_dict.__qualname__.split(".")[0] == sub.__name__:
                kwargs[key] = sub.from_dict(value)
            else:
                kwargs[key] = config_from_dict(sub, value, f"{where}.{key}")
        elif isinstance(value, list):
            kwargs[key] = tuple(value) if typing.get_origin(hints.get(key)) is tuple else value
        else:
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


def _onto_field_default(f: dataclasses.Field, sub: type, value: dict) -> dict:
    """``value`` merged onto the dict of the field's default instance, when that default is
    not simply ``sub()`` (whose defaults ``sub`` applies itself)."""
    if f.default_factory is dataclasses.MISSING or f.default_factory is sub:
        return value
    default = f.default_factory()
    if not dataclasses.is_dataclass(default) or default == sub():
        return value
    return merge_dicts(config_to_dict(default), value)


def merge_dicts(base: dict, override: dict) -> dict:
    """Recursive merge: values of ``override`` win; nested dicts merge."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_dicts(out[k], v)
        else:
            out[k] = v
    return out


def read_config_file(path: str | Path) -> dict:
    """A dict from a ``.toml`` or ``.json`` config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror})") from None
    except UnicodeDecodeError as e:
        line = path.read_bytes()[:e.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte {e.object[e.start]:#04x}); save the config "
                          f"file as UTF-8") from None
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not a valid config file: {e}") from None
