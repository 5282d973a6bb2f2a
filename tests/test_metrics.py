"""`stylize metrics` on what users measure: a part of a real clip (made with --max-frames or --start), frames
paired by time, memory that does not grow with the length, and one line for what does not line up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.metrics import measure_video, paired_frames, video_metrics
from pipeline.models.vgg import load_encoder
from tests.helpers import STYLE_PATH, one_error_line, run_cli
from tests.videos import make_video, read_video

CLIP = Path("../shared/data/video/slow_traffic_5s.mp4")  # 150 frames at 30000/1001 frames/s, 640x360


def _stylized(tmp_path: Path, decoder: Path, *args: str) -> Path:
    out = tmp_path / f"out{len(list(tmp_path.glob('out*.mp4')))}.mp4"
    result = run_cli("video", CLIP, out, "--style", STYLE_PATH, "--decoder", decoder, "--size", "64", *args)
    assert result.exit_code == 0, result.stderr
    return out


@pytest.mark.skipif(not CLIP.exists(), reason="needs ../shared/data/video")
def test_a_part_made_with_start_and_max_frames_is_measured_against_its_own_frames(tmp_path, random_decoder_file):
    """24 frames from 2 s into a real clip: each output frame is paired with the source frame at its time
    (the same pixels as the source at the output's size, within x264's loss), and the figures are those of
    the lists of exactly those frames. Before, `metrics` compared every source frame with the 24 and stopped
    with a traceback ("150 input frames but 24 output frames")."""
    out = _stylized(tmp_path, random_decoder_file, "--start", "2", "--max-frames", "24", "--temporal", "off")
    pairs = list(paired_frames(CLIP, out, start=2.0))
    source = read_video(CLIP)
    first = next(k for k, t in enumerate(source["pts"]) if float(t) >= 2.0 - 1e-3)
    assert len(pairs) == 24
    for k, (inp, _) in enumerate(pairs):
        assert np.array_equal(inp, source["images"][first + k])
    style = run_cli("metrics", CLIP, out, "--style", STYLE_PATH, "--start", "2", "--json")
    figures = json.loads(style.stdout)
    expected = video_metrics(load_encoder(last_layer="relu4_1"), source["images"][first:first + 24],
                             read_video(out)["images"], _style(out))
    assert figures == pytest.approx(expected) and figures["frames"] == 24


def _style(out: Path):
    from pipeline.build import load_style_images

    info = read_video(out)
    return load_style_images([STYLE_PATH], max(info["size"]))[0]


@pytest.mark.skipif(not CLIP.exists(), reason="needs ../shared/data/video")
def test_an_output_that_does_not_line_up_is_one_line(tmp_path, random_decoder_file):
    """A part taken from 4.5 s measured as if it started at 4.96 s (one source frame left there) or past the
    clip's end: one error line each (exit 2), naming the output and --start, or the source; no traceback."""
    out = _stylized(tmp_path, random_decoder_file, "--start", "4.5", "--temporal", "off")
    result = run_cli("metrics", CLIP, out, "--style", STYLE_PATH, "--start", "4.96")
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert out.name in line and "1 of its frames line up" in line and "--start 4.96" in line
    result = run_cli("metrics", CLIP, out, "--style", STYLE_PATH, "--start", "5.2")
    assert result.exit_code == 2 and CLIP.name in one_error_line(result.stderr)
    result = run_cli("metrics", CLIP, out, "--style", STYLE_PATH, "--start", "4.8", "--json")  # 6 of 15 there
    figures = json.loads(result.stdout)
    assert result.exit_code == 0 and figures["frames"] + figures["unpaired_frames"] == read_video(out)["frames"]
    assert 5 <= figures["frames"] <= 7


def test_a_longer_source_is_read_a_pair_at_a_time(tmp_path, monkeypatch):
    """The source's frames are taken as the output's are: a 120-frame source with a 12-frame output decodes
    only the source frames up to the output's end (plus one to look ahead), never all of them first."""
    import pipeline.metrics as metrics

    src = make_video(tmp_path / "long.mp4", frames=120, size=(48, 32), audio=None)
    short = make_video(tmp_path / "short.mp4", frames=12, size=(48, 32), audio=None)
    taken = {"long.mp4": 0, "short.mp4": 0}
    times = metrics._times

    def counting(path, start, max_frames):
        for item in times(path, start, max_frames):
            taken[Path(path).name] += 1
            yield item

    monkeypatch.setattr(metrics, "_times", counting)
    figures = measure_video(src, short, STYLE_PATH)
    assert figures["frames"] == 12 and taken == {"long.mp4": 13, "short.mp4": 12}
