"""Chapters (a film's scenes, a lecture's parts) come back where the output's container holds them (Matroska, WebM,
MP4, MOV), with their titles, cut to --start/--duration and moved with the pictures. Before, every output lost
them: a two-hour film's chapter list was gone."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from pipeline.report import PROCESSED
from tests.helpers import Identity, run
from tests.media import mux_moving_frames
from tests.test_alpha import rgba_frames

RATE, FRAMES = 8, 32  # four seconds
MARKS = [(0, 1000, "Opening"), (1000, 2500, "Middle"), (2500, 4000, "End")]  # milliseconds
OPTS = VideoOptions(size=0, batch_size=4, parallel=1, segment_seconds=1.0, encode=EncodeOptions(preset="ultrafast"),
                    temporal=TemporalOptions(TemporalMode.OFF))


def with_chapters(path: Path, fmt: str, alpha: bool = False) -> Path:
    with av.open(str(path), "w", format=fmt) as out:
        out.set_chapters([{"id": k + 1, "start": start, "end": end, "time_base": Fraction(1, 1000),
                           "metadata": {"title": title}} for k, (start, end, title) in enumerate(MARKS)])
        if alpha:  # VP9 with an alpha plane: the output goes through pipeline/io/alpha_video.py
            video = out.add_stream("libvpx-vp9", rate=RATE)
            video.width, video.height, video.pix_fmt = 48, 32, "yuva420p"
            for i in range(FRAMES):
                frame = av.VideoFrame.from_ndarray(rgba_frames()[i % 4], format="rgba").reformat(format="yuva420p")
                frame.pts = i
                out.mux(video.encode(frame))
            out.mux(video.encode(None))
        else:
            video = out.add_stream("libx264", rate=RATE)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
            mux_moving_frames(out, video, FRAMES)
    return path


def marks(path: Path) -> list[tuple[float, float, str]]:
    with av.open(str(path)) as container:
        return [(round(float(c["start"] * c["time_base"]), 3), round(float(c["end"] * c["time_base"]), 3),
                 c["metadata"].get("title")) for c in container.chapters()]


@pytest.mark.parametrize("src_name, fmt", [("film.mkv", "matroska"), ("film.mp4", "mp4")])
@pytest.mark.parametrize("out_name", ["out.mp4", "out.mkv", "out.webm", "out.mov"])
def test_chapters_come_back_with_their_titles(tmp_path, src_name, fmt, out_name):
    src = with_chapters(tmp_path / src_name, fmt)
    summary = run(Identity(), [(src, tmp_path / out_name)], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    assert marks(tmp_path / out_name) == [(0.0, 1.0, "Opening"), (1.0, 2.5, "Middle"), (2.5, 4.0, "End")]


@pytest.mark.parametrize("alpha, out_name", [(False, "cut.mp4"), (True, "cut.webm")])
def test_a_cut_keeps_the_chapters_it_shows_moved_with_it(tmp_path, alpha, out_name):
    """--start 0.5 --duration 2.5: "Opening" shows its last half second from the start, "End" its first half."""
    src = with_chapters(tmp_path / ("film.webm" if alpha else "film.mkv"), "webm" if alpha else "matroska", alpha)
    summary = run(Identity(), [(src, tmp_path / out_name)], VideoOptions(**{**OPTS.__dict__, "start": 0.5,
                                                                            "duration": 2.5}))
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    assert marks(tmp_path / out_name) == [(0.0, 0.5, "Opening"), (0.5, 2.0, "Middle"), (2.0, 2.5, "End")]
