"""``infagenc viz``: pictures of data (argument parsing only; the work is in :mod:`infagenc.viz`)."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path, PurePosixPath


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("viz", help="pictures of data: extracted skeletons on their video (overlay)",
                       description="Pictures of motion sets.")
    vsub = p.add_subparsers(dest="viz_command", metavar="SUBCOMMAND")
    vsub.required = True
    o = vsub.add_parser("overlay", help="draw an extracted skeleton on the frames it came from (MP4 / GIF)",
                        description="Decode a sample's source video, image or folder of frames again (the file "
                                    "recorded by `infagenc data extract`, or --source) and draw its keypoints on "
                                    "every frame: the person's left red, right blue, low-confidence joints grey, "
                                    "frames without the main person labelled. Writes MP4 when an encoder is "
                                    "installed (the video or pose extra), else GIF; PNG for a one-frame sample.")
    o.add_argument("set", metavar="SET.npz", help="a motion set written by infagenc data extract (xy pixels)")
    o.add_argument("--sample", help="the sample's name (or index); needed when the set has several")
    o.add_argument("--source", metavar="VIDEO_OR_FRAMES",
                   help="the sample's video / image / folder of frames (default: the file recorded at extraction)")
    o.add_argument("--out", metavar="OUT.mp4|.gif|.png",
                   help="output file (default: <sample name without suffix>_overlay.mp4 beside the set, .gif without an MP4 encoder, "
                        ".png for a one-frame sample)")
    o.add_argument("--min-conf", type=float, default=0.5, help="joints below this confidence are drawn grey")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    o.set_defaults(func=_overlay)


def _overlay(args: argparse.Namespace) -> int:
    from ..data.errors import DataError
    from ..data.motionset import MotionSet
    from ..viz.overlay import _pick, default_suffix, overlay

    ms = MotionSet.load(args.set)
    out = args.out
    try:
        if out is None:
            i = _pick(ms, args.sample)
            name = str(ms.names[i])
            name = name[: -len(PurePosixPath(name).suffix)] if PurePosixPath(name).suffix else name
            stem = re.sub(r"[^\w.-]+", "_", name).strip("._") or "sample"
            suffix = ".png" if int(ms.lengths[i]) == 1 else default_suffix()
            out = Path(args.set).with_name(f"{stem}_overlay{suffix}")
        path = overlay(ms, out, sample=args.sample, source=args.source, min_conf=args.min_conf,
                       progress=not args.no_progress)
    except DataError:
        raise  # reported by infagenc.cli.main
    except ValueError as e:
        print(f"infagenc viz overlay: error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0
