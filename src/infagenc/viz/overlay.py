"""Overlay: extracted skeletons drawn on the frames they came from, to check an extraction by eye.

``overlay(ms, out, sample=...)`` (CLI: ``infagenc viz overlay``) decodes the sample's source
video, image or folder of frames again (the file recorded by ``infagenc data extract``, or
``source=``) and draws the sample's keypoints on each frame:

* bones and joints in the skeleton pictures' colours (:data:`~infagenc.viz.skeleton.SIDE_COLORS`:
  the person's left red, right blue, the rest dark grey); a joint whose confidence is below
  ``min_conf`` (default 0.5) and the bones touching it are drawn light grey, a joint as a ring;
* every source frame is shown, in order: a frame the extraction left out (no main person,
  ``--on-missing drop``) is drawn without a skeleton and labelled ``no main person``; an
  interpolated frame is labelled ``interpolated`` (its skeleton light grey: confidence 0);
* the frame index of the source is written in the top-left corner;
* output by suffix: ``.mp4`` (H.264 through the ``video`` extra's imageio-ffmpeg, else
  OpenCV's ``mp4v`` encoder when the ``pose`` extra is installed), ``.gif`` (pillow; frames
  scaled down to at most ``gif_width`` pixels wide, default 480, to keep the file small) or,
  for a one-frame sample, ``.png``. :func:`default_suffix` is ``.mp4`` when an encoder is
  there, else ``.gif``. Playback at the sample's frame rate (10 fps when it has none).

Sets that do not come from ``extract`` can be drawn too when they hold ``xy`` pixel
coordinates: give ``source``; sample frame ``t`` is then source frame ``t``.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..data.errors import DataError
from ..data.extract import extraction_provenance
from ..data.frames import Source, find_sources, open_frames
from ..data.motionset import MotionSet
from ..jsonio import atomic_write_bytes
from .skeleton import SIDE_COLORS, _bones, _joint_sides, _write_gif, _write_mp4

__all__ = ["overlay", "draw_overlay", "default_suffix", "LOW_CONF_COLOR"]

LOW_CONF_COLOR = "#b0b0b0"
DEFAULT_FPS = 10.0


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def default_suffix() -> str:
    """``.mp4`` when an MP4 encoder is installed (imageio-ffmpeg or OpenCV), else ``.gif``."""
    return ".mp4" if (_has("imageio") and _has("imageio_ffmpeg")) or _has("cv2") else ".gif"


def draw_overlay(rgb: np.ndarray, xy: np.ndarray | None, conf: np.ndarray | None, layout, *,
                 min_conf: float = 0.5, label: str = "") -> np.ndarray:
    """One frame (H, W, 3) uint8 with the (V, 2) pixel keypoints drawn on it (None: none)."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(np.ascontiguousarray(rgb[..., :3]).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    h, w = rgb.shape[:2]
    width = max(2, int(round(np.hypot(h, w) / 300)))
    if xy is not None:
        xy = np.asarray(xy, dtype=np.float64)
        ok = np.ones(len(xy), bool) if conf is None else np.asarray(conf) >= min_conf
        edges, sides = _bones(layout)
        for (a, b), side in zip(edges, sides):
            colour = SIDE_COLORS[side] if ok[a] and ok[b] else LOW_CONF_COLOR
            draw.line([tuple(xy[a]), tuple(xy[b])], fill=colour, width=width)
        r = 1.5 * width
        for j, side in enumerate(_joint_sides(layout)):
            x, y = xy[j]
            box = [x - r, y - r, x + r, y + r]
            if ok[j]:
                draw.ellipse(box, fill=SIDE_COLORS[side])
            else:
                draw.ellipse(box, outline=LOW_CONF_COLOR, width=max(1, width // 2))
    if label:
        tw = int(draw.textlength(label)) + 8
        draw.rectangle([0, 0, tw, 14], fill="white")
        draw.text((4, 1), label, fill="black")
    return np.asarray(img)


def _pick(ms: MotionSet, sample: str | int | None) -> int:
    names = ms.names.tolist()
    if sample is None:
        if len(ms) != 1:
            raise ValueError(f"the set has {len(ms)} samples: name one with --sample (e.g. {names[0]!r})")
        return 0
    if isinstance(sample, int) or (isinstance(sample, str) and sample.isdigit() and sample not in names):
        i = int(sample)
        if not 0 <= i < len(ms):
            raise ValueError(f"sample index {i} out of range 0..{len(ms) - 1}")
        return i
    if sample not in names:
        close = [n for n in names if str(sample) in n][:5] or names[:5]
        raise ValueError(f"no sample {sample!r} in the set; e.g. {', '.join(close)}")
    return names.index(sample)


def _source(path: Path) -> Source:
    if path.is_dir():
        return Source(path.name, path, "frames")
    (src,) = find_sources(path)
    return src


def _write(frames: list[np.ndarray], out: Path, fps: float, gif_width: int) -> None:
    suffix = out.suffix.lower()
    if suffix == ".png":
        if len(frames) != 1:
            raise ValueError(f"{out}: a .png holds one frame, the sample has {len(frames)}: write .mp4 or .gif")
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(frames[0]).save(buf, format="png")
        atomic_write_bytes(out, buf.getvalue())
    elif suffix == ".gif":
        h, w = frames[0].shape[:2]
        if w > gif_width:
            from PIL import Image

            size = (gif_width, max(1, int(round(h * gif_width / w))))
            frames = [np.asarray(Image.fromarray(f).resize(size, Image.BILINEAR)) for f in frames]
        _write_gif(frames, out, fps)
    elif suffix == ".mp4":
        if _has("imageio") and _has("imageio_ffmpeg"):
            _write_mp4(frames, out, fps)
        elif _has("cv2"):
            import cv2

            h, w = frames[0].shape[:2]
            vw = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            if not vw.isOpened():
                raise ValueError(f"{out}: OpenCV cannot write MP4 here; write a .gif")
            for f in frames:
                vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
            vw.release()
        else:
            raise ValueError(f"{out}: no MP4 encoder installed (pip install 'infagenc[video]'); write a .gif")
    else:
        raise ValueError(f"{out}: write .mp4, .gif or (one frame) .png")


def overlay(ms: MotionSet, out: str | Path, *, sample: str | int | None = None, source: str | Path | None = None,
            min_conf: float = 0.5, gif_width: int = 480, progress: bool = True) -> Path:
    """Draw one sample's keypoints on its source frames and write ``out`` (see the module docstring)."""
    out = Path(out)
    if ms.rep != "xy":
        raise ValueError(f"the overlay draws image keypoints (xy pixels, as infagenc data extract writes); "
                         f"this set holds {ms.rep!r}")
    i = _pick(ms, sample)
    name = str(ms.names[i])
    n = int(ms.lengths[i])
    prov = extraction_provenance(ms).get(name)
    if source is None and prov is None:
        raise ValueError(f"sample {name!r} has no extraction record (it was not made by infagenc data extract): "
                         f"give its video or frames with --source")
    src = _source(Path(source if source is not None else prov["file"]))
    kept = prov["frames"] if prov is not None else list(range(n))
    interp = set(prov["interpolated"]) if prov is not None else set()
    if len(kept) != n:
        raise DataError(f"the extraction record lists {len(kept)} frames, the sample has {n}", sample=name)
    at = {f: t for t, f in enumerate(kept)}
    frames = open_frames(src)
    fps = (prov or {}).get("fps") or ms.fps or DEFAULT_FPS
    drawn: list[np.ndarray] = []
    conf = None if ms.conf is None else ms.conf[i]
    bar = tqdm(total=frames.count, desc=f"overlay {name}", unit="frame", disable=not progress, leave=False)
    try:
        for f, rgb in enumerate(frames):
            bar.update(1)
            t = at.get(f)
            tag = f"frame {f}" + (" interpolated" if f in interp else "") + ("" if t is not None else
                                                                              " no main person")
            drawn.append(draw_overlay(rgb, None if t is None else ms.data[i, t], None if t is None or conf is None
                                      else conf[t], ms.layout, min_conf=min_conf, label=tag))
    finally:
        bar.close()
    if not drawn:
        raise DataError("no frame could be decoded", file=str(src.path))
    if kept and kept[-1] >= len(drawn):
        raise DataError(f"the source has {len(drawn)} frames but the sample uses frame {kept[-1]}: is it the file "
                        f"the sample was extracted from?", file=str(src.path))
    _write(drawn, out, float(fps), gif_width)
    return out
