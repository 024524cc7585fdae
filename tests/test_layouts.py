import json

import pytest

from infagenc.skeleton.layouts import Layout, LayoutError, get_layout, list_layouts, load_layout_file, resolve_layout

EXPECTED = {"smpl24": 24, "ntu25": 25, "kinect20": 20, "msr20": 20, "coco17": 17, "h36m17": 17,
            "infant14": 14, "minirgbd14": 14}


@pytest.mark.parametrize("name,v", sorted(EXPECTED.items()))
def test_builtin_layouts_are_valid_trees(name, v):
    lay = get_layout(name)
    assert lay.num_joints == v
    order = lay.topological_order()
    assert sorted(order) == list(range(v))  # every joint reachable from the root
    pos = {j: i for i, j in enumerate(order)}
    assert all(pos[p] < pos[j] for j, p in enumerate(lay.parents) if p >= 0)
    assert len(lay.tree_edges) == v - 1
    # left/right pairs really are left and right
    for a, b in lay.lr_pairs:
        if name != "msr20":
            assert "left" in lay.joints[a] and "right" in lay.joints[b], (lay.joints[a], lay.joints[b])
    perm = lay.mirror_permutation()
    assert [perm[p] for p in perm] == list(range(v))


def test_list_layouts_covers_spec():
    assert set(EXPECTED) <= set(list_layouts())


def test_known_joint_structure():
    smpl = get_layout("smpl24")
    assert smpl.joints[smpl.parents[smpl.index("left_wrist")]] == "left_elbow"
    ntu = get_layout("ntu25")
    assert ntu.joints[ntu.center] == "spine_shoulder"
    assert ntu.joints[ntu.parents[ntu.index("left_hand_tip")]] == "left_hand"


def test_unknown_layout_is_a_clear_error():
    with pytest.raises(LayoutError, match="unknown layout 'nope'.*smpl24"):
        get_layout("nope")


@pytest.mark.parametrize("parents,msg", [
    ([-1, -1, 0], "exactly one root"),
    ([-1, 2, 1], "cycle"),
    ([-1, 0, 7], "out of range"),
    ([-1, 0], "2 parents for 3 joints"),
])
def test_malformed_layouts_are_refused(parents, msg):
    with pytest.raises(LayoutError, match=msg):
        Layout("bad", ("a", "b", "c"), tuple(parents), 0)


def test_user_layout_from_toml_and_json(tmp_path):
    toml = tmp_path / "tri.toml"
    toml.write_text('name = "tri"\njoints = ["root", "l", "r"]\nparents = [-1, "root", "root"]\n'
                    'center = "root"\nlr_pairs = [["l", "r"]]\nextra_edges = [["l", "r"]]\n')
    lay = load_layout_file(toml)
    assert lay.parents == (-1, 0, 0) and lay.lr_pairs == ((1, 2),) and lay.edges[-1] == (1, 2)
    assert resolve_layout("tri") is lay  # registered under its name
    js = tmp_path / "bad.json"
    js.write_text(json.dumps({"name": "bad", "joints": ["a", "b"], "parents": [-1, "zz"]}))
    with pytest.raises(LayoutError, match="bad.json.*unknown joint 'zz'"):
        load_layout_file(js)


def test_layout_dict_round_trip():
    lay = get_layout("coco17")
    assert Layout.from_dict(lay.to_dict()) == lay
