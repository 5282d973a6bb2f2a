"""HEIF photos (HEIC: iPhones' and many Android phones' default; HIF: Canon's and Sony's) in a folder
(pipeline/io/heif.py): read with FFmpeg and put together from their tiles, upright, their ICC profile and EXIF
kept, written as JPEG. A folder of them was "left out, in formats stylize folder does not read" (pillow_heif's
test photos: an iPhone 8 Plus's and an iPhone 13 Pro's 48-tile grids, a Xiaomi's, a Sony A7S III's 10-bit
4:2:2 HIF, Nokia's burst). FFmpeg writes no HEIF, so the files are made box by box (tests/media.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline.io.images import read_image
from pipeline.jobs.folder import run_folder
from pipeline.jobs.folder_plan import plan_folder
from pipeline.options import FolderOptions
from tests.helpers import Identity, folder_as_is
from tests.media import heif, swapped_profile

RAMP = np.dstack([np.tile(np.linspace(0, 255, 120), (100, 1)), np.tile(np.linspace(0, 255, 100)[:, None], (1, 120)),
                  np.full((100, 120), 90.0)]).astype(np.uint8)  # 120x100: a grid of 2x2 tiles, cropped


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Apple", "iPhone 13 Pro", orientation
    return exif.tobytes()[6:]  # as HEIF stores it: the TIFF header on, without JPEG's "Exif" marker


def test_an_iphone_photo_comes_back_upright_with_its_profile_and_exif(tmp_path):
    """Turned by ``irot`` (a phone held upright), the EXIF's orientation saying the same: turned once."""
    icc = swapped_profile()
    heif(tmp_path / "in" / "IMG_0001.HEIC", RAMP, rotate=1, icc=icc, exif=_exif(6))
    tasks, _ = plan_folder(tmp_path / "in", tmp_path / "out")
    assert [t.dst.name for t in tasks] == ["IMG_0001.jpg"]
    assert run_folder(Identity(), tasks, FolderOptions(size=0, batch_size=1)).count("processed") == 1
    with Image.open(tmp_path / "out" / "IMG_0001.jpg") as out:
        assert out.format == "JPEG" and out.size == (100, 120)  # portrait, as the phone was held
        assert np.abs(np.asarray(out, dtype=float) - np.rot90(RAMP)).mean() < 4
        assert out.info["icc_profile"] == icc
        exif = out.getexif()
        assert (exif[0x010F], exif[0x0110], exif.get(0x0112, 1)) == ("Apple", "iPhone 13 Pro", 1)


def test_mirror_clean_aperture_and_alpha(tmp_path):
    alpha = np.tile(np.linspace(0, 255, 120).astype(np.uint8), (100, 1))
    src = heif(tmp_path / "cut.heic", RAMP, mirror=0, clap=(80, 60), alpha=alpha)
    loaded = read_image(src)
    assert loaded.rgb.shape == (60, 80, 3) and loaded.source_hw == (60, 80)
    assert np.abs(loaded.rgb * 255 - RAMP[20:80, 20:100][:, ::-1]).mean() < 4  # the centre, mirrored
    assert np.abs(loaded.alpha * 255 - alpha[20:80, 20:100][:, ::-1]).mean() < 4
    assert folder_as_is(tmp_path, tmp_path / "out", ".png").count("processed") == 1
    with Image.open(tmp_path / "out" / "cut.png") as out:
        assert out.mode == "RGBA" and out.size == (80, 60)


def test_an_overlay_is_its_canvas_with_its_image_drawn_at_its_offset(tmp_path):
    """Nokia's cameras write the primary image as an overlay (``iovl``) of a grid on a canvas: refused before
    ("a HEIF iovl image, which is not read here"; pillow_heif's ``nokia/alpha.heic``). The canvas in its fill
    colour, the grid drawn at its offset and cut to the canvas (here 8 columns off its left edge)."""
    src = heif(tmp_path / "nokia.heic", RAMP, overlay=(140, 130, -8, 20, (65535, 0, 32768, 65535)))
    loaded = read_image(src)
    assert loaded.rgb.shape == (130, 140, 3) and loaded.source_hw == (130, 140)
    shown = loaded.rgb * 255
    assert np.abs(shown[20:120, :112] - RAMP[:, 8:]).mean() < 4
    outside = np.ones((130, 140), bool)
    outside[20:120, :112] = False
    assert np.abs(shown[outside] - (255, 0, 128)).max() < 1


def test_a_heic_beside_its_jpeg_keeps_both(tmp_path):
    """A phone's export folder: IMG_0001.HEIC and the JPEG made of it; neither output may take the other's name."""
    heif(tmp_path / "in" / "IMG_0001.HEIC", RAMP)
    Image.fromarray(RAMP).save(tmp_path / "in" / "IMG_0001.jpg")
    heif(tmp_path / "in" / "IMG_0002.HEIC", RAMP)
    heif(tmp_path / "in" / "IMG_0002.heif", RAMP)
    tasks, _ = plan_folder(tmp_path / "in", tmp_path / "out")
    assert sorted(t.dst.name for t in tasks) == ["IMG_0001.HEIC.jpg", "IMG_0001.jpg", "IMG_0002.HEIC.jpg",
                                                 "IMG_0002.heif.jpg"]
    assert run_folder(Identity(), tasks, FolderOptions(size=0, batch_size=1)).count("processed") == 4


@pytest.mark.parametrize("damage", ["truncated", "no meta"])
def test_a_damaged_heic_is_one_line(tmp_path, damage):
    src = heif(tmp_path / "in" / "IMG_0001.HEIC", RAMP)
    data = src.read_bytes()
    src.write_bytes(data[: len(data) * 2 // 3] if damage == "truncated" else data[:24] + b"free" + data[28:])
    summary = folder_as_is(tmp_path / "in", tmp_path / "out")
    (result,) = summary.results
    assert result.status == "failed" and "HEIF" in result.reason and "\n" not in result.reason
    assert not (tmp_path / "out" / "IMG_0001.jpg").exists()


def test_heif_is_read_not_written(tmp_path):
    from pipeline.errors import JobError

    with pytest.raises(JobError, match="--ext .heic: not one of"):
        plan_folder(tmp_path, tmp_path.parent / "nowhere-heic", ".heic")


def test_a_grid_stating_too_many_pixels_is_refused_before_decoding(tmp_path, monkeypatch):
    """pillow_heif's 200-megapixel grid: its 817 tiles were all decoded (300 MB) before the size was looked at."""
    import struct

    from pipeline.errors import ImageReadError
    from pipeline.io import heif as reader

    def no_decoding(*args):
        raise AssertionError("a tile was decoded")

    monkeypatch.setattr(reader, "_Pictures", no_decoding)

    src = heif(tmp_path / "huge.heic", RAMP)
    data = bytearray(src.read_bytes())
    at = data.index(b"idat") + 4 + 4  # version, flags, rows - 1, columns - 1, then the output's width and height
    data[at:at + 4] = struct.pack(">HH", 20000, 20000)
    src.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="too large to decode safely"):
        read_image(src)


@pytest.mark.parametrize("tile", [99, 100])  # an item the file does not hold; the grid itself
def test_a_grid_pointing_at_no_tile_or_at_itself_is_one_line(tmp_path, tile):
    """Found by flipping bytes of a made file's boxes (3000 tries): a KeyError, where a grid named itself a
    recursion without end."""
    import struct

    from pipeline.errors import ImageReadError

    src = heif(tmp_path / "bad.heic", RAMP)
    data = bytearray(src.read_bytes())
    at = data.index(b"dimg") + 4 + 2 + 2  # the grid's id, the count, then the first tile's id
    data[at:at + 2] = struct.pack(">H", tile)
    src.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="HEIF"):
        read_image(src)
