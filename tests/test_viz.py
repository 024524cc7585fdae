"""Pictures: every function writes a valid image or animation."""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from PIL import Image

from infagenc.data.demo import make_demo
from infagenc.skeleton.layouts import get_layout
from infagenc.viz import (SIDE_COLORS, animate, animate_classes, draw_skeleton, history_columns, new_figure,
                          plot_curves, project, snapshot_grid, tsne_plot)


@pytest.fixture(scope="module")
def demo():
    return make_demo(num_subjects=1, per_class=2, seed=0, min_len=10, max_len=14)


def _png(path) -> tuple[int, int]:
    """(width, height) of a valid PNG."""
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG" and im.width > 50 and im.height > 50
        return im.size


def _gif(path) -> tuple[tuple[int, int], int, int]:
    """(size, frame count, frame duration in ms) of a valid GIF, every frame decoded."""
    with Image.open(path) as im:
        assert im.format == "GIF"
        for k in range(im.n_frames):
            im.seek(k)
            im.load()
        return im.size, im.n_frames, im.info["duration"]


# ---------------------------------------------------------------- geometry
def test_project_views():
    p = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(project(p), [[1.0, 2.0]])
    np.testing.assert_array_equal(project(p, "zy"), [[3.0, 2.0]])
    np.testing.assert_array_equal(project(p, "x-z"), [[1.0, -3.0]])
    np.testing.assert_array_equal(project(p[:, :2], "x-y"), [[1.0, -2.0]])
    with pytest.raises(ValueError, match="2D"):
        project(p[:, :2], "xz")
    with pytest.raises(ValueError, match="two different axes"):
        project(p, "xx")


def test_draw_skeleton_colours_sides():
    layout = get_layout("smpl24")
    fig = new_figure(3, 3)
    ax = fig.subplots()
    frame = np.random.default_rng(0).normal(size=(24, 3))
    art = draw_skeleton(ax, frame, layout, view="xz")
    colours = art.bones.get_colors()
    bone_of = {child: k for k, (child, _) in enumerate(layout.tree_edges)}
    left, right = layout.index("left_knee"), layout.index("right_knee")
    np.testing.assert_allclose(colours[bone_of[left]], to_rgba(SIDE_COLORS["left"]))
    np.testing.assert_allclose(colours[bone_of[right]], to_rgba(SIDE_COLORS["right"]))
    np.testing.assert_allclose(colours[bone_of[layout.index("spine1")]], to_rgba(SIDE_COLORS["centre"]))
    np.testing.assert_allclose(art.joints.get_offsets(), frame[:, [0, 2]])
    segs = art.bones.get_segments()
    np.testing.assert_allclose(segs[bone_of[left]], frame[[left, layout.parents[left]]][:, [0, 2]])
    with pytest.raises(ValueError, match="V = 24"):
        draw_skeleton(ax, frame[:10], layout)


# --------------------------------------------------------------- animations
def test_animate_motionset_gif(demo, tmp_path):
    two = demo.subset([0, 2])  # rot6d: forward kinematics inside
    out = animate(two, tmp_path / "a.gif", stride=2, panel_size=2.0, dpi=50)
    size, n_frames, duration = _gif(out)
    assert size == (2 * 2.0 * 50, int((2.0 + 0.4) * 50))
    assert n_frames == math.ceil(int(two.lengths.max()) / 2)
    assert duration >= 20


def test_animate_arrays_of_different_lengths(tmp_path):
    rng = np.random.default_rng(1)
    seqs = [rng.normal(size=(7, 25, 3)), rng.normal(size=(4, 25, 3))]
    out = animate(seqs, tmp_path / "b.gif", layout="ntu25", fps=10, panel_size=1.5, dpi=40,
                  titles=["one", "two"])
    _, n_frames, duration = _gif(out)
    assert n_frames == 7 and duration == 100
    keypoints = rng.uniform(0, 100, size=(5, 17, 2))  # 2D image keypoints, y down
    assert _gif(animate(keypoints, tmp_path / "c.gif", layout="coco17", view="x-y", dpi=30))[1] == 5


def test_animate_errors(demo, tmp_path):
    with pytest.raises(ValueError, match=".gif or .mp4"):
        animate(demo.subset([0]), tmp_path / "a.png")
    with pytest.raises(ValueError, match="layout"):
        animate(np.zeros((3, 24, 3)), tmp_path / "a.gif")
    with pytest.raises(ValueError, match="sequence 0"):
        animate(np.zeros((3, 24, 6)), tmp_path / "a.gif", layout="smpl24")
    bad = np.zeros((3, 24, 3))
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        animate(bad, tmp_path / "a.gif", layout="smpl24")


def test_animate_mp4(demo, tmp_path):
    has_video = importlib.util.find_spec("imageio") and importlib.util.find_spec("imageio_ffmpeg")
    if not has_video:
        with pytest.raises(ImportError, match=r"infagenc\[video\]"):
            animate(demo.subset([0]), tmp_path / "a.mp4")
        assert not (tmp_path / "a.mp4").exists()
    else:
        out = animate(demo.subset([0]), tmp_path / "a.mp4", dpi=40)
        assert out.stat().st_size > 1000


def test_animate_classes(demo, tmp_path):
    gen = make_demo(num_subjects=1, per_class=1, seed=3, min_len=8, max_len=9, classes=("kick", "roll"))
    paths = animate_classes(demo, gen, tmp_path / "anim", seed=0, panel_size=1.5, dpi=30, stride=3)
    assert [p.name for p in paths] == ["kick.gif", "wave_arms.gif", "roll.gif", "reach.gif"]
    kick_size, kick_frames, _ = _gif(paths[0])
    assert kick_size[0] == 2 * 1.5 * 30  # one real and one generated panel
    assert _gif(paths[1])[0][0] == 1.5 * 30  # no generated wave_arms
    assert kick_frames >= 3


# --------------------------------------------------------------- snapshots
@pytest.mark.parametrize("arrangement", ["side", "overlay"])
def test_snapshot_grid(demo, tmp_path, arrangement):
    gen = make_demo(num_subjects=1, per_class=2, seed=5, min_len=10, max_len=12, rep="xyz",
                    classes=("kick", "wave_arms", "roll"))  # no generated 'reach': empty cells
    out = snapshot_grid(demo, gen, tmp_path / f"grid_{arrangement}.png", frames_per_sample=3,
                        arrangement=arrangement, cell_size=1.0, dpi=60)
    width, height = _png(out)
    ratio = width / height
    assert (ratio > 1.3) if arrangement == "side" else (0.9 < ratio < 1.6)  # 4 columns x 3 rows
    with pytest.raises(ValueError, match="arrangement"):
        snapshot_grid(demo, gen, tmp_path / "x.png", arrangement="diagonal")


def test_snapshot_grid_layout_mismatch(demo, tmp_path):
    other = demo.with_data(np.zeros((len(demo), demo.num_frames, 25, 3), np.float32), rep="xyz",
                           layout=get_layout("ntu25"), trans=None)
    with pytest.raises(ValueError, match="layouts differ"):
        snapshot_grid(demo, other, tmp_path / "x.png")


# --------------------------------------------------------------------- t-SNE
def test_tsne_plot_small_sets(tmp_path):
    rng = np.random.default_rng(0)
    feats = {"real train": rng.normal(size=(6, 8)), "real test": rng.normal(size=(3, 8)) + 2,
             "synthetic": rng.normal(size=(4, 8)) - 2}
    labels = {"real train": [0, 1, 2, 0, 1, 2], "real test": [0, 1, 2], "synthetic": [2, 2, 1, 0]}
    out = tsne_plot(feats, labels, tmp_path / "tsne.png", class_names=["a", "b", "c"], seed=3)
    _png(tmp_path / "tsne.png")
    assert {k: v.shape for k, v in out.items()} == {"real train": (6, 2), "real test": (3, 2), "synthetic": (4, 2)}
    again = tsne_plot(feats, labels, tmp_path / "tsne2.png", class_names=["a", "b", "c"], seed=3)
    np.testing.assert_allclose(again["synthetic"], out["synthetic"])
    with pytest.raises(ValueError, match="differ"):
        tsne_plot(feats, {"real train": labels["real train"]}, tmp_path / "x.png")


def test_tsne_plot_two_points(tmp_path):
    out = tsne_plot({"g": np.array([[0.0], [1.0]])}, {"g": [0, 1]}, tmp_path / "t.png")
    assert out["g"].shape == (2, 2) and np.isfinite(out["g"]).all()


# -------------------------------------------------------------------- curves
def test_history_columns():
    x, cols = history_columns([{"epoch": 3, "loss": 1.0, "phase": "a"}, {"epoch": 4, "cas": 0.5}])
    np.testing.assert_array_equal(x, [3, 4])
    assert set(cols) == {"loss", "cas"}
    assert np.isnan(cols["loss"][1]) and np.isnan(cols["cas"][0])
    x, cols = history_columns({"loss": [3.0, 2.0, None], "cas": [0.1]})
    np.testing.assert_array_equal(x, [1, 2, 3])
    assert np.isnan(cols["loss"][2]) and np.isnan(cols["cas"][1:]).all()


def test_plot_curves(tmp_path):
    cas = [0.2, 0.5, 0.4, 0.3, 0.6, 0.7, 0.65, 0.5]
    hist = [{"epoch": e + 1, "loss": 1.0 / (e + 1), "kl": 0.1, "cas": c} for e, c in enumerate(cas)]
    out = plot_curves(hist, tmp_path / "curves.png", panels=[["loss", "kl"], ["cas"]], marks={"cas": [2, 6]},
                      window=4, logy=["loss"], title="demo")
    tall = _png(out)
    single = _png(plot_curves({"cas": cas}, tmp_path / "single.png"))
    assert tall[1] > single[1]  # two panels against one
    with pytest.raises(KeyError, match="nope"):
        plot_curves(hist, tmp_path / "x.png", keys=["nope"])
    with pytest.raises(ValueError, match=r"epochs \[9.0\]"):
        plot_curves(hist, tmp_path / "x.png", keys=["cas"], marks={"cas": [9]})
    with pytest.raises(ValueError, match="not plotted"):
        plot_curves(hist, tmp_path / "x.png", keys=["loss"], marks={"cas": [2]})
