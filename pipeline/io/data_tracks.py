"""The source's data tracks for MP4 and MOV outputs: an action camera's telemetry (a GoPro's GPS, gyroscope and
accelerometer, ``gpmd``), a phone's or a drone's timed metadata, copied packet for packet over the output's
span, so what reads the telemetry of a clip reads it of the stylized one.

FFmpeg's MOV muxer writes a data track back with the sample description it was read with (``gpmd`` stays
``gpmd``) but refuses codecs it has no tag for (KLV from a drone's MPEG-TS), failing the whole file: each track
is tried alone in memory first, and one it refuses is left out with one line. The timecode track is not
copied: the muxer makes its own from the timecode tag (``pipeline/io/timecode.py``). Matroska, WebM and AVI
hold no such tracks.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import av

from pipeline.io.decode import VideoInfo
from pipeline.io.demux import packets
from pipeline.io.tracks import TrackCopy, data_tracks, open_input

log = logging.getLogger(__name__)

HOLD_DATA = {"mp4", "mov"}


def _muxes(stream, muxer: str) -> bool:
    """Whether ``muxer`` writes a header for a copy of ``stream`` (tried in memory)."""
    try:
        with av.open(io.BytesIO(), "w", format=muxer) as trial:
            trial.add_stream_from_template(stream)
            trial.start_encoding()
    except (av.error.FFmpegError, ValueError):
        return False
    return True


class SourceData(TrackCopy):
    """One data track's packets (``track``: its index among the source's data streams) that start between
    ``start_s`` and ``end_s``, moved back by ``offset_s``, as they are (its handler's name kept)."""

    def __init__(self, info: VideoInfo, out: av.container.OutputContainer, start_s: float, end_s: float | None,
                 offset_s: float, track: int) -> None:
        self.container = open_input(info.path)
        self.in_stream = self.container.streams.data[track]
        self.out_stream = out.add_stream_from_template(self.in_stream)
        self.start_s, self.end_s, self.offset_s = start_s, end_s, offset_s
        self._packets = self._copied()

    def _copied(self) -> Iterator[av.Packet]:
        tb = self.in_stream.time_base
        shift = round(self.offset_s / tb)
        for packet in packets(self.container, self.in_stream):
            if packet.pts is None or not packet.size:
                continue
            t = float(packet.pts * tb)
            if self.end_s is not None and t >= self.end_s - 1e-6:
                break
            if t < self.start_s - 1e-6:
                continue
            packet.pts -= shift
            packet.dts = packet.pts if packet.dts is None else packet.dts - shift
            packet.stream = self.out_stream
            yield packet


def held_tracks(source: av.container.InputContainer, muxer: str) -> list[int]:
    """The data tracks of the open ``source`` (indices among its data streams) that ``muxer`` holds; those it
    refuses are named in one line."""
    if muxer not in HOLD_DATA:
        return []
    tracks = data_tracks(source)
    refused = [k for k in tracks if not _muxes(source.streams.data[k], muxer)]
    if refused:
        names = [source.streams.data[k].metadata.get("handler_name", "").strip() or f"data stream {k}"
                 for k in refused]
        log.info("%s: its data tracks %s left out: %s cannot hold them", source.name, ", ".join(names), muxer)
    return [k for k in tracks if k not in refused]


def data_left_out(info: VideoInfo, out_format: str) -> int:
    """How many data tracks (other than a timecode track) an ``out_format`` output does not hold."""
    return 0 if out_format in HOLD_DATA else info.data_tracks
