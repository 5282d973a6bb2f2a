"""The source's subtitle tracks for an output: each one's packets copied as they are where the output's
container holds its codec, cut to the output's span and placed at its source time.

Subtitles are not re-encoded: FFmpeg converts between text formats only through decoded subtitles, which PyAV
does not encode. So an MP4 keeps only MP4's own ``mov_text``, a WebM only WebVTT; Matroska holds them all. A
track the output cannot hold is named in one line at the start (``tracks_left_out``).
"""

from __future__ import annotations

from collections.abc import Iterator

import av

from pipeline.io.decode import VideoInfo
from pipeline.io.demux import packets
from pipeline.io.tracks import TrackCopy, label, open_input

# What each output container takes as it is (FFmpeg's decoder names; SubRip's is "subrip", or "srt" as the
# SRT demuxer names it).
_COPYABLE = {
    "matroska": {"subrip", "srt", "ass", "ssa", "webvtt", "hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle",
                 "text"},
    "webm": {"webvtt"},
    "mp4": {"mov_text"},
    "mov": {"mov_text"},
}


def kept(codec: str, out_format: str) -> bool:
    """Whether an ``out_format`` output keeps a subtitle track of ``codec``."""
    return codec in _COPYABLE.get(out_format, set())


def tracks_left_out(info: VideoInfo, out_format: str) -> list[str]:
    """The subtitle tracks an ``out_format`` output cannot hold, each as "codec (language)"."""
    return [f"{codec} ({language})" if language else codec
            for _, codec, language in info.subtitles if not kept(codec, out_format)]


class SourceSubtitles(TrackCopy):
    """One subtitle track's packets (``track``: its index among the source's subtitle streams) that show
    between ``start_s`` and ``end_s``, moved back by ``offset_s``; one that starts before ``start_s`` shows
    from the output's start for what is left of it. Reads the file on its own, as each audio track does."""

    def __init__(self, info: VideoInfo, out: av.container.OutputContainer, start_s: float,
                 end_s: float | None, offset_s: float, track: int) -> None:
        self.container = open_input(info.path)
        self.in_stream = self.container.streams.subtitles[track]
        self.out_stream = out.add_stream_from_template(self.in_stream)
        label(self.out_stream, self.in_stream)
        self.start_s, self.end_s, self.offset_s = start_s, end_s, offset_s
        self._packets = self._generate()

    def _generate(self) -> Iterator[av.Packet]:
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
            if packet.duration:
                packet.duration = max(1, round((min(gone, self.end_s or gone) - begin) / tb))
            packet.pts = packet.dts = round((begin - self.offset_s) / tb)
            packet.stream = self.out_stream
            yield packet
