"""Image sequences as video input (pipeline/io/sequence.py): a printf pattern or a folder of numbered frames,
at --fps (25 by default); a gap in the numbering is a gap in time, the frames after it keep their times."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pipeline.errors import VideoError
from pipeline.io.decode import decode_frames, frame_timestamps, probe
from pipeline.jobs.video_paths import plan_videos
from pipeline.errors import OptionError
from pipeline.options import TemporalMode, TemporalOptions, VideoOptions
from tests.helpers import Identity, run, run_cli
from tests.videos import moving_frames

NUMBERS = [1, 2, 3, 5, 6, 7]  # 4 is missing


@pytest.fixture
def frames(tmp_path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for n, image in zip(NUMBERS, moving_frames(len(NUMBERS), 48, 32)):
        Image.fromarray(image).save(folder / f"shot_{n:04d}.png")
    (folder / "notes.txt").write_text("not a frame")
    Image.fromarray(moving_frames(1, 48, 32)[0]).save(folder / "cover.png")  # not numbered: not a frame
    return folder


@pytest.mark.parametrize("how", ["pattern", "folder"])
def test_a_sequence_with_a_gap_keeps_every_frame_at_its_number(frames, tmp_path, how):
    src = frames / "shot_%04d.png" if how == "pattern" else frames
    assert plan_videos(src, tmp_path / "out.mp4") == [(src, tmp_path / "out.mp4")]
    info = probe(src, fps=10)
    assert (info.width, info.height, info.rate, info.frames) == (48, 32, 10, 6)
    assert frame_timestamps(info) == [n - 1 for n in NUMBERS]
    decoded = list(decode_frames(info))
    assert [f.index for f in decoded] == list(range(6))
    assert all(np.array_equal(f.image, m) for f, m in zip(decoded, moving_frames(6, 48, 32)))
    opts = VideoOptions(size=0, batch_size=2, parallel=1, fps=10, temporal=TemporalOptions(TemporalMode.OFF))
    summary = run(Identity(), [(src, tmp_path / "out.mp4")], opts)
    assert summary.count("processed") == 1, summary.results
    with av.open(str(tmp_path / "out.mp4")) as container:
        stream = container.streams.video[0]
        times = [f.pts * stream.time_base for f in container.decode(stream)]
    assert times == [Fraction(n - 1, 10) for n in NUMBERS]  # 0.3 s to 0.4 s: the gap


def test_default_rate_and_bad_sequences(frames, tmp_path):
    assert probe(frames / "shot_%04d.png").rate == 25
    with pytest.raises(VideoError, match="no numbered frames match"):
        probe(frames / "take_%04d.png")
    with pytest.raises(OptionError, match="--fps"):
        VideoOptions(fps=0)
    (frames / "shot_0003.png").write_bytes(b"broken")
    with pytest.raises(VideoError, match="frame shot_0003.png"):
        list(decode_frames(probe(frames / "shot_%04d.png")))


def test_cli_fps_is_validated_before_any_work(frames, tmp_path):
    result = run_cli("video", frames / "shot_%04d.png", tmp_path / "out.mp4", "--style", frames / "cover.png",
                     "--fps", "0")
    assert result.exit_code == 2 and "--fps must be a positive number" in result.output
    assert not (tmp_path / "out.mp4").exists()
