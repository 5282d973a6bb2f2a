"""Styles over time: a keyframe schedule (``--keyframes``) and one style per scene (``--style-per-scene``),
measured on the frames of real runs (style loss against each style), and the keyframe file's checks."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from pipeline.build import build_stylizer, load_style_images
from pipeline.control.keyframes import load_schedule, parse_time
from pipeline.engines.local import run_videos_local
from pipeline.jobs.video import Media, VideoJob
from pipeline.metrics import style_loss
from pipeline.options import ControlOptions, StyleOptions, VideoOptions
from pipeline.report import Hooks, Summary
from tests.conftest import DATA
from tests.helpers import PLAIN, ROOT, STYLE_PATH, Recorder, gradient_image, one_error_line, psnr, run_cli
from tests.videos import make_video

A, B = STYLE_PATH, ROOT / "samples" / "style" / "starry_night.jpg"
SIZE = 64
RUNS = itertools.count()


def write_keyframes(path: Path, keyframes: list[dict] | str) -> Path:
    path.write_text(keyframes if isinstance(keyframes, str) else json.dumps({"keyframes": keyframes}))
    return path


def write_clip(path: Path, frames: list[np.ndarray], rate: int = 24) -> Path:
    """A lossless H.264 clip of ``frames`` (the same decoded bytes on every run)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt, stream.options = "yuv444p", {"crf": "0"}
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def nets():
    """The shipped encoder and decoder, read once (each run works on copies)."""
    from pipeline.models.decoder import load_decoder, shipped_weights_path
    from pipeline.models.vgg import load_encoder

    return {"encoder": load_encoder(None), "decoder": load_decoder(shipped_weights_path())}


def stylizer_for(nets: dict, control: ControlOptions, styles=()):
    return build_stylizer(StyleOptions(list(styles), style_size=SIZE, control=control, **PLAIN), **nets)


def render(stylizer, tmp: Path, src: Path, scenes: bool = False, **video) -> list:
    """Every output frame of one local run (before encoding), planned as the CLI plans it."""
    recorder = Recorder()
    video = {"batch_size": 4, **video}
    job = VideoJob(VideoOptions(size=SIZE, **video), "", stylizer.device, Media(sink=recorder), scenes=scenes)
    summary = Summary("video", units="frames")
    run_videos_local(job, job.plan_all([(src, tmp / f"out{next(RUNS)}.mp4")], summary), stylizer,
                     None, Hooks(), summary)
    assert summary.exit_code == 0
    return recorder.ordered()


def losses(encoder, frames: list[np.ndarray], style: Path) -> np.ndarray:
    batch = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
    return style_loss(encoder, batch, load_style_images([style], SIZE)[0]).numpy()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("clip") / "in.mp4", frames=7, rate=24, size=(96, 64), audio=None,
                      lossless=True)


def test_schedule_interpolates_holds_and_jumps(tmp_path):
    shutil.copy(A, tmp_path / "a.png")
    path = write_keyframes(tmp_path / "k.json", [
        {"at": 1, "styles": {"a.png": 1}},
        {"at": "00:03", "styles": {str(B): 1, "a.png": 3}, "alpha": 0.5},
        {"at": "0:04.5", "styles": {str(B): 2}, "cut": True}])
    schedule = load_schedule(path).with_alpha(1.0)
    assert schedule.styles == ((tmp_path / "a.png").resolve(), B.resolve())
    assert schedule.at(0).weights == (1, 0) and schedule.at(0).alpha == 1  # before the first: the first holds
    half = schedule.at(2)
    assert half.weights == pytest.approx((0.875, 0.125)) and half.alpha == pytest.approx(0.75)
    assert schedule.at(4.49).weights == pytest.approx((0.75, 0.25))  # held until the cut
    assert schedule.at(4.5).weights == (0, 1) and schedule.at(99).weights == (0, 1)
    assert schedule.cut_within(4.48, 4.52) and not schedule.cut_within(4.5, 4.54)
    assert [parse_time(t, "at") for t in (62.5, "62.5", "01:02.5", "00:01:02.5")] == [62.5] * 4
    key = lambda: StyleOptions([], control=ControlOptions(keyframes=path)).key()  # noqa: E731
    before = key()
    os.utime(path, ns=(1, 1))  # --resume does not reuse segments made with another file
    assert key() != before


def test_keyframe_times_count_from_the_first_frame(tmp_path):
    """A clip whose first frame is at 5/24 s: a cut keyframe at 0.25 s lands on the frame 0.25 s after the
    first (the 7th), which restarts the temporal state (no stylizing: the bank's rows are the weights)."""
    from types import SimpleNamespace

    from pipeline.control.bank import StyleBank
    from pipeline.control.select import video_control
    from pipeline.io.video import decode_frames, probe

    info = probe(make_video(tmp_path / "late.mkv", frames=12, audio=None, pts=list(range(5, 17))))
    path = write_keyframes(tmp_path / "k.json", [{"at": 0, "styles": {str(A): 1}},
                                                 {"at": 0.25, "styles": {str(B): 1}, "cut": True}])
    bank = StyleBank(("a", "b"), (), torch.eye(2)[..., None, None], torch.ones(2, 2, 1, 1),
                     ControlOptions(keyframes=path))
    frames = list(decode_frames(info))
    targets = video_control(bank, SimpleNamespace(info=info)).targets(
        [f.index for f in frames], [float(f.pts * info.time_base) for f in frames], (8, 8), torch.device("cpu"))
    assert float(frames[0].pts * info.time_base) == pytest.approx(5 / 24, abs=1e-3)
    assert targets.mean[:, 0, 1, 0, 0].tolist() == [0] * 6 + [1] * 6  # the share of B
    assert targets.restart == (False,) * 6 + (True,) + (False,) * 5


def test_keyframes_go_from_one_style_to_the_other(tmp_path, clip, nets, encoder):
    path = write_keyframes(tmp_path / "k.json", [{"at": 0, "styles": {str(A): 1}},
                                                 {"at": 6 / 24, "styles": {str(B): 1}}])
    frames = render(stylizer_for(nets, ControlOptions(keyframes=path)), tmp_path, clip)
    to_a, to_b = losses(encoder, frames, A), losses(encoder, frames, B)
    assert len(frames) == 7
    assert to_a[0] < to_b[0] and to_b[-1] < to_a[-1]
    assert to_a[0] < to_a[3] < to_a[-1]  # half way lies between


def test_a_cut_keyframe_jumps(tmp_path, clip, nets, encoder):
    """A at 0, B from 0.16 s (frame 4) on: frames before are A-like, from the cut on B-like, at once: the
    temporal state restarts at the cut, so its frame is the one a run starting there gives (without the
    restart it blends in the warped A frame: about 16 dB from it)."""
    path = write_keyframes(tmp_path / "k.json", [{"at": 0, "styles": {str(A): 1}},
                                                 {"at": "00:00.16", "styles": {str(B): 1}, "cut": True}])
    stylizer = stylizer_for(nets, ControlOptions(keyframes=path))
    frames = render(stylizer, tmp_path, clip)
    closer_to_a = losses(encoder, frames, A) < losses(encoder, frames, B)
    assert closer_to_a.tolist() == [True] * 4 + [False] * 3
    fresh = render(stylizer, tmp_path, clip, start=0.16, max_frames=1)
    assert psnr(frames[4], fresh[0]) > 40


GOOD = {"at": 0, "styles": {"a.png": 1}}


@pytest.mark.parametrize("content, words", [
    ("{not json", "not JSON"),
    ('{"keyframes": [], "fps": 3}', "unknown key 'fps'"),
    ([{**GOOD, "speed": 2}], "keyframes[0]: unknown key 'speed'"),
    ([GOOD, {**GOOD, "at": 2}, {**GOOD, "at": 1}], "keyframes[2].at: 1 s goes back"),
    ([GOOD, {**GOOD, "at": 0}], "keyframes[1].at: 0 s repeats"),
    ([{"at": 0, "styles": {"missing.jpg": 1}}], "keyframes[0].styles['missing.jpg']: "),
    ([{"at": 0, "styles": {"a.png": 0}}], "keyframes[0].styles['a.png']: a weight must be a positive number"),
    ([{"at": 0, "styles": {"a.png": "1"}}], "keyframes[0].styles['a.png']: a weight must be a positive number"),
    ([{**GOOD, "alpha": 1.5}], "keyframes[0].alpha: must be a number in [0, 1]"),
    ("[]", 'must hold an object {"keyframes"'),
    ('{"keyframes": []}', "keyframes: must be a non-empty list"),
    ([{**GOOD, "at": "1:75"}], "keyframes[0].at: bad time '1:75'"),
    ([{"styles": {"a.png": 1}}], "keyframes[0]: missing key 'at'"),
    ('{"keyframes": [{"at": 0, "at": 1, "styles": {"a.png": 1}}]}', "key 'at' given twice"),
])
def test_a_wrong_keyframe_file_is_one_line(tmp_path, content, words):
    shutil.copy(A, tmp_path / "a.png")
    path = write_keyframes(tmp_path / "k.json", content)
    result = run_cli("video", tmp_path / "in.mp4", tmp_path / "out.mp4", "--keyframes", path)
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert words in line and str(path) in line, line
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("args, words", [
    (["video", "--keyframes", "K", "-s", str(B)], "--keyframes replaces --style"),
    (["folder", "--keyframes", "K"], "--keyframes needs a timeline"),
    (["folder", "-s", str(A), "-s", str(B), "--style-per-scene"], "--style-per-scene needs a timeline"),
    (["video", "-s", str(A), "--style-per-scene"], "--style-per-scene needs several --style images"),
    (["video", "-s", str(A), "-s", str(B), "--style-per-scene", "--style-weights", "1,2"], "one style whole"),
    (["video", "--keyframes", "K", "--adapt", "5"], "--adapt N>0 is not supported with --keyframes"),
    (["video", "--keyframes", "K", "--refine-every", "4"], "the Gatys refiner optimises toward one fixed style"),
])
def test_keyframe_and_scene_options_refused(tmp_path, args, words):
    path = write_keyframes(tmp_path / "k.json", [{"at": 0, "styles": {str(A): 1}}])
    command, *rest = args
    result = run_cli(command, tmp_path / "in", tmp_path / "out", *[str(path) if a == "K" else a for a in rest])
    assert result.exit_code == 2 and words in one_error_line(result.stderr)


def two_scenes(n: int, cut: int, width: int, height: int) -> list[np.ndarray]:
    """n frames: a warm gradient drifting right, then from frame ``cut`` on a cold one (a hard cut)."""
    warm, cold = gradient_image(width + n, height, seed=1), gradient_image(width + n, height, seed=2)[..., ::-1]
    cold = (cold // 2 + np.array([0, 60, 120], np.uint8)).astype(np.uint8)
    return [np.ascontiguousarray((warm if i < cut else cold)[:, i:i + width]) for i in range(n)]


def test_style_per_scene_takes_the_next_style_at_a_cut(tmp_path, nets, encoder):
    """The cut at frame 4 found in planning; segments of 2 frames, so the second lane starts at frame 2,
    warms up on frames 0-1 and meets the cut inside its run: the same frames as one lane."""
    src = write_clip(tmp_path / "cut.mp4", two_scenes(6, 4, 96, 64), rate=12)
    assert VideoJob(VideoOptions(size=SIZE), "", torch.device("cpu"), scenes=True).plan(
        src, tmp_path / "o.mp4").scene_cuts == (4,)
    stylizer = stylizer_for(nets, ControlOptions(style_per_scene=True), (A, B))
    one = render(stylizer, tmp_path, src, scenes=True, parallel=1, segment_seconds=2 / 12)
    lanes = render(stylizer, tmp_path, src, scenes=True, parallel=2, segment_seconds=2 / 12)
    assert len(one) == len(lanes) == 6 and all(np.array_equal(a, b) for a, b in zip(one, lanes))
    closer_to_a = losses(encoder, one, A) < losses(encoder, one, B)
    assert closer_to_a.tolist() == [True] * 4 + [False] * 2


@pytest.mark.data
def test_real_clips_scene_cut_and_keyframes(tmp_path, nets, encoder):
    """Two real clips joined by a hard cut: the planning pass finds the cut where the stabilizer's own test on
    the frames the networks see does; a keyframe schedule over 5 frames of a real clip goes from A to B."""
    from pipeline.io.video import decode_frames, probe
    from pipeline.jobs.video_frames import FrameStage
    from pipeline.temporal.flow import colour_hist, hists_cut

    def frames(name: str, n: int) -> list[np.ndarray]:  # at 640x360
        return [cv2.resize(f.image, (640, 360), interpolation=cv2.INTER_AREA)
                for f in decode_frames(probe(DATA / "video" / name), max_frames=n)]

    src = write_clip(tmp_path / "joined.mp4", frames("davis_bear.mp4", 5) + frames("cutBunny.mp4", 4))
    plan = VideoJob(VideoOptions(size=SIZE), "", torch.device("cpu"), scenes=True).plan(src, tmp_path / "o.mp4")
    # the stabilizer's own test, on the CPU: the histograms of the work-size frames the networks see
    work = [FrameStage.upload(torch.device("cpu"), [f.image], plan.work_hw) for f in decode_frames(plan.info)]
    hists = [colour_hist((w[0] * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()) for w in work]
    assert plan.scene_cuts == (5,) and [i for i in range(1, 9) if hists_cut(hists[i - 1], hists[i])] == [5]
    path = write_keyframes(tmp_path / "k.json", [{"at": 0, "styles": {str(A): 1}},
                                                 {"at": 4 * 1001 / 30000, "styles": {str(B): 1}}])
    real = DATA / "video" / "slow_traffic_5s.mp4"
    styled = render(stylizer_for(nets, ControlOptions(keyframes=path)), tmp_path, real, max_frames=5)
    to_a, to_b = losses(encoder, styled, A), losses(encoder, styled, B)
    assert to_a[0] < to_b[0] and to_b[-1] < to_a[-1] and to_a[0] < to_a[2] < to_a[-1]
