"""Skeleton layouts, rotation representations and forward kinematics (no models, no data I/O)."""
from . import blazepose as _blazepose  # noqa: F401  (registers the blazepose33 layout)
from .layouts import Layout, LayoutError, get_layout, list_layouts, load_layout_file, register_layout, resolve_layout
from .rotations import REPRESENTATION_CHANNELS, convert
from .kinematics import RestSkeleton, forward_kinematics, fk_from_representation, infant_rest_skeleton

__all__ = [
    "Layout", "LayoutError", "get_layout", "list_layouts", "load_layout_file", "register_layout",
    "resolve_layout", "REPRESENTATION_CHANNELS", "convert", "RestSkeleton", "forward_kinematics",
    "fk_from_representation", "infant_rest_skeleton",
]
