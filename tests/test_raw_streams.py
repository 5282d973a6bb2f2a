"""Raw elementary streams (``.h264``, ``.hevc``, ``.m2v``, an MPEG-1 ``.mpg``: a camera's or a DVD ripper's
output, ``ffmpeg -c copy x.h264``) store no times: FFmpeg's demuxer states 25 fps for every one of them, and its
parser's guessed stamps come out of the decoder permuted where there are B-frames. Before, a raw stream of
real clips from ``../shared/data`` at 20 or 24 fps came back at 25 (a 14 s clip as 11.2 s), the raw MPEG-2 of
bbgdzxng1/interlace-detection-test-patterns (29.97) at 25, its soft-telecined film at 25 with frames at the
parser's 3:2 times, and wxWidgets' raw MPEG-1 sample with two frames at one time and a hole."""

from __future__ import annotations

import logging
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.io.decode import probe
from pipeline.io.timing import Timing
from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from pipeline.report import PROCESSED
from tests import media
from tests.conftest import DATA
from tests.helpers import Identity, run

OPTS = VideoOptions(size=0, batch_size=4, parallel=1, segment_seconds=0.5, encode=EncodeOptions(preset="ultrafast"),
                    temporal=TemporalOptions(TemporalMode.OFF))


def played(path: Path) -> tuple[int, list[float], Fraction]:
    """Frames, their times (seconds) and the stream's stated rate, as a player reads the output."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(frame.time) for frame in container.decode(stream)]
        return len(times), times, Fraction(stream.average_rate)


@pytest.mark.parametrize("rate", [20, Fraction(30000, 1001)])
def test_a_raw_h264_stream_plays_at_the_rate_its_headers_state(tmp_path, rate):
    src = media.raw_stream(tmp_path / "in.h264", frames=30, rate=rate)
    info = probe(src)
    assert (info.rate, info.timing, info.frames) == (rate, Timing.RATE, 30)
    dst = tmp_path / "out.mp4"
    summary = run(Identity(), [(src, dst)], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    count, times, out_rate = played(dst)
    assert count == 30 and out_rate == rate
    assert np.allclose(times, np.arange(30) / float(rate), atol=1e-3)


def test_a_soft_telecined_mpeg2_stream_comes_out_as_its_film_frames(tmp_path):
    """The header says 29.97 and an interlaced sequence; every other frame is flagged to show a field again
    (3:2 pulldown, as on a DVD): its 24 film frames play in 1.001 s, at 24000/1001 like a ripper gives them."""
    src = media.soft_telecined_m2v(tmp_path / "film.m2v")
    with av.open(str(src)) as container:  # the shape: the header's rate, and durations of 3 and 2 fields
        stream = container.streams.video[0]
        assert stream.guessed_rate == Fraction(30000, 1001) and stream.average_rate == 25
        assert {p.duration * stream.time_base for p in container.demux(stream) if p.size} == {
            Fraction(1001, 20000), Fraction(1001, 30000)}
    info = probe(src)
    assert (info.rate, info.frames, info.duration_s) == (Fraction(24000, 1001), 24, pytest.approx(1.001))
    dst = tmp_path / "out.mp4"
    run(Identity(), [(src, dst)], OPTS)
    count, times, out_rate = played(dst)
    assert count == 24 and out_rate == Fraction(24000, 1001)
    assert np.allclose(times, np.arange(24) * 1001 / 24000, atol=1e-3)


@pytest.mark.data
@pytest.mark.parametrize("name", ["cockatoo.mp4", "cutBunny.mp4"])
def test_a_real_clip_copied_to_a_raw_stream_keeps_its_rate_and_frames(tmp_path, name):
    """What ``ffmpeg -i clip.mp4 -c copy clip.h264`` writes: the same packets in Annex B, no container."""
    src = DATA / "video" / name
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        rate, frames = Fraction(stream.average_rate), stream.frames
        raw = tmp_path / "clip.h264"
        annexb = av.BitStreamFilterContext("h264_mp4toannexb", stream)
        with av.open(str(raw), "w", format="h264") as out:
            copy = out.add_stream_from_template(stream)
            for packet in container.demux(stream):
                for piece in annexb.filter(packet if packet.size else None):
                    piece.stream = copy
                    out.mux(piece)
    info = probe(raw)
    assert (info.rate, info.frames) == (rate, frames)
    assert info.duration_s == pytest.approx(frames / rate)


def test_fps_states_a_raw_stream_s_rate_and_leaves_a_video_with_times_as_it_is(tmp_path, caplog):
    """A raw stream whose headers state no rate (SVT-AV1's ``.obu``, MJPEG) is read at FFmpeg's 25: ``--fps``
    says another, as FFmpeg's ``-framerate`` does; a video that stores its times keeps them, and one line says
    so."""
    raw = media.raw_stream(tmp_path / "in.h264", frames=12, rate=24)
    info = probe(raw, fps=10)
    assert (info.rate, info.frames, info.duration_s) == (10, 12, pytest.approx(1.2))
    timed = media.encode(tmp_path / "in.mp4", frames=12, rate=24)
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        run(Identity(), [(raw, tmp_path / "raw.mp4"), (timed, tmp_path / "timed.mp4")], replace(OPTS, fps=10))
    assert played(tmp_path / "raw.mp4")[2] == 10 and played(tmp_path / "timed.mp4")[2] == 24
    said = [r.getMessage() for r in caplog.records if "--fps" in r.getMessage()]
    assert len(said) == 1 and "in.mp4 keeps its own (24 fps)" in said[0], said
