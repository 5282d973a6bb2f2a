"""A source's timecode, the label of its first frame (HH:MM:SS:FF) that cameras and editors conform by, for the
output: moved on by the frames ``--start`` leaves out, and dropped where it cannot be written.

FFmpeg reads it from a MOV or MP4 timecode track (the video stream's ``timecode`` tag, and the data stream's),
an MPEG-2 stream's first GOP header (the video stream's), a DV or MXF file (the container's tag). It writes it
back from a stream's tag: MOV and MP4 as a timecode track at the video's frame rate, Matroska as a tag; AVI
keeps it only as a file tag. Drop-frame timecode (29.97 and 59.94 frames/s, written ``HH:MM:SS;FF``) skips
frame numbers 0 and 1 (0 to 3 at 59.94) at each minute but every tenth, so it stays on the wall clock.
"""

from __future__ import annotations

import re
from fractions import Fraction

import av

_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")
_DAY = 24 * 3600
# The frame rates FFmpeg's MOV muxer writes a timecode track for: whole frames a second it can store in a byte.
_MAX_FPS = 255


def timecode_tag(tags: dict[str, str]) -> str | None:
    """The ``timecode`` among ``tags`` (Matroska writes it ``TIMECODE``), or None."""
    return next((value.strip() for key, value in tags.items() if key.lower() == "timecode" and value.strip()), None)


def source_timecode(container: av.container.InputContainer, video) -> str | None:
    """The timecode of ``container``'s first frame: the ``video`` stream's own, a timecode track's, or the file's."""
    for tags in (video.metadata if video is not None else {}, *(s.metadata for s in container.streams.data),
                 container.metadata):
        if found := timecode_tag(tags):
            return found
    return None


def _counts(rate: Fraction, drop: bool) -> tuple[int, int] | None:
    """Frames each timecode second counts, and frame numbers dropped each minute; None where the rate has no
    timecode (drop-frame is only for multiples of 30000/1001)."""
    fps = round(rate)
    if not 1 <= fps <= _MAX_FPS:
        return None
    if not drop:
        return fps, 0
    return (fps, fps // 15) if fps % 30 == 0 else None


def advance(timecode: str, frames: int, rate: Fraction) -> str | None:
    """``timecode`` (of a stream at ``rate`` frames a second) ``frames`` frames later, in the same form; None
    where it is not a timecode or the rate has none."""
    match = _TIMECODE.match(timecode.strip())
    if match is None:
        return None
    hh, mm, ss, sep, ff = match.groups()
    counts = _counts(rate, sep != ":")  # as FFmpeg reads it: any other separator marks drop-frame
    if counts is None:
        return None
    fps, drop = counts
    hours, minutes, seconds, frame = int(hh), int(mm), int(ss), int(ff)
    if minutes > 59 or seconds > 59 or frame >= fps:
        return None
    total_minutes = 60 * hours + minutes
    number = (3600 * hours + 60 * minutes + seconds) * fps + frame - drop * (total_minutes - total_minutes // 10)
    return _label(number + frames, fps, drop, sep, len(ff))


def _label(number: int, fps: int, drop: int, sep: str, width: int) -> str:
    """Frame ``number`` (counted from 00:00:00:00, wrapping at a day) as a timecode."""
    if drop:
        per_ten = 600 * fps - 9 * drop  # frames in ten minutes of drop-frame timecode
        per_minute = 60 * fps - drop
        number %= (_DAY // 600) * per_ten
        tens, rest = divmod(number, per_ten)
        number += 9 * drop * tens + (drop * ((rest - drop) // per_minute) if rest > drop else 0)
    number %= _DAY * fps
    seconds, frame = divmod(number, fps)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{sep}{frame:0{width}d}"


def write_timecode(out: av.container.OutputContainer, video, muxer: str, timecode: str | None) -> None:
    """Give ``out`` the ``timecode`` of its first frame where the ``muxer`` keeps one: on the ``video``
    stream (MOV and MP4 make a timecode track of it, counting frames at the stream's stated rate), in AVI as
    the file's tag."""
    if not timecode:
        return
    if muxer == "avi":
        out.metadata["timecode"] = timecode
    elif muxer in ("mp4", "mov", "matroska", "webm"):
        video.metadata["timecode"] = timecode
