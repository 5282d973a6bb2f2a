"""A source's alpha channel, for outputs that can hold it: the RGB is stylized, the source's alpha is put
back, as the folder job does for images.

Animated GIF/WebP/APNG outputs hold it (``pipeline/io/animated.py`` writes them from the segments, taking
the alpha here frame by frame), and so do WebM (VP9 with alpha) and MOV (ProRes 4444) outputs
(``pipeline/io/alpha_video.py``); other containers drop it with one line. Sources with alpha: ProRes 4444
and other formats with an alpha plane (FFmpeg decodes it), VP8/VP9 in WebM (the alpha is a second stream
only libvpx's decoders read, so those decode it here), GIF with a transparent colour, animated WebP/APNG and
PNG sequences (Pillow).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from PIL import Image

from pipeline.io.demux import packets
from pipeline.io.reading import PILLOW_ERRORS
from pipeline.io.tracks import main_video

_LIBVPX = {"vp8": "libvpx", "vp9": "libvpx-vp9"}


def stream_has_alpha(path: Path, stream, first: av.VideoFrame) -> bool:
    """Whether a PyAV-read stream carries alpha: an alpha plane, WebM's ``alpha_mode``, or a GIF's
    transparent colour (FFmpeg decodes every GIF to BGRA, transparent or not)."""
    if stream.metadata.get("alpha_mode") == "1":
        return True
    if stream.codec_context.name == "gif":
        try:
            with Image.open(path) as image:
                return "transparency" in image.info
        except PILLOW_ERRORS:
            return False
    return any(c.is_alpha for c in first.format.components)


def image_has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _pyav_alpha(path: Path) -> Iterator[tuple[float, np.ndarray]]:
    with av.open(str(path)) as container:
        stream = main_video(container)
        name = stream.codec_context.name
        if stream.metadata.get("alpha_mode") == "1" and name in _LIBVPX:
            decoder = av.CodecContext.create(_LIBVPX[name], "r")
            decoder.extradata = stream.codec_context.extradata
            frames = (f for packet in packets(container, stream) for f in decoder.decode(packet))
        else:
            frames = (f for packet in packets(container, stream) for f in packet.decode())
        for frame in frames:
            if frame.pts is not None:
                yield float(frame.pts * stream.time_base), frame.to_ndarray(format="rgba")[..., 3]


def alpha_frames(info) -> Iterator[tuple[float, np.ndarray]]:
    """(time in seconds, (H, W) uint8 alpha) of every source frame, in order, on the source's timeline."""
    if info.format == "sequence":
        from pipeline.io.sequence import sequence_files

        files = sequence_files(info.path)
        for n, path in files:
            with Image.open(path) as image:
                yield float((n - files[0][0]) * info.time_base), np.asarray(image.convert("RGBA"))[..., 3]
    elif info.format.startswith("pillow-"):
        from pipeline.io.animated import first_played, frame_timestamps

        with Image.open(info.path) as image:
            first = first_played(image)
            for k, t in enumerate(frame_timestamps(info)):
                image.seek(first + k)
                yield float(t * info.time_base), np.asarray(image.convert("RGBA"))[..., 3]
    else:
        yield from _pyav_alpha(info.path)


def opaque(info) -> bool:
    """Whether every frame of ``info``'s source is fully opaque (an Animation or PNG MOV exported with an alpha
    channel that it never uses): one pass over its alpha, stopping at the first pixel that is not. False where
    it cannot be read to the end (the job meets the damage as it would)."""
    try:
        return all(bool((alpha == 255).all()) for _, alpha in alpha_frames(info))
    except (av.error.FFmpegError, *PILLOW_ERRORS):
        return False


class AlphaTrack:
    """The source's alpha over time, read once, forward: ``at(t)`` is the alpha of the frame shown at ``t``
    seconds on the source's timeline (the latest at or before it; opaque before the first), at ``size``
    (h, w). Holds one source frame's alpha at a time, so a long video costs no more than a short one."""

    def __init__(self, info, size: tuple[int, int]) -> None:
        self.size, self._info = size, info
        self._source = alpha_frames(info)
        self._current: tuple[float, np.ndarray] | None = None
        self._upcoming = next(self._source, None)

    def at(self, t: float) -> np.ndarray:
        while self._upcoming is not None and self._upcoming[0] <= t + 1e-4:
            self._current, self._upcoming = self._upcoming, next(self._source, None)
        alpha = self._current[1] if self._current is not None else np.full(self.size, 255, np.uint8)
        rotation = getattr(self._info, "rotation", 0) or 0
        if rotation and self._current is not None:  # upright, as decode.py turns the picture
            alpha = np.ascontiguousarray(np.rot90(alpha, k=rotation // 90))
        if alpha.shape != self.size:
            alpha = np.asarray(Image.fromarray(alpha).resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR))
        return alpha

    def close(self) -> None:
        self._source.close()


def matched(info, times: list[float], size: tuple[int, int]) -> list[np.ndarray]:
    """The source alpha shown at each of ``times`` (seconds on the source's timeline), at ``size`` (h, w)."""
    track = AlphaTrack(info, size)
    try:
        return [track.at(t) for t in times]
    finally:
        track.close()
