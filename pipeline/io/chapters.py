"""A source's chapters (a film's scenes, a lecture's parts, a phone's or an editor's marks) for an output: kept
where the container holds them (Matroska, WebM, MP4, MOV), cut to the output's span and moved with it, each with
its title."""

from __future__ import annotations

import av

HOLD_CHAPTERS = {"matroska", "webm", "mp4", "mov"}


def chapters_for(source: av.container.InputContainer, start_s: float = 0.0, end_s: float | None = None,
                 offset_s: float = 0.0) -> list[dict]:
    """The chapters of ``source`` that show between ``start_s`` and ``end_s`` (seconds on its clock), moved
    back by ``offset_s`` and cut to that span, in their own time base; one that begins before ``start_s`` begins
    at the output's start."""
    kept = []
    for chapter in source.chapters():
        tb = chapter["time_base"]
        begin, end = float(chapter["start"] * tb), float(chapter["end"] * tb)
        if end <= start_s or (end_s is not None and begin >= end_s):
            continue
        begin, end = max(begin, start_s), end if end_s is None else min(end, end_s)
        kept.append({"id": len(kept) + 1, "start": round((begin - offset_s) / tb),
                     "end": round((end - offset_s) / tb), "time_base": tb, "metadata": dict(chapter["metadata"])})
    return kept
