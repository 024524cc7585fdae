"""Skeleton layouts: joint names, kinematic tree, graph edges, centre joint, left/right pairs.

A :class:`Layout` is the single description of a skeleton that every other part of the
package reads: readers attach it to the data they load, ST-GCN builds its graph from it,
forward kinematics walks its tree, the viewers draw its edges.

Built-in layouts (``get_layout(name)``):

========================  ==  =====================================================
name                      V   what
========================  ==  =====================================================
``smpl24``                24  SMPL / SMIL body joints (the InfAGenC infant layout)
``ntu25``                 25  NTU RGB+D (Kinect v2)
``kinect20``              20  Kinect v1 (UTKinect-Action3D order)
``msr20``                 20  MSR Action3D text files (see note in ``_MSR20``)
``coco17``                17  COCO keypoints (SyRIP 2D)
``h36m17``                17  Human3.6M
``infant14``              14  14-joint infant layout of SyRIP 3D (LSP order)
``minirgbd14``            14  MINI-RGBD 2D annotations
========================  ==  =====================================================

A user declares a new layout in a small TOML or JSON file and loads it with
:func:`load_layout_file`; see ``docs`` in the README for the format.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

__all__ = [
    "Layout",
    "LayoutError",
    "get_layout",
    "list_layouts",
    "load_layout_file",
    "register_layout",
    "resolve_layout",
    "mmaction_graph",
    "pyskl_graph",
    "STOCK_GRAPHS",
]


class LayoutError(ValueError):
    """A layout is malformed or unknown."""


@dataclass(frozen=True)
class Layout:
    """A skeleton layout.

    Attributes:
        name: short identifier (``"smpl24"``).
        joints: joint names, in the order of the joint axis of the data.
        parents: parent index of each joint in the kinematic tree, ``-1`` for the root.
        center: index of the centre joint (ST-GCN's spatial-configuration partition).
        lr_pairs: (left, right) index pairs, used for mirroring and view alignment.
        extra_edges: graph edges that are not tree edges (closing loops, e.g. hip-hip).
        description: free text.
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    center: int
    lr_pairs: tuple[tuple[int, int], ...] = ()
    extra_edges: tuple[tuple[int, int], ...] = ()
    description: str = ""
    _index: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "joints", tuple(str(j) for j in self.joints))
        object.__setattr__(self, "parents", tuple(int(p) for p in self.parents))
        object.__setattr__(self, "lr_pairs", tuple((int(a), int(b)) for a, b in self.lr_pairs))
        object.__setattr__(self, "extra_edges", tuple((int(a), int(b)) for a, b in self.extra_edges))
        object.__setattr__(self, "center", int(self.center))
        self.validate()
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(self.joints)})

    # ------------------------------------------------------------------ queries
    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def root(self) -> int:
        return self.parents.index(-1)

    @property
    def tree_edges(self) -> tuple[tuple[int, int], ...]:
        """(child, parent) pairs of the kinematic tree."""
        return tuple((j, p) for j, p in enumerate(self.parents) if p >= 0)

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """All undirected graph edges: tree edges then extra edges."""
        return self.tree_edges + self.extra_edges

    def index(self, joint: str | int) -> int:
        if isinstance(joint, int):
            if not 0 <= joint < self.num_joints:
                raise LayoutError(f"layout {self.name!r}: joint index {joint} out of range 0..{self.num_joints - 1}")
            return joint
        try:
            return self._index[joint]
        except KeyError:
            raise LayoutError(f"layout {self.name!r} has no joint {joint!r}; joints: {', '.join(self.joints)}") from None

    def topological_order(self) -> list[int]:
        """Joints ordered so that every parent precedes its children."""
        children: dict[int, list[int]] = {i: [] for i in range(self.num_joints)}
        for j, p in enumerate(self.parents):
            if p >= 0:
                children[p].append(j)
        order, stack = [], [self.root]
        while stack:
            j = stack.pop()
            order.append(j)
            stack.extend(reversed(children[j]))
        return order

    def depth_levels(self) -> list[list[int]]:
        """Joints grouped by depth in the tree (level 0 = root)."""
        depth = [0] * self.num_joints
        for j in self.topological_order():
            p = self.parents[j]
            depth[j] = 0 if p < 0 else depth[p] + 1
        levels: list[list[int]] = [[] for _ in range(max(depth) + 1)]
        for j, d in enumerate(depth):
            levels[d].append(j)
        return levels

    def mirror_permutation(self) -> list[int]:
        """Joint permutation that swaps every left/right pair."""
        perm = list(range(self.num_joints))
        for a, b in self.lr_pairs:
            perm[a], perm[b] = b, a
        return perm

    # --------------------------------------------------------------- validation
    def validate(self) -> None:
        v = len(self.joints)
        where = f"layout {self.name!r}"
        if v == 0:
            raise LayoutError(f"{where}: no joints")
        if len(set(self.joints)) != v:
            dup = sorted({j for j in self.joints if self.joints.count(j) > 1})
            raise LayoutError(f"{where}: duplicate joint names {dup}")
        if len(self.parents) != v:
            raise LayoutError(f"{where}: {len(self.parents)} parents for {v} joints")
        roots = [j for j, p in enumerate(self.parents) if p == -1]
        if len(roots) != 1:
            raise LayoutError(f"{where}: the kinematic tree needs exactly one root (parent -1), found {len(roots)}")
        for j, p in enumerate(self.parents):
            if p != -1 and not 0 <= p < v:
                raise LayoutError(f"{where}: parent of joint {j} ({self.joints[j]}) is {p}, out of range 0..{v - 1}")
            if p == j:
                raise LayoutError(f"{where}: joint {j} ({self.joints[j]}) is its own parent")
        # every joint must reach the root without cycles
        for j in range(v):
            seen, k = set(), j
            while k != -1:
                if k in seen:
                    raise LayoutError(f"{where}: the parents form a cycle through joint {j} ({self.joints[j]})")
                seen.add(k)
                k = self.parents[k]
        if not 0 <= self.center < v:
            raise LayoutError(f"{where}: centre joint {self.center} out of range 0..{v - 1}")
        for a, b in self.lr_pairs:
            if not (0 <= a < v and 0 <= b < v) or a == b:
                raise LayoutError(f"{where}: bad left/right pair ({a}, {b})")
        for a, b in self.extra_edges:
            if not (0 <= a < v and 0 <= b < v) or a == b:
                raise LayoutError(f"{where}: bad extra edge ({a}, {b})")

    # ---------------------------------------------------------------- serialise
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "joints": list(self.joints),
            "parents": list(self.parents),
            "center": self.center,
            "lr_pairs": [list(p) for p in self.lr_pairs],
            "extra_edges": [list(e) for e in self.extra_edges],
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: dict, source: str = "<dict>") -> "Layout":
        """Build a layout from a mapping; joints may be referred to by name or index."""
        try:
            joints = [str(j) for j in d["joints"]]
            name = str(d.get("name", Path(source).stem))
        except KeyError as e:
            raise LayoutError(f"{source}: layout needs key {e.args[0]!r}") from None
        idx = {n: i for i, n in enumerate(joints)}

        def ref(x, what):
            if isinstance(x, str):
                if x not in idx:
                    raise LayoutError(f"{source}: {what} names unknown joint {x!r}")
                return idx[x]
            return int(x)

        if "parents" not in d:
            raise LayoutError(f"{source}: layout needs key 'parents'")
        parents = [-1 if p in (-1, None, "") else ref(p, "parents") for p in d["parents"]]
        center = ref(d.get("center", joints[parents.index(-1)] if -1 in parents else 0), "center")
        lr = [(ref(a, "lr_pairs"), ref(b, "lr_pairs")) for a, b in d.get("lr_pairs", [])]
        extra = [(ref(a, "extra_edges"), ref(b, "extra_edges")) for a, b in d.get("extra_edges", [])]
        try:
            return cls(name, tuple(joints), tuple(parents), center, tuple(lr), tuple(extra),
                       str(d.get("description", "")))
        except LayoutError as e:
            raise LayoutError(f"{source}: {e}") from None


def _mk(name, joints, parents, center, lr=(), extra=(), description="") -> Layout:
    return Layout(name, tuple(joints), tuple(parents), center, tuple(lr), tuple(extra), description)


_SMPL24 = _mk(
    "smpl24",
    ["pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
     "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
     "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
     "left_wrist", "right_wrist", "left_hand", "right_hand"],
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21],
    0,
    [(1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (22, 23)],
    description="SMPL/SMIL 24 body joints; the infant layout of InfAGenC (InfActPrimitive, InfantAction).",
)

_NTU25 = _mk(
    "ntu25",
    ["spine_base", "spine_mid", "neck", "head", "left_shoulder", "left_elbow", "left_wrist",
     "left_hand", "right_shoulder", "right_elbow", "right_wrist", "right_hand", "left_hip",
     "left_knee", "left_ankle", "left_foot", "right_hip", "right_knee", "right_ankle",
     "right_foot", "spine_shoulder", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb"],
    [-1, 0, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 7, 11, 11],
    20,
    [(4, 8), (5, 9), (6, 10), (7, 11), (12, 16), (13, 17), (14, 18), (15, 19), (21, 23), (22, 24)],
    description="NTU RGB+D 60/120, Kinect v2 25 joints; centre = spine_shoulder as in ST-GCN.",
)

_KINECT20 = _mk(
    "kinect20",
    ["hip_center", "spine", "shoulder_center", "head", "left_shoulder", "left_elbow", "left_wrist",
     "left_hand", "right_shoulder", "right_elbow", "right_wrist", "right_hand", "left_hip",
     "left_knee", "left_ankle", "left_foot", "right_hip", "right_knee", "right_ankle", "right_foot"],
    [-1, 0, 1, 2, 2, 4, 5, 6, 2, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18],
    2,
    [(4, 8), (5, 9), (6, 10), (7, 11), (12, 16), (13, 17), (14, 18), (15, 19)],
    description="Kinect v1 20 joints in the SDK's NUI_SKELETON_POSITION order (UTKinect-Action3D).",
)

# MSR Action3D ("aXX_sYY_eZZ_skeleton3D.txt") stores its 20 joints in a different order from
# the Kinect SDK. The tree below follows the bone list used by the Lie-group code of
# Vemulapalli et al. (CVPR 2014); which of each pair is left and which is right is not
# stated by the dataset, so the side names follow that code's convention.
_MSR20 = _mk(
    "msr20",
    ["left_shoulder", "right_shoulder", "neck", "spine", "left_hip", "right_hip", "hip_center",
     "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
     "left_knee", "right_knee", "left_ankle", "right_ankle", "left_foot", "right_foot", "head"],
    [2, 2, 3, 6, 6, 6, -1, 0, 1, 7, 8, 9, 10, 4, 5, 13, 14, 15, 16, 2],
    2,
    [(0, 1), (4, 5), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18)],
    description="MSR Action3D text-file joint order (bone list of Vemulapalli et al. 2014).",
)

_COCO17 = _mk(
    "coco17",
    ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
     "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
     "left_knee", "right_knee", "left_ankle", "right_ankle"],
    [-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14],
    0,
    [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)],
    description="COCO 17 keypoints; tree and centre as in PYSKL's coco graph.",
)

_H36M17 = _mk(
    "h36m17",
    ["pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
     "spine", "thorax", "neck_nose", "head", "left_shoulder", "left_elbow", "left_wrist",
     "right_shoulder", "right_elbow", "right_wrist"],
    [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15],
    0,
    [(4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16)],
    description="Human3.6M 17 joints (VideoPose3D order).",
)

_INFANT14 = _mk(
    "infant14",
    ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
     "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
     "neck", "head_top"],
    [1, 2, 12, 12, 3, 4, 7, 8, 12, 12, 9, 10, -1, 12],
    12,
    [(3, 2), (4, 1), (5, 0), (9, 8), (10, 7), (11, 6)],
    [(2, 3)],
    description="14-joint infant layout of SyRIP 3D keypoints (LSP order); hips hang from the neck, "
                "hip-hip is an extra graph edge.",
)

_MINIRGBD14 = _mk(
    "minirgbd14",
    ["head", "right_hand", "right_elbow", "right_shoulder", "neck", "left_shoulder", "left_elbow",
     "left_hand", "right_foot", "right_knee", "right_hip", "left_hip", "left_knee", "left_foot"],
    [4, 2, 3, 4, -1, 4, 5, 6, 9, 10, 4, 4, 11, 12],
    4,
    [(5, 3), (6, 2), (7, 1), (11, 10), (12, 9), (13, 8)],
    [(10, 11)],
    description="MINI-RGBD 2D annotation order (column order of result_pz*.csv).",
)

_REGISTRY: dict[str, Layout] = {}


def register_layout(layout: Layout, *, overwrite: bool = False) -> Layout:
    """Make a layout available to :func:`get_layout` under its name."""
    if layout.name in _REGISTRY and not overwrite and _REGISTRY[layout.name] != layout:
        raise LayoutError(f"a different layout named {layout.name!r} is already registered")
    _REGISTRY[layout.name] = layout
    return layout


for _l in (_SMPL24, _NTU25, _KINECT20, _MSR20, _COCO17, _H36M17, _INFANT14, _MINIRGBD14):
    register_layout(_l)


def list_layouts() -> list[str]:
    return sorted(_REGISTRY)


def get_layout(name: str) -> Layout:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise LayoutError(f"unknown layout {name!r}; known: {', '.join(list_layouts())} "
                          f"(or declare one in a file, see load_layout_file)") from None


def load_layout_file(path: str | Path, *, register: bool = True) -> Layout:
    """Read a user-declared layout from a ``.toml`` or ``.json`` file.

    Keys: ``name``, ``joints`` (list of names), ``parents`` (one per joint: a joint name,
    an index, or -1 for the root), ``center`` (name or index; default the root),
    ``lr_pairs`` (list of [left, right]), ``extra_edges`` (list of [a, b]), ``description``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise LayoutError(f"{path}: cannot read layout file ({e.strerror})") from None
    try:
        if path.suffix.lower() == ".json":
            d = json.loads(text)
        else:
            d = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise LayoutError(f"{path}: not a valid layout file: {e}") from None
    layout = Layout.from_dict(d, source=str(path))
    if register:
        register_layout(layout, overwrite=True)
    return layout


def resolve_layout(spec: "str | Path | Layout | dict") -> Layout:
    """A layout from a name, a layout file, a mapping or a layout."""
    if isinstance(spec, Layout):
        return spec
    if isinstance(spec, dict):
        return Layout.from_dict(spec)
    s = str(spec)
    if s in _REGISTRY:
        return _REGISTRY[s]
    if s.endswith((".toml", ".json")) or Path(s).is_file():
        return load_layout_file(s)
    return get_layout(s)


def joints_of(layout: Layout, names: Sequence[str]) -> list[int]:
    return [layout.index(n) for n in names]


# ------------------------------------------------------------ PYSKL / MMAction2 graphs
# The layouts whose joint order and edges equal a graph built into PYSKL / MMAction2
# (``Graph(layout=...)``, ``JointToBone(dataset=...)``, ``GenSkeFeat(dataset=...)``).
STOCK_GRAPHS = {"ntu25": "nturgb+d", "coco17": "coco"}


def mmaction_graph(layout: Layout) -> dict:
    """The layout as an MMAction2 / PYSKL graph description: ``{"num_node", "inward",
    "center"}`` (``Graph(layout=dict(...))``), ``inward`` every edge as (farther, nearer)
    joint by hop distance from the centre (ties: as the layout lists the edge)."""
    adj: dict[int, list[int]] = {i: [] for i in range(layout.num_joints)}
    for a, b in layout.edges:
        adj[a].append(b)
        adj[b].append(a)
    hops, frontier = {layout.center: 0}, [layout.center]
    while frontier:
        nxt = []
        for j in frontier:
            for k in adj[j]:
                if k not in hops:
                    hops[k] = hops[j] + 1
                    nxt.append(k)
        frontier = nxt
    inward = [(a, b) if hops.get(a, 0) >= hops.get(b, 0) else (b, a) for a, b in layout.edges]
    return {"num_node": layout.num_joints, "inward": [list(e) for e in inward], "center": layout.center}


def pyskl_graph(layout: Layout) -> "str | dict":
    """The graph to give PYSKL / MMAction2 for data of this layout: the name of their stock
    graph (``"nturgb+d"`` for ``ntu25``, ``"coco"`` for ``coco17``) when the layout is that
    built-in layout, else :func:`mmaction_graph`'s description."""
    builtin = {"ntu25": _NTU25, "coco17": _COCO17}.get(layout.name)
    if builtin is not None and builtin == layout:
        return STOCK_GRAPHS[layout.name]
    return mmaction_graph(layout)
