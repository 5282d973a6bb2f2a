"""Folder outputs keep the input's ICC profile and EXIF (pipeline/io/images.py): a photo in a wide-gamut
space keeps meaning the colours it meant. The stylizer hands images back: the files are what is checked."""

from __future__ import annotations


import pytest
from PIL import Image, ImageCms

from pipeline.jobs.folder import run_folder
from pipeline.jobs.folder_plan import plan_folder
from pipeline.options import FolderOptions
from tests.helpers import Identity, save_rgb



@pytest.mark.parametrize("ext, out_ext", [(".jpg", None), (".png", None), (".jpg", ".webp"), (".png", ".tif")])
def test_outputs_keep_the_icc_profile_and_exif(tmp_path, ext, out_ext):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # not sRGB: it matters
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0112] = 6  # Orientation: turned 90 degrees
    src = save_rgb(tmp_path / "in" / f"photo{ext}", 40, 24, icc_profile=icc, exif=exif.tobytes())
    tasks, _ = plan_folder(tmp_path / "in", tmp_path / "out", out_ext)
    summary = run_folder(Identity(), tasks, FolderOptions(size=0, batch_size=1, ext=out_ext))
    assert summary.count("processed") == 1, summary.results
    (dst,) = (tmp_path / "out").iterdir()
    with Image.open(dst) as out:
        assert out.info.get("icc_profile") == icc
        kept = out.getexif()
        assert kept[0x010F] == "TestCam" and kept.get(0x0112, 1) == 1  # turned upright: no turn left to do
        assert out.size == (24, 40)
    assert src.exists()


def test_an_image_without_a_profile_gets_none(tmp_path):
    save_rgb(tmp_path / "in" / "plain.png", 16, 16)
    tasks, _ = plan_folder(tmp_path / "in", tmp_path / "out")
    run_folder(Identity(), tasks, FolderOptions(size=0, batch_size=1))
    with Image.open(tmp_path / "out" / "plain.png") as out:
        assert "icc_profile" not in out.info and not out.getexif()
