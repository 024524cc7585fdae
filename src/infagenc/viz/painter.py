"""The report's pictures: drawn into ``RUN_DIR/figures/``, reused while their sources are unchanged.

``figures/manifest.json`` records, per picture, the files drawn and the size and
modification time of the run-folder files they were drawn from, with the infagenc version
and the drawing :data:`STYLE`; a picture whose sources are unchanged (and whose files are
all there), drawn by the same version and style, is reused, not redrawn, unless ``redraw``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from tqdm.auto import tqdm

from ..jsonio import read_json, write_json
from .document import Doc

__all__ = ["Painter", "STYLE"]

# the drawing code's own version: a picture drawn by an older style is drawn again (raise it
# when a change to the pictures should reach reports whose sources have not changed)
STYLE = 2


class Painter:
    """Draws (or reuses) the pictures of one run folder's report, one progress step each.

    Args:
        root: the run folder (sources are recorded relative to it).
        figures: the folder the pictures go to (created).
        total: the number of pictures, for the progress bar.
        redraw: ignore the manifest and draw every picture again.
        progress: show a progress bar.
    """

    def __init__(self, root: Path, figures: Path, total: int, redraw: bool, progress: bool):
        self.root, self.fig = Path(root), Path(figures)
        self.fig.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.fig / "manifest.json"
        self.manifest: dict = {} if redraw else read_json(self.manifest_path, {})
        self.bar = tqdm(total=total, desc="report pictures", disable=not progress, leave=False)

    def _stamp(self, sources: Sequence[Path]) -> dict:
        from .. import __version__

        stats = {Path(p).relative_to(self.root).as_posix(): Path(p).stat() for p in sources if Path(p).exists()}
        return {"infagenc": __version__, "style": STYLE,
                "sources": {rel: [st.st_size, st.st_mtime_ns] for rel, st in stats.items()}}

    def skip(self, n: int = 1) -> None:
        """Count ``n`` pictures that are not drawn (their sources are missing)."""
        self.bar.update(n)

    def picture(self, d: Doc, what: str, sources: Sequence[Path], draw: Callable[[], Path | list[Path]],
                caption: str) -> None:
        """Draw (or reuse) a picture and add it to the document, or say why it could not be drawn.

        ``sources`` are the run-folder files the picture is drawn from; ``draw()`` returns
        the path written, or a list of paths (one image each, captioned with the file's
        stem). A ``ValueError`` from ``draw`` becomes a "could not be drawn" note."""
        stamp = self._stamp(sources)
        entry = self.manifest.get(what)
        if entry and entry["stamp"] == stamp and all((self.fig / f).exists() for f in entry["files"]):
            paths, many = [self.fig / f for f in entry["files"]], entry["many"]
        else:
            try:
                out = draw()
            except ValueError as e:
                d.miss(f"{what}: could not be drawn ({e}).")
                self.bar.update()
                return
            many = isinstance(out, list)
            paths = [Path(p) for p in (out if many else [out])]
            self.manifest[what] = {"stamp": stamp, "many": many,
                                   "files": [p.relative_to(self.fig).as_posix() for p in paths]}
            write_json(self.manifest_path, self.manifest)
        for p in paths:
            d.image(p, f"{caption}: {p.stem}" if many else caption)
        self.bar.update()

    def close(self) -> None:
        self.bar.close()
