"""Videos and images as samples: which files under a folder are samples, and their frames.

What :func:`find_sources` takes as one sample (its *name* is its path relative to the input
folder, ``/``-separated; the labels file names samples by it):

* each video file (``.mp4``, ``.avi``, ``.mov``, ``.mkv``, ``.webm``, ``.m4v``, ``.mpg``,
  ``.mpeg``, ``.wmv``), anywhere below the folder;
* each image file (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``, ``.tif``, ``.tiff``, ``.webp``)
  directly in the folder: a one-frame sample;
* each sub-folder that holds image files: one sequence, its images the frames in natural
  name order (``frame2`` before ``frame10``); its name is the sub-folder's path.

An input that is a single video or image file is one sample named by its file name. Hidden
files and folders (``.name``) are skipped.

Frames are decoded with OpenCV (``cv2``, which the ``pose`` extra brings with mediapipe) or,
without it, imageio's ffmpeg reader (the ``video`` extra); images with pillow. Frames are
RGB ``uint8`` arrays (H, W, 3).
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

__all__ = ["VIDEO_SUFFIXES", "IMAGE_SUFFIXES", "Source", "find_sources", "open_frames", "read_image"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Source:
    """One sample's media: ``kind`` is ``video``, ``image`` or ``frames`` (a folder of images)."""

    name: str
    path: Path
    kind: str

    def frame_files(self) -> list[Path]:
        if self.kind != "frames":
            return [self.path]
        return sorted((p for p in self.path.iterdir() if _is_image(p)), key=_natural)


def _natural(p: Path):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")


def _is_video(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith(".")


def find_sources(path: str | Path) -> list[Source]:
    """The samples under ``path`` (see the module docstring), in name order."""
    path = Path(path)
    if path.is_file():
        kind = "video" if _is_video(path) else "image" if _is_image(path) else None
        if kind is None:
            raise DataError(f"neither a video ({', '.join(VIDEO_SUFFIXES)}) nor an image "
                            f"({', '.join(IMAGE_SUFFIXES)})", file=str(path))
        return [Source(path.name, path, kind)]
    if not path.is_dir():
        raise DataError("no such file or folder", file=str(path))
    found: list[Source] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        rel = here.relative_to(path).as_posix()
        files = [here / f for f in sorted(filenames)]
        found += [Source(p.relative_to(path).as_posix(), p, "video") for p in files if _is_video(p)]
        images = [p for p in files if _is_image(p)]
        if rel == ".":
            found += [Source(p.name, p, "image") for p in images]
        elif images:
            found.append(Source(rel, here, "frames"))
    if not found:
        raise DataError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) or images ({', '.join(IMAGE_SUFFIXES)}) here",
                        file=str(path))
    return sorted(found, key=lambda s: s.name)


def read_image(path: Path) -> np.ndarray:
    """An image file as RGB uint8; a DataError naming it when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DataError(f"cannot read this image ({e})", file=str(path)) from None


class _Frames:
    """Frame iterator of one source with its frame rate and (estimated) frame count."""

    def __init__(self, source: Source):
        self.source = source
        self.fps: float | None = None
        self.count: int | None = None
        self._it: Iterator[np.ndarray]
        if source.kind == "video":
            self._it = self._open_video(source.path)
        else:
            files = source.frame_files()
            self.count = len(files)
            self._it = (read_image(p) for p in files)

    def _open_video(self, path: Path) -> Iterator[np.ndarray]:
        try:
            import cv2
        except ImportError:
            return self._open_imageio(path)
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            cap.release()
            raise DataError("cannot decode this video (OpenCV cannot open it)", file=str(path))
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else None
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.count = n if n > 0 else None

        def gen():
            try:
                while True:
                    ok, bgr = cap.read()
                    if not ok:
                        return
                    yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            finally:
                cap.release()

        return gen()

    def _open_imageio(self, path: Path) -> Iterator[np.ndarray]:
        try:
            import imageio.v2 as iio
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ImportError("decoding videos needs OpenCV (the pose extra: pip install 'infagenc[pose]') or "
                              "imageio-ffmpeg (the video extra: pip install 'infagenc[video]')") from None
        try:
            reader = iio.get_reader(str(path), format="FFMPEG")
            meta = reader.get_meta_data()
        except Exception as e:  # noqa: BLE001 - imageio raises many kinds for an unreadable file
            raise DataError(f"cannot decode this video ({type(e).__name__}: {e})", file=str(path)) from None
        self.fps = float(meta["fps"]) if meta.get("fps") else None
        n = meta.get("nframes")
        self.count = int(n) if isinstance(n, (int, float)) and np.isfinite(n) and n > 0 else None

        def gen():
            try:
                for f in reader:
                    yield np.asarray(f)[..., :3]
            finally:
                reader.close()

        return gen()

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._it


def open_frames(source: Source) -> _Frames:
    """The frames of a source (iterate it), with ``fps`` (None when unknown: images) and
    ``count`` (None when the container does not say; for a video OpenCV's estimate)."""
    return _Frames(source)
