"""Text subtitles as events: what FFmpeg's decoders make of any text subtitle (ASS dialogue lines, styling as ASS
overrides), and those events laid one after another for a codec that shows one at a time.

An event is (start, duration, dialogue) in a stream's time base, the duration None where the packet had none
(shown until the next one); a dialogue is FFmpeg's ASS packet text, "ReadOrder,Layer,Style,Name,MarginL,
MarginR,MarginV,Effect,Text".
"""

from __future__ import annotations

import re

import av

Event = tuple[int, int | None, bytes]


def dialogues(decoder, packet: av.Packet) -> list[bytes]:
    """The dialogue lines ``decoder`` (an opened text subtitle decoder) makes of ``packet``; none where it holds
    none or does not decode (a damaged packet)."""
    try:
        events = decoder.decode2(packet)
    except (av.error.FFmpegError, ValueError):
        return []
    lines = [_without_drawings(rect.ass) for rect in events or () if getattr(rect, "type", None) in (b"ass", b"text")]
    return [line for line in lines if _OVERRIDE.sub(b"", line.split(b",", 8)[-1]).strip(b" \\Nnh")]


_OVERRIDE = re.compile(rb"\{[^}]*\}")  # an ASS override block: {\b1\fs30}
_DRAWING = re.compile(rb"\\p(\d+)")  # \p1 and on: the text after it is a drawing's outline, \p0 ends it


def _without_drawings(line: bytes) -> bytes:
    """``line`` without the text of ASS drawings ({\\p1}m 0 0 l 100 0 ...{\\p0}): a text codec would show the
    outline's numbers as words."""
    kept, drawing, at = [], False, 0
    for block in _OVERRIDE.finditer(line):
        if not drawing:
            kept.append(line[at:block.start()])
        kept.append(block.group())
        scales = _DRAWING.findall(block.group())
        drawing = bool(int(scales[-1])) if scales else drawing
        at = block.end()
    if not drawing:
        kept.append(line[at:])
    return b"".join(kept)


def one_at_a_time(events: list[Event]) -> list[Event]:
    """``events`` (by start) that may overlap made into a run that does not: between each two times where one
    starts or ends, the texts of those showing, earliest first, one under another, each in its own style. MP4's
    timed text (mov_text) shows one sample at a time, and its muxer moves a sample that starts before the one
    before ends to after it: a sign over dialogue came seconds late, and every event after it."""
    spans = sorted(((start, end, dialogue) for (start, _, dialogue), end in zip(events, _ends(events))),
                   key=lambda span: span[0])
    edges = sorted({t for start, end, _ in spans for t in (start, end)})
    laid: list[Event] = []
    showing: list[tuple[int, int, bytes]] = []
    waiting = iter(spans)
    upcoming = next(waiting, None)
    for begin, end in zip(edges, edges[1:]):
        while upcoming is not None and upcoming[0] <= begin:
            showing.append(upcoming)
            upcoming = next(waiting, None)
        showing = [span for span in showing if span[1] > begin]  # every end is an edge: none ends inside
        if showing:
            laid.append((begin, end - begin, joined([dialogue for _, _, dialogue in showing])))
    return laid


def _ends(events: list[Event]) -> list[int]:
    """When each event stops showing: its start and duration, or where it has none the first start after its
    own among the events after it (or a tick on). One pass from the last event, keeping the later starts that
    could still be that next start, each below the one under it: looking ahead from each event instead took
    a track of events without durations (tx3g, some WebVTT) quadratic time."""
    ends, later = [0] * len(events), []
    for k in range(len(events) - 1, -1, -1):
        start, duration, _ = events[k]
        while later and later[-1] <= start:
            later.pop()
        ends[k] = start + duration if duration else (later[-1] if later else start + 1)
        later.append(start)
    return ends


def joined(showing: list[bytes]) -> bytes:
    """Dialogue lines shown together as one, a line each (ASS ``\\N``), each text in its own style (``\\r``)."""
    if len(showing) == 1:
        return showing[0]
    fields = [line.split(b",", 8) for line in showing]
    style = fields[0][2] if len(fields[0]) == 9 else b"Default"
    texts = [f[8] if f[2] == style else b"{\\r" + f[2] + b"}" + f[8] for f in fields if len(f) == 9]
    return b"0,0," + style + b",,0,0,0,," + b"\\N".join(texts)
