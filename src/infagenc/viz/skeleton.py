"""Skeleton pictures: single frames, animations (GIF / MP4) and snapshot grids (paper Fig. 2).

Choices:

* Views. 3D joint positions are shown by orthographic projection onto two axes named by
  ``view``: ``"xy"`` (default: x to the right, y up; the demo infant lies on its back
  seen from above, head towards +y), ``"xz"``, ``"zy"``, ... An axis may be flipped
  with a minus sign, e.g. ``"x-y"`` for image keypoints whose y axis points down.
* Colours: bones and joints of the left side (the first joint of each pair in
  ``layout.lr_pairs``) red, right side blue, the rest dark grey. A bone takes the side
  of its child joint (an extra, non-tree edge is on a side only when both ends are).
* Rotation representations (``rot6d``, ``axis_angle``) are turned into joint positions
  with :meth:`MotionSet.to_xyz` (forward kinematics; ``rest`` selects the rest skeleton).
* Padding frames (at and after a sample's length) are never drawn; in a side-by-side
  animation a shorter sequence holds its last frame.
* GIFs are written with pillow (an adaptive palette per frame, looping forever; the
  frame time is rounded to GIF's 10 ms steps and kept at 20 ms or more, the shortest
  time browsers honour). MP4 needs the optional ``video`` extra (``imageio`` and
  ``imageio-ffmpeg``, which ships its own ffmpeg); frames are padded with white to a
  multiple of 16 pixels for the H.264 encoder.
* Playback: the data's frame rate when the set records one, else 30 fps; the last frame
  is held ``hold`` seconds (default 1) before the animation starts again, so the end of
  a movement is seen as an end.
* Panel titles are wrapped to the panel's width, and the figure keeps room above the
  panels for their lines, so titles never overlap each other, the skeletons or the edge.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection
from tqdm.auto import tqdm

from ..data.motionset import MotionSet
from ..skeleton.layouts import Layout, resolve_layout
from .figure import new_figure, render_rgb, save_figure

__all__ = [
    "SIDE_COLORS",
    "SkeletonArtists",
    "animate",
    "animate_classes",
    "draw_skeleton",
    "project",
    "snapshot_grid",
]

SIDE_COLORS = {"left": "#d62728", "right": "#1f77b4", "centre": "#404040"}
_VIEW = re.compile(r"(-?)([xyz])(-?)([xyz])")
_ANIMATION_SUFFIXES = (".gif", ".mp4")


# --------------------------------------------------------------- geometry
def project(points, view: str = "xy") -> np.ndarray:
    """Orthographic projection of (..., C) positions (C = 2 or 3) onto the two axes of ``view``."""
    p = np.asarray(points, dtype=np.float64)
    m = _VIEW.fullmatch(view)
    if m is None or m.group(2) == m.group(4):
        raise ValueError(f"view must name two different axes of x, y, z, each optionally negated "
                         f"(e.g. 'xy', 'xz', 'x-y'), got {view!r}")
    c = p.shape[-1]
    if c not in (2, 3):
        raise ValueError(f"positions need 2 or 3 values per joint, got {c}")
    out = []
    for sign, axis in ((m.group(1), m.group(2)), (m.group(3), m.group(4))):
        k = "xyz".index(axis)
        if k >= c:
            raise ValueError(f"view {view!r} uses axis {axis!r} but the positions are 2D (x, y)")
        out.append(-p[..., k] if sign else p[..., k])
    return np.stack(out, axis=-1)


def _joint_sides(layout: Layout) -> list[str]:
    sides = ["centre"] * layout.num_joints
    for left, right in layout.lr_pairs:
        sides[left], sides[right] = "left", "right"
    return sides


def _bones(layout: Layout) -> tuple[np.ndarray, list[str]]:
    """Edges (E, 2) and the side of each: a tree bone takes its child's side."""
    joint = _joint_sides(layout)
    edges = np.asarray(layout.edges, dtype=np.int64).reshape(-1, 2)
    n_tree = len(layout.tree_edges)
    sides = [joint[a] if k < n_tree else (joint[a] if joint[a] == joint[b] else "centre")
             for k, (a, b) in enumerate(edges)]
    return edges, sides


def _check_frame(frame, layout: Layout) -> np.ndarray:
    f = np.asarray(frame, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] != layout.num_joints or f.shape[1] not in (2, 3):
        raise ValueError(f"a frame must be (V, 2|3) positions with V = {layout.num_joints} "
                         f"({layout.name}), got {f.shape}")
    return f


# ----------------------------------------------------------------- drawing
@dataclass
class SkeletonArtists:
    """What :func:`draw_skeleton` added to an axes; :meth:`update` moves it to a new frame."""

    bones: LineCollection
    joints: PathCollection
    layout: Layout
    view: str
    edges: np.ndarray

    def update(self, frame, offset: tuple[float, float] = (0.0, 0.0)) -> None:
        p = project(_check_frame(frame, self.layout), self.view) + np.asarray(offset, dtype=np.float64)
        self.bones.set_segments(p[self.edges])
        self.joints.set_offsets(p)


def draw_skeleton(ax: Axes, frame, layout: Layout | str, *, view: str = "xy",
                  offset: tuple[float, float] = (0.0, 0.0), alpha: float = 1.0, linewidth: float = 2.0,
                  joint_size: float = 8.0, colors: dict[str, str] | None = None) -> SkeletonArtists:
    """Draw one frame (V, 2|3) of joint positions onto ``ax``.

    ``offset`` shifts the projected skeleton (in data units of the view); ``colors``
    overrides :data:`SIDE_COLORS` (keys ``left``, ``right``, ``centre``). The axes' data
    limits grow to include the skeleton; limits and aspect are otherwise the caller's.
    """
    layout = resolve_layout(layout)
    colors = {**SIDE_COLORS, **(colors or {})}
    p = project(_check_frame(frame, layout), view) + np.asarray(offset, dtype=np.float64)
    edges, bone_sides = _bones(layout)
    bones = LineCollection(p[edges], colors=[colors[s] for s in bone_sides], linewidths=linewidth,
                           alpha=alpha, capstyle="round", zorder=2)
    ax.add_collection(bones, autolim=False)
    joints = ax.scatter(p[:, 0], p[:, 1], s=joint_size, c=[colors[s] for s in _joint_sides(layout)],
                        alpha=alpha, zorder=3, linewidths=0)
    ax.update_datalim(p)
    ax.autoscale_view()
    return SkeletonArtists(bones, joints, layout, view, edges)


def _fit_axes(ax: Axes, points2d: np.ndarray, margin: float = 0.08, square: bool = False) -> None:
    """Equal-aspect view of the points, without ticks or frame.

    ``square``: fixed square limits (animation panels, where the limits must hold every
    frame); otherwise the limits follow the points and widen along one axis to fill the
    axes box at equal aspect.
    """
    if square:
        lo, hi = points2d.min(axis=0), points2d.max(axis=0)
        centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-3) * (1 + margin)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_aspect("equal", adjustable="box")
    else:
        ax.ignore_existing_data_limits = True
        ax.update_datalim(points2d)
        ax.margins(margin)
        ax.autoscale_view()
        ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


# ------------------------------------------------------------------ inputs
def _positions(ms: MotionSet, rest=None) -> MotionSet:
    return ms if ms.rep in ("xyz", "xy") else ms.to_xyz(rest)


def _panels(motion, layout, titles, rest) -> tuple[list[np.ndarray], list[str], Layout, float | None]:
    """Sequences (T_i, V, C) of positions, panel titles, layout and frame rate of the input."""
    fps = None
    if isinstance(motion, MotionSet):
        ms = _positions(motion, rest)
        if len(ms) == 0:
            raise ValueError("nothing to animate: the motion set is empty")
        seqs = [ms.sequence(i) for i in range(len(ms))]
        default = [(ms.class_names[ms.labels[i]] if ms.labelled else "")
                   + (" (generated)" if ms.source[i] == "synthetic" else "") + f"\n{ms.names[i]}"
                   for i in range(len(ms))]
        layout, fps = ms.layout, ms.fps
    else:
        if layout is None:
            raise ValueError("pass the layout of the joint positions (a Layout or its name)")
        layout = resolve_layout(layout)
        arr = motion if isinstance(motion, (list, tuple)) else np.asarray(motion)
        if isinstance(arr, np.ndarray):
            if arr.ndim == 3:
                arr = arr[None]
            if arr.ndim != 4:
                raise ValueError(f"expected (T, V, C), (N, T, V, C) or a list of (T, V, C), got {arr.shape}")
        seqs = [np.asarray(s, dtype=np.float64) for s in arr]
        if not seqs:
            raise ValueError("nothing to animate: no sequences")
        default = [""] * len(seqs)
    for k, s in enumerate(seqs):
        if s.ndim != 3 or s.shape[1] != layout.num_joints or s.shape[2] not in (2, 3) or len(s) == 0:
            raise ValueError(f"sequence {k}: expected (T, {layout.num_joints}, 2|3) joint positions, got {s.shape}"
                             f" (rotations: pass a MotionSet, converted by forward kinematics)")
        if not np.isfinite(s).all():
            raise ValueError(f"sequence {k}: non-finite joint positions")
    if titles is not None and len(titles) != len(seqs):
        raise ValueError(f"{len(titles)} titles for {len(seqs)} sequences")
    return seqs, list(titles) if titles is not None else default, layout, fps


# -------------------------------------------------------------- animation
def _require_video():
    try:
        import imageio.v2 as iio
        import imageio_ffmpeg  # noqa: F401  (ships the ffmpeg binary)
    except ImportError as e:
        raise ImportError("writing MP4 needs the optional video extra: pip install 'infagenc[video]' "
                          "(imageio, imageio-ffmpeg); or write a .gif") from e
    return iio


def _write_gif(frames: list[np.ndarray], path: Path, fps: float, hold: float = 0.0) -> None:
    from PIL import Image

    ms = max(20, int(round(100.0 / fps)) * 10)
    durations = [ms] * len(frames)
    durations[-1] += int(round(100.0 * hold)) * 10
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations if len(frames) > 1 else
                   durations[0], loop=0)


def _write_mp4(frames: list[np.ndarray], path: Path, fps: float, hold: float = 0.0) -> None:
    iio = _require_video()
    h, w = frames[0].shape[:2]
    ph, pw = -h % 16, -w % 16
    frames = frames + [frames[-1]] * int(round(hold * fps))
    with iio.get_writer(path, fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=16) as out:
        for f in frames:
            out.append_data(np.pad(f, ((0, ph), (0, pw), (0, 0)), constant_values=255))


_TITLE_SIZE = 9.0  # points


def _wrap_title(title: str, panel_size: float) -> str:
    """A title's lines wrapped to the panel's width (about 0.6 em per character)."""
    width = max(8, int(panel_size * 72 / (0.6 * _TITLE_SIZE)))
    return "\n".join(textwrap.fill(line, width, break_long_words=True) or " " for line in str(title).split("\n"))


def _animation_figure(seqs: list[np.ndarray], titles: list[str], layout: Layout, view: str, panel_size: float,
                      dpi: float):
    """The figure of an animation, its first frame drawn: (figure, artists per panel, frame counter).

    Above the panels the figure keeps room for the longest (wrapped) title, below them for
    the frame counter, so nothing overlaps."""
    wrapped = [_wrap_title(t, panel_size) for t in titles]
    lines = max((w.count("\n") + 1 for w in wrapped if w.strip()), default=0)
    head = (lines * _TITLE_SIZE * 1.3 + 10) / 72 if lines else 0.1  # inches
    foot = 0.25
    height = panel_size + head + foot
    fig = new_figure(panel_size * len(seqs), height, dpi)
    fig.subplots_adjust(left=0.02, right=0.98, top=1 - head / height, bottom=foot / height, wspace=0.06)
    axes = fig.subplots(1, len(seqs), squeeze=False)[0]
    artists = []
    for ax, seq, title in zip(axes, seqs, wrapped):
        artists.append(draw_skeleton(ax, seq[0], layout, view=view))
        _fit_axes(ax, project(seq, view).reshape(-1, 2), square=True)
        ax.set_title(title, fontsize=_TITLE_SIZE, pad=4)
    counter = fig.text(0.01, 0.3 * foot / height, "", fontsize=7, color="0.3")
    return fig, artists, counter


def animate(motion, path: str | Path, *, layout: Layout | str | None = None, fps: float | None = None,
            titles: Sequence[str] | None = None, view: str = "xy", stride: int = 1, panel_size: float = 3.5,
            dpi: float = 100, hold: float = 1.0, rest=None, progress: bool = False) -> Path:
    """Animate one or several sequences side by side and write a ``.gif`` or ``.mp4``.

    Args:
        motion: a :class:`MotionSet` (every sample a panel, titled with its class and
            name; rotations go through forward kinematics), or joint positions as a
            (T, V, C) array, an (N, T, V, C) array (all T frames of each), or a list
            of (T_i, V, C) arrays.
        path: output file; the suffix picks the format.
        layout: the layout of array input (a MotionSet carries its own).
        fps: playback frame rate (default: the set's ``fps``, else 30).
        view: projection plane (see :func:`project`).
        stride: draw every ``stride``-th frame (playback keeps real time).
        panel_size, dpi: size of each panel in inches, and resolution (default 350 pixels
            a panel).
        hold: seconds the last frame stays before the animation loops.
        rest: rest skeleton for forward kinematics (default: the infant skeleton, smpl24).
        progress: show a progress bar over frames.

    Each panel has fixed limits that hold its whole sequence; the frame number is printed
    in the corner. Returns the path written.
    """
    path = Path(path)
    if path.suffix.lower() not in _ANIMATION_SUFFIXES:
        raise ValueError(f"{path}: animations are written as {' or '.join(_ANIMATION_SUFFIXES)}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if hold < 0:
        raise ValueError(f"hold must be 0 or more seconds, got {hold}")
    if path.suffix.lower() == ".mp4":
        _require_video()
    seqs, titles, layout, set_fps = _panels(motion, layout, titles, rest)
    fps = float(fps or set_fps or 30.0)
    fig, artists, counter = _animation_figure(seqs, titles, layout, view, panel_size, dpi)
    total = max(len(s) for s in seqs)
    frames = []
    for t in tqdm(range(0, total, stride), desc=f"animating {path.name}", disable=not progress, leave=False):
        for art, seq in zip(artists, seqs):
            art.update(seq[min(t, len(seq) - 1)])
        counter.set_text(f"frame {t + 1}/{total}")
        frames.append(render_rgb(fig))
    path.parent.mkdir(parents=True, exist_ok=True)
    (_write_gif if path.suffix.lower() == ".gif" else _write_mp4)(frames, path, fps / stride, hold)
    return path


def _class_indices(ms: MotionSet, name: str) -> np.ndarray:
    if name not in ms.class_names:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(ms.labels == ms.class_names.index(name))


def _pick(ms: MotionSet, name: str, k: int, rng: np.random.Generator) -> list[int]:
    idx = _class_indices(ms, name)
    return rng.choice(idx, size=min(k, len(idx)), replace=False).tolist() if len(idx) else []


def _class_columns(real: MotionSet, generated: MotionSet | None, classes: Sequence[str] | None) -> list[str]:
    if classes is not None:
        return [str(c) for c in classes]
    names = list(real.class_names)
    if generated is not None:
        names += [c for c in generated.class_names if c not in names]
    if not names:
        raise ValueError("the motion sets are unlabelled: nothing to arrange by class")
    return names


def animate_classes(real: MotionSet, generated: MotionSet | None, out_dir: str | Path, *,
                    samples_per_class: int = 1, classes: Sequence[str] | None = None, seed: int = 0,
                    suffix: str = ".gif", fps: float | None = None, rest=None, **kwargs) -> list[Path]:
    """One animation per class: ``samples_per_class`` real samples then as many generated
    ones side by side (drawn at random with ``seed``), written to ``out_dir/<class>.gif``.

    Classes are matched by name (default: the real set's classes, then any others of the
    generated set); a class with no sample in either set is skipped. ``fps`` defaults to
    the real set's; ``rest`` is the rest skeleton for forward kinematics; other keyword
    arguments go to :func:`animate`. Returns the paths written.
    """
    if samples_per_class < 1:
        raise ValueError(f"samples_per_class must be at least 1, got {samples_per_class}")
    if generated is not None and generated.layout != real.layout:
        raise ValueError(f"real ({real.layout.name}) and generated ({generated.layout.name}) layouts differ")
    rng = np.random.default_rng(seed)
    real_xyz = _positions(real, rest)
    gen_xyz = None if generated is None else _positions(generated, rest)
    out_dir = Path(out_dir)
    written = []
    for name in _class_columns(real, generated, classes):
        seqs, titles = [], []
        for label, ms in (("real", real_xyz), ("generated", gen_xyz)):
            if ms is None:
                continue
            for i in _pick(ms, name, samples_per_class, rng):
                seqs.append(ms.sequence(i))
                titles.append(f"{name} ({label})\n{ms.names[i]}")
        if not seqs:
            continue
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "class"
        written.append(animate(seqs, out_dir / f"{safe}{suffix}", layout=real.layout, titles=titles,
                               fps=fps or real.fps, **kwargs))
    return written


# --------------------------------------------------------------- snapshots
def _draw_snapshots(ax: Axes, seq: np.ndarray, layout: Layout, view: str, k: int, arrangement: str) -> None:
    """Key frames of one sequence: side by side (left to right in time) or overlaid (fading in)."""
    keys = np.unique(np.round(np.linspace(0, len(seq) - 1, k)).astype(int))
    proj = project(seq[keys], view)
    if arrangement == "side":
        centre_u = proj[:, layout.center, 0]
        width = float((proj[..., 0].max(axis=1) - proj[..., 0].min(axis=1)).max()) or 1.0
        offsets = [(n * 1.15 * width - centre_u[n], 0.0) for n in range(len(keys))]
        alphas = np.ones(len(keys))
    else:
        offsets = [(0.0, 0.0)] * len(keys)
        alphas = np.linspace(0.25, 1.0, len(keys)) if len(keys) > 1 else np.ones(1)
    for t, off, a in zip(keys, offsets, alphas):
        draw_skeleton(ax, seq[t], layout, view=view, offset=off, alpha=float(a), linewidth=1.2, joint_size=3.0)
    _fit_axes(ax, (proj + np.asarray(offsets)[:, None, :]).reshape(-1, 2))


def snapshot_grid(real: MotionSet, generated: MotionSet, path: str | Path, *, frames_per_sample: int = 5,
                  real_rows: int = 1, generated_rows: int = 2, classes: Sequence[str] | None = None,
                  arrangement: str = "side", view: str = "xy", seed: int = 0, cell_size: float = 2.0,
                  dpi: float = 100, rest=None) -> Path:
    """A grid like the paper's Fig. 2: ``real_rows`` rows of real samples, then
    ``generated_rows`` rows of generated ones, one column per class.

    Each cell shows ``frames_per_sample`` key frames evenly spaced over the sample's true
    length, side by side (``arrangement="side"``, each re-centred on the centre joint
    along the horizontal axis) or overlaid, earlier frames fainter (``"overlay"``).
    Samples are drawn at random (``seed``) without repeats within a class; a cell with
    no sample left says so. Classes are matched by name (default: the real set's
    classes, then any others of the generated set). Returns the path written (PNG, PDF
    or SVG by suffix).
    """
    if arrangement not in ("side", "overlay"):
        raise ValueError(f"arrangement must be 'side' or 'overlay', got {arrangement!r}")
    if frames_per_sample < 1 or real_rows < 0 or generated_rows < 0 or real_rows + generated_rows == 0:
        raise ValueError("need frames_per_sample >= 1 and at least one row")
    if generated.layout != real.layout:
        raise ValueError(f"real ({real.layout.name}) and generated ({generated.layout.name}) layouts differ")
    columns = _class_columns(real, generated, classes)
    real_xyz, gen_xyz = _positions(real, rest), _positions(generated, rest)
    rng = np.random.default_rng(seed)
    rows = [("real", real_xyz, i) for i in range(real_rows)] + [("generated", gen_xyz, i) for i in range(generated_rows)]
    picks = {(label, name): _pick(ms, name, real_rows if label == "real" else generated_rows, rng)
             for label, ms in (("real", real_xyz), ("generated", gen_xyz)) for name in columns}
    width = cell_size * (max(1.0, 0.6 * frames_per_sample) if arrangement == "side" else 1.0)
    fig = new_figure(width * len(columns), cell_size * len(rows), dpi)
    axes = fig.subplots(len(rows), len(columns), squeeze=False)
    for r, (label, ms, k) in enumerate(rows):
        for c, name in enumerate(columns):
            ax = axes[r, c]
            chosen = picks[(label, name)]
            if k < len(chosen):
                _draw_snapshots(ax, ms.sequence(chosen[k]), ms.layout, view, frames_per_sample, arrangement)
            else:
                _fit_axes(ax, np.array([[0.0, 0.0], [1.0, 1.0]]))
                ax.text(0.5, 0.5, "no sample", transform=ax.transAxes, ha="center", va="center",
                        fontsize=8, color="0.5")
            if r == 0:
                ax.set_title(name, fontsize=10)
            if c == 0:
                ax.set_ylabel(label, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
