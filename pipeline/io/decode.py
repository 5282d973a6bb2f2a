"""Reading videos with PyAV: probe a file, list its frame times, stream its frames out upright.

Frames carry their presentation times in ``VideoInfo.time_base``, strictly increasing, repaired where the
container's are out of order or missing (``pipeline/io/timing.py``), so rate (30000/1001 too) and variable
frame timing survive. Every failure of the file itself (missing, empty, damaged, truncated, no video) is a
``VideoError`` with one line, never a PyAV exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.errors import DecodingStopped, VideoError, reason
from pipeline.io import animated, demux, sequence, truncation
from pipeline.io.alpha import stream_has_alpha
from pipeline.io.aspect import display_size, fit_inside, letterboxed, pixel_aspect, say_resized
from pipeline.io.color import Colour, source_colour, to_rgb
from pipeline.io.deinterlace import deinterlaced
from pipeline.io.timing import (REORDER_WINDOW, Packets, Timing, increasing, is_raw, joined, raw_rate, retimed,
                                 seam_gap, stated_rate)
from pipeline.io.tracks import (data_tracks, first_audio, main_video, more_audio, open_video, subtitle_tracks,
                                 unknown_tracks, video_stream)

# Containers with an index of keyframes, where a seek lands on the keyframe before the time asked for. Others
# (MPEG-TS, GIF, raw streams) are read from the start up to the frame asked for.
_INDEXED = {"mov", "mp4", "matroska", "webm", "avi"}


@dataclass
class VideoInfo:
    path: Path
    width: int  # as displayed, in square pixels (pipeline/io/aspect.py), after rotation
    height: int
    rate: Fraction  # average frame rate, exact
    time_base: Fraction  # of the frames' pts: the stream's, or 1/rate where the stream has no times
    frames: int  # from the container (counted for raw streams); 0 when unknown
    duration_s: float
    rotation: int  # counter-clockwise degrees the decoded frames need to be upright
    codec: str
    audio_codec: str | None
    timing: Timing = Timing.STREAM  # where frame times come from (pipeline/io/timing.py)
    seekable: bool = True  # False: decoding always starts at the first frame and skips to the one asked for
    reorders: bool = True  # the codec can store frames in another order than they are shown (B-frames)
    format: str = ""  # the demuxer's names, e.g. "matroska,webm"; "pillow-webp": read by pipeline/io/animated.py
    loop: int | None = None  # an animated image's loop count (0: forever; None: none stored, it plays once)
    alpha: bool = False  # the source has transparency (pipeline/io/alpha.py)
    colour: Colour | None = None  # matrix, range, primaries, transfer and depth (pipeline/io/color.py)
    audio_late: bool = False  # the audio starts past FFmpeg's first look: read it with open_input(probe_all=True)
    empty_audio: bool = False  # an audio stream is declared but holds no samples: left out
    origin_s: float = 0.0  # the first frame's time: --start and --duration count from it, as players show time
    pixel_aspect: Fraction = Fraction(1)  # the coded pixels' width over height; frames come out square
    deinterlace: bool = False  # frames flagged interlaced, wherever they come, are deinterlaced (deinterlace.py)
    more_audio: tuple[tuple[int, str], ...] = ()  # later audio tracks: (index among the audio streams, decoder)
    subtitles: tuple[tuple[int, str, str], ...] = ()  # (index among the subtitle streams, decoder, language)
    unknown_tracks: tuple[str, ...] = ()  # audio and subtitle tracks of codecs FFmpeg does not know: left out
    data_tracks: int = 0  # data tracks besides a timecode track (telemetry): kept in .mp4 and .mov outputs

    @property
    def in_container(self) -> bool:
        """Read by FFmpeg from a media file (not an image sequence's folder, nor Pillow's animated WebP)."""
        return self.format != "sequence" and not self.format.startswith("pillow-")

    @property
    def audio_tracks(self) -> tuple[tuple[int, str], ...]:
        """Every audio track an output keeps, in the source's order: (index among its audio streams, decoder)."""
        return (((0, self.audio_codec),) if self.audio_codec else ()) + self.more_audio

    @property
    def expected_frames(self) -> int:
        return self.frames or round(self.duration_s * float(self.rate))

    def clock(self, seconds: float) -> float:
        """``seconds`` counted from the first frame (as --start, --duration and a player count) on the stream's
        own clock, where its frames' times are."""
        return self.origin_s + seconds

    @property
    def seam_gap(self) -> int | None:
        """How far back a frame's time must go to be a seam between parts joined end to end (times stored)."""
        return seam_gap(self.step, round(1 / self.time_base)) if self.timing == Timing.STREAM else None

    @property
    def step(self) -> int:
        """One frame period in ``time_base`` ticks (at least one)."""
        return max(1, round(1 / (self.rate * self.time_base)))


@dataclass
class Frame:
    index: int
    pts: int  # in VideoInfo.time_base
    image: np.ndarray  # (H, W, 3) RGB, upright: uint8, or uint16 (0..65535) for a deep source decoded ``deep``


def _first_frame(container: av.container.InputContainer, stream) -> tuple[av.VideoFrame, Packets, bool]:
    """The first decodable frame, the packets with data it took, and whether those carried times."""
    seen, stamped = Packets(), False
    try:
        for packet in demux.packets(container, stream):
            if packet.size:
                seen.add(packet)
                stamped = stamped or packet.pts is not None or packet.dts is not None
            for frame in packet.decode():
                return frame, seen, stamped
    except av.error.FFmpegError as exc:
        for frame in _held(stream):  # a file cut short: what decoded before the cut
            return frame, seen, stamped
        cut = truncation.cut_short(Path(container.name), set(container.format.name.split(",")))
        raise VideoError(f"truncated: {cut}; no frame decodes before that" if cut else
                         f"cannot decode the first frame ({reason(exc)})") from None
    raise VideoError("video stream has no frames (zero-length video)")


def _held(stream) -> list[av.VideoFrame]:
    """The frames a decoder still holds (for reordering) after a packet failed to decode; none if it cannot."""
    try:
        return stream.codec_context.decode(None)
    except av.error.FFmpegError:
        return []


def count_packets(container: av.container.InputContainer, stream, seen: Packets | None = None) -> Packets:
    """``seen`` (or none) and the packets with data (frames) of ``stream`` from where the container is, counted;
    VideoError when reading fails."""
    seen = seen if seen is not None else Packets()
    try:
        for packet in demux.packets(container, stream):
            if packet.size:
                seen.add(packet)
    except av.error.FFmpegError as exc:
        raise VideoError(f"truncated or corrupt: reading failed ({reason(exc)})") from None
    return seen


def probe(path: Path, fps: float | None = None) -> VideoInfo:
    """Read the stream parameters, refusing files that have no decodable video stream.

    A stream without any times (a raw elementary stream) gets ``fps`` or its headers' rate (``raw_rate``),
    time base 1/rate and its packets counted. An image sequence (``pipeline/io/sequence.py``) is read at
    ``fps``; an animated WebP with Pillow (``animated.pillow_reads``), as is an animation FFmpeg cannot decode.
    Other files keep their own times, whatever ``fps`` says."""
    if sequence.is_sequence(path):
        return sequence.probe(path, fps)
    if animated.pillow_reads(path):
        return animated.probe(path)
    try:
        return _probe_stream(path, fps)
    except VideoError:
        if not animated.is_animated(path):
            raise
        return animated.probe(path)  # FFmpeg decodes none of it (a GIF frame without a palette), Pillow may


def _probe_stream(path: Path, fps: float | None) -> VideoInfo:
    """``probe`` of a file FFmpeg reads."""
    with open_video(path) as container:
        stream = video_stream(container)
        ctx = stream.codec_context
        raw, time_base = is_raw(container), Fraction(stream.time_base)
        rate = stated_rate(stream, raw)
        if not rate:
            raise VideoError("video stream has no frame rate")
        first, packets, stamped = _first_frame(container, stream)
        rotation = int(round(first.rotation or 0)) % 360
        frames = stream.frames or 0
        duration = float(stream.duration * time_base) if stream.duration else (
            container.duration / av.time_base if container.duration else 0.0)
        reorders = av.Codec(ctx.name, "r").reorder
        formats = set(container.format.name.split(","))
        if raw or not stamped:  # a raw stream's times are the parser's guesses, permuted by B-frames
            count_packets(container, stream, packets)  # the rest of them
            rate = Fraction(fps).limit_denominator(1001) if fps else raw_rate(packets, time_base, rate)
            timing, time_base, frames = Timing.RATE, 1 / rate, packets.count
            duration = float(frames / rate)
        else:
            timing = Timing.ORDER if "avi" in formats else Timing.STREAM
        aspect = pixel_aspect(stream)
        width, height = display_size(ctx.width, ctx.height, aspect)
        width, height = (height, width) if rotation % 180 else (width, height)
        audio, audio_late, empty_audio = first_audio(container)
        # An MPEG-TS starts at 1.4 s or wherever its clock stood, a DASH fragment where its period did
        origin = float(stream.start_time * time_base) if stamped and stream.start_time is not None else 0.0
        # Stamps permuted by reordering only sort out over a run of frames decoded from a keyframe on.
        seekable = bool(formats & _INDEXED) and timing != Timing.RATE and not (timing == Timing.ORDER and reorders)
        loop = animated.loop_count(path) if formats & {"gif", "apng"} else None
        return VideoInfo(path, width, height, rate, time_base, frames, duration, rotation, ctx.name,
                         audio, timing, seekable, reorders, container.format.name,
                         loop, stream_has_alpha(path, stream, first), source_colour(first),
                         audio_late, empty_audio, max(0.0, origin), aspect, True,
                         more_audio(container), subtitle_tracks(container),
                         unknown_tracks(container), len(data_tracks(container)))


def frame_timestamps(info: VideoInfo) -> list[int]:
    """Presentation timestamps of every video frame, in order, read from the packets without decoding:
    the same list ``decode_frames`` yields, so a worker can start at frame k by ``decode_frames``'s
    ``first_index``."""
    return timeline(info)[0]


def timeline(info: VideoInfo) -> tuple[list[int], list[int]]:
    """``frame_timestamps``, and how far each part after the first of a file joined end to end was moved
    (``pipeline/io/timing.py``; none for most files), in ``info.time_base``."""
    if info.format == "sequence":
        return sequence.frame_timestamps(info), []
    if info.format.startswith("pillow-"):
        return animated.frame_timestamps(info), []
    with open_video(info.path) as container:
        stream = main_video(container)
        try:
            packets = [p for p in demux.packets(container, stream) if p.size]
            stamps = [p.dts if info.timing == Timing.ORDER or p.pts is None else p.pts for p in packets]
        except av.error.FFmpegError as exc:
            raise VideoError(f"truncated or corrupt: reading failed ({reason(exc)})") from None
    if info.timing == Timing.RATE:
        return list(range(len(stamps))), []
    stamps = [s for s in stamps if s is not None]
    if info.seam_gap is None:
        return increasing(sorted(stamps), info.step), []
    return joined(stamps, info.step, info.seam_gap)


def _seek(container: av.container.InputContainer, stream, info: VideoInfo, start_s: float,
          first_index: int, timestamps: list[int] | None) -> None:
    """To the keyframe before the frame asked for; files that cannot seek are read from the start."""
    if not info.seekable:
        return
    before = 1 if info.deinterlace else 0  # the deinterlacer weighs each frame with the one before
    if first_index > 0 and timestamps is not None:
        container.seek(timestamps[first_index - before], stream=stream, backward=True)
    elif start_s > 0:
        container.seek(int(start_s / info.time_base) - before * info.step, stream=stream, backward=True)


def _upright(frame: av.VideoFrame, info: VideoInfo, deep: bool, at_s: float = 0.0) -> np.ndarray:
    """The frame (shown at ``at_s``) in RGB at the stream's shown size, turned upright; one whose size changed
    part way fitted in."""
    rotation = info.rotation
    shown = (info.height, info.width) if rotation % 180 else (info.width, info.height)  # before the turn
    own = display_size(frame.width, frame.height, info.pixel_aspect)
    if own == shown:
        image = to_rgb(frame, info.colour, deep, None if info.pixel_aspect == 1 else shown)
    else:
        say_resized(info.path, shown, own, at_s)
        image = letterboxed(to_rgb(frame, info.colour, deep, fit_inside(own, shown)), shown)
    if rotation:
        image = np.ascontiguousarray(np.rot90(image, k=rotation // 90))
    return image


# Packets that fail to decode are left out and decoding goes on, as players do (the frame before shows longer);
# past this many, the file is taken for garbage and decoding stops there.
MAX_DAMAGED = 50


@dataclass
class _Progress:
    """How far decoding got: frames out of the decoder, the error that stopped it (None: the end), and the
    times (seconds; None where unknown) of the packets left out for not decoding."""

    frames: int = 0
    error: av.error.FFmpegError | None = None
    damaged: list = field(default_factory=list)
    skip: int = MAX_DAMAGED  # how many damaged packets to leave out before the next one stops decoding

    def decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        """``packet``'s frames; none for a damaged one, noted, until there are too many of them."""
        try:
            return packet.decode()
        except av.error.FFmpegError:
            if not packet.size or len(self.damaged) >= self.skip:  # the drain's error, or a garbage file
                raise
            self.damaged.append(None if packet.pts is None else float(packet.pts * packet.time_base))
            return []


def _decoded(container: av.container.InputContainer, stream, progress: _Progress,
             slots: bool) -> Iterator[av.VideoFrame]:
    """The stream's frames in decoder order, counted in ``progress``, which keeps a decoding error instead of
    raising it, so the frames held for reordering still come out; a packet that does not decode is left out
    and noted there, and decoding goes on (``MAX_DAMAGED``). A file cut short ends in a packet read short
    (FFmpeg flags it corrupt): it is left out, as its frame is not all there, and a threaded decoder would
    report its error only as it drains, losing the frames it held. With ``slots`` (AVI), each frame's ``pts``
    is its packet's slot in the file (``dts``), where FFmpeg's own pts for AVI assume a decoder delay of a
    frame."""
    slot_of = {}

    def counted(frames: Iterable[av.VideoFrame]) -> Iterator[av.VideoFrame]:
        for frame in frames:
            progress.frames += 1
            if slots:
                frame.pts = slot_of.pop(frame.pts, frame.pts)
            yield frame

    short = None  # a packet the demuxer read short: decoded only if more packets follow it
    try:
        for packet in demux.packets(container, stream):
            if short is not None and packet.size:
                yield from counted(progress.decode(short))
                short = None
            if slots and packet.size and packet.dts is not None:
                slot_of[packet.pts] = packet.dts
            if packet.is_corrupt and packet.size:
                short = packet
                continue
            yield from counted(progress.decode(packet))  # the last, empty, packet drains the decoder
    except av.error.FFmpegError as exc:
        progress.error = exc
    if progress.error is not None:
        yield from counted(_held(stream))


def decode_frames(info: VideoInfo, start_s: float = 0.0, duration_s: float | None = None,
                  max_frames: int | None = None, first_index: int = 0, timestamps: list[int] | None = None,
                  deep: bool = False, stops: list[DecodingStopped] | None = None,
                  skip_damaged: bool = True) -> Iterator[Frame]:
    """Decode upright RGB frames in presentation order, with frame threading on; ``deep``: 16-bit RGB for
    sources deeper than 8 bits (``pipeline/io/color.py``).

    ``start_s`` and ``duration_s`` count from the first frame (``VideoInfo.origin_s``), as a player's clock does.
    ``first_index`` (with the ``frame_timestamps`` list) seeks to the keyframe before that frame and
    yields from it on with the same indices a decode from the start would give. A file that ends cleanly
    before the frame count its header gives (``VideoInfo.frames`` is a hint) yields the frames there are.
    A decoding error (truncated or corrupt file) raises VideoError naming how far decoding got; given a
    ``stops`` list, one after some frames ends the frames there and appends a ``DecodingStopped`` to it, as
    does a clean end where the file was cut short (``truncation.ends_short``): the caller keeps what decoded.
    A packet that does not decode is left out with one warning (up to ``MAX_DAMAGED``); with ``skip_damaged``
    False (--strict) it is such a decoding error.
    """
    begin = info.clock(start_s) if start_s > 0 else 0.0
    end_s = None if duration_s is None else info.clock(start_s + duration_s)
    if info.format == "sequence":
        yield from sequence.decode_frames(info, start_s, end_s, max_frames, first_index, deep)
        return
    if info.format.startswith("pillow-"):
        yield from animated.decode_frames(info, start_s, end_s, max_frames, first_index)
        return
    index_of = {pts: i for i, pts in enumerate(timestamps)} if timestamps is not None else None
    index = yielded = 0
    progress, last_t = _Progress(skip=MAX_DAMAGED if skip_damaged else 0), None
    with open_video(info.path) as container:
        stream = main_video(container)
        stream.thread_type = "AUTO"
        try:
            _seek(container, stream, info, begin, first_index, timestamps)
        except av.error.FFmpegError as exc:
            raise VideoError(f"truncated or corrupt: seeking failed ({reason(exc)})") from None
        frames = _decoded(container, stream, progress, info.timing == Timing.ORDER)
        frames = deinterlaced(frames, stream) if info.deinterlace else frames
        for frame, pts in retimed(frames, info.timing, info.step, REORDER_WINDOW if info.reorders else 1,
                                  info.seam_gap):
            t = float(pts * info.time_base)
            if t < begin - 1e-6:
                continue
            if index_of is not None:
                index = index_of.get(pts, index)
                if index < first_index:
                    continue
            if (end_s is not None and t >= end_s - 1e-6) or (max_frames is not None and index >= max_frames):
                return
            yield Frame(index, pts, _upright(frame, info, deep, t - info.origin_s))
            index, yielded, last_t = index + 1, yielded + 1, t
    truncation.say_damaged(info, progress.damaged)
    from_s = float(timestamps[first_index] * info.time_base) if first_index and timestamps else None
    stop = truncation.ending(info, progress, yielded, None if last_t is None else last_t + 1 / float(info.rate),
                             from_s, stops is not None)
    if stop is not None:
        stops.append(stop)
