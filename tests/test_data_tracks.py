"""Data tracks (an action camera's telemetry) kept in MP4 and MOV outputs (pipeline/io/data_tracks.py), cut
with the pictures. GoPro's own samples (gopro/gpmf-parser, ``karma.mp4``: GPS and motion as ``gpmd``, a
timecode track, a GoPro ``SOS`` track) lost their telemetry in every output; a data track the muxer refuses
(a drone's KLV in MPEG-TS) must leave the rest of the file written."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import pytest

from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from pipeline.report import PROCESSED
from tests.helpers import Identity, run
from tests.media import mux_moving_frames

OPTS = VideoOptions(size=0, batch_size=4, parallel=1, segment_seconds=1.0, encode=EncodeOptions(preset="ultrafast"),
                    temporal=TemporalOptions(TemporalMode.OFF))
MS = Fraction(1, 1000)


def action_camera_clip(path: Path, data_codec: str = "bin_data", fmt: str | None = None) -> Path:
    """2 s at 24 frames/s with a telemetry track: a packet each half second (FFmpeg writes ``bin_data`` into
    MP4 as GoPro's ``gpmd``), and a timecode."""
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.metadata["timecode"] = "10:00:00:00"
        data = out.add_data_stream(data_codec)
        data.metadata["handler_name"] = "GoPro MET"
        data.time_base = MS
        for k in range(4):
            packet = av.Packet(b"DEVC" + bytes([k]) * 60)
            packet.pts = packet.dts = 500 * k
            packet.duration, packet.time_base, packet.stream = 500, MS, data
            out.mux(packet)
        mux_moving_frames(out, video, 48)
    return path


def telemetry(path: Path) -> list[tuple[float, bytes]]:
    with av.open(str(path)) as container:
        (stream,) = [s for s in container.streams.data if "timecode" not in s.metadata]
        return [(round(float(p.pts * p.time_base), 3), bytes(p)) for p in container.demux(stream) if p.size]


@pytest.mark.parametrize("out_name", ["out.mp4", "out.mov"])
@pytest.mark.parametrize("start, kept", [(0.0, [0, 1, 2, 3]), (1.0, [2, 3])])
def test_telemetry_is_kept_and_cut_with_the_pictures(tmp_path, out_name, start, kept):
    src = action_camera_clip(tmp_path / "GX010001.MP4")
    summary = run(Identity(), [(src, tmp_path / out_name)], VideoOptions(**{**OPTS.__dict__, "start": start}))
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    source = telemetry(src)
    assert telemetry(tmp_path / out_name) == [(t - start, data) for t, data in (source[k] for k in kept)]
    assert b"gpmd" in (tmp_path / out_name).read_bytes()  # GoPro's sample description, which its tools look for
    with av.open(str(tmp_path / out_name)) as out:  # one timecode track: the muxer's own, not a copy beside it
        timecodes = [s for s in out.streams.data if "timecode" in s.metadata]
        assert len(timecodes) == 1 and len(out.streams.data) == 2
        assert out.streams.data[0].metadata.get("handler_name") == "GoPro MET"


def test_a_container_without_data_tracks_says_so(tmp_path, caplog):
    src = action_camera_clip(tmp_path / "GX010001.MP4")
    with caplog.at_level(logging.INFO, logger="pipeline"):
        summary = run(Identity(), [(src, tmp_path / "out.mkv")], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    assert any("1 data track (telemetry, timed metadata) not kept, .mkv holds none" in r.getMessage()
               for r in caplog.records)
    with av.open(str(tmp_path / "out.mkv")) as out:
        assert not out.streams.data and out.streams.video[0].frames in (0, 48)


def test_a_data_track_the_muxer_refuses_leaves_the_file_written(tmp_path, caplog):
    """KLV (a drone's position, in MPEG-TS) has no MP4 sample description: the file without it, one line."""
    src = action_camera_clip(tmp_path / "drone.ts", "klv", "mpegts")
    with caplog.at_level(logging.INFO, logger="pipeline"):
        summary = run(Identity(), [(src, tmp_path / "out.mp4")], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    assert sum("data tracks" in r.getMessage() and "left out: mp4 cannot hold them" in r.getMessage()
               for r in caplog.records) == 1
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert [s.type for s in out.streams] == ["video"]  # MPEG-TS kept no timecode either
        assert len([f for f in out.decode(video=0)]) == 48


def test_an_output_with_alpha_keeps_the_telemetry_too(tmp_path):
    """A ProRes 4444 MOV with alpha is finished from a work file (pipeline/io/alpha_video.py): the track goes
    through it."""
    import numpy as np

    made = action_camera_clip(tmp_path / "made.mp4")
    src = tmp_path / "keyed.mov"
    with av.open(str(made)) as source, av.open(str(src), "w") as out:
        video = out.add_stream("prores_ks", rate=24)
        video.width, video.height, video.pix_fmt, video.options = 64, 48, "yuva444p10le", {"profile": "4444"}
        data = out.add_stream_from_template(source.streams.data[0])  # MOV takes gpmd only as a copy
        for packet in source.demux(source.streams.data[0]):
            if packet.size:
                packet.stream = data
                out.mux(packet)
        for i in range(48):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 4), (5 * i, 0, 0, 128), np.uint8), format="rgba")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    summary = run(Identity(), [(src, tmp_path / "out.mov")], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    assert telemetry(tmp_path / "out.mov") == telemetry(src) and len(telemetry(src)) == 4
    with av.open(str(tmp_path / "out.mov")) as out:
        assert out.streams.video[0].codec_context.pix_fmt.startswith("yuva")
