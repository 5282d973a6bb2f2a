"""JPEG 2000 stills in a folder (pipeline/io/jpeg2000.py): read and written back in their format, their alpha
and colours kept. A folder of them (the Open Preservation Foundation's corpus: a library's scanned balloon at
2717x3701, as Kakadu, OpenJPEG and Photoshop write it) was "left out, in formats stylize folder does not read".
The stylizer hands images back: the files are what is checked."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.io.images import read_image, write_image
from tests.helpers import folder_as_is, gradient_image
from tests.media import swapped_profile, with_icc_box


def jp2(path: Path, image: np.ndarray, icc: bytes | None = None, **options) -> Path:
    data = io.BytesIO()
    Image.fromarray(image).save(data, format="JPEG2000", **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(with_icc_box(data.getvalue(), icc) if icc else data.getvalue())
    return path


def test_a_folder_of_jpeg_2000_comes_back_as_jpeg_2000(tmp_path):
    rgb = gradient_image(48, 32)
    rgba = np.dstack([rgb, np.tile(np.linspace(0, 255, 48).astype(np.uint8), (32, 1))])
    jp2(tmp_path / "in" / "scan.jp2", rgb)
    jp2(tmp_path / "in" / "stream.j2k", rgb, no_jp2=True)
    jp2(tmp_path / "in" / "cut.jpf", rgba)
    summary = folder_as_is(tmp_path / "in", tmp_path / "out")
    assert summary.count("processed") == 3, summary.results
    for name, mode, head in [("scan.jp2", "RGB", b"\x00\x00\x00\x0cjP  "), ("stream.j2k", "RGB", b"\xff\x4f\xff\x51"),
                             ("cut.jpf", "RGBA", b"\x00\x00\x00\x0cjP  ")]:
        assert (tmp_path / "out" / name).read_bytes().startswith(head)  # a JP2 file, or a bare codestream
        with Image.open(tmp_path / "out" / name) as out:
            assert (out.format, out.mode, out.size) == ("JPEG2000", mode, (48, 32))
            pixels = np.asarray(out, dtype=float)
            assert np.abs(pixels[..., :3] - rgb).mean() < 2  # near lossless
            if mode == "RGBA":
                assert np.abs(pixels[..., 3] - rgba[..., 3]).max() < 3


def test_colours_stay_what_the_profile_says(tmp_path):
    """A profile in the JP2's colour box (Pillow reads none, writes none): kept where the output format holds
    one, the pixels converted to sRGB where it is JPEG 2000 again."""
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    icc = swapped_profile()
    src = jp2(tmp_path / "in" / "scan.jp2", red, icc)
    assert read_image(src).metadata["icc_profile"] == icc
    for ext in (None, ".png"):
        assert folder_as_is(tmp_path / "in", tmp_path / f"out{ext}", ext).count("processed") == 1
    with Image.open(tmp_path / "outNone" / "scan.jp2") as out:  # the red of that space is sRGB's green
        assert np.abs(np.asarray(out, dtype=float).mean(axis=(0, 1)) - (0, 255, 0)).max() < 3
    with Image.open(tmp_path / "out.png" / "scan.png") as out:  # as it was, with its profile
        assert out.info["icc_profile"] == icc
        assert np.abs(np.asarray(out, dtype=float).mean(axis=(0, 1)) - (255, 0, 0)).max() < 3


@pytest.mark.parametrize("size", [(1029, 770), (1024, 768)])
def test_a_large_scan_decodes_at_a_stored_halving(tmp_path, size):
    """``min_side`` (what the work size needs) picks a halving both sides stay above; Pillow sizes some
    halvings one pixel short of what OpenJPEG decodes (1029 halved twice: 257, not 258), and those failed."""
    width, height = size
    src = jp2(tmp_path / "scan.jp2", gradient_image(width, height))
    loaded = read_image(src, min_side=150)
    assert loaded.source_hw == (height, width)
    assert 150 <= min(loaded.rgb.shape[:2]) < height // 2 + 1  # decoded halved, at least once
    assert abs(loaded.rgb.mean() - read_image(src).rgb.mean()) < 0.01


def test_a_truncated_scan_is_one_line(tmp_path):
    src = jp2(tmp_path / "in" / "cut.jp2", gradient_image(64, 48))
    src.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    summary = folder_as_is(tmp_path / "in", tmp_path / "out")
    (result,) = summary.results
    assert result.status == "failed" and "cannot decode" in result.reason and "\n" not in result.reason
    assert not (tmp_path / "out" / "cut.jp2").exists()


def test_writing_jpeg_2000_names_the_container(tmp_path):
    write_image(tmp_path / "a.j2c", gradient_image(8, 8))
    write_image(tmp_path / "b.jpx", gradient_image(8, 8))
    assert (tmp_path / "a.j2c").read_bytes()[:4] == b"\xff\x4f\xff\x51"  # a bare codestream: SOC, SIZ
    assert (tmp_path / "b.jpx").read_bytes()[4:8] == b"jP  "  # the JP2 signature box
