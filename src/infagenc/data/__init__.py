"""Data layer: the motion-set model, readers and writers, preprocessing, splits, demo data."""
from .errors import DataError, Exclusion
from .motionset import MotionSet

__all__ = ["DataError", "Exclusion", "MotionSet"]
