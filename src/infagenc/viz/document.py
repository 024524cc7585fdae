"""The report as a list of blocks (headings, paragraphs, tables, images, "missing" notes)
and its two renderers: Markdown (images linked by relative paths) and a self-contained HTML
page (images embedded as base64, no script).

Inline markup in any text: ``code`` spans and ``**bold**``; the HTML renderer escapes
everything else.
"""
from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Bullets", "Doc", "Heading", "Image", "Missing", "Para", "Table", "inline_html", "render_html",
           "render_markdown"]


def inline_html(text: str) -> str:
    """Escape, then ``code`` spans and **bold**."""
    s = html.escape(text, quote=False)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", s)


# ------------------------------------------------------------------ blocks
@dataclass
class Table:
    """A table of strings; ``align`` per column ``"l"`` or ``"r"`` (default: first left, rest right)."""

    header: list[str]
    rows: list[list[str]]
    align: list[str] | None = None

    def _align(self) -> list[str]:
        return self.align or ["l"] + ["r"] * (len(self.header) - 1)

    def markdown(self) -> str:
        def cell(s: str) -> str:
            return str(s).replace("|", "\\|").replace("\n", " ")

        lines = ["| " + " | ".join(cell(h) for h in self.header) + " |",
                 "|" + "|".join("---:" if a == "r" else "---" for a in self._align()) + "|"]
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        al = self._align()

        def tr(cells, tag):
            return "<tr>" + "".join(f'<{tag} class="{"r" if a == "r" else "l"}">{inline_html(str(c))}</{tag}>'
                                    for c, a in zip(cells, al)) + "</tr>"

        return ("<table>\n<thead>" + tr(self.header, "th") + "</thead>\n<tbody>\n"
                + "\n".join(tr(r, "td") for r in self.rows) + "\n</tbody>\n</table>\n")


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str


@dataclass
class Missing:
    """Something the report would show but the run folder lacks (also listed at the end)."""

    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Image:
    path: Path
    caption: str


@dataclass
class Doc:
    """The blocks of a document in order, and the texts of its :class:`Missing` blocks."""

    blocks: list = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def h(self, level: int, text: str) -> None:
        self.blocks.append(Heading(level, text))

    def p(self, text: str) -> None:
        self.blocks.append(Para(text))

    def table(self, t: Table) -> None:
        self.blocks.append(t)

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(Bullets(list(items)))

    def image(self, path: Path, caption: str) -> None:
        self.blocks.append(Image(Path(path), caption))

    def miss(self, text: str) -> None:
        self.missing.append(text)
        self.blocks.append(Missing(text))


# ------------------------------------------------------------------ renderers
def render_markdown(d: Doc, out: Path) -> str:
    """Markdown of the document; images are linked relative to ``out``'s folder."""
    parts = []
    for b in d.blocks:
        if isinstance(b, Heading):
            parts.append("#" * b.level + " " + b.text + "\n")
        elif isinstance(b, Para):
            parts.append(b.text + "\n")
        elif isinstance(b, Missing):
            parts.append(f"> **Missing:** {b.text}\n")
        elif isinstance(b, Bullets):
            parts.append("".join(f"- {item}\n" for item in b.items))
        elif isinstance(b, Image):
            rel = Path(os.path.relpath(b.path.resolve(), Path(out).parent.resolve())).as_posix()
            parts.append(f"![{b.caption}]({rel})\n\n*{b.caption}*\n")
        elif isinstance(b, Table):
            parts.append(b.markdown())
        else:
            raise TypeError(f"not a document block: {type(b).__name__}")
    return "\n".join(parts)


_MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
         ".svg": "image/svg+xml"}
_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.8em 0}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#f3f3f3}td.r,th.r{text-align:right}td.l,th.l{text-align:left}
.missing{background:#fff4e5;border-left:4px solid #f0a020;padding:4px 10px}
figure{margin:1em 0}img{max-width:100%}figcaption{font-style:italic;color:#555}
code{background:#f3f3f3;padding:0 3px}"""


def _html_block(b) -> str:
    if isinstance(b, Heading):
        return f"<h{b.level}>{inline_html(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        return f"<p>{inline_html(b.text)}</p>"
    if isinstance(b, Missing):
        return f'<p class="missing"><strong>Missing:</strong> {inline_html(b.text)}</p>'
    if isinstance(b, Bullets):
        return "<ul>" + "".join(f"<li>{inline_html(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Image):
        data = base64.b64encode(b.path.read_bytes()).decode("ascii")
        mime = _MIME.get(b.path.suffix.lower(), "application/octet-stream")
        return (f'<figure><img src="data:{mime};base64,{data}" alt="{html.escape(b.caption)}">'
                f"<figcaption>{inline_html(b.caption)}</figcaption></figure>")
    if isinstance(b, Table):
        return b.html()
    raise TypeError(f"not a document block: {type(b).__name__}")


def render_html(d: Doc, title: str) -> str:
    """A self-contained HTML page of the document (every image embedded)."""
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>"]
    parts += [_html_block(b) for b in d.blocks]
    parts.append("</body></html>\n")
    return "\n".join(parts)
