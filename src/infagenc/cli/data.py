"""``infagenc data``: inspect and convert datasets (argument parsing only)."""
from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from ..data.errors import DataError
from ..data.readers import FORMATS

_FORMATS = list(FORMATS)
_WRITERS = [f.name for f in FORMATS.values() if f.write is not None]


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _split(text: str) -> tuple[str, list[str]]:
    name, sep, subjects = text.partition("=")
    if not sep or not name or not subjects:
        raise argparse.ArgumentTypeError(f"expected NAME=SUBJECT,SUBJECT,..., got {text!r}")
    return name, [s for s in subjects.split(",") if s]


def _shape(text: str) -> tuple[int, int]:
    h, sep, w = text.lower().partition("x")
    if not sep or not h.isdigit() or not w.isdigit() or not int(h) or not int(w):
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH in pixels (e.g. 720x960), got {text!r}")
    return int(h), int(w)


def _reader_args(p: argparse.ArgumentParser, on_bad_default: str) -> None:
    p.add_argument("--format", choices=_FORMATS, help="input format (default: detected from the path)")
    p.add_argument("--on-bad", choices=["skip", "error"], default=on_bad_default,
                   help="bad samples: leave out and report them (skip) or stop at the first one (error) "
                        f"(default: {on_bad_default})")
    p.add_argument("--option", "-o", action="append", type=_option, default=[], metavar="KEY=VALUE",
                   help="a reader option, VALUE as JSON or plain text, e.g. -o bodies=all, "
                        "-o field=keypoint, -o 'labels=[\"a.json\"]' (repeatable; see the reader's docs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _usage_errors(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Print a wrong option or an impossible conversion (ValueError) as a one-line error, rc 2."""

    @functools.wraps(fn)
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except DataError:
            raise  # reported by infagenc.cli.main
        except ValueError as e:
            print(f"infagenc: error: {e}", file=sys.stderr)
            return 2

    return run


def _tried_formats() -> str:
    return "; ".join(f"{f.name} = {f.description}" for f in FORMATS.values())


def _nothing_readable(e: DataError, path: str) -> DataError | None:
    """The error for a path no format claims, naming every format tried, or None when ``e``
    is another error."""
    from ..data.readers import discover

    p = Path(path)
    if e.sample is not None or e.file != str(p) or not p.exists() or discover(p):
        return None
    what = "nothing here is a dataset of a known format" if p.is_dir() else "no format claims this file"
    return DataError(f"{what}; tried every format: {_tried_formats()}; name one with --format FORMAT", file=str(p))


@_usage_errors
def _cmd_inspect(args) -> int:
    from ..data.readers.report import format_report, inspect_path

    try:
        reports = inspect_path(args.path, args.format, on_bad=args.on_bad, progress=not args.no_progress,
                               **dict(args.option))
    except DataError as e:
        raise (None if args.format else _nothing_readable(e, args.path)) or e
    if args.json:
        json.dump(reports, sys.stdout, indent=2)
        print()
    else:
        print("\n\n".join(format_report(r) for r in reports))
    return 1 if any("error" in r for r in reports) else 0


def _refuse_exclusions(ms, fmt: str) -> None:
    """``--on-bad error``: a sample the reader left out (e.g. a labelled segment missing from
    its recording) stops the conversion before anything is written. An ``.npz`` input's
    exclusions were recorded when it was made (its reader refuses bad samples itself)."""
    if fmt == "npz" or not ms.exclusions:
        return
    first = ms.exclusions[0]
    more = f" (and {len(ms.exclusions) - 1} more)" if len(ms.exclusions) > 1 else ""
    raise DataError(f"{first.reason}{more}; --on-bad error stops at the first sample left out: nothing was "
                    f"written (--on-bad skip leaves such samples out and writes the rest)",
                    file=first.file, sample=first.sample)


@_usage_errors
def _cmd_convert(args) -> int:
    from ..data.readers import locate, read, reader_options, write

    try:
        fmt, src = (args.format, args.input) if args.format else locate(args.input)
    except DataError as e:
        raise _nothing_readable(e, args.input) or e
    options = dict(args.option)
    if "progress" in reader_options(fmt):
        options["progress"] = not args.no_progress
    ms = read(src, fmt, on_bad=args.on_bad, **options)
    if args.on_bad == "error":
        _refuse_exclusions(ms, fmt)
    if args.to == "bvh" or (args.to is None and Path(args.output).suffix.lower() == ".bvh"):
        return _convert_bvh(ms, args)
    split = dict(args.split)
    given = {"subject_split": split or None, "scores": args.scores, "img_shape": args.img_shape,
             "to_layout": args.to_layout, "ntu": False if args.no_ntu else None}
    out = write(ms, args.output, args.to, **{k: v for k, v in given.items() if v is not None})
    left = "" if not ms.exclusions else (f", {len(ms.exclusions)} sample(s) left out earlier (recorded in the input)"
                                         if fmt == "npz" and args.on_bad == "error" else
                                         f", {len(ms.exclusions)} bad sample(s) left out")
    print(f"wrote {out}: {len(ms)} samples, {ms.num_classes} classes, {len(set(ms.subjects.tolist()))} subjects"
          + left)
    return 0


def _convert_bvh(ms, args) -> int:
    from ..data.bvh import write_bvh
    from ..skeleton.kinematics import rest_joints_from_body_model

    rest = rest_joints_from_body_model(args.rest, ms.layout) if args.rest else None
    paths = write_bvh(ms, args.output, rest=rest, scale=args.bvh_scale, source=args.input)
    where = paths[0] if len(paths) == 1 else paths[0].parent
    print(f"wrote {len(paths)} BVH file(s) to {where}: one per sample, channels Zrotation Yrotation Xrotation")
    return 0


@_usage_errors
def _cmd_extract(args) -> int:
    from ..data.extract import ExtractConfig, extract

    cfg = ExtractConfig(layout=args.layout, on_missing=args.on_missing, max_gap=args.max_gap, on_bad=args.on_bad,
                        max_jump=args.max_jump, fps=args.fps)
    try:
        ms = extract(args.input, args.labels, cfg, progress=not args.no_progress)
    except ImportError as e:
        print(f"infagenc: error: {e}", file=sys.stderr)
        return 2
    out = ms.save(args.out)
    left = f", {len(ms.exclusions)} sample(s) left out (see infagenc data inspect)" if ms.exclusions else ""
    print(f"wrote {out}: {len(ms)} samples, {int(ms.lengths.sum())} frames, {ms.num_classes} classes, layout "
          f"{ms.layout.name}" + left)
    return 0


@_usage_errors
def _cmd_graph(args) -> int:
    from ..skeleton.layouts import LayoutError, pyskl_graph, resolve_layout

    try:
        layout = resolve_layout(args.layout)
    except LayoutError as e:
        raise ValueError(str(e)) from None
    graph = pyskl_graph(layout)
    text = json.dumps({"layout": layout.name, "graph_cfg": {"layout": graph, "mode": "stgcn_spatial"},
                       "bone_dataset": graph if isinstance(graph, str) else None}, indent=2)
    print(re.sub(r"\[\s+(\d+),\s+(\d+)\s+\]", r"[\1, \2]", text))  # one edge a line
    return 0


def register(sub) -> None:
    p = sub.add_parser("data", help="inspect and convert datasets",
                       description="Inspect skeleton datasets and convert them to .npz or PYSKL pickles. "
                                   f"Formats: {', '.join(_FORMATS)}.")
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    dsub.required = True
    for add in (_add_inspect, _add_convert, _add_extract, _add_graph, _add_fuse):
        add(dsub)


def _add_inspect(dsub) -> None:
    pi = dsub.add_parser("inspect", help="counts per class and subject, lengths, layout, problems",
                         description="Print, per dataset found at PATH (a file, a dataset folder, or a folder "
                                     "of datasets): samples, counts per class and per subject, sequence lengths, "
                                     "layout, representation, the samples left out and why, and what the reader "
                                     "changed.")
    pi.add_argument("path", help="a dataset file or folder")
    _reader_args(pi, "skip")
    pi.add_argument("--json", action="store_true", help="print the reports as JSON")
    pi.set_defaults(func=_cmd_inspect)


def _add_convert(dsub) -> None:
    pc = dsub.add_parser("convert", help="any readable format -> .npz, PYSKL .pkl or BVH",
                         description="Read a dataset and write it as an infagenc .npz or a PYSKL / MMAction2 "
                                     "annotation pickle, or rotation data as BVH files (chosen by --to or the output "
                                     "suffix .npz / .pkl / .bvh).")
    pc.add_argument("input", help="input dataset (file or folder)")
    pc.add_argument("output", help="output file (.npz, .pkl or .bvh) or, for BVH, a folder")
    _reader_args(pc, "error")
    pc.add_argument("--to", choices=_WRITERS + ["bvh"],
                    help="output format (default: from the output suffix); bvh: rotation data (rot6d / axis_angle) "
                         "as one BVH file per sample, OUTPUT a .bvh file (one sample) or a folder")
    pc.add_argument("--rest", metavar="BODY_MODEL.npz",
                    help="BVH only: rest skeleton (bone offsets) from a body model's v_template and J_regressor "
                         "(default: the built-in infant rest skeleton, smpl24 only)")
    pc.add_argument("--bvh-scale", type=float, default=1.0, metavar="S",
                    help="BVH only: multiply offsets and root positions (metres) by S, e.g. 100 for centimetres")
    pc.add_argument("--split", action="append", type=_split, default=[], metavar="NAME=SUBJ,SUBJ",
                    help="PYSKL only: a split made of these subjects (repeatable, e.g. --split xsub_train=s01,s03 "
                         "--split xsub_val=s02); default the standard NTU splits for NTU data, else one split 'all'")
    pc.add_argument("--scores", action=argparse.BooleanOptionalAction, default=None,
                    help="PYSKL only: write keypoint_score in [0, 1] (default: 2D data only; PYSKL / MMAction2's 3D "
                         "pipelines refuse a score)")
    pc.add_argument("--img-shape", type=_shape, metavar="HxW",
                    help="PYSKL only: img_shape for 2D samples whose image size the input does not give")
    pc.add_argument("--to-layout", choices=["ntu25"],
                    help="PYSKL only: map kinect20 data to the NTU-25 joint order (their nturgb+d graph)")
    pc.add_argument("--no-ntu", action="store_true",
                    help="PYSKL only: keep this set's labels and the split 'all' even for NTU action classes")
    pc.set_defaults(func=_cmd_convert)


def _add_extract(dsub) -> None:
    from ..data.extract import MISSING_POLICIES  # light: mediapipe is imported only to extract

    pe = dsub.add_parser("extract", help="skeletons from videos and images (BlazePose; needs the pose extra)",
                         description="Run BlazePose (mediapipe 0.10.21, the optional pose extra, whose wheel ships the "
                                     "models) over every frame of each video, each image and each folder of frames "
                                     "under INPUT, keep the main person, and write a motion set (layout blazepose33 "
                                     "or coco17, xy in pixels, per-joint visibility as conf; source file, frame rate "
                                     "and frame indices in its notes). A frame without the main person is never "
                                     "zero-filled: see --on-missing.")
    pe.add_argument("input", metavar="VIDEO_OR_IMAGE_DIR", help="a video, an image, or a folder of them")
    pe.add_argument("--labels", metavar="LABELS.csv",
                    help="CSV with a header row and columns file,label[,subject]: file = the sample's path relative "
                         "to INPUT (a video, an image, or a folder of frames); every sample needs a row "
                         "(default: an unlabelled set)")
    pe.add_argument("--out", required=True, metavar="SET.npz", help="the motion set to write")
    pe.add_argument("--layout", choices=["blazepose33", "coco17"], default="blazepose33",
                    help="joints to write: BlazePose's 33 landmarks, or the 17 COCO keypoints (default blazepose33)")
    pe.add_argument("--on-missing", choices=MISSING_POLICIES, default="error",
                    help="frames without the main person: the sample is bad and the error names them (error, the "
                         "default), leave them out (drop), or interpolate gaps of up to --max-gap frames with "
                         "confidence 0, dropping them at the ends (interpolate)")
    pe.add_argument("--max-gap", type=int, default=15, metavar="N", help="longest gap --on-missing interpolate fills")
    pe.add_argument("--on-bad", choices=["skip", "error"], default="error",
                    help="a bad sample (undecodable video, no person at all, frames missing under --on-missing "
                         "error): stop (error, default) or leave it out and record it (skip)")
    pe.add_argument("--max-jump", type=float, default=1.0, metavar="B",
                    help="tracker: a person farther than B body sizes per frame from the main one is someone else")
    pe.add_argument("--fps", type=float, help="frame rate of folders of frames (videos give their own)")
    pe.add_argument("--no-progress", action="store_true", help="no progress bars")
    pe.set_defaults(func=_cmd_extract)


def _add_graph(dsub) -> None:
    pg = dsub.add_parser("graph", help="the PYSKL / MMAction2 graph for a layout",
                         description="Print, as JSON, the graph_cfg layout to give PYSKL / MMAction2's ST-GCN for "
                                     "data of LAYOUT: their stock graph's name (ntu25 -> nturgb+d, coco17 -> coco) "
                                     "or a {num_node, inward, center} description, and the GenSkeFeat / JointToBone "
                                     "dataset that has its bone pairs (none for a described graph: joints only).")
    pg.add_argument("layout", help="a layout name or layout file (.toml / .json)")
    pg.set_defaults(func=_cmd_graph)


def _add_fuse(dsub) -> None:
    pf = dsub.add_parser("fuse", help="join the 2D and 3D keypoints of the same images into one .npz",
                         description="Read a labelled 2D set and a 3D set of the same images, preprocess each on "
                                     "its own layout, and join them by sample name into one set on the fused "
                                     "layout (2D joints '2d:*' with z = 0, then 3D joints '3d:*'; labels and "
                                     "subjects from the 2D set): the input of --model posture_fusion "
                                     "(infagenc.data.fusion). SyRIP: 2D = a COCO file (train200.json), 3D = "
                                     "correct_3D.npy read with --option-3d labels=<that COCO file>, so both name "
                                     "images alike.")
    pf.add_argument("set2d", metavar="2D_SET", help="labelled 2D keypoints (file or folder, any readable format)")
    pf.add_argument("set3d", metavar="3D_SET", help="3D keypoints of the same images")
    pf.add_argument("--out", required=True, metavar="FUSED.npz", help="output .npz")
    pf.add_argument("--format-2d", choices=_FORMATS, help="format of 2D_SET (default: detected)")
    pf.add_argument("--format-3d", choices=_FORMATS, help="format of 3D_SET (default: detected)")
    pf.add_argument("--option-2d", action="append", type=_option, default=[], metavar="KEY=VALUE",
                    help="a reader option of 2D_SET (repeatable, as data convert -o)")
    pf.add_argument("--option-3d", action="append", type=_option, default=[], metavar="KEY=VALUE",
                    help="a reader option of 3D_SET, e.g. --option-3d labels=train200.json (repeatable)")
    pf.add_argument("--root", choices=["none", "per_frame", "first_frame"], default="per_frame",
                    help="each set's centre joint to the origin, on its own layout (default per_frame)")
    pf.add_argument("--no-normalize-scale", dest="normalize_scale", action="store_false",
                    help="keep each set's scale (default: mean bone length 1 per sample, on its own layout)")
    pf.add_argument("--unlabelled", choices=["fill", "error"], default="fill",
                    help="2D keypoints with confidence 0: fill with the mean of the image's labelled ones, or "
                         "refuse the data (default fill)")
    pf.add_argument("--on-missing", choices=["error", "skip"], default="error",
                    help="a 2D sample without 3D keypoints: stop (error) or leave it out and say so (skip)")
    pf.add_argument("--no-progress", action="store_true", help="no progress bars")
    pf.set_defaults(func=_cmd_fuse)


@_usage_errors
def _cmd_fuse(args) -> int:
    from ..data.fusion import fuse_keypoints
    from ..data.preprocess import Preprocess
    from ..data.readers import locate, read, reader_options

    if Path(args.out).suffix != ".npz":
        raise ValueError(f"--out {args.out}: the fused set is written as .npz (name it FUSED.npz)")
    sets = []
    for path, fmt, options in ((args.set2d, args.format_2d, args.option_2d), (args.set3d, args.format_3d,
                                                                               args.option_3d)):
        try:
            fmt, src = (fmt, path) if fmt else locate(path)
        except DataError as e:
            raise _nothing_readable(e, path) or e
        options = dict(options)
        if "progress" in reader_options(fmt):
            options["progress"] = not args.no_progress
        sets.append(read(src, fmt, **options))
    prep = Preprocess(root=args.root, normalize_scale=args.normalize_scale, unlabelled=args.unlabelled)
    fused = fuse_keypoints(prep(sets[0]), prep(sets[1]), on_missing=args.on_missing)
    out = fused.save(args.out)
    left = f", {len(fused.exclusions)} sample(s) left out" if fused.exclusions else ""
    print(f"wrote {out}: {len(fused)} images, {fused.num_joints} joints ({fused.layout.name}), "
          f"{fused.num_classes} classes{left}; {fused.notes[-1]}")
    return 0
