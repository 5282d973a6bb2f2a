"""Masks, one per style (``--mask``): on pixels. Two styles split by a left-white mask put style A on the left
and B on the right (style loss); one style with a mask keeps the source where the mask is black; folders of
masks mirror the input; mask videos follow the content frame by frame, the same in every lane split; Gatys
with masked Gram matrices; the usage errors."""

from __future__ import annotations

import os
import time

import av
import numpy as np
import pytest
from PIL import Image

from pipeline.build import load_style_images
from pipeline.io.images import to_tensor
from pipeline.jobs.video import Media
from pipeline.metrics import style_loss
from pipeline.options import ControlOptions, StyleOptions, TemporalOptions, VideoOptions
from tests.conftest import DATA, ROOT
from tests.helpers import Recorder, make_stylizer, one_error_line, psnr, run, run_cli
from tests.videos import make_video

A = ROOT / "samples" / "style" / "starry_night.jpg"
B = ROOT / "samples" / "style" / "stained_glass.png"
CONTENT = ROOT / "samples" / "content" / "astronaut.jpg"
W, H = 128, 96
FAST = ("--device", "cpu", "--precision", "fp32", "--no-calibrate", "--size", str(W))


def left_mask(width: int = W, height: int = H) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[:, : width // 2] = 255
    return mask


@pytest.fixture(scope="module")
def content_png(tmp_path_factory):
    """The sample photo at the work size, as PNG: the folder job stylizes it without resizing."""
    path = tmp_path_factory.mktemp("content") / "photo.png"
    Image.open(CONTENT).convert("RGB").resize((W, H), Image.LANCZOS).save(path)
    return path


@pytest.fixture(scope="module")
def styles():
    """A and B at the long sides the tests stylize at (the style loss compares at the output's scale)."""
    return {size: [load_style_images([p], size)[0] for p in (A, B)] for size in (64, W)}


def closer(encoder, image: np.ndarray, styles) -> tuple[str, str]:
    """Which style (A or B) each outer third of ``image`` (H, W, 3) uint8 is closer to, by style loss."""
    x = to_tensor(image.astype(np.float32) / 255)[None]
    third = x.shape[-1] // 3
    picks = []
    for part in (x[..., :third], x[..., -third:]):
        a, b = (float(style_loss(encoder, part, s)) for s in styles)
        picks.append("A" if a < b else "B")
    return picks[0], picks[1]


def test_mask_folder_splits_styles_warns_once_and_fails_a_bad_mask(tmp_path, content_png, encoder, styles):
    """A left-white mask for A and B unmasked: the left of the output is A, the right B. A mirrored mask that is
    missing is one warning line and that image still comes out; a mask file that is no image fails its own
    image with one error line naming the mask, the others go on."""
    src, masks = tmp_path / "in", tmp_path / "masks"
    for rel in ("a.png", "sub/b.png", "c.png"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(content_png.read_bytes())
    (masks / "sub").mkdir(parents=True)
    Image.fromarray(left_mask(40, 30)).save(masks / "a.jpg")  # another size and suffix than the image
    (masks / "c.png").write_text("not an image")
    result = run_cli("folder", src, tmp_path / "out", "-s", A, "--mask", masks, "-s", B, *FAST)
    assert result.exit_code == 1, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "sub/b.png" in warnings[0] and "no --mask" in warnings[0], result.stderr
    assert "c.png" in one_error_line(result.stderr) and "mask" in one_error_line(result.stderr)
    out = tmp_path / "out"
    assert (out / "sub" / "b.png").is_file() and not (out / "c.png").exists()
    assert closer(encoder, np.asarray(Image.open(out / "a.png")), styles[W]) == ("A", "B")


def test_one_style_with_a_mask_keeps_the_source_elsewhere(content_png, tmp_path):
    """Through the API: one style on the white half; the far side of the black half is the source itself."""
    import pipeline

    Image.fromarray(left_mask()).save(tmp_path / "left.png")
    out = pipeline.stylize_image(content_png, A, masks=tmp_path / "left.png", size=W, device="cpu",
                                 precision="fp32", calibrate=False)
    out, source = np.asarray(out), np.asarray(Image.open(content_png))
    assert psnr(out[:, -W // 3:], source[:, -W // 3:]) > 40
    assert psnr(out[:, : W // 3], source[:, : W // 3]) < 20


@pytest.mark.parametrize("precision", ["fp32", pytest.param("bf16", marks=pytest.mark.bf16)])
def test_gatys_with_masked_grams_puts_each_style_in_its_region(tmp_path, content_png, encoder, styles, precision):
    """--method gatys with a left-white mask for A, B elsewhere: the masked Gram loss pulls each half to its
    own style, from noise in a few L-BFGS iterations at a tiny size (64x32); in bf16 features too."""
    Image.fromarray(left_mask()).save(tmp_path / "left.png")
    (tmp_path / "in").mkdir()
    Image.open(content_png).resize((64, 32), Image.LANCZOS).save(tmp_path / "in" / "photo.png")
    result = run_cli("folder", tmp_path / "in", tmp_path / "out", "-s", A, "--mask", tmp_path / "left.png", "-s", B,
                     "--method", "gatys", "--iterations", "8", "--init", "noise", "--style-weight", "100",
                     *FAST[:-1], "64", "--precision", precision)
    assert result.exit_code == 0, result.stderr
    assert f"Gatys {'bfloat16' if precision == 'bf16' else 'float32'} features" in result.stderr
    assert closer(encoder, np.asarray(Image.open(tmp_path / "out" / "photo.png")), styles[64]) == ("A", "B")


@pytest.mark.parametrize("args, words", [
    (("--mask", "{m}", "-s", str(A)), "before any --style"),
    (("-s", str(A), "--mask", "{m}", "--mask", "{m}"), "one mask per style"),
    (("-s", str(A), "--mask", "{bad}"), "bad.png"),
    (("-s", str(A), "--mask", "{m}", "--feedback", "1"), "--feedback"),
])
def test_mask_usage_errors_are_one_line_exit_2(tmp_path, content_png, args, words):
    Image.fromarray(left_mask()).save(tmp_path / "m.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "photo.png").write_bytes(content_png.read_bytes())
    args = [a.format(m=tmp_path / "m.png", bad=tmp_path / "bad.png") for a in args]
    result = run_cli("folder", tmp_path / "in", tmp_path / "out", *args, *FAST)
    assert result.exit_code == 2 and words in one_error_line(result.stderr)
    assert not (tmp_path / "out").exists()


def test_video_refinement_with_masks_is_refused_in_one_line(tmp_path):
    Image.fromarray(left_mask()).save(tmp_path / "m.png")
    result = run_cli("video", tmp_path / "in.mp4", tmp_path / "out.mp4", "-s", A, "--mask", tmp_path / "m.png",
                     "--refine-every", "4", *FAST)
    assert result.exit_code == 2 and "--refine-every" in one_error_line(result.stderr)
    assert not (tmp_path / "out.mp4").exists()


def test_resume_key_follows_the_mask_file(tmp_path):
    mask = tmp_path / "m.png"
    Image.fromarray(left_mask()).save(mask)
    opts = StyleOptions([A], control=ControlOptions(masks=(mask,)))
    before = opts.key()
    os.utime(mask, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert opts.key() != before and opts.adapt == 0


# Video: masks from a mask video, frame by frame.

def square_masks(path, frames: int, size=(64, 48), start_x: int = 4, step: int = 3):
    """A lossless mask video: a white 16x16 square on black, moving right by ``step`` px a frame."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt, stream.options = *size, "yuv444p", {"crf": "0"}
        for i in range(frames):
            image = np.zeros((size[1], size[0], 3), np.uint8)
            image[16:32, start_x + step * i: start_x + step * i + 16] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def decoded(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def square_follows(out: list[np.ndarray], src: list[np.ndarray], masks: list[np.ndarray]) -> None:
    """In each frame the change is inside that frame's square and the far outside is the source."""
    for k, (o, s, m) in enumerate(zip(out, src, masks)):
        inside = m > 0.9
        far = ~(np.abs(np.arange(m.shape[1])[None] - np.nonzero(inside)[1].mean()) < 20) & (m < 0.01)
        change = np.abs(o.astype(float) - s).mean(2)
        assert change[inside].mean() > 4 * max(change[far].mean(), 1.0), k
        assert psnr(o[far], s[far]) > 27, k  # x264 at crf 18 on tiny frames, and the temporal blend


def test_mask_video_follows_the_frames_and_lanes_agree(tmp_path, random_decoder_file):
    """A generated mask video: inside the moving square stylized, outside kept, frame by frame; two lanes
    (each seeking the mask video to its first frame) give one lane's frames byte for byte."""
    src = make_video(tmp_path / "in.mp4", frames=8, rate=24, size=(64, 48), lossless=True)
    masks = square_masks(tmp_path / "mask.mp4", 6)  # shorter: the last mask holds
    stylizer = make_stylizer(random_decoder_file, A, size=64, control=ControlOptions(masks=(masks,)))
    # segments of 6 and 2 frames; 4 warm-up frames at strength 0.2: the second lane seeks the masks to frame 2
    opts = VideoOptions(size=64, batch_size=2, segment_seconds=0.25, parallel=1, temporal=TemporalOptions(strength=0.2))
    one, two = Recorder(), Recorder()
    run(stylizer, [(src, tmp_path / "one.mp4")], opts, Media(sink=one))
    run(stylizer, [(src, tmp_path / "two.mp4")], VideoOptions(**{**vars(opts), "parallel": 2}), Media(sink=two))
    assert sorted(one.frames) == sorted(two.frames) == list(range(8)) and len(two.sinks) == 2
    assert all(np.array_equal(one.frames[k], two.frames[k]) for k in range(8))
    mask_frames = [m[..., 0] / 255 for m in decoded(masks)]
    mask_frames += [mask_frames[-1]] * 2
    square_follows(one.ordered(), decoded(src), mask_frames)


@pytest.mark.data
def test_real_mask_clip_on_a_real_clip(tmp_path):
    """``mask_square.mp4`` on a real traffic clip from 2 s on (mask frames by the source's index): the
    stylized patch follows the square; the rest is the source up to x264's loss."""
    clip, masks = DATA / "video" / "slow_traffic_5s.mp4", DATA / "video" / "mask_square.mp4"
    stylizer = make_stylizer(None, A, size=96, control=ControlOptions(masks=(masks,)))
    summary = run(stylizer, [(clip, tmp_path / "out.mp4")],
                  VideoOptions(size=96, start=2.0, max_frames=6, parallel=1, batch_size=2))
    assert summary.units_done == 6
    out = decoded(tmp_path / "out.mp4")
    h, w = out[0].shape[:2]
    src = [np.asarray(Image.fromarray(f).resize((w, h), Image.BILINEAR)) for f in decoded(clip)[60:66]]
    mask_frames = [np.asarray(Image.fromarray(m[..., 0]).resize((w, h), Image.BILINEAR)) / 255
                   for m in decoded(masks)[60:66]]
    square_follows(out, src, mask_frames)
