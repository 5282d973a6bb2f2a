"""Joining encoded segments into the output by stream copy, with the source's audio interleaved by time.

A resumed job only re-encodes missing segments and, joined, gives the same bytes as an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av

from pipeline.io.animated import ANIMATED_FORMATS, write_animated
from pipeline.io.attachments import carry
from pipeline.io.audio import SourceAudio
from pipeline.io.chapters import HOLD_CHAPTERS, chapters_for
from pipeline.io.data_tracks import HOLD_DATA, SourceData, held_tracks
from pipeline.io.decode import VideoInfo
from pipeline.io.encode import audio_plan, output_format
from pipeline.io.subtitles import subtitle_copies
from pipeline.io.tags import mp4_flags, source_tags
from pipeline.io.timecode import advance, write_timecode
from pipeline.io.tracks import open_input
from pipeline.options import EncodeOptions

# Matroska and AVI store times before zero (AAC priming) as they are, where their default would shift every
# stream, video included, by them.
_MUXER_OPTIONS = {"matroska": {"avoid_negative_ts": "disabled"}, "webm": {"avoid_negative_ts": "disabled"},
                  "avi": {"avoid_negative_ts": "disabled"}}
# AVI takes H.264 and HEVC as start-code streams, not the length-prefixed form MP4 segments hold.
_ANNEX_B = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}


def _slot_rate(segments: list[Path], rate: Fraction) -> Fraction:
    """AVI holds at most one frame per slot of 1/rate: the source's rate, or where frames come closer
    (variable frame timing), the rate of the closest two, up to four times the source's."""
    times = []
    for path in segments:
        with av.open(str(path)) as segment:
            stream = segment.streams.video[0]
            times += [packet.pts * stream.time_base for packet in segment.demux(stream) if packet.size]
    times.sort()
    closest = min((b - a for a, b in zip(times, times[1:]) if b > a), default=1 / rate)
    return rate if closest >= 1 / rate else min(1 / closest, 4 * rate)


def _copy_stream(out: av.container.OutputContainer, template) -> av.stream.Stream:
    """A stream of ``out`` for ``template``'s packets as they are. PyAV looks for an encoder named as the
    template's decoder, and AV1's is ``libdav1d``, which encodes nothing (``--codec libsvtav1`` ended in a
    traceback at the join): the decoder's own codec then serves, since nothing is encoded."""
    try:
        return out.add_stream_from_template(template)
    except av.codec.codec.UnknownCodecError:
        return out.add_stream_from_template(template, opaque=True)


class _VideoCopy:
    """The segments' video packets, ready for the output: decode times kept strictly increasing across
    segment seams; for AVI, which stores one frame per tick of 1/rate and no presentation times, times on
    that grid (segments for AVI have no B-frames, so decode order is display order) and start codes."""

    def __init__(self, segments: list[Path], out: av.container.OutputContainer, out_format: str,
                 rate: Fraction) -> None:
        self.rate = _slot_rate(segments, rate) if out_format == "avi" else None
        with av.open(str(segments[0])) as segment:
            template = segment.streams.video[0]
            self.stream = _copy_stream(out, template)
            # The source's rate: a segment read back states one frame a tick of its time base (12288 for
            # 24 frames/s), which Matroska would store as each frame's default duration, and MOV's timecode
            # track could not count at (60000 for a one-frame DV).
            self.stream.codec_context.framerate = rate
            self.stream.time_base = 1 / self.rate if self.rate else template.time_base
            bsf = _ANNEX_B.get(template.codec_context.name) if self.rate else None
            self.bsf = av.BitStreamFilterContext(bsf, template, self.stream) if bsf else None
        self.last_dts: int | None = None

    def _on_grid(self, packet: av.Packet) -> None:
        tick = round(packet.pts * packet.time_base * self.rate)
        if self.last_dts is not None and tick <= self.last_dts:
            tick = self.last_dts + 1  # two source frames closer than a tick: the later one a tick on
        # The muxer fills the slots up to the last frame's end with empty frames: a duration left in the
        # segment's time base (512 ticks of 1/12800 s read as 512 slots) made a 1 s clip last 21 s.
        slots = round(packet.duration * packet.time_base * self.rate) if packet.duration else 0
        packet.pts = packet.dts = tick
        packet.duration = max(slots, 1) if packet.duration else 0
        packet.time_base = 1 / self.rate

    def _ready(self, packet: av.Packet) -> list[av.Packet]:
        first = self.last_dts is None
        if self.rate:
            self._on_grid(packet)
        elif not first and packet.dts is not None and packet.dts <= self.last_dts:
            packet.dts = self.last_dts + 1  # segment seams: keep decode order strictly increasing
        self.last_dts, time_base = packet.dts, packet.time_base
        ready = self.bsf.filter(packet) if self.bsf else [packet]  # the filter takes the packet's data
        if self.rate and first and self.last_dts > 0:
            # AVI writes its first frame in the first slot whatever its time: an empty frame holds that slot,
            # and the muxer fills the slots up to the first frame's with more.
            empty = av.Packet(b"")
            empty.pts = empty.dts = 0
            empty.time_base = time_base
            ready.insert(0, empty)
        return ready

    def packets(self, segments: list[Path]) -> Iterator[av.Packet]:
        for path in segments:
            with av.open(str(path)) as segment:
                for packet in segment.demux(segment.streams.video[0]):
                    if packet.size == 0:
                        continue
                    for ready in self._ready(packet):
                        ready.stream = self.stream
                        yield ready
        for ready in self.bsf.filter(None) if self.bsf else []:
            ready.stream = self.stream
            yield ready


def _mp4_options(segment: Path, tags: dict[str, str]) -> dict[str, str]:
    """The index first, for playback while downloading; start offsets (edit lists) in the video's own time
    scale, where the default of 1/1000 s would move the first frame by up to half a millisecond; ``tags``
    kept (``pipeline/io/tags.py``)."""
    with av.open(str(segment)) as first:
        scale = first.streams.video[0].time_base.denominator
    return {"movflags": "+faststart" + mp4_flags(tags), "movie_timescale": str(scale)}


def join_segments(segments: list[Path], info: VideoInfo, output: Path, opts: EncodeOptions,
                  start_s: float = 0.0, end_s: float | None = None, offset_s: float = 0.0,
                  muxer: str | None = None) -> None:
    """Stream-copy the video segments into ``output`` (written in place: callers pass a temporary name)
    with every audio track of the source and each subtitle track the container holds, interleaved by time,
    the source's chapters, attachments, tags (when and where it was recorded), timecode and data tracks
    (telemetry: ``pipeline/io/data_tracks.py``); an animated image
    (``.gif``, ``.webp``, ``.apng``) is written from the segments' frames by ``pipeline/io/animated.py``.
    ``muxer``: write with that muxer instead of the one ``output``'s suffix names, the audio still as that one
    takes it (a work file that ``pipeline/io/alpha_video.py`` finishes)."""
    out_format = output_format(output)
    if out_format in ANIMATED_FORMATS.values():
        write_animated(segments, info, output, offset_s, end_s)
        return
    muxer = muxer or out_format
    with _source(info) as source:  # read once for its tags, chapters, attachments and which data tracks fit
        tags = source_tags(source) if source is not None else {}
        timecode = tags.pop("timecode", None)
        if timecode:  # the label of the output's first frame: --start's frames on from the source's first
            timecode = advance(timecode, round((start_s - info.origin_s) * info.rate) if start_s > 0 else 0,
                               info.rate)
        options = _mp4_options(segments[0], tags) if muxer in ("mp4", "mov") else _MUXER_OPTIONS.get(muxer, {})
        with av.open(str(output), "w", format=muxer, options=options) as out:
            out.metadata.update(tags)
            covers = _carried(source, out, muxer, start_s, end_s, offset_s)
            data = held_tracks(source, muxer) if source is not None and out_format in HOLD_DATA else []
            video = _VideoCopy(segments, out, out_format, info.rate)
            write_timecode(out, video.stream, muxer, timecode)
            tracks = []
            try:
                for track, codec in info.audio_tracks:
                    plan = audio_plan(codec, out_format, opts.audio)
                    if plan != "none":
                        tracks.append(SourceAudio(info, out, plan, start_s, end_s, offset_s, out_format, track))
                tracks += subtitle_copies(info, out, start_s, end_s, offset_s, muxer, out_format)
                tracks += [SourceData(info, out, start_s, end_s, offset_s, k) for k in data]
                _interleave(out, covers, video.packets(segments), tracks)
            finally:
                for copy in tracks:
                    copy.close()


def _interleave(out: av.container.OutputContainer, covers: list[av.Packet], pictures: Iterator[av.Packet],
                tracks: list) -> None:
    """The cover pictures, then each picture with every track's packets up to its time, then the tracks' rest."""
    for cover in covers:
        out.mux(cover)
    for packet in pictures:
        for copy in tracks:
            copy.mux_until(out, float(packet.pts * packet.time_base))
        out.mux(packet)
    for copy in tracks:
        copy.mux_until(out, None)


@contextmanager
def _source(info: VideoInfo) -> Iterator[av.container.InputContainer | None]:
    """The source opened for what the output carries besides pictures and tracks; None for an image sequence,
    or a file that cannot be opened again (the pictures and the audio are what count)."""
    try:
        source = open_input(info.path) if info.in_container else None
    except (av.error.FFmpegError, OSError):
        source = None
    try:
        yield source
    finally:
        if source is not None:
            source.close()


def _carried(source: av.container.InputContainer | None, out: av.container.OutputContainer, muxer: str,
             start_s: float, end_s: float | None, offset_s: float) -> list[av.Packet]:
    """The source's chapters and attachments given to ``out``; returns its cover pictures' packets to mux. A
    file whose chapters or attachments cannot be read gets none: the pictures and the audio are what count."""
    if source is None:
        return []
    try:
        if muxer in HOLD_CHAPTERS:
            out.set_chapters(chapters_for(source, start_s, end_s, offset_s))
        return carry(source, out, muxer)
    except (av.error.FFmpegError, OSError, ValueError):
        return []
