"""The source's subtitle tracks for an output, cut to the output's span and placed at their source time: each
one's packets copied as they are where the output's container holds its codec, and text subtitles the container
does not hold (SubRip, ASS or WebVTT into MP4) converted into the text codec it does.

Matroska holds almost every codec as it is, and MP4's ``mov_text`` as ASS; MP4 and MOV hold text as ``mov_text``,
WebM as WebVTT: FFmpeg decodes any text subtitle into ASS events (styling as ASS overrides) and encodes those
into each, italics and bold kept. Picture subtitles (Blu-ray PGS, DVD, DVB) have no text to carry: a track the
output cannot hold is named in one line at the start (``tracks_left_out``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import av
from av.subtitles.subtitle import SubtitleSet

from pipeline.io import subtitle_text
from pipeline.io.decode import VideoInfo
from pipeline.io.demux import packets
from pipeline.io.tracks import TrackCopy, label, open_input

log = logging.getLogger(__name__)

# What each output container takes as it is (FFmpeg's decoder names; SubRip's is "subrip", or "srt" as the
# SRT demuxer names it).
_COPYABLE = {
    "matroska": {"subrip", "srt", "ass", "ssa", "webvtt", "hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle",
                 "text"},
    "webm": {"webvtt"},
    "mp4": {"mov_text"},
    "mov": {"mov_text"},
}


# The text codec a container without the source's own takes
_TEXT_CODEC = {"mp4": "mov_text", "mov": "mov_text", "webm": "webvtt", "matroska": "ass"}


def is_text(codec: str) -> bool:
    """A subtitle codec whose events are text (FFmpeg's TEXT_SUB), not pictures."""
    try:
        return av.Codec(codec, "r").text_sub
    except (av.error.FFmpegError, ValueError):
        return False


def copied(codec: str, out_format: str) -> bool:
    """Whether an ``out_format`` output holds a subtitle track of ``codec`` as it is."""
    return codec in _COPYABLE.get(out_format, set())


def kept(codec: str, out_format: str) -> bool:
    """Whether an ``out_format`` output keeps a subtitle track of ``codec``, as it is or converted."""
    return copied(codec, out_format) or (out_format in _TEXT_CODEC and is_text(codec))


def tracks_left_out(info: VideoInfo, out_format: str) -> list[str]:
    """The subtitle tracks an ``out_format`` output cannot hold, each as "codec (language)"."""
    return [_named(codec, language) for _, codec, language in info.subtitles if not kept(codec, out_format)]


def _named(codec: str, language: str | None) -> str:
    return f"{codec} ({language})" if language else codec


class SourceSubtitles(TrackCopy):
    """One subtitle track's packets (``track``: its index among the source's subtitle streams) that show
    between ``start_s`` and ``end_s``, moved back by ``offset_s``; one that starts before ``start_s`` shows
    from the output's start for what is left of it. Reads the file on its own, as each audio track does."""

    def __init__(self, info: VideoInfo, out: av.container.OutputContainer, start_s: float,
                 end_s: float | None, offset_s: float, track: int, out_format: str) -> None:
        self.container = open_input(info.path)
        self.in_stream = self.container.streams.subtitles[track]
        self.convert = not copied(self.in_stream.codec_context.name, out_format)
        self.out_stream = self._converted(out, out_format) if self.convert else \
            out.add_stream_from_template(self.in_stream)
        label(self.out_stream, self.in_stream)
        self.start_s, self.end_s, self.offset_s = start_s, end_s, offset_s
        self._packets = self._encoded() if self.convert else self._copied()

    def _converted(self, out: av.container.OutputContainer, out_format: str):
        """A stream of the container's text codec, its encoder given the decoder's ASS header (styles)."""
        decoder = self.in_stream.codec_context
        decoder.open()  # a text decoder sets its ASS header as it opens
        stream = out.add_stream(_TEXT_CODEC[out_format])
        stream.codec_context.subtitle_header = decoder.subtitle_header
        stream.time_base = self.in_stream.time_base
        return stream

    def _shown(self) -> Iterator[tuple[av.Packet, int, int | None]]:
        """The packets that show in the output's span, each with its time there and how long it shows then (None:
        until the next one), in the stream's time base."""
        tb = self.in_stream.time_base
        for packet in packets(self.container, self.in_stream):
            if packet.pts is None or not packet.size:
                continue
            shown, gone = float(packet.pts * tb), float((packet.pts + (packet.duration or 0)) * tb)
            if self.end_s is not None and shown >= self.end_s:
                break
            if (gone <= self.start_s) if packet.duration else (shown < self.start_s):  # no duration: shown until
                continue                                                             # the next one
            begin = max(shown, self.start_s)
            lasts = max(1, round((min(gone, self.end_s or gone) - begin) / tb)) if packet.duration else None
            yield packet, round((begin - self.offset_s) / tb), lasts

    def _copied(self) -> Iterator[av.Packet]:
        for packet, pts, lasts in self._shown():
            packet.pts = packet.dts = pts
            if lasts is not None:
                packet.duration = lasts
            packet.stream = self.out_stream
            yield packet

    def _encoded(self) -> Iterator[av.Packet]:
        """The events in the span, read whole (a track is small), encoded in the output's codec; laid one after
        another for mov_text, which shows one at a time."""
        decoder, encoder = self.in_stream.codec_context, self.out_stream.codec_context
        events = [(pts, lasts, line) for packet, pts, lasts in self._shown()
                  for line in subtitle_text.dialogues(decoder, packet)]
        if encoder.name == "mov_text":
            events = subtitle_text.one_at_a_time(events)
        failed = 0
        for pts, lasts, line in events:
            try:
                packet = encoder.encode_subtitle(SubtitleSet.create(line, 0, lasts or 0, pts))
            except (av.error.FFmpegError, ValueError):
                failed += 1
                continue
            packet.pts = packet.dts = pts
            packet.duration, packet.time_base, packet.stream = lasts or 0, self.in_stream.time_base, self.out_stream
            yield packet
        if failed:
            log.warning("%s: %d of %d events of its %s subtitles could not be converted: left out",
                        Path(self.container.name), failed, len(events), _named(self.in_stream.codec_context.name,
                                                                             self.in_stream.metadata.get("language")))


def subtitle_copies(info: VideoInfo, out: av.container.OutputContainer, start_s: float, end_s: float | None,
                    offset_s: float, muxer: str, out_format: str) -> list[SourceSubtitles]:
    """A ``SourceSubtitles`` for each track both ``muxer`` and the output's container keep; one whose codec
    cannot be opened for converting is left out with one line, as the pictures and audio are what count."""
    copies = []
    for track, codec, language in info.subtitles:
        if not (kept(codec, muxer) and kept(codec, out_format)):
            continue
        try:
            copies.append(SourceSubtitles(info, out, start_s, end_s, offset_s, track, muxer))
        except (av.error.FFmpegError, ValueError) as exc:
            log.warning("%s: its %s subtitles left out: they could not be converted (%s)", info.path,
                        _named(codec, language), exc)
    return copies
