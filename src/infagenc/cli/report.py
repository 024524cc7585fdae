"""``infagenc report RUN_DIR``: the report of a run folder (argument parsing only; the work is
in :mod:`infagenc.viz.report`)."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write a run's report (Markdown with pictures, or a self-contained HTML page)",
        description="Build the report of a run folder from what the run wrote (nothing is re-trained): run "
                    "settings, environment and timings, the generation metrics (paper Table 2 layout, against the "
                    "real test and train sets), recognition on held-out subjects (Tables 3-6 layouts), the "
                    "per-round selection, CAS and loss curves, confusion matrices, a snapshot grid and one "
                    "animation per class of real and generated samples, and a t-SNE of evaluator features. "
                    "Pictures are written to RUN_DIR/figures/. Anything the run folder lacks is named in the "
                    "report.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by `infagenc run` or `infagenc demo`")
    p.add_argument("--html", action="store_true",
                   help="write a self-contained HTML page (images embedded) instead of Markdown")
    p.add_argument("--out", metavar="PATH",
                   help="report file (default RUN_DIR/report.md, or RUN_DIR/report.html with --html)")
    p.add_argument("--compare", nargs="+", default=[], metavar="RUN_DIR",
                   help="other run folders (e.g. the --selection none and random ablations) whose Real+Syn "
                        "per-class accuracy joins the per-class comparison table")
    p.add_argument("--redraw", action="store_true",
                   help="draw every picture again (by default a picture is reused when the run-folder files it "
                        "was drawn from have not changed since)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from ..viz.report import build_report

    try:
        path = build_report(args.run_dir, args.out, fmt="html" if args.html else "md", compare=args.compare,
                            redraw=args.redraw, progress=not args.no_progress)
    except FileNotFoundError as e:
        print(f"infagenc report: error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0
