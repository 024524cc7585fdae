"""The README's lead picture: generated UTKinect-Action3D actions, one sample per class, four key
frames each, from the baseline CVAE of ``benchmarks/protocols/realsyn.py --protocol utkinect``
(its synthetic set in ``benchmarks/runs/realsyn/utkinect/``; run that command first). Real
recordings are not drawn: their terms forbid redistributing them, even as pictures.

    python benchmarks/readme_picture.py        # writes docs/images/utkinect_generated.png
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: benchmarks.*

from benchmarks.common import REPO, RUNS  # noqa: E402

from infagenc.data.motionset import MotionSet  # noqa: E402
from infagenc.viz import snapshot_grid  # noqa: E402

SYNTHETIC = RUNS / "realsyn" / "utkinect" / "synthetic.npz"
OUT = REPO / "docs" / "images" / "utkinect_generated.png"


def main() -> int:
    if not SYNTHETIC.exists():
        print(f"{SYNTHETIC}: not there; run `python benchmarks/protocols/realsyn.py --protocol utkinect` first",
              file=sys.stderr)
        return 2
    syn = MotionSet.load(SYNTHETIC)
    names = list(syn.class_names)
    with tempfile.TemporaryDirectory() as tmp:  # two rows of five classes, stacked
        parts = [snapshot_grid(syn, syn, Path(tmp) / f"{i}.png", real_rows=0, generated_rows=1, classes=cl,
                               frames_per_sample=4, cell_size=2.0, dpi=90, seed=1)
                 for i, cl in enumerate((names[:5], names[5:]))]
        a, b = (Image.open(p) for p in parts)
        im = Image.new("RGB", (max(a.width, b.width), a.height + b.height), "white")
        im.paste(a, (0, 0))
        im.paste(b, (0, a.height))
    im.save(OUT, optimize=True)
    print(f"wrote {OUT} ({im.width} x {im.height})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
