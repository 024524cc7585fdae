"""Writers of small fixtures in the genuine formats (used by the other reader tests).

Nothing here is real data: every array is drawn from a seeded generator. The functions
write the files exactly as the datasets lay them out (field order, separators, headers).
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np


def motion(rng: np.random.Generator, t: int, v: int, c: int = 3, scale: float = 0.05) -> np.ndarray:
    """A smooth random (T, V, C) trajectory with no zero frame."""
    base = rng.uniform(0.5, 1.5, size=(1, v, c))
    return base + rng.normal(0, scale, size=(t, v, c)).cumsum(axis=0)


def write_utkinect(folder: Path, takes: dict[str, list[tuple[str, str, str]]], *, frames: int = 40,
                   repeat_ids: tuple[int, ...] = (), seed: int = 0, labels_name: str = "actionLabel.txt",
                   values: dict[str, np.ndarray] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``takes``: {"s01_e01": [(action, first, last), ...]} with frame ids as text ("NaN" allowed).
    Frame ids run 10, 12, 14, ...; ids in ``repeat_ids`` get a second row (different values)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for take in takes:
        ids = 10 + 2 * np.arange(frames)
        x = values[take] if values and take in values else motion(rng, frames, 20)
        lines = []
        for fid, row in zip(ids, x):
            nums = "  ".join(f"{v:.6f}" for v in row.reshape(-1))
            lines.append(f"{fid}   {nums}  ")
            if fid in repeat_ids:
                lines.append(f"{fid}   " + "  ".join(f"{v + 9:.6f}" for v in row.reshape(-1)))
        (folder / f"joints_{take}.txt").write_text("\n".join(lines) + "\n")
        out[take] = (ids, x)
    label_lines = []
    for take, segs in takes.items():
        label_lines.append(take)
        label_lines += [f"{a}: {f} {l}" for a, f, l in segs]
    (folder / labels_name).write_text("\n".join(label_lines) + "\n")
    return out


def ntu_text(frames: list[list[tuple[str, np.ndarray, np.ndarray]]]) -> str:
    """``frames``: per frame a list of bodies (body id, (25, 3) xyz, (25,) tracking state)."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, xyz, state in bodies:
            lines.append(f"{body_id} 0 1 1 1 1 0 0.01119184 -0.256052 2")
            lines.append("25")
            for j in range(25):
                x, y, z = xyz[j]
                lines.append(f"{x:.7g} {y:.7g} {z:.7g} 336.5812 192.8021 1184.537 489.4118 "
                             f"-0.2218947 0.03421978 0.968875 -0.1042736 {int(state[j])}")
    return "\r\n".join(lines) + "\r\n"


def write_ntu(path: Path, xyz_per_body: list[np.ndarray], *, missing: tuple[int, ...] = (),
              state: int = 2) -> None:
    """One file; body k is present where its (T, 25, 3) array has a non-zero frame;
    frames in ``missing`` have no body at all."""
    t = len(xyz_per_body[0])
    frames = []
    for f in range(t):
        bodies = []
        if f not in missing:
            for k, x in enumerate(xyz_per_body):
                if x[f].any():
                    bodies.append((f"7205759403794473{k}", x[f], np.full(25, state)))
        frames.append(bodies)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ntu_text(frames))


def write_msr(path: Path, x: np.ndarray, c: np.ndarray | None = None) -> None:
    """Rows ``x y z c``, joints in order, frame after frame."""
    c = np.ones(x.shape[:2]) if c is None else c
    rows = [f"{p[0]:.6f} {p[1]:.6f} {p[2]:.6f} {cc:.6f}" for frame, cf in zip(x, c) for p, cc in zip(frame, cf)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")


MINIRGBD_HEADER = ["head", "right_hand", "right_elbow", "right_shoulder", "neck", "left_shoulder", "left_elbow",
                   "left_hand", "right_foot", "right_knee", "right_hip", "left_hip", "left_knee", "left_foot"]


def write_minirgbd(path: Path, x: np.ndarray, header: list[str] = MINIRGBD_HEADER) -> None:
    lines = ["image;" + ";".join(header)]
    for f, frame in enumerate(x):
        lines.append(f"{f:05d}_8bit.png;" + ";".join(f"{int(a)},{int(b)}" for a, b in frame))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


COCO17 = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
          "right_knee", "left_ankle", "right_ankle"]


def coco_doc(postures: list[str | None], *, seed: int = 0, keypoint_names: list[str] = COCO17,
             first_id: int = 1, prefix: str = "train") -> dict:
    """A SyRIP-style COCO dict: image i has posture postures[i] (None: no field)."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    v = len(keypoint_names)
    for i, p in enumerate(postures):
        iid = first_id + i
        img = {"file_name": f"{prefix}{iid:05d}.jpg", "is_synthetic": False, "frame_id": 0, "height": 480,
               "id": iid, "width": 640}
        if p is not None:
            img["posture"] = p
        images.append(img)
        kp = np.concatenate([rng.uniform(10, 400, size=(v, 2)), np.full((v, 1), 2.0)], axis=1)
        anns.append({"bbox": [0, 0, 100, 100], "category_id": 1, "id": iid, "image_id": iid,
                     "keypoints": kp.reshape(-1).tolist(), "num_keypoints": v, "iscrowd": 0})
    return {"images": images, "annotations": anns,
            "categories": [{"supercategory": "person", "id": 1, "name": "person", "keypoints": keypoint_names}]}


def write_json(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def write_syrip3d(folder: Path, poses: np.ndarray, *, map_pairs: list[tuple[str, str]] | None = None,
                  name: str = "correct_3D.npy") -> list[str]:
    """Pose file + output_imgnames.npy (GB/image_XXXXX.jpg) + optional img_name700_map.npy."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"GB/image_{i:05d}.jpg" for i in range(len(poses))]
    np.save(folder / name, poses)
    np.save(folder / "output_imgnames.npy", np.array(names))
    if map_pairs is not None:
        np.save(folder / "img_name700_map.npy", np.array(map_pairs))
    return names


def infact_clips(n: int, *, classes=("sitting", "standing", "supine"), label_key="pos_label", persons=1,
                 seed: int = 0, t: int = 12) -> list[dict]:
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(n):
        clips.append({
            "frame_dir": f"subj{i % 3}_clip{i:03d}",
            "pose": rng.normal(0, 0.3, size=(persons, t, 24, 3)).astype(np.float32),
            "keypoint": np.concatenate([rng.uniform(10, 300, size=(persons, t, 17, 2)),
                                        rng.uniform(0.2, 1, size=(persons, t, 17, 1))], -1).astype(np.float32),
            label_key: classes[i % len(classes)],
        })
    return clips


def write_pickle(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)
    return path


def pyskl_doc(n: int, *, v: int = 25, c: int = 3, persons: int = 1, seed: int = 0, t: int = 15,
              num_classes: int = 3, score: bool = False) -> dict:
    """A PYSKL-style dict, frame_dirs NTU-style so the reader finds performers."""
    rng = np.random.default_rng(seed)
    annos = []
    for i in range(n):
        kp = np.stack([motion(rng, t, v, c) for _ in range(persons)]).astype(np.float32)
        a = {"frame_dir": f"S001C001P{i % 4 + 1:03d}R{i + 1:03d}A{i % num_classes + 1:03d}", "label": i % num_classes,
             "keypoint": kp, "total_frames": t, "img_shape": (1080, 1920), "original_shape": (1080, 1920)}
        if score:
            a["keypoint_score"] = rng.uniform(0.3, 1, size=kp.shape[:3]).astype(np.float32)
        annos.append(a)
    names = [a["frame_dir"] for a in annos]
    return {"split": {"xsub_train": names[: n // 2], "xsub_val": names[n // 2:]}, "annotations": annos}


def child_env() -> dict[str, str]:
    """The environment for a child Python process that must import the same ``infagenc`` as
    the tests (pytest puts ``src`` on the path; a child would otherwise take the installed one)."""
    import infagenc

    src = str(Path(infagenc.__file__).resolve().parents[1])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([src, str(Path(__file__).resolve().parent)]
                                        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env
