"""Bad input, table-driven: each row is a command line, the exit code it must give, words its one `error:` line
must contain, and what must (and must not) exist afterwards. No row may end in a traceback or leave a stray
file; a refused run creates nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from pipeline.models.decoder import shipped_weights_path
from tests.helpers import STYLE_PATH as STYLE, one_error_line, run_cli, save_rgb
from tests.videos import make_video, read_video


def _weights(tmp: Path, kind: str) -> Path:
    path = tmp / f"{kind}.safetensors"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("these are not weights\n")
    elif kind == "truncated":
        path.write_bytes(shipped_weights_path().read_bytes()[:100_000])
    elif kind == "wrong_keys":
        save_file({"something.else": torch.zeros(3)}, str(path))
    elif kind == "wrong_shapes":
        save_file({k: torch.zeros(1) for k in ("1.weight", "1.bias")}, str(path))
    elif kind == "folder":
        path.mkdir()
    return path


# (name, command builder, exit code, words in the error line)
VIDEO_ROWS = [
    ("device_missing", lambda t, v: ["--device", "cuda"] if not torch.cuda.is_available() else ["--device", "tpu"], 2,
     "--device"),
    ("duration_zero", lambda t, v: ["--duration", "0"], 2, "--duration"),
    ("weights_nan", lambda t, v: ["--style-weights", "nan"], 2, "--style-weights"),
    ("weights_negative", lambda t, v: ["--style-weights", "-1"], 2, "--style-weights"),
    ("unknown_codec", lambda t, v: ["--codec", "nope264"], 2, "nope264"),
    ("unknown_pix_fmt", lambda t, v: ["--pix-fmt", "yuv999p"], 2, "yuv999p"),
    *[(f"decoder_{kind}", lambda t, v, kind=kind: ["--decoder", _weights(t, kind)], 2, "--decoder")
      for kind in ("empty", "text", "truncated", "wrong_keys", "wrong_shapes", "folder")],
    *[(f"vgg_{kind}", lambda t, v, kind=kind: ["--vgg", _weights(t, kind)], 2, "--vgg")
      for kind in ("empty", "text", "folder")],
    ("missing_style", lambda t, v: ["--style", t / "nope.jpg"], 2, "nope.jpg"),
    # the sheet is made after the job: a path under a file failed then, after all the work (exit 1)
    ("sheet_under_a_file", lambda t, v: ["--contact-sheet", _a_file(t) / "sheet.jpg"], 2, "--contact-sheet"),
]


def _a_file(tmp: Path) -> Path:
    (tmp / "a_file").write_text("not a folder")
    return tmp / "a_file"


@pytest.mark.parametrize("name, extra, code, words", VIDEO_ROWS, ids=[r[0] for r in VIDEO_ROWS])
def test_bad_video_invocations(tmp_path, name, extra, code, words):
    src = make_video(tmp_path / "in.mp4", frames=6, size=(64, 48))
    out = tmp_path / "out" / "o.mp4"
    result = run_cli("video", src, out, "--style", STYLE, "--size", "32", *extra(tmp_path, src))
    assert result.exit_code == code, result.stderr
    assert words in one_error_line(result.stderr)
    assert not (tmp_path / "out").exists()  # nothing created before the refusal


def test_unreadable_job_state_fails_that_video_keeps_it_and_the_batch_goes_on(tmp_path, random_decoder_file):
    src_dir = tmp_path / "videos"
    src_dir.mkdir()
    for name in ("a", "b"):
        make_video(src_dir / f"{name}.mp4", frames=6, size=(64, 48), audio=None)
    work = tmp_path / "out" / ".a.mp4.parts"
    work.mkdir(parents=True)
    (work / "job.json").write_bytes(b"")  # the disk filled while it was written
    result = run_cli("video", src_dir, tmp_path / "out", "--style", STYLE, "--decoder", random_decoder_file,
                     "--size", "32", "--resume")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    line = one_error_line(result.stderr)
    assert "job.json" in line and "without --resume" in line
    assert (tmp_path / "out" / "b.mp4").is_file() and not (tmp_path / "out" / "a.mp4").exists()
    assert (work / "job.json").exists()  # kept as it was: the user decides
    again = run_cli("video", src_dir, tmp_path / "out", "--style", STYLE, "--decoder", random_decoder_file,
                    "--size", "32")
    assert again.exit_code == 0 and (tmp_path / "out" / "a.mp4").is_file() and not work.exists()


def test_bad_folder_weights_leave_nothing(tmp_path):
    save_rgb(tmp_path / "in" / "x.png", 32, 32)
    result = run_cli("folder", tmp_path / "in", tmp_path / "out", "--style", STYLE, "--decoder",
                     _weights(tmp_path, "truncated"))
    assert result.exit_code == 2 and "--decoder" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_still_image_to_video_and_a_video_to_folder_get_a_hint(tmp_path):
    photo = save_rgb(tmp_path / "photo.jpg", 32, 32)
    clip = make_video(tmp_path / "clip.mp4", frames=4, size=(64, 48), audio=None)
    for args, words in ((["video", photo, tmp_path / "o.mp4"], "stylize folder"),
                        (["folder", clip, tmp_path / "o"], "stylize video")):
        result = run_cli(*args, "--style", STYLE)
        assert result.exit_code == 2 and "Traceback" not in result.stderr
        assert words in one_error_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "photo.jpg"]


def test_exported_weights_get_the_usual_permissions(tmp_path):
    import os

    from pipeline.models.decoder import Decoder, save_decoder

    umask = os.umask(0o022)
    try:
        save_decoder(Decoder(), tmp_path / "d.safetensors")
    finally:
        os.umask(umask)
    assert (tmp_path / "d.safetensors").stat().st_mode & 0o777 == 0o644


def test_styles_of_any_shape_and_the_smallest_sizes_run(tmp_path, random_decoder_file):
    """A banner-shaped style (1600x40: 64x2 at --size 64), a 10x10 icon as a style, Gatys at --size 32 and
    --refine-every at --size 16 each ended in a traceback from VGG's reflected border ("Padding size should
    be less than the corresponding input dimension"): each runs now, and writes a picture, not a flat one."""
    rng = np.random.default_rng(0)
    banner = tmp_path / "banner.png"
    Image.fromarray((rng.random((40, 1600, 3)) * 255).astype(np.uint8)).save(banner)
    icon = tmp_path / "icon.png"
    Image.fromarray((rng.random((10, 10, 3)) * 255).astype(np.uint8)).save(icon)
    save_rgb(tmp_path / "in" / "a.png", 96, 64)
    clip = make_video(tmp_path / "clip.mp4", frames=6, size=(64, 48), audio=None)
    decoder = ["--decoder", random_decoder_file]
    runs = {"banner": ["folder", tmp_path / "in", tmp_path / "banner", "--style", banner, "--size", "64"],
            "icon": ["folder", tmp_path / "in", tmp_path / "icon", "--style", icon, "--size", "64"],
            "gatys": ["folder", tmp_path / "in", tmp_path / "gatys", "--style", STYLE, "--size", "32", "--method",
                      "gatys", "--iterations", "2"],
            "refine": ["video", clip, tmp_path / "refine.mp4", "--style", STYLE, "--size", "16", "--refine-every",
                       "3", "--iterations", "2"]}
    for name, args in runs.items():
        result = run_cli(*args, *decoder)
        assert result.exit_code == 0 and "Traceback" not in result.stderr, (name, result.stderr[-500:])
    for name in ("banner", "icon", "gatys"):
        assert np.asarray(Image.open(tmp_path / name / "a.png")).std() > 1, name
    assert read_video(tmp_path / "refine.mp4")["frames"] == 6


def test_a_snapshot_folder_that_is_a_file_is_one_line(tmp_path):
    save_rgb(tmp_path / "in" / "a.png", 32, 32)
    (tmp_path / "taken").write_text("a file")
    result = run_cli("folder", tmp_path / "in", tmp_path / "out", "--style", STYLE, "--method", "gatys",
                     "--save-every", "1", "--snapshot-dir", tmp_path / "taken")
    assert result.exit_code == 2 and "--snapshot-dir" in one_error_line(result.stderr)
    assert (tmp_path / "taken").read_text() == "a file" and not (tmp_path / "out").exists()


def test_an_encoder_that_cannot_open_here_is_named_as_such(tmp_path):
    """`--codec h264_nvenc` without an NVIDIA encoder said "cannot write h264_nvenc video into mp4", as if the
    container were at fault; the line names the encoder and FFmpeg's reason now."""
    import av
    from fractions import Fraction

    if "h264_nvenc" not in av.codecs_available:
        pytest.skip("this PyAV has no h264_nvenc")
    try:
        ctx = av.CodecContext.create("h264_nvenc", "w")
        ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 64, 64, "yuv420p", Fraction(1, 24)
        ctx.open()
        pytest.skip("this machine has an NVIDIA encoder")
    except av.error.FFmpegError:
        pass
    src = make_video(tmp_path / "in.mp4", frames=4, size=(64, 48), audio=None)
    result = run_cli("video", src, tmp_path / "out.mp4", "--style", STYLE, "--codec", "h264_nvenc")
    assert result.exit_code == 2
    assert one_error_line(result.stderr).startswith("error: encoder h264_nvenc cannot be opened here (")
    assert not (tmp_path / "out.mp4").exists()
