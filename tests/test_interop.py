"""Files for PYSKL / MMAction2 as their pipelines need them, and their own files read back.

These tests check the file contents without the consumers' code; tests/test_interop_mmaction.py
pushes the same files through MMAction2's PoseDataset and pose transforms (extra ``interop``).
"""
from __future__ import annotations

import numpy as np
import pytest
from reader_fixtures import coco_doc, motion, write_json, write_ntu, write_pickle

from infagenc.data import DataError, MotionSet
from infagenc.data.readers import read
from infagenc.data.readers.coco import read_coco
from infagenc.data.readers.interop import NTU25_FILL, to_ntu25
from infagenc.data.readers.ntu import read_ntu
from infagenc.data.readers.pyskl import read_pyskl, write_pyskl
from infagenc.data.safe_pickle import safe_load
from infagenc.skeleton.layouts import get_layout, mmaction_graph, pyskl_graph

NTU_NAMES = ["S001C001P001R001A058", "S001C002P003R001A001", "S002C003P002R002A058"]


def ntu_folder(tmp_path, t: int = 20):
    """Three NTU files: the first a two-person action (body 0 moves more), the others one body."""
    rng = np.random.default_rng(0)
    bodies = {}
    for name in NTU_NAMES:
        main = motion(rng, t, 25, scale=0.08)
        bodies[name] = [main] + ([motion(rng, t, 25, scale=0.01)] if name == NTU_NAMES[0] else [])
        write_ntu(tmp_path / "ntu" / f"{name}.skeleton", bodies[name])
    return tmp_path / "ntu", bodies


def write_read(ms, path, **kw):
    return safe_load(write_pyskl(ms, path, **kw))


# ---------------------------------------------------------------- 1. 3D scores
def test_3d_files_carry_no_score_unless_asked(tmp_path):
    ms = read_ntu(ntu_folder(tmp_path)[0], progress=False)
    assert ms.conf is not None  # the tracking state, kept in the set
    raw = write_read(ms, tmp_path / "ntu.pkl")
    assert not any("keypoint_score" in a for a in raw["annotations"])
    raw = write_read(ms, tmp_path / "scored.pkl", scores=True)
    for a in raw["annotations"]:
        assert a["keypoint_score"].shape == a["keypoint"].shape[:3]
        np.testing.assert_array_equal(a["keypoint_score"], 1.0)  # tracked (2) -> 1


# ------------------------------------------------------- 2. 2D image size, scores
def _sized_coco(tmp_path):
    doc = coco_doc(["Prone", "Supine", "Sitting"])
    sizes = [(960, 720), (2048, 1536), (640, 480)]
    for img, (w, h) in zip(doc["images"], sizes):
        img["width"], img["height"] = w, h
    kp = np.asarray(doc["annotations"][0]["keypoints"]).reshape(-1, 3)
    kp[:3, 2] = [0, 1, 2]
    doc["annotations"][0]["keypoints"] = kp.reshape(-1).tolist()
    return write_json(tmp_path / "syrip.json", doc), sizes


def test_2d_image_size_kept_and_scores_in_unit_range(tmp_path):
    path, sizes = _sized_coco(tmp_path)
    ms = read_coco(path)
    assert ms.image_size.tolist() == [list(s) for s in sizes]
    raw = write_read(ms, tmp_path / "syrip.pkl")
    for a, (w, h) in zip(raw["annotations"], sizes):
        assert tuple(a["img_shape"]) == (h, w) and tuple(a["original_shape"]) == (h, w)
        assert a["keypoint_score"].min() >= 0 and a["keypoint_score"].max() <= 1
    np.testing.assert_array_equal(raw["annotations"][0]["keypoint_score"][0, 0, :3], [0, 0.5, 1])
    back = read_pyskl(tmp_path / "syrip.pkl", progress=False)
    assert back.image_size.tolist() == ms.image_size.tolist()
    ms.save(tmp_path / "syrip.npz")
    assert MotionSet.load(tmp_path / "syrip.npz").image_size.tolist() == ms.image_size.tolist()


def test_2d_without_image_size_warns_or_takes_the_given_shape(tmp_path):
    path, _ = _sized_coco(tmp_path)
    ms = read_coco(path)
    ms.image_size = None
    with pytest.warns(UserWarning, match="3 2D sample.*PreNormalize2D will assume 1080x1920"):
        raw = write_read(ms, tmp_path / "a.pkl")
    assert not any("img_shape" in a for a in raw["annotations"])
    raw = write_read(ms, tmp_path / "b.pkl", img_shape=(720, 960))
    assert all(tuple(a["img_shape"]) == (720, 960) for a in raw["annotations"])
    ms.conf = ms.conf * 3
    with pytest.raises(ValueError, match="confidences range 0..6.*scores=False"):
        write_pyskl(ms, tmp_path / "c.pkl")


# ------------------------------------------------------------ 3. graphs, kinect20
def test_layout_hint_names_their_graph_or_describes_it(tmp_path):
    raw = write_read(read_ntu(ntu_folder(tmp_path)[0], progress=False), tmp_path / "ntu.pkl")
    assert raw["graph"] == "nturgb+d"
    raw = write_read(read_coco(_sized_coco(tmp_path)[0]), tmp_path / "coco.pkl")
    assert raw["graph"] == "coco"
    for name in ("kinect20", "smpl24", "infant14", "minirgbd14", "h36m17", "msr20"):
        lay = get_layout(name)
        g = pyskl_graph(lay)
        assert g == mmaction_graph(lay) and g["num_node"] == lay.num_joints and g["center"] == lay.center
        assert sorted(map(sorted, g["inward"])) == sorted(map(sorted, lay.edges))
        hops = {lay.center: 0}  # hop distance from the centre, level by level
        while len(hops) < lay.num_joints:
            hops.update({y: hops[x] + 1 for a, b in lay.edges for x, y in ((a, b), (b, a))
                         if x in hops and y not in hops})
        # inward: each edge's second joint is the one nearer the centre
        assert all(hops[a] >= hops[b] for a, b in g["inward"]) and any(hops[a] > hops[b] for a, b in g["inward"])
    assert mmaction_graph(get_layout("smpl24"))["inward"][:3] == [[1, 0], [2, 0], [3, 0]]


def _kinect20_set(persons: int = 1) -> MotionSet:
    rng = np.random.default_rng(3)
    data = np.stack([motion(rng, 10, 20) for _ in range(2)]).astype(np.float32)
    second = None if persons == 1 else np.stack([motion(rng, 10, 20) for _ in range(2)]).astype(np.float32)
    return MotionSet(data, [10, 10], [0, 1], ["walk", "sitDown"], ["s01", "s02"], ["s01_e01/walk", "s02_e01/sitDown"],
                     "kinect20", "xyz", second_body=second)


def test_kinect20_exports_in_ntu25_order_with_filled_joints_flagged(tmp_path):
    ms = _kinect20_set(persons=2)
    raw = write_read(ms, tmp_path / "k.pkl", to_layout="ntu25", scores=True)
    ntu, kin = get_layout("ntu25"), get_layout("kinect20")
    assert raw["graph"] == "nturgb+d" and raw["layout"]["name"] == "ntu25"
    assert set(raw["filled_joints"]) == set(NTU25_FILL) == {"neck", "left_hand_tip", "left_thumb", "right_hand_tip",
                                                               "right_thumb"}
    a = raw["annotations"][0]
    kp, x = a["keypoint"], ms.data[0]
    assert kp.shape == (2, 10, 25, 3)
    for src, dst in [("hip_center", "spine_base"), ("spine", "spine_mid"), ("shoulder_center", "spine_shoulder"),
                     ("head", "head"), ("left_wrist", "left_wrist"), ("right_foot", "right_foot")]:
        np.testing.assert_array_equal(kp[0, :, ntu.index(dst)], x[:, kin.index(src)])
    np.testing.assert_allclose(kp[0, :, ntu.index("neck")],
                               (x[:, kin.index("shoulder_center")] + x[:, kin.index("head")]) / 2, rtol=1e-6)
    np.testing.assert_array_equal(kp[0, :, ntu.index("left_thumb")], x[:, kin.index("left_hand")])
    np.testing.assert_array_equal(kp[1, :, ntu.index("spine_base")], ms.second_body[0, :, kin.index("hip_center")])
    filled = [ntu.index(n) for n in NTU25_FILL]
    assert (a["keypoint_score"][:, :, filled] == 0).all() and (np.delete(a["keypoint_score"], filled, -1) == 1).all()
    back = read_pyskl(tmp_path / "k.pkl", progress=False)
    assert back.layout.name == "ntu25" and any("filled by a layout mapping" in n and "neck" in n for n in back.notes)
    mapped, names = to_ntu25(ms)
    assert mapped.layout.name == "ntu25" and names == list(NTU25_FILL) and "kinect20 -> ntu25" in mapped.notes[-1]
    with pytest.raises(ValueError, match="no NTU-25 mapping for layout 'smpl24'.*infagenc data graph smpl24"):
        write_pyskl(MotionSet(np.ones((1, 2, 24, 3)), [2], [0], ["a"], ["s"], ["n"], "smpl24"), tmp_path / "s.pkl",
                    to_layout="ntu25")


# --------------------------------------------------------------- 4. two persons
def test_two_person_ntu_action_written_with_m2_main_first(tmp_path):
    folder, bodies = ntu_folder(tmp_path)
    ms = read_ntu(folder, progress=False)
    i = ms.names.tolist().index(NTU_NAMES[0])
    np.testing.assert_allclose(ms.sequence(i), bodies[NTU_NAMES[0]][0], atol=1e-5)  # the main body: most motion
    np.testing.assert_allclose(ms.second_body[i, : ms.lengths[i]], bodies[NTU_NAMES[0]][1], atol=1e-5)
    assert ms.summary()["two_person_samples"] == 1
    raw = write_read(ms, tmp_path / "ntu.pkl")
    shapes = {a["frame_dir"]: a["keypoint"].shape for a in raw["annotations"]}
    assert shapes == {NTU_NAMES[0]: (2, 20, 25, 3), NTU_NAMES[1]: (1, 20, 25, 3), NTU_NAMES[2]: (1, 20, 25, 3)}
    back = read_pyskl(tmp_path / "ntu.pkl", progress=False)
    np.testing.assert_array_equal(back.second_body, ms.second_body)
    np.testing.assert_array_equal(back.data, ms.data)


def test_second_body_is_additive_in_the_motion_set(tmp_path):
    ms = read_ntu(ntu_folder(tmp_path)[0], progress=False)
    ms.save(tmp_path / "two.npz")
    back = MotionSet.load(tmp_path / "two.npz")
    np.testing.assert_array_equal(back.second_body, ms.second_body)
    np.testing.assert_array_equal(back.second_conf, ms.second_conf)
    sub = ms.subset([0])
    assert sub.second_body.shape == (1,) + ms.data.shape[1:]
    one = read_ntu(ntu_folder(tmp_path / "b")[0] / f"{NTU_NAMES[1]}.skeleton", progress=False)
    assert one.second_body is None
    both = MotionSet.concat([ms, one])  # a set without a second person: zeros (absent)
    assert both.second_body.shape == both.data.shape and not both.second_body[-1].any()
    moved = ms.with_data(ms.data * 2)
    assert moved.second_body is None and moved.second_conf is None and "second_body left out" in moved.notes[-1]
    assert ms.with_data(ms.data).second_body is not None


# -------------------------------------------------------------- 5. NTU labels, splits
def test_ntu_labels_are_action_minus_one_and_splits_standard(tmp_path):
    ms = read_ntu(ntu_folder(tmp_path)[0], progress=False)
    assert ms.class_names == ("A001", "A058")
    raw = write_read(ms, tmp_path / "ntu.pkl")
    labels = {a["frame_dir"]: a["label"] for a in raw["annotations"]}
    assert labels == {NTU_NAMES[0]: 57, NTU_NAMES[1]: 0, NTU_NAMES[2]: 57}
    assert raw["class_names"] == [f"A{i:03d}" for i in range(1, 61)]
    assert raw["split"] == {"xsub_train": [NTU_NAMES[0], NTU_NAMES[2]], "xsub_val": [NTU_NAMES[1]],
                            "xview_train": [NTU_NAMES[1], NTU_NAMES[2]], "xview_val": [NTU_NAMES[0]]}
    back = read_pyskl(tmp_path / "ntu.pkl", split="xsub_val", progress=False)  # one class only: not an error
    assert back.class_names[back.labels[0]] == "A001" and len(back.class_names) == 60
    assert "all" in write_read(ms, tmp_path / "plain.pkl", ntu=False)["split"]


# -------------------------------------------------- 6. PYSKL's own files read back
def _ntu_preproc_doc(rng, t: int = 120, two_d: bool = False) -> dict:
    """As PYSKL's tools/data/ntu_preproc.py (3D) or its NTU HRNet files (2D) lay them out:
    float16, two persons, label = action - 1, no class list. Person 1 moves the most."""
    annos = []
    v, c, offset, amp, noise = (17, 2, 800.0, 600.0, 40.0) if two_d else (25, 3, 1.0, 0.3, 0.01)
    for name in ("S001C001P001R001A050", "S001C002P002R001A050", "S001C003P001R002A052"):
        calm = offset + rng.normal(0, noise, size=(t, v, c))
        busy = offset + amp * np.sin(np.linspace(0, 6, t))[:, None, None] + rng.normal(0, noise, size=(t, v, c))
        a = {"frame_dir": name, "label": int(name[-3:]) - 1, "total_frames": t,
             "keypoint": np.stack([calm, busy]).astype(np.float16)}
        if two_d:
            a["keypoint_score"] = np.full((2, t, v), 0.9, np.float16)
            a["img_shape"] = a["original_shape"] = (1080, 1920)
        annos.append(a)
    names = [a["frame_dir"] for a in annos]
    return {"split": {"xsub_train": names[::2], "xsub_val": names[1:2]}, "annotations": annos}


def test_pyskl_ntu_file_float16_two_persons_reads_with_the_class_list(tmp_path):
    rng = np.random.default_rng(5)
    path = write_pickle(tmp_path / "ntu60_3danno.pkl", _ntu_preproc_doc(rng))
    codes = [f"A{i:03d}" for i in range(1, 61)]
    ms = read_pyskl(path, class_names=codes, progress=False)  # classes absent from the file: noted, no error
    assert [ms.class_names[k] for k in ms.labels] == ["A050", "A050", "A052"]
    assert any("'A001' has no samples" in n for n in ms.notes)
    assert read_pyskl(path, progress=False).class_names == tuple(codes)  # NTU names, label = action - 1
    val = read_pyskl(path, split="xsub_val", class_names=[str(i) for i in range(60)], progress=False)
    assert val.labels.tolist() == [49]
    # 2D pixel values: the motion of either person overflows float16; the choice is made in float64
    doc = _ntu_preproc_doc(rng, two_d=True)
    ms = read_pyskl(write_pickle(tmp_path / "ntu60_hrnet.pkl", doc), progress=False)
    busy = doc["annotations"][0]["keypoint"][1].astype(np.float32)
    np.testing.assert_array_equal(ms.sequence(0), busy)  # the moving person is the main body
    np.testing.assert_array_equal(ms.second_body[0], doc["annotations"][0]["keypoint"][0].astype(np.float32))
    assert ms.image_size.tolist() == [[1920, 1080]] * 3


def test_bare_list_from_custom_2d_skeleton_is_read(tmp_path):
    rng = np.random.default_rng(2)
    annos = [{"frame_dir": f"video{i}", "label": i % 2, "img_shape": (480, 640), "total_frames": 8,
              "num_person_raw": 1, "keypoint": (rng.uniform(10, 400, (1, 8, 17, 2))).astype(np.float16),
              "keypoint_score": rng.uniform(0.2, 1, (1, 8, 17)).astype(np.float16)} for i in range(4)]
    path = write_pickle(tmp_path / "custom.pkl", annos)
    ms = read(path, progress=False)
    assert len(ms) == 4 and ms.rep == "xy" and ms.layout.name == "coco17" and ms.class_names == ("0", "1")
    assert ms.image_size.tolist() == [[640, 480]] * 4 and any("bare list" in n for n in ms.notes)
    with pytest.raises(DataError, match="bare list of annotations.*has no splits; read it without split="):
        read_pyskl(path, split="train", progress=False)
    annos[0]["frame_inds"] = np.arange(8)
    with pytest.raises(DataError, match="video0.*compressed keypoints.*without --compress"):
        read_pyskl(write_pickle(tmp_path / "k400.pkl", annos), progress=False)


# ---------------------------------------------------------------------- the CLI
def test_cli_convert_options_and_graph(tmp_path, capsys):
    import json

    from reader_fixtures import write_utkinect

    from infagenc.cli import main

    folder, _ = ntu_folder(tmp_path)
    assert main(["data", "inspect", str(folder), "--no-progress"]) == 0
    assert "two-person samples: 1" in capsys.readouterr().out
    assert main(["data", "convert", str(folder), str(tmp_path / "s.pkl"), "--scores", "--no-ntu", "--no-progress"]) == 0
    raw = safe_load(tmp_path / "s.pkl")
    assert all("keypoint_score" in a for a in raw["annotations"]) and list(raw["split"]) == ["all"]
    assert sorted(a["label"] for a in raw["annotations"]) == [0, 1, 1]
    write_utkinect(tmp_path / "utk", {"s01_e01": [("walk", "10", "20")], "s02_e01": [("walk", "12", "22")]})
    assert main(["data", "convert", str(tmp_path / "utk"), str(tmp_path / "u.pkl"), "--to-layout", "ntu25",
                 "--no-progress"]) == 0
    raw = safe_load(tmp_path / "u.pkl")
    assert raw["graph"] == "nturgb+d" and raw["annotations"][0]["keypoint"].shape[2] == 25 and raw["filled_joints"]
    doc = coco_doc(["Prone", "Supine"])
    for img in doc["images"]:
        del img["width"], img["height"]
    js = write_json(tmp_path / "c.json", doc)
    assert main(["data", "convert", str(js), str(tmp_path / "c.pkl"), "--img-shape", "720x960"]) == 0
    assert [tuple(a["img_shape"]) for a in safe_load(tmp_path / "c.pkl")["annotations"]] == [(720, 960)] * 2
    with pytest.raises(SystemExit):
        main(["data", "convert", str(js), str(tmp_path / "d.pkl"), "--img-shape", "720"])
    assert "expected HEIGHTxWIDTH" in capsys.readouterr().err
    assert main(["data", "graph", "smpl24"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["graph_cfg"]["layout"]["num_node"] == 24 and out["bone_dataset"] is None
    assert main(["data", "graph", "coco17"]) == 0
    assert json.loads(capsys.readouterr().out)["graph_cfg"] == {"layout": "coco", "mode": "stgcn_spatial"}


# --------------------------------------------------------------- the real data
def test_real_ntu_and_syrip_files_for_pyskl(shared_data, tmp_path):
    from conftest import need

    ms = read_ntu(need(shared_data / "ntu_samples"), progress=False)
    raw = write_read(ms, tmp_path / "ntu.pkl")
    by_name = {a["frame_dir"]: a for a in raw["annotations"]}
    assert by_name["S001C003P008R002A058"]["keypoint"].shape[0] == 2  # the two-person action keeps both
    assert by_name["S001C003P008R002A058"]["label"] == 57 and by_name["S001C001P001R001A001"]["label"] == 0
    assert set(raw["split"]) == {"xsub_train", "xsub_val", "xview_train", "xview_val"}
    assert not any("keypoint_score" in a for a in raw["annotations"])
    coco = read_coco(need(shared_data / "syrip" / "2d_gt" / "train200.json"))
    raw = write_read(coco, tmp_path / "syrip.pkl")
    shapes = {tuple(a["img_shape"]) for a in raw["annotations"]}
    assert len(shapes) > 1 and all(h > 0 and w > 0 for h, w in shapes)
    assert all(0 <= a["keypoint_score"].min() and a["keypoint_score"].max() <= 1 for a in raw["annotations"])
