"""Dataset reports: what ``infagenc data inspect`` prints.

:func:`inspect_path` reads a file, or every dataset :func:`~infagenc.data.readers.discover`
finds under a folder, and returns one JSON-ready report per dataset (the set's
:meth:`~infagenc.data.motionset.MotionSet.summary` plus ``format`` and ``path``);
:func:`format_report` renders a report as text.

Reader options given for a folder go to each dataset whose reader has them; an option
that no dataset's reader has is an error (it is never silently ignored). With
``-o gaps=interpolate`` (or ``trim``) the notes count every repaired frame, per sample and
in total (the text report shows a few samples when there are many; ``--json`` has all).
"""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from . import discover, locate, read, reader_options

__all__ = ["inspect_path", "format_report"]

_MAX_LISTED = 20
_REPAIR_NOTE = "gap repair: sample "
# notes written once per sample: (prefix, what the collapsed line calls them); "extract: " is
# data.extract.NOTE_PREFIX (the provenance of each sample extracted from a video)
_PER_SAMPLE_NOTES = ((_REPAIR_NOTE, "gap repair"), ("extract: ", "extraction provenance"))


def inspect_path(path: str | Path, format: str | None = None, *, on_bad: str = "skip", progress: bool = True,
                 **options) -> list[dict]:
    """One report per dataset: ``path`` read as ``format`` when given; else a file's
    detected format, or every dataset :func:`discover` finds under a folder.
    ``on_bad`` and ``progress`` go to every reader that has them. With ``on_bad="skip"``
    a dataset of a folder that cannot be read at all (e.g. a truncated pickle) gets a
    report ``{"format", "path", "error"}`` and the others are still read."""
    path = Path(path)
    if format is not None:
        targets = [(format, path)]
    elif path.is_dir():
        targets = discover(path)
        if not targets:
            raise DataError("no readable dataset found in this folder", file=str(path))
    else:
        targets = [locate(path)]
    accepted = {fmt: reader_options(fmt) for fmt, _ in targets}
    unused = sorted(set(options) - {k for a in accepted.values() for k in a})
    if unused:
        raise ValueError(f"no dataset here has the option(s) {unused} (formats: {', '.join(sorted(accepted))})")
    reports = []
    for fmt, p in targets:
        opts = {k: v for k, v in options.items() if k in accepted[fmt]}
        opts.update({k: v for k, v in (("on_bad", on_bad), ("progress", progress)) if k in accepted[fmt]})
        try:
            ms = read(p, fmt, **opts)
        except DataError as e:
            if on_bad == "error" or len(targets) == 1:
                raise
            reports.append({"format": fmt, "path": str(p), "error": str(e)})
            continue
        reports.append({"format": fmt, "path": str(p), **ms.summary()})
    return reports


def _counts_line(counts: dict[str, int]) -> str:
    if len(counts) <= _MAX_LISTED:
        return ", ".join(f"{k} {v}" for k, v in counts.items())
    vals = list(counts.values())
    first = ", ".join(list(counts)[:3])
    return (f"samples per subject min {min(vals)} / mean {sum(vals) / len(vals):.1f} / max {max(vals)} "
            f"(e.g. {first}, ...; --json lists all)")


def _exclusion_lines(ex: list[dict]) -> list[str]:
    if len(ex) <= _MAX_LISTED:
        return [f"  - {e['file']}: sample {e['sample']!r}: {e['reason']}" for e in ex]
    by_reason: dict[tuple[str, str], list[str]] = {}
    for e in ex:
        by_reason.setdefault((e["file"], e["reason"]), []).append(e["sample"])
    lines = ["  by reason (--json lists every sample):"]
    for (file, reason), samples in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        more = ", ..." if len(samples) > 3 else ""
        lines.append(f"  - {len(samples)} x {file}: {reason} (e.g. {', '.join(samples[:3])}{more})")
    return lines


def format_report(r: dict) -> str:
    """A report as indented text."""
    if "error" in r:
        return f"== {r['format']}: {r['path']}\nerror: {r['error']}"
    fr = r["frames"]
    lines = [
        f"== {r['format']}: {r['path']}",
        f"samples: {r['samples']}   layout: {r['layout']} ({r['joints']} joints)   "
        f"representation: {r['representation']} ({r['channels']} channels)   "
        f"confidence: {'yes' if r['has_conf'] else 'no'}   root translation: {'yes' if r['has_trans'] else 'no'}"
        + (f"   two-person samples: {r['two_person_samples']}" if r.get("two_person_samples") else "")
        + ("   image sizes: yes" if r.get("has_image_size") else ""),
        f"frames per sample: min {fr['min']} / mean {fr['mean']:.1f} / max {fr['max']} (padded to {fr['padded']})"
        + (f"   fps: {r['fps']}" if r["fps"] else ""),
    ]
    if r["classes"]:
        lines.append(f"classes ({r['classes']}):")
        width = max(len(c) for c in r["class_counts"])
        lines += [f"  {c:<{width}}  {n}" for c, n in r["class_counts"].items()]
    else:
        lines.append("classes: none (unlabelled set)")
    lines.append(f"subjects ({r['subjects']}): {_counts_line(r['subject_counts']) or 'none'}")
    if r["source_counts"] and set(r["source_counts"]) != {"real"}:
        lines.append(f"source: {_counts_line(r['source_counts'])}")
    ex = r["exclusions"]
    lines.append(f"exclusions ({len(ex)}):" if ex else "exclusions: none")
    lines += _exclusion_lines(ex)
    if r["notes"]:
        lines.append("notes:")
        lines += [f"  - {n}" for n in _collapse_per_sample(r["notes"])]
    return "\n".join(lines)


def _collapse_per_sample(notes: list[str]) -> list[str]:
    """The notes, with more than a screenful of per-sample notes of one kind (gap repairs,
    video-extraction provenance) cut to a few examples and a count."""
    out = list(notes)
    for prefix, what in _PER_SAMPLE_NOTES:
        per_sample = [n for n in out if n.startswith(prefix)]
        if len(per_sample) <= _MAX_LISTED:
            continue
        shown = set(per_sample[:3])
        out = [n for n in out if not n.startswith(prefix) or n in shown]
        out.append(f"{what}: ... and {len(per_sample) - 3} more {'repaired ' if prefix == _REPAIR_NOTE else ''}"
                   f"sample(s) (--json lists every one)")
    return out
