"""Image sequences as output (pipeline/io/sequence_out.py): ``stylize video in.mp4 frames/%05d.png`` writes a file
a frame, numbered as the source's frames are, whole or not at all, never over files already there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.io.sequence_out import frame_name
from pipeline.options import TemporalMode, TemporalOptions, VideoOptions
from tests.helpers import STYLE_PATH, Identity, one_error_line, run, run_cli
from tests.media import played
from tests.videos import make_video, moving_frames

CLIP = Path("../shared/data/video/carphone_qcif.mp4")  # 176x144 (128:117 pixels), 30000/1001 frames/s
OPTS = VideoOptions(size=0, batch_size=4, parallel=1, temporal=TemporalOptions(TemporalMode.OFF))


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())  # hidden work files included


@pytest.mark.skipif(not CLIP.exists(), reason="needs ../shared/data/video")
def test_a_real_clip_becomes_numbered_frames_equal_to_the_same_job_s_lossless_frames(tmp_path):
    """A real clip's first 30 frames: files 0001 to 0030 and nothing else left in the folder (work files gone),
    each frame the very pixels the same run writes into an animated PNG (both from the lossless segments)."""
    opts = VideoOptions(**{**OPTS.__dict__, "max_frames": 30})
    summary = run(Identity(), [(CLIP, tmp_path / "frames" / "f_%04d.png"), (CLIP, tmp_path / "same.png")], opts)
    assert summary.count("processed") == 2, summary.results
    assert listing(tmp_path / "frames") == [f"f_{n:04d}.png" for n in range(1, 31)]
    _, _, animated = played(tmp_path / "same.png")
    for n, expected in enumerate(animated, start=1):
        with Image.open(tmp_path / "frames" / f"f_{n:04d}.png") as frame:
            assert frame.size == (192, 144) and frame.mode == "RGB"  # 176 pixels of 128:117 made square
            assert np.array_equal(np.asarray(frame), expected), n
    first = np.asarray(Image.open(tmp_path / "frames" / "f_0001.png")).astype(float)
    assert 40 < first.mean() < 220 and first.std() > 20  # a picture, not a blank frame


def test_a_sequence_keeps_its_own_numbers_and_gaps(tmp_path):
    """A render's frames 1001, 1002, 1004 (1003 missing) come back as 1001, 1002, 1004, in JPEG."""
    src = tmp_path / "render"
    src.mkdir()
    for n, image in zip([1001, 1002, 1004], moving_frames(3, 48, 32)):
        Image.fromarray(image).save(src / f"shot.{n}.png")
    opts = VideoOptions(**{**OPTS.__dict__, "fps": 24})
    assert run(Identity(), [(src / "shot.%d.png", tmp_path / "out" / "shot.%d.jpg")], opts).count("processed") == 1
    assert listing(tmp_path / "out") == ["shot.1001.jpg", "shot.1002.jpg", "shot.1004.jpg"]
    for name, expected in zip(listing(tmp_path / "out"), moving_frames(3, 48, 32)):
        assert np.abs(np.asarray(Image.open(tmp_path / "out" / name)).astype(int) - expected).mean() < 4


def test_transparency_is_kept_in_png_frames_and_dropped_in_jpeg_ones(tmp_path):
    frames = []
    for k, image in enumerate(moving_frames(4, 40, 24)):
        alpha = np.full(image.shape[:2], 255, np.uint8)
        alpha[4:12, 5 * k:5 * k + 10] = 0  # a hole moving right
        alpha[:, -3:] = 90
        frames.append(Image.fromarray(np.dstack([image, alpha])))
    src = tmp_path / "in.png"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100, loop=0)
    pairs = [(src, tmp_path / "png" / "%02d.png"), (src, tmp_path / "jpg" / "%02d.jpg")]
    assert run(Identity(), pairs, OPTS).count("processed") == 2
    for k, frame in enumerate(frames, start=1):
        written = Image.open(tmp_path / "png" / f"{k:02d}.png")
        assert written.mode == "RGBA"
        assert np.abs(np.asarray(written.getchannel("A")).astype(int) - np.asarray(frame.getchannel("A"))).max() <= 1
        assert Image.open(tmp_path / "jpg" / f"{k:02d}.jpg").mode == "RGB"


def test_frames_already_matching_the_pattern_are_refused_and_kept(tmp_path):
    """An earlier run's frames (or another sequence's) would be overwritten or mixed in: refused, exit 2, before
    any work; the file already there keeps its bytes and no work folder is made."""
    src = make_video(tmp_path / "in.mp4", frames=3, rate=25, audio=None)
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "00007.png").write_bytes(b"someone's frame")
    result = run_cli("video", src, tmp_path / "frames" / "%05d.png", "-s", STYLE_PATH, "--size", "32")
    assert result.exit_code == 2
    assert "already match it (00007.png)" in one_error_line(result.stderr)
    assert listing(tmp_path / "frames") == ["00007.png"]
    assert (tmp_path / "frames" / "00007.png").read_bytes() == b"someone's frame"


@pytest.mark.parametrize("output, message", [("frames/%05d.mp4", "written as one of"),
                                             ("frames/%05d", "written as one of"),
                                             ("frames/%05d.mpo", "written as one of")])
def test_a_pattern_naming_no_still_format_is_refused(tmp_path, output, message):
    src = make_video(tmp_path / "in.mp4", frames=3, rate=25, audio=None)
    result = run_cli("video", src, tmp_path / output, "-s", STYLE_PATH, "--size", "32")
    assert result.exit_code == 2 and message in one_error_line(result.stderr)
    assert not (tmp_path / "frames").exists()


def test_a_folder_of_videos_into_a_pattern_is_refused(tmp_path):
    (tmp_path / "videos").mkdir()
    make_video(tmp_path / "videos" / "a.mp4", frames=3, rate=25, audio=None)
    result = run_cli("video", tmp_path / "videos", tmp_path / "out" / "%05d.png", "-s", STYLE_PATH, "--size", "32")
    assert result.exit_code == 2 and "OUTPUT must be a folder" in one_error_line(result.stderr)


def test_a_write_failing_part_way_leaves_no_frame_and_resume_writes_them_all(tmp_path, monkeypatch):
    """A disk full from the fourth frame on (frames are written on several threads: counted, not matched, so
    the failure cannot be skipped by two writes at once): no frame in place, no work file beside them but the
    finished segments, kept for --resume, which then writes all six."""
    import pipeline.io.sequence_out as sequence_out

    src = make_video(tmp_path / "in.mp4", frames=6, rate=25, audio=None)
    real, written = sequence_out.write_image, []

    def full_disk(path, *args):
        if len(written) >= 3:
            raise OSError(28, "No space left on device")
        written.append(path)
        real(path, *args)

    monkeypatch.setattr(sequence_out, "write_image", full_disk)
    out = tmp_path / "frames" / "%03d.png"
    summary = run(Identity(), [(src, out)], OPTS)
    assert summary.count("failed") == 1 and "No space left" in summary.results[0].reason
    assert listing(tmp_path / "frames") == [".%03d.png.parts"]
    monkeypatch.setattr(sequence_out, "write_image", real)
    summary = run(Identity(), [(src, out)], VideoOptions(**{**OPTS.__dict__, "resume": True}))
    assert summary.count("processed") == 1, summary.results
    assert listing(tmp_path / "frames") == [f"{n:03d}.png" for n in range(1, 7)]


def test_frame_names_fill_the_first_number_as_printf_does():
    assert frame_name(Path("out/take 5%_%03d.png"), 7) == "take 5%_007.png"
    assert frame_name(Path("%d.png"), 12345) == "12345.png"
    assert frame_name(Path("f%02d.jpg"), 123) == "f123.jpg"


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_a_16_bit_sequence_comes_back_at_16_bits_without_banding(tmp_path, suffix):
    """A 16-bit ramp (a render's linear gradient) through 10-bit lossless segments into 16-bit frames: hundreds
    of levels where 8 bits would keep at most 256, each within 4 ten-bit steps of the source."""
    import cv2

    ramp = np.linspace(0, 65535, 1024).astype(np.uint16)
    (tmp_path / "in").mkdir()
    for n in range(3):
        frame = np.dstack([np.tile(ramp, (16, 1)), np.full((16, 1024), 20000 + 9000 * n, np.uint16),
                           np.tile(ramp[::-1], (16, 1))])  # RGB
        cv2.imwrite(str(tmp_path / "in" / f"g_{n:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out" / f"g_%03d{suffix}"
    assert run(Identity(), [(tmp_path / "in" / "g_%03d.png", out)], OPTS).count("processed") == 1
    for n in range(3):
        written = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / f"g_{n:03d}{suffix}"), cv2.IMREAD_UNCHANGED),
                               cv2.COLOR_BGR2RGB)
        assert written.dtype == np.uint16 and written.shape == (16, 1024, 3)
        assert len(np.unique(written[8, :, 0])) > 400  # 580 through 10-bit limited-range YUV; 8 bits: 256 at most
        assert np.abs(written[8, :, 0].astype(int) - ramp).max() < 4 * 64
        assert np.abs(written[8, :, 1].astype(int) - (20000 + 9000 * n)).max() < 4 * 64
