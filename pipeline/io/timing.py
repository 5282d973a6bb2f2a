"""Presentation times of decoded frames, repaired where the container's own are out of order or missing.

How a file's frames get their times (``VideoInfo.timing``, decided by ``probe``):

- ``STREAM``: the container stores presentation times (MP4, MOV, MKV, WebM, MPEG-TS, GIF). A frame keeps its
  own ``pts`` (else the decoder's packet time ``dts``); one with neither follows the one before by a frame
  period, and one not after the one before moves one tick past it.
- ``ORDER``: the container stores no times, only each packet's slot in decode order (AVI: a frame's slot is
  its ``dts``; FFmpeg's pts there assume a decoder delay of one frame). A codec that reorders frames (H.264
  with B-frames, MPEG-4 Part 2 with packed B-frames) hands the frames back in display order with those
  stamps permuted; the frames keep the decoder's order and take the stamps sorted, as a player shows them.
- ``RATE``: no times at all (raw elementary streams: ``.h264``, ``.hevc``, ``.m2v``, an MPEG-1 ``.mpg``; the
  stamps FFmpeg's parser guesses for them come out permuted past B-frames): frame k is at k in time base 1/rate,
  the rate the stream's own headers give (``raw_rate``).

Whatever the case, the times handed on strictly increase, so no muxer ever sees one go backwards. Files joined
end to end (``cat a.ts b.ts``, HLS segments saved one after another, a recording whose clock was reset) have
times that start again part way: past such a seam, a time more than ``seam_gap`` before the one shown last,
every later time moves by as much as makes that frame follow the last by a frame period, as each part played.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

import av

# Frames held to sort permuted stamps: a B-frame run is at most 16 frames long (H.264's limit).
REORDER_WINDOW = 17


@dataclass
class Packets:
    """Packets with data counted, and how long they last together in the stream's time base (``lasting``:
    False once one has no duration)."""

    count: int = 0
    ticks: int = 0
    lasting: bool = True

    def add(self, packet: av.Packet) -> None:
        self.count += 1
        self.ticks += packet.duration or 0
        self.lasting = self.lasting and bool(packet.duration)


def is_raw(container: av.container.InputContainer) -> bool:
    """A raw elementary stream: its demuxer (FFmpeg's ``AVFMT_NOTIMESTAMPS``) stores no times."""
    return bool(container.format.flags & av.format.Flags.no_timestamps.value)


def stated_rate(stream, raw: bool) -> Fraction | None:
    """The frame rate the file states: its container's, or for a ``raw`` stream its codec headers' (the raw
    demuxers state 25 for every stream)."""
    own, other = stream.average_rate, stream.guessed_rate
    if raw:
        own, other = other, own
    if own and other and own == 1 / stream.time_base and own > 2 * other:
        own = None  # FFmpeg's average over one frame: a frame each tick of the time base (a one-frame DV: 60000)
    rate = own or other or stream.base_rate
    return Fraction(rate) if rate else None


def raw_rate(packets: Packets, time_base: Fraction, header: Fraction) -> Fraction:
    """A raw stream's frame rate: its frames over how long its packets last, as FFmpeg's parser works them out
    from the codec's headers (a soft-telecined MPEG-2 stream's third fields too: its film frames come out at
    24000/1001, as a DVD ripper gives them); ``header`` (the rate the headers state) when that is within a
    thousandth, or where a packet has no duration."""
    if not packets.lasting or packets.ticks <= 0:
        return header
    rate = Fraction(packets.count) / (packets.ticks * time_base)
    return header if abs(rate / header - 1) < Fraction(1, 1000) else rate.limit_denominator(1001)


class Timing(StrEnum):
    STREAM = "stream"
    ORDER = "order"
    RATE = "rate"


def next_time(stamp: int | None, last: int | None, step: int) -> int:
    """The time a frame gets after ``last``: its own ``stamp`` when that is later, else the nearest later one."""
    if stamp is None:
        return 0 if last is None else last + step
    if last is not None and stamp <= last:
        return last + 1
    return stamp


def seam_gap(step: int, second: int) -> int:
    """How far back a time must go to be a seam, not reordering: more than the reorder window and a second
    (``second``: ticks in one)."""
    return max(REORDER_WINDOW * step, second)


def increasing(stamps: Iterable[int | None], step: int) -> list[int]:
    """``stamps`` made strictly increasing by ``next_time``: what ``retimed`` does to the frames' own."""
    out: list[int] = []
    for stamp in stamps:
        out.append(next_time(stamp, out[-1] if out else None, step))
    return out


def joined(stamps: Iterable[int], step: int, gap: int) -> tuple[list[int], list[int]]:
    """Packet times in decode order made into the times ``retimed`` gives the frames, and the shift of each part
    after the first: a part ends where a time falls ``gap`` before the latest of it (a seam); each is sorted
    (display order) and moved to follow the time shown last by ``step``."""
    parts: list[list[int]] = []
    top = 0
    for stamp in stamps:
        if not parts or stamp < top - gap:
            parts.append([])
            top = stamp
        parts[-1].append(stamp)
        top = max(top, stamp)
    times: list[int] = []
    shifts: list[int] = []
    offset = 0
    for part in parts:
        part.sort()
        if times:
            offset = times[-1] + step - part[0]
            shifts.append(offset)
        for stamp in part:
            times.append(next_time(stamp + offset, times[-1] if times else None, step))
    return times, shifts


def _stamp(frame: av.VideoFrame) -> int | None:
    return frame.pts if frame.pts is not None else frame.dts


def _sorted_stamps(frames: Iterable[av.VideoFrame], window: int) -> Iterator[tuple[av.VideoFrame, int | None]]:
    """Frames in the order they come, each with the smallest stamp among those of the next ``window``."""
    held: deque[av.VideoFrame] = deque()
    stamps: list[int] = []
    for frame in frames:
        held.append(frame)
        if (stamp := _stamp(frame)) is not None:
            heapq.heappush(stamps, stamp)
        if len(held) >= window:
            yield held.popleft(), heapq.heappop(stamps) if stamps else None
    while held:
        yield held.popleft(), heapq.heappop(stamps) if stamps else None


def retimed(frames: Iterable[av.VideoFrame], timing: Timing, step: int, window: int = REORDER_WINDOW,
            gap: int | None = None) -> Iterator[tuple[av.VideoFrame, int]]:
    """Decoded frames (from the start of the file for ``RATE``) with strictly increasing presentation times
    in the stream's time base (1/rate for ``RATE``); ``step`` is one frame period in that time base. With a
    ``gap``, parts joined end to end follow each other (``joined``; from the start of the file too)."""
    if timing == Timing.RATE:
        pairs: Iterable = ((frame, k) for k, frame in enumerate(frames))
    elif timing == Timing.ORDER:
        pairs = _sorted_stamps(frames, window)
    else:
        pairs = ((frame, _stamp(frame)) for frame in frames)
    last, offset = None, 0
    for frame, stamp in pairs:
        if gap is not None and stamp is not None and last is not None and stamp + offset < last - gap:
            offset = last + step - stamp  # a seam: the next part starts a frame after the last one shown
        last = next_time(None if stamp is None else stamp + offset, last, step)
        yield frame, last
