"""Animated GIF, WebP, APNG and AVIF in and out (pipeline/io/animated.py): every frame, each frame's own duration
and the loop count kept. The runs use a stylizer that hands frames back, so pixels measure the path alone."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pipeline.io.animated import frame_durations
from pipeline.io.decode import frame_timestamps, probe
from pipeline.jobs.video_paths import plan_videos
from pipeline.options import TemporalMode, TemporalOptions, VideoOptions
from tests import media
from tests.helpers import Identity, run
from tests.media import played
from tests.videos import moving_frames

DURATIONS = [100, 200, 50, 300, 100, 70]  # ms; GIF stores centiseconds
SIZE = (33, 25)  # odd sides: no padding may show
OPTS = VideoOptions(size=0, batch_size=2, parallel=1, temporal=TemporalOptions(TemporalMode.OFF))


def animation(path: Path, loop: int, **options) -> Path:
    return media.animation(path, DURATIONS, SIZE, loop, **options)


def test_a_gif_with_mixed_durations_comes_back_with_its_frames_durations_and_loop(tmp_path):
    src = animation(tmp_path / "in.gif", loop=3)
    summary = run(Identity(), [(src, tmp_path / "out.gif")], OPTS)
    assert summary.count("processed") == 1, summary.results
    durations, loop, images = played(tmp_path / "out.gif")
    assert durations == DURATIONS and loop == 3
    assert images[0].shape == (SIZE[1], SIZE[0], 3)
    _, _, source = played(src)
    assert max(np.abs(a.astype(int) - b).mean() for a, b in zip(images, source)) < 4  # palette, YUV round trip


@pytest.mark.parametrize("src_name, out_name", [("in.webp", "out.apng"), ("in.apng", "out.webp"),
                                               ("in.avif", "out.webp"), ("in.png", "out.png"),
                                               ("in.webp", "out.avif")])
def test_animated_webp_apng_and_avif_in_and_out(tmp_path, src_name, out_name):
    """An animated AVIF (FFmpeg reads its first frame alone) is read with Pillow, as WebP is, and written by it;
    an APNG named ``.png`` (as most are) is read and written under that name."""
    options = {".apng": {"format": "PNG"}, ".png": {}, ".webp": {"lossless": True},
               ".avif": {"quality": 100, "subsampling": "4:4:4"}}[Path(src_name).suffix]
    src = animation(tmp_path / src_name, loop=2, **options)
    assert plan_videos(src, tmp_path / out_name) == [(src, tmp_path / out_name)]  # an animation, not a still
    info = probe(src)
    loops = 0 if src_name.endswith(".avif") else 2  # Pillow reads no loop count from AVIF: it plays forever
    assert info.loop == (loops or None)
    assert [round(t * info.time_base * 1000) for t in frame_timestamps(info)] == list(np.cumsum([0, *DURATIONS[:-1]]))
    summary = run(Identity(), [(src, tmp_path / out_name)], OPTS)
    assert summary.count("processed") == 1, summary.results
    durations, loop, images = played(tmp_path / out_name)
    assert durations == DURATIONS and len(images) == len(DURATIONS)
    assert loop == (None if out_name.endswith(".avif") else loops)  # Pillow reads none from AVIF (see above)
    assert max(np.abs(a.astype(int) - b).mean() for a, b in zip(images, moving_frames(6, *SIZE))) < 4


def test_a_video_becomes_a_gif_that_loops_forever(tmp_path):
    from tests.videos import make_video

    src = make_video(tmp_path / "in.mp4", frames=6, rate=25, audio="aac")
    summary = run(Identity(), [(src, tmp_path / "out.gif")], OPTS)
    assert summary.count("processed") == 1, summary.results
    durations, loop, images = played(tmp_path / "out.gif")
    assert durations == [40] * 6 and loop == 0 and len(images) == 6


@pytest.mark.parametrize("rate, out_name, frames, shortest", [(Fraction(30000, 1001), "out.gif", 90, 30),
                                                              (Fraction(30000, 1001), "out.webp", 90, 33),
                                                              (Fraction(30000, 1001), "out.apng", 90, 33),
                                                              (24, "out.gif", 72, 40), (60, "out.gif", 120, 20),
                                                              (60, "out.webp", 180, 16)])
def test_an_animated_image_plays_as_long_as_the_video(tmp_path, rate, out_name, frames, shortest):
    """Each frame on the format's tick nearest its time: 29.97 frames/s as a GIF's 3 hundredths each played 11 %
    fast, 24 as 4 hundredths 4 % fast, and 60 as 1 hundredth, which browsers play as 10: six times too slow.
    A GIF of 60 frames/s keeps the frames it can show (two in three), for as long as the video lasts."""
    src = media.encode(tmp_path / "in.mp4", frames=int(3 * rate) + 1, rate=rate)  # 3 s and a frame
    opts = VideoOptions(**{**OPTS.__dict__, "duration": 3.0})
    assert run(Identity(), [(src, tmp_path / out_name)], opts).count("processed") == 1
    durations, _, images = played(tmp_path / out_name)
    assert len(images) == frames and sum(durations) == 3000 and min(durations[:-1]) == shortest  # the last: to 3 s


def test_frame_durations_keep_time_and_the_shortest_delay():
    starts = [k / 60 for k in range(6)]
    assert frame_durations(starts, 0.1, 10, 20) == ([0, 1, 3, 4], [20, 30, 20, 30])
    assert frame_durations(starts, 0.1, 1, 10) == ([0, 1, 2, 3, 4, 5], [17, 16, 17, 17, 16, 17])
    assert frame_durations([0.0], 0.001, 10, 20) == ([0], [20])  # never shorter than a viewer plays


def test_an_animated_output_too_large_for_the_memory_available_is_refused_before_any_work(tmp_path, monkeypatch):
    """Every frame of an animated image is held until it is written (Pillow's writers take them all at once): a
    long clip into a GIF would be killed for memory at the end, its work lost. Refused at planning instead, with
    the figures, when the frames would not fit in what the machine has available."""
    from pipeline.io import animated
    from tests.helpers import STYLE_PATH, run_cli
    from tests.videos import make_video

    src = make_video(tmp_path / "in.mp4", frames=24, rate=24, size=(64, 48), audio=None)
    monkeypatch.setattr(animated, "_available_memory", lambda: 500_000)  # 24 frames of 64x48 hold about 590 kB
    result = run_cli("video", src, tmp_path / "out.gif", "-s", STYLE_PATH, "--size", "0")
    assert result.exit_code == 2 and not (tmp_path / "out.gif").exists()
    assert "24 frames at 64x48 are held in memory until it is written, about 0.6 MiB, more than the 0.5 MiB" \
        in result.stderr
    monkeypatch.setattr(animated, "_available_memory", lambda: 700_000)
    animated.check_memory(tmp_path / "out.gif", 24, (48, 64))  # what fits is let through


def test_a_gif_keeps_what_stands_still_the_same_from_frame_to_frame(tmp_path):
    """Each GIF frame took its own palette (Pillow's way), so a still part of the picture changed colour whenever
    another part did: flicker made at the very end, after the temporal steps. One palette for all frames now: a
    still half stays the same to the level, and no frame is further from its source than before."""
    rng = np.random.default_rng(3)
    still = np.stack(np.meshgrid(np.linspace(0, 255, 32), np.linspace(0, 255, 48)), axis=2)
    still = np.dstack([still, np.full((48, 32), 120.0)]).astype(np.uint8)
    frames = [np.hstack([still, np.clip(rng.integers(0, 256, 3) + rng.integers(-60, 60, (48, 32, 3)), 0, 255)])
              .astype(np.uint8) for _ in range(8)]  # the other half: noise about a colour of its own each frame
    src = tmp_path / "in.mp4"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264rgb", rate=8, options={"crf": "0"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "rgb24"
        for k, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = k
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
    assert run(Identity(), [(src, tmp_path / "out.gif")], OPTS).count("processed") == 1
    _, _, images = played(tmp_path / "out.gif")
    assert len(images) == 8
    assert max(np.abs(a[:, :32].astype(int) - images[0][:, :32]).max() for a in images) == 0
    assert max(np.abs(a.astype(int) - f).mean() for a, f in zip(images, frames)) < 12  # noise in 256 colours


def test_a_transparent_gif_shows_its_source_s_transparency_frame_by_frame(tmp_path):
    """A source with transparency into a GIF: a hole that moves (pixels opaque in one frame, clear in the next)
    and soft edges. Pillow's own conversion left 3.6 % of a stylized smiley's pixels on the wrong side of half
    alpha (soft edges made opaque, cleared pixels still showing the frame before); now each frame is whole
    (disposal 2) in the one palette, clear wherever the source's alpha is under half."""
    frames = []
    for k, image in enumerate(moving_frames(6, *SIZE)):
        alpha = np.full(image.shape[:2], 255, np.uint8)
        alpha[5:15, 3 * k:3 * k + 8] = 0  # the hole, moving right
        alpha[:, -4:] = np.linspace(40, 220, 4, dtype=np.uint8)  # a soft edge
        frames.append(Image.fromarray(np.dstack([image, alpha])))
    src = tmp_path / "in.png"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert run(Identity(), [(src, tmp_path / "out.gif")], OPTS).count("processed") == 1
    with Image.open(tmp_path / "out.gif") as out:
        assert out.n_frames == 6
        for k, frame in enumerate(frames):
            out.seek(k)
            shown = np.asarray(out.convert("RGBA"))[..., 3] >= 128
            assert np.array_equal(shown, np.asarray(frame.getchannel("A")) >= 128), k
