"""The Python API for whole jobs (pipeline/api_jobs.py): ``pipeline.stylize_video`` and ``pipeline.stylize_folder``
write what the commands write, report what ``--json`` reports, raise where the commands exit with 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pipeline
from pipeline.api_jobs import _style_args
from pipeline.errors import UsageError
from tests.helpers import STYLE_PATH, run_cli, save_rgb
from tests.videos import read_video

CLIP = Path("../shared/data/video/cutBunny.mp4")  # 24 frames/s with AAC
OTHER_STYLE = STYLE_PATH.parent / "starry_night.jpg"


@pytest.mark.skipif(not CLIP.exists(), reason="needs ../shared/data/video")
def test_a_real_clip_through_the_api_as_through_the_command(tmp_path, random_decoder_file):
    """24 frames of a real clip with its audio: the API's report is the command's JSON (the same items), its
    output the same frames at the same times with the audio, and progress counts every frame to the total.
    Lossless x264 (crf 0): lossy x264 with frame threads is not bit-repeatable (4.5 levels apart on a random
    decoder's frames, run to run in one process)."""
    options = {"decoder": random_decoder_file, "size": 64, "max_frames": 24, "crf": 0, "temporal": "off"}
    seen = []
    report = pipeline.stylize_video(CLIP, tmp_path / "api.mp4", STYLE_PATH, progress=lambda *p: seen.append(p),
                                    **options)
    args = [a for k, v in options.items() for a in (f"--{k.replace('_', '-')}", v)]
    cli = json.loads(run_cli("video", CLIP, tmp_path / "cli.mp4", "--style", STYLE_PATH, *args, "--json").stdout)
    assert (report["processed"], report["failed"], report["frames"], report["exit_code"]) == (1, 0, 24, 0)
    assert [i["status"] for i in report["items"]] == [i["status"] for i in cli["items"]] == ["processed"]
    api, reference = read_video(tmp_path / "api.mp4"), read_video(tmp_path / "cli.mp4")
    assert api["frames"] == reference["frames"] == 24 and api["pts"] == reference["pts"]
    assert api["audio"] == reference["audio"] == "aac" and api["audio_s"] == pytest.approx(reference["audio_s"])
    assert all(np.array_equal(a, b) for a, b in zip(api["images"], reference["images"]))
    assert seen[-1] == (24, 24) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    again = pipeline.stylize_video(CLIP, tmp_path / "api.mp4", STYLE_PATH, skip_existing=True, **options)
    assert (again["skipped"], again["processed"]) == (1, 0)


def test_a_folder_with_a_mask_per_style_is_the_command_s_to_the_byte(tmp_path, random_decoder_file):
    """Two styles, the first masked to the left half: the API's PNGs equal the command's byte for byte; a
    damaged file is a failed item in the report (exit_code 1), not an exception."""
    src = tmp_path / "in"
    save_rgb(src / "a.png", 48, 32, seed=1)
    save_rgb(src / "sub" / "b.png", 40, 40, seed=2)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    mask = np.zeros((32, 48), np.uint8)
    mask[:, :24] = 255
    Image.fromarray(mask).save(tmp_path / "left.png")
    report = pipeline.stylize_folder(src, tmp_path / "api", [STYLE_PATH, OTHER_STYLE], masks=[tmp_path / "left.png",
                                     None], decoder=random_decoder_file, size=32, calibrate=False)
    result = run_cli("folder", src, tmp_path / "cli", "--style", STYLE_PATH, "--mask", tmp_path / "left.png",
                     "--style", OTHER_STYLE, "--decoder", random_decoder_file, "--size", "32", "--no-calibrate")
    assert result.exit_code == 1 and (report["processed"], report["failed"], report["exit_code"]) == (2, 1, 1)
    for name in ("a.png", "sub/b.png"):
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name


def test_options_are_checked_as_the_command_checks_them(tmp_path):
    """Where the command exits with 2 the API raises UsageError (a ValueError) with its one line."""
    style, clip = str(STYLE_PATH), tmp_path / "in.mp4"
    clip.write_bytes(b"")
    with pytest.raises(UsageError, match="unknown option 'crff' for video; expected one of .*crf"):
        pipeline.stylize_video(clip, tmp_path / "o.mp4", style, crff=20)
    with pytest.raises(UsageError, match="'--crf'.*63"):
        pipeline.stylize_video(clip, tmp_path / "o.mp4", style, crf=99)
    with pytest.raises(UsageError, match="style nope.jpg: no such file"):
        pipeline.stylize_video(clip, tmp_path / "o.mp4", "nope.jpg")
    with pytest.raises(UsageError, match="one per style"):
        pipeline.stylize_folder(tmp_path, tmp_path / "o", [style, style], masks=["m.png"])
    with pytest.raises(UsageError, match="does not exist"):
        pipeline.stylize_folder(tmp_path / "missing", tmp_path / "o", style)
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.mp4").exists()


def test_each_style_is_followed_by_its_own_mask():
    assert _style_args(["a.jpg", "b.jpg", "c.jpg"], ["m.png", None, "n.png"]) == [
        "--style", "a.jpg", "--mask", "m.png", "--style", "b.jpg", "--style", "c.jpg", "--mask", "n.png"]
    assert _style_args("a.jpg", "m.png") == ["--style", "a.jpg", "--mask", "m.png"]
