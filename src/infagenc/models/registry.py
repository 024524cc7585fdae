"""Recognizers by name: build one for a layout, rebuild one from its checkpoint description.

``build_recognizer("stgcn", layout, in_channels=3, num_classes=10, size="slim", dropout=0.2)``
takes the size's configuration (one of :data:`~infagenc.models.sizes.SIZES`: ``paper`` or
``slim``) and overrides any of its fields with keyword arguments. Both recognizers take
``head_dropout`` (dropout on the pooled features before the linear head; 0 by default, so a
description written before the option rebuilds the same model).
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable

from ..skeleton.layouts import Layout, resolve_layout
from .base import Recognizer
from .msg3d import MSG3D, MSG3DConfig
from .posture import PostureConfig, PostureFusion, PostureNet
from .sizes import SIZES
from .stgcn import STGCN, STGCNConfig

__all__ = ["RECOGNIZERS", "SIZES", "build_recognizer", "build_from_spec", "recognizer_config"]

RECOGNIZERS: dict[str, tuple[type[Recognizer], type]] = {
    "stgcn": (STGCN, STGCNConfig),
    "msg3d": (MSG3D, MSG3DConfig),
    "posture": (PostureNet, PostureConfig),  # single frames (T = 1): models/posture.py
    "posture_fusion": (PostureFusion, PostureConfig),  # 2D + 3D keypoints of an image, late fusion
}


def recognizer_config(name: str, size: str = "paper", **overrides: Any):
    """The architecture config of a model at a size, with overrides."""
    if name not in RECOGNIZERS:
        raise ValueError(f"unknown recognizer {name!r}; known: {', '.join(RECOGNIZERS)}")
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    _, cfg_cls = RECOGNIZERS[name]
    known = {f.name for f in fields(cfg_cls)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"{name}: unknown options {sorted(unknown)}; known: {sorted(known)}")
    factory: Callable = getattr(cfg_cls, size)
    return factory(**overrides)


def build_recognizer(name: str, layout: Layout | str, in_channels: int, num_classes: int,
                     size: str = "paper", **kw: Any) -> Recognizer:
    """A fresh recognizer (weights drawn from torch's global RNG: seed it first)."""
    cfg = recognizer_config(name, size, **kw)
    model_cls, _ = RECOGNIZERS[name]
    return model_cls(resolve_layout(layout), in_channels, num_classes, config=cfg, size=size)


def build_from_spec(spec: dict) -> Recognizer:
    """Rebuild the module described by :meth:`Recognizer.spec` (weights not loaded)."""
    try:
        name, size = spec["model"], spec["size"]
        layout = Layout.from_dict(spec["layout"])
        return build_recognizer(name, layout, int(spec["in_channels"]), int(spec["num_classes"]), size,
                                **spec.get("config", {}))
    except KeyError as e:
        raise ValueError(f"recognizer description lacks {e}") from None
