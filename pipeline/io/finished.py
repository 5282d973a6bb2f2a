"""Whether an output already under its name is a finished one, for ``--skip-existing``.

Outputs are written under a temporary name and renamed into place (a sequence's frames moved together), so a
file under the final name was finished; one that is empty or does not decode (a copy cut short, another
program's leftover) is made again rather than left as a result.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

from pipeline.io.animated import ANIMATED_OUTPUTS
from pipeline.io.reading import PILLOW_ERRORS
from pipeline.io.sequence import sequence_files
from pipeline.io.tracks import main_video
from pipeline.io.walk import is_pattern

_DURATION = re.compile(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)")  # Matroska's DURATION tag: 00:00:05.005000000


def finished_image(path: Path) -> bool:
    """An image file that is not empty and whose data Pillow reads to the end (an animation's last frame
    decoded, which a file cut short lacks)."""
    try:
        if path.stat().st_size == 0:
            return False
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            if getattr(img, "n_frames", 1) > 1:
                img.seek(img.n_frames - 1)
                img.load()
        return True
    except PILLOW_ERRORS:
        return False


def finished_video(path: Path) -> bool:
    """A video output: an image sequence whose first and last frames read, an animated image, or a container
    whose first frame decodes and whose video and audio packets run to the ends it states (an MP4 cut before
    its index does not open; one cut after it, or a Matroska file cut short, states an end past its data)."""
    if is_pattern(path):
        files = sequence_files(path)
        return bool(files) and finished_image(files[0][1]) and finished_image(files[-1][1])
    if path.suffix.lower() in ANIMATED_OUTPUTS:
        return path.is_file() and finished_image(path)
    try:
        if not path.is_file() or path.stat().st_size == 0 or not _riff_whole(path):
            return False
        with av.open(str(path)) as container:
            video = main_video(container)  # not a cover picture stored first
            if video is None or next(container.decode(video), None) is None:
                return False
            return all(_runs_to_its_end(container, stream) for stream in (video, *container.streams.audio))
    except (av.FFmpegError, OSError, ValueError):
        return False


def _runs_to_its_end(container, stream) -> bool:
    """Whether ``stream``'s packets from the keyframe before its stated end's last second reach that end,
    within two of the longest a packet lasts or is shown (a two-frame WMV states 1 ms a frame and shows one a
    second; an AAC or Opus track's stated end takes in its priming, up to a packet past its last). Only those
    packets are read, so a skipped output costs milliseconds, not a pass over the file."""
    end = _stated_end(stream)
    if end is None:  # nothing stated to hold the data to
        return True
    container.seek(int(max(0, end - 1) / stream.time_base), stream=stream, backward=True)
    starts, lasts = [], [Fraction(0)]
    for packet in container.demux(stream):
        if packet.is_corrupt:  # FFmpeg's flag for a packet the file ends inside
            return False
        if packet.pts is not None:  # a Theora packet of no bytes repeats a frame
            starts.append(packet.pts * packet.time_base)
            lasts.append((packet.duration or 0) * packet.time_base)
    if not starts:
        return False
    starts.sort()
    longest = max([*lasts, *(b - a for a, b in zip(starts, starts[1:]))])
    return starts[-1] + 2 * longest >= end - Fraction(1, 1000)


def _stated_end(stream) -> Fraction | None:
    """Where ``stream`` says it ends, in seconds on its own clock: its start plus its duration (MP4, MOV,
    AVI), or the DURATION tag FFmpeg's Matroska muxer writes (MKV, WebM: the end of its last packet)."""
    if stream.duration:
        return (Fraction(stream.start_time or 0) + stream.duration) * stream.time_base
    if match := _DURATION.fullmatch(stream.metadata.get("DURATION", "")):
        hours, minutes, seconds = match.groups()
        return int(hours) * 3600 + int(minutes) * 60 + Fraction(seconds)
    return None


def _riff_whole(path: Path) -> bool:
    """False for an AVI whose RIFF chunks (the first, and OpenDML's ``AVIX`` ones past 1 GB) state more bytes
    than the file holds: FFmpeg rebuilds a cut AVI's missing index from what is there, so it reads as a
    shorter whole. True for every other file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(4) != b"RIFF":
            return True
        at = 0
        while at + 8 <= size:
            f.seek(at)
            head = f.read(8)
            if head[:4] != b"RIFF":
                return False
            at += 8 + int.from_bytes(head[4:], "little") + (head[4] & 1)
    return at == size
