"""Presentation times of decoded frames, repaired where the container's own are out of order or missing.

How a file's frames get their times (``VideoInfo.timing``, decided by ``probe``):

- ``STREAM``: the container stores presentation times (MP4, MOV, MKV, WebM, MPEG-TS, GIF). A frame keeps its
  own ``pts`` (else the decoder's packet time ``dts``); one with neither follows the one before by a frame
  period, and one not after the one before moves one tick past it.
- ``ORDER``: the container stores no times, only each packet's slot in decode order (AVI: a frame's slot is
  its ``dts``; FFmpeg's pts there assume a decoder delay of one frame). A codec that reorders frames (H.264
  with B-frames, MPEG-4 Part 2 with packed B-frames) hands the frames back in display order with those
  stamps permuted; the frames keep the decoder's order and take the stamps sorted, as a player shows them.
- ``RATE``: no times at all (raw ``.h264``/``.hevc`` elementary streams): frame k is at k in time base 1/rate.

Whatever the case, the times handed on strictly increase, so no muxer ever sees one go backwards.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from enum import StrEnum

import av

# Frames held to sort permuted stamps: a B-frame run is at most 16 frames long (H.264's limit).
REORDER_WINDOW = 17


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


def increasing(stamps: Iterable[int | None], step: int) -> list[int]:
    """``stamps`` made strictly increasing by ``next_time``: what ``retimed`` does to the frames' own."""
    out: list[int] = []
    for stamp in stamps:
        out.append(next_time(stamp, out[-1] if out else None, step))
    return out


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


def retimed(frames: Iterable[av.VideoFrame], timing: Timing, step: int,
            window: int = REORDER_WINDOW) -> Iterator[tuple[av.VideoFrame, int]]:
    """Decoded frames (from the start of the file for ``RATE``) with strictly increasing presentation times
    in the stream's time base (1/rate for ``RATE``); ``step`` is one frame period in that time base."""
    if timing == Timing.RATE:
        pairs: Iterable = ((frame, k) for k, frame in enumerate(frames))
    elif timing == Timing.ORDER:
        pairs = _sorted_stamps(frames, window)
    else:
        pairs = ((frame, _stamp(frame)) for frame in frames)
    last = None
    for frame, stamp in pairs:
        last = next_time(stamp, last, step)
        yield frame, last
