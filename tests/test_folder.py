"""`stylize folder` end to end on a nested tree with every image mode and bad files mixed in."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from pipeline.errors import ImageReadError
from pipeline.io.images import atomic_write, read_image
from tests.conftest import SAMPLES
from tests.helpers import gradient_image, one_error_line, run_cli, run_stylize, save_rgb

STYLE = SAMPLES / "style" / "stained_glass.png"


@pytest.fixture()
def tree(tmp_path):
    root = tmp_path / "in"
    save_rgb(root / "a.jpg", 64, 48)
    save_rgb(root / "b.JPG", 64, 48, seed=1)  # same size as a.jpg: batched together
    save_rgb(root / "odd" / "odd.png", 101, 67)
    save_rgb(root / "odd" / "tiny.bmp", 5, 3)
    (root / "modes").mkdir()
    Image.fromarray(gradient_image(40, 30)[..., 0]).save(root / "modes" / "grey.png")
    Image.fromarray(gradient_image(40, 30)).convert("P").save(root / "modes" / "palette.png")
    rgba = np.dstack([gradient_image(40, 30), np.tile(np.linspace(0, 255, 40, dtype=np.uint8), (30, 1))])
    Image.fromarray(rgba).save(root / "modes" / "alpha.png")
    Image.fromarray((np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 50)).save(root / "modes" / "grey16.png")
    Image.fromarray(gradient_image(40, 30)).convert("CMYK").save(root / "modes" / "cmyk.jpg")
    Image.fromarray(gradient_image(40, 30)).save(root / "modes" / "tiff.tif")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.fromarray(gradient_image(60, 40)).save(root / "exif.jpg", exif=exif)
    (root / "bad").mkdir()
    (root / "bad" / "zero.jpg").write_bytes(b"")
    (root / "bad" / "text[red].png").write_text("not an image")  # a name rich would read as markup
    data = (root / "a.jpg").read_bytes()
    (root / "bad" / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (root / "notes.txt").write_text("ignored: not an image extension")
    return root


def _summary(result) -> dict:
    return json.loads(result.stdout)


def test_folder_end_to_end(tree, tmp_path, random_decoder_file):
    out = tmp_path / "out"
    result = run_cli("folder", tree, out, "--style", STYLE, "--decoder", random_decoder_file, "--json",
                     "--batch-size", "2", "--size", "128")  # over every image's long side: none is resized
    assert result.exit_code == 1  # some inputs failed, the rest are written
    summary = _summary(result)
    assert summary["processed"] == 11 and summary["failed"] == 3 and summary["skipped"] == 0
    failed = {item["path"].split("/")[-1]: item["reason"] for item in summary["items"] if item["status"] == "failed"}
    assert set(failed) == {"zero.jpg", "text[red].png", "truncated.jpg"}
    assert "0 bytes" in failed["zero.jpg"] and "not a recognised image" in failed["text[red].png"]
    for name in failed:
        assert name in result.stderr  # one line per bad file, and in the summary table
    assert "Traceback" not in result.stderr

    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(["a.jpg", "b.JPG", "exif.jpg", "odd/odd.png", "odd/tiny.bmp", "modes/grey.png",
                              "modes/palette.png", "modes/alpha.png", "modes/grey16.png", "modes/cmyk.jpg",
                              "modes/tiff.tif"])
    sizes = {p: Image.open(out / p).size for p in written}
    assert sizes["odd/odd.png"] == (101, 67) and sizes["odd/tiny.bmp"] == (5, 3)
    assert sizes["exif.jpg"] == (40, 60)  # EXIF orientation applied
    alpha = Image.open(out / "modes" / "alpha.png")
    assert alpha.mode == "RGBA"
    assert np.array_equal(np.asarray(alpha)[..., 3], np.asarray(Image.open(tree / "modes" / "alpha.png"))[..., 3])
    assert Image.open(out / "modes" / "cmyk.jpg").mode == "RGB"
    assert not list(out.rglob("*.part")) and not list(tree.rglob("*.part"))
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "a.jpg").stat().st_mode & 0o777 == 0o666 & ~umask  # the permissions any new file gets


def test_processed_count_includes_tiff(tree, tmp_path, random_decoder_file):
    result = run_cli("folder", tree, tmp_path / "o", "--style", STYLE, "--decoder", random_decoder_file,
                     "--size", "64", "--json")
    outputs = {p.name for p in (tmp_path / "o").rglob("*") if p.is_file()}
    assert {"tiff.tif", "grey16.png", "palette.png", "grey.png"} <= outputs
    assert _summary(result)["images"] == len(outputs) == 11


def test_size_keep_size_ext_and_skip_existing(tmp_path, random_decoder_file):
    src = tmp_path / "in"
    save_rgb(src / "wide.png", 700, 300)
    out = tmp_path / "out"
    args = ["--style", STYLE, "--decoder", random_decoder_file, "--size", "256"]
    assert run_cli("folder", src, out, *args).exit_code == 0
    assert Image.open(out / "wide.png").size == (256, 110)
    assert run_cli("folder", src, tmp_path / "full", *args, "--keep-size", "--ext", "jpg").exit_code == 0
    assert Image.open(tmp_path / "full" / "wide.jpg").size == (700, 300)
    before = (out / "wide.png").stat().st_mtime_ns
    result = run_cli("folder", src, out, *args, "--skip-existing", "--json")
    assert result.exit_code == 0 and _summary(result)["skipped"] == 1
    assert (out / "wide.png").stat().st_mtime_ns == before


def test_output_inside_input_is_left_out_of_the_walk(tmp_path, random_decoder_file):
    src = tmp_path / "in"
    save_rgb(src / "x.png", 32, 32)
    out = src / "styled"
    for _ in range(2):  # the second run must not pick up the first run's outputs
        result = run_cli("folder", src, out, "--style", STYLE, "--decoder", random_decoder_file,
                         "--size", "64", "--json")
        assert result.exit_code == 0 and _summary(result)["processed"] == 1
    assert sorted(p.name for p in src.rglob("*.png")) == ["x.png", "x.png"]


def test_symlink_loop_is_not_followed(tmp_path, random_decoder_file):
    src = tmp_path / "in"
    save_rgb(src / "sub" / "x.png", 32, 32)
    (src / "sub" / "loop").symlink_to(src, target_is_directory=True)
    result = run_cli("folder", src, tmp_path / "out", "--style", STYLE, "--decoder", random_decoder_file,
                     "--size", "64", "--json")
    assert result.exit_code == 0 and _summary(result)["processed"] == 1


@pytest.mark.parametrize("case", ["missing_style", "style_is_folder", "missing_input", "same_dirs", "bad_weights"])
def test_bad_invocations_give_one_line_and_exit_2(tmp_path, random_decoder_file, case):
    src = tmp_path / "in"
    save_rgb(src / "x.png", 32, 32)
    args = {"missing_style": [src, tmp_path / "o", "--style", tmp_path / "nope.jpg"],
            "style_is_folder": [src, tmp_path / "o", "--style", src],
            "missing_input": [tmp_path / "nothing", tmp_path / "o", "--style", STYLE],
            "same_dirs": [src, src, "--style", STYLE],
            "bad_weights": [src, tmp_path / "o", "--style", STYLE, "--style-weights", "1,x"]}[case]
    result = run_cli("folder", *args, "--decoder", random_decoder_file)
    assert result.exit_code == 2
    one_error_line(result.stderr)
    assert not (tmp_path / "o").exists()


def test_empty_folder(tmp_path, random_decoder_file):
    (tmp_path / "empty").mkdir()
    result = run_cli("folder", tmp_path / "empty", tmp_path / "o", "--style", STYLE, "--decoder", random_decoder_file)
    assert result.exit_code == 3 and "no images found" in result.stderr


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "x.png"
    target.write_bytes(b"old")

    def broken(tmp):
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, broken)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


def test_read_image_16_bit_and_palette(tmp_path):
    grey16 = np.full((4, 4), 65535 // 2, dtype=np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g.png")
    rgb = read_image(tmp_path / "g.png").rgb
    assert rgb.shape == (4, 4, 3) and rgb.max() == pytest.approx(0.5, abs=1e-3)


def test_a_file_pillow_opens_as_no_format_is_named_by_what_it_is_and_pillow_s_reason(tmp_path):
    """Before, each of these was "not a recognised image format": imageio's planar RGB TIFF and Pillow's own test
    TIFF in an unknown pixel mode, a PNG with an unknown iCCP compression, an iPhone photo saved as .jpg."""
    Image.fromarray(gradient_image(8, 8)).save(tmp_path / "tiff.tif")
    data = bytearray((tmp_path / "tiff.tif").read_bytes())
    at = data.find(b"\x06\x01\x03\x00\x01\x00\x00\x00")  # PhotometricInterpretation, a SHORT: RGB (2)
    data[at + 8:at + 10] = (32844).to_bytes(2, "little")  # LogL, which Pillow does not read
    (tmp_path / "logl.tif").write_bytes(bytes(data))
    (tmp_path / "iphone.jpg").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    (tmp_path / "notes.png").write_text("not an image")
    reasons = {}
    for name in ("logl.tif", "iphone.jpg", "notes.png"):
        with pytest.raises(ImageReadError) as caught:
            read_image(tmp_path / name)
        reasons[name] = str(caught.value)
    assert reasons == {"logl.tif": "a TIFF file Pillow cannot read (unknown pixel mode)",
                       "iphone.jpg": "a HEIF (HEIC) photo without its meta box: damaged or cut short",
                       "notes.png": "not a recognised image format"}


@pytest.mark.parametrize("mode, key", [("RGB", (255, 255, 255)), ("L", 255), ("I;16", 65535)])
def test_a_png_s_colour_key_is_its_transparency(tmp_path, mode, key):
    """PNG's tRNS in a greyscale or RGB image: one value is transparent (PngSuite's ``tbbn2c16``, ``tbwn0g16``).
    Only a palette's was read before: the others came back opaque, the keyed background painted by the style."""
    picture = np.full((6, 8), 100, np.uint16 if mode == "I;16" else np.uint8)
    picture[:, :3] = 65535 if mode == "I;16" else 255  # the keyed colour: the left three columns
    image = Image.fromarray(np.dstack([picture] * 3) if mode == "RGB" else picture)  # uint16: I;16
    image.save(tmp_path / "keyed.png", transparency=key)
    assert "transparency" in Image.open(tmp_path / "keyed.png").info  # the shape: a key, not an alpha channel
    alpha = read_image(tmp_path / "keyed.png").alpha
    assert alpha is not None and (alpha[:, :3] == 0).all() and (alpha[:, 3:] == 1).all()


def test_gatys_methods_end_to_end(tmp_path, random_decoder_file):
    src = tmp_path / "in"
    save_rgb(src / "x.png", 40, 32)
    for method in ("gatys", "adain+gatys"):
        out = tmp_path / method
        result = run_cli("folder", src, out, "--style", STYLE, "--decoder", random_decoder_file,
                         "--size", "64", "--method", method,
                         "--iterations", "3", "--json")
        assert result.exit_code == 0, result.stderr
        image = np.asarray(Image.open(out / "x.png"))
        assert image.shape == (32, 40, 3)
        assert not np.array_equal(image, np.asarray(Image.open(src / "x.png")))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # the style, under the lowered limit
def test_huge_image_is_refused_by_name_and_the_rest_continue(tmp_path, random_decoder_file, monkeypatch):
    from PIL import Image as PILImage

    src = tmp_path / "in"
    save_rgb(src / "small.png", 20, 20)
    save_rgb(src / "huge.png", 800, 600)
    # Pillow refuses images over twice this many pixels as decompression bombs: huge.png is, the style is not.
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 200_000)
    result = run_cli("folder", src, tmp_path / "out", "--style", STYLE, "--decoder", random_decoder_file,
                     "--size", "64", "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    failed = [i for i in summary["items"] if i["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["path"].endswith("huge.png") and "too large" in failed[0]["reason"]
    assert (tmp_path / "out" / "small.png").exists() and not (tmp_path / "out" / "huge.png").exists()


@pytest.mark.parametrize("fmt", ["JPEG", "MPO"])
def test_large_jpeg_decodes_at_reduced_scale_with_the_same_output_size(tmp_path, fmt):
    """MPO: a JPEG with more pictures after it (3D cameras, phones' multi-picture JPEGs), which Pillow names
    apart; it decoded at full size (a 12-megapixel one at 512: 0.22 s against 0.06 s, 16 times the memory)."""
    from pipeline.jobs.folder import Task, load_task

    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated by 90 degrees
    more = {"save_all": True, "append_images": [Image.fromarray(gradient_image(160, 120))]} if fmt == "MPO" else {}
    Image.fromarray(gradient_image(1601, 1203)).save(tmp_path / "big.jpg", fmt, quality=90, exif=exif, **more)
    assert Image.open(tmp_path / "big.jpg").format == fmt
    fast = read_image(tmp_path / "big.jpg", min_side=256)
    assert fast.source_hw == (1601, 1203) and max(fast.rgb.shape[:2]) < 1601  # drafted, upright
    loaded = load_task(Task(tmp_path / "big.jpg", tmp_path / "o.jpg"), 256)
    full = load_task(Task(tmp_path / "big.jpg", tmp_path / "o.jpg"), 256, keep_size=True)
    assert loaded.work.shape == full.work.shape == (256, 192, 3) and loaded.source_hw == full.source_hw
    assert np.abs(loaded.work - full.work).mean() < 0.02


def test_calibration_and_feedback_options_reach_the_stylizer(tmp_path, random_decoder_file):
    src = tmp_path / "in"
    save_rgb(src / "a.png", 64, 48)
    args = ["--style", STYLE, "--decoder", random_decoder_file, "--size", "64"]
    images = {}
    for name, extra in {"default": [], "off": ["--no-calibrate"], "feedback": ["--feedback", "1"]}.items():
        assert run_cli("folder", src, tmp_path / name, *args, *extra).exit_code == 0
        images[name] = np.asarray(Image.open(tmp_path / name / "a.png"), dtype=float)
    assert np.abs(images["default"] - images["off"]).mean() > 1
    assert np.abs(images["default"] - images["feedback"]).mean() > 1
    assert run_cli("folder", src, tmp_path / "bad", *args, "--feedback", "-1").exit_code == 2


def _tiff_with_a_tag_past_its_end(path) -> None:
    """A TIFF whose ImageDescription entry claims a million bytes (as in Pillow's fuzzed test images): Pillow
    decodes the picture and warns "Tag data larger than file. Skipping tag 270"."""
    import struct

    Image.fromarray(gradient_image(48, 32)).save(path, description="longer than four bytes")
    data = bytearray(path.read_bytes())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for k in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * k
        if struct.unpack_from("<H", data, entry)[0] == 270:
            struct.pack_into("<I", data, entry + 4, 10**6)
    path.write_bytes(bytes(data))


def test_a_library_s_warning_is_one_line_naming_the_file(tmp_path, random_decoder_file):
    """Before: Python's two lines naming Pillow's source file (``TiffImagePlugin.py:946: UserWarning: ...`` and
    the ``warnings.warn(...)`` call), not which of the images it was about, and only for the first of them."""
    src = tmp_path / "in" / "damaged.tif"
    src.parent.mkdir()
    _tiff_with_a_tag_past_its_end(src)
    _tiff_with_a_tag_past_its_end(tmp_path / "in" / "again.tif")  # the same words, about another file
    save_rgb(tmp_path / "in" / "fine.png", 20, 20)
    common = ("--style", STYLE, "--decoder", random_decoder_file, "--size", "32")
    result = run_stylize("folder", tmp_path / "in", tmp_path / "out", *common)
    assert result.returncode == 0 and (tmp_path / "out" / "damaged.tif").exists()
    said = [line for line in result.stderr.splitlines() if "Skipping tag" in line]
    assert sorted(said) == [f"warning: {tmp_path / 'in' / name}: Tag data larger than file. Skipping tag 270"
                            for name in ("again.tif", "damaged.tif")], result.stderr
    assert "UserWarning" not in result.stderr and "warnings.warn" not in result.stderr
    quiet = run_stylize("folder", tmp_path / "in", tmp_path / "out2", *common, "-q")
    assert quiet.returncode == 0 and "Skipping tag" not in quiet.stderr


def test_avif_photos_come_back_as_avif_with_their_transparency(tmp_path, random_decoder_file):
    """AVIF, as phones and the web now save: before, the walk passed over it (no output, nothing said)."""
    src = tmp_path / "in"
    src.mkdir()
    ramp = np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (32, 1))
    Image.fromarray(np.dstack([gradient_image(48, 32), ramp])).save(src / "cut.avif", quality=100)
    save_rgb(src / "photo.jpg", 48, 32)
    out = tmp_path / "out"
    result = run_cli("folder", src, out, "--style", STYLE, "--decoder", random_decoder_file, "--json", "--size", "64")
    assert result.exit_code == 0 and _summary(result)["processed"] == 2
    with Image.open(out / "cut.avif") as image:
        assert image.format == "AVIF" and image.mode == "RGBA" and image.size == (48, 32)
        assert np.abs(np.asarray(image.getchannel("A"), dtype=int) - ramp).mean() < 3
    assert run_cli("folder", src, tmp_path / "as_avif", "--style", STYLE, "--decoder", random_decoder_file,
                   "--ext", ".avif", "--size", "64").exit_code == 0
    assert Image.open(tmp_path / "as_avif" / "photo.avif").format == "AVIF"


def test_images_in_formats_it_cannot_read_are_named_in_one_line_not_passed_over_in_silence(tmp_path,
                                                                                          random_decoder_file):
    """A camera's folder: JPEGs beside JPEG XL files and a DNG (no decoder here); before, nothing said they were
    left out. Other files (notes, videos) are not images and go unmentioned."""
    src = tmp_path / "in"
    save_rgb(src / "a.jpg", 48, 32)
    for name in ("IMG_1.JXL", "IMG_2.jxl", "raw/IMG_3.dng"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(b"\x00" * 64)
    (src / "notes.txt").write_text("not an image")
    result = run_cli("folder", src, tmp_path / "out", "--style", STYLE, "--decoder", random_decoder_file, "--json",
                     "--size", "64")
    assert result.exit_code == 0 and _summary(result)["processed"] == 1
    said = [line for line in result.stderr.splitlines() if "left out" in line]
    assert len(said) == 1 and ".dng (1), .jxl (2)" in said[0] and ".txt" not in said[0], result.stderr
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["a.jpg"]


def test_libtiff_s_own_messages_stay_off_the_terminal(tmp_path, random_decoder_file):
    """An LZW TIFF whose strip is zeroed half way: libtiff printed "tempfile.tif: Using code not yet in table."
    to the terminal itself, past Python, beside the file's own error line (381 such lines for the damaged TIFFs
    among Pillow's test images)."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(gradient_image(96, 64)).save(src / "scan.tif", compression="tiff_lzw")
    data = (src / "scan.tif").read_bytes()
    (src / "scan.tif").write_bytes(data[:8] + bytes(len(data) // 2) + data[8 + len(data) // 2:])
    save_rgb(src / "fine.png", 20, 20)
    result = run_stylize("folder", src, tmp_path / "out", "--style", STYLE, "--decoder", random_decoder_file,
                         "--size", "32")
    assert result.returncode == 1 and (tmp_path / "out" / "fine.png").exists()
    assert [line for line in result.stderr.splitlines() if "scan.tif" in line] == [
        f"error: {src / 'scan.tif'}: cannot decode: decoder error -2"], result.stderr
    assert "Using code not yet in table" not in result.stderr and "tempfile.tif" not in result.stderr



def test_a_3d_cameras_mpo_files_are_walked_and_written(tmp_path):
    """Fujifilm's and Nintendo's 3D cameras write ``.MPO`` (two JPEGs, one per eye): the walk passed over them.
    The first picture is stylized (as a viewer shows it), and written back as a JPEG under its name."""
    from pipeline.jobs.folder import run_folder
    from pipeline.jobs.folder_plan import plan_folder
    from pipeline.options import FolderOptions
    from tests.helpers import Identity

    left, right = np.full((48, 64, 3), (200, 40, 40), np.uint8), np.full((48, 64, 3), (40, 40, 200), np.uint8)
    (tmp_path / "in").mkdir()
    Image.fromarray(left).save(tmp_path / "in" / "DSCF0001.MPO", "MPO", save_all=True,
                               append_images=[Image.fromarray(right)], quality=95)
    tasks, _ = plan_folder(tmp_path / "in", tmp_path / "out")
    assert run_folder(Identity(), tasks, FolderOptions(size=0, batch_size=1)).count("processed") == 1
    with Image.open(tmp_path / "out" / "DSCF0001.MPO") as out:
        assert out.size == (64, 48) and np.abs(np.asarray(out, dtype=float).mean(axis=(0, 1)) - (200, 40, 40)).max() < 3


def test_a_designers_psd_is_flattened_and_written_as_png(tmp_path):
    """Photoshop documents beside their exports: left out before (".psd" was named as a format not read), though
    Pillow reads a PSD's merged image. Written as PNG, which keeps its transparency; ``art.psd`` beside an
    ``art.png`` is ``art.psd.png``."""
    from pipeline.jobs.folder import run_folder
    from pipeline.jobs.folder_plan import plan_folder
    from pipeline.options import FolderOptions
    from tests.helpers import Identity
    from tests.media import psd

    art = np.dstack([np.full((40, 60, 3), (30, 120, 200), np.uint8), np.tile(np.linspace(0, 255, 60), (40, 1))])
    psd(tmp_path / "in" / "art.psd", art.astype(np.uint8))
    psd(tmp_path / "in" / "logo.psd", art[..., :3].astype(np.uint8))
    save_rgb(tmp_path / "in" / "art.png", 60, 40)
    tasks, _ = plan_folder(tmp_path / "in", tmp_path / "out")
    assert sorted(t.dst.name for t in tasks) == ["art.png", "art.psd.png", "logo.png"]
    assert run_folder(Identity(), tasks, FolderOptions(size=0, batch_size=1)).count("processed") == 3
    with Image.open(tmp_path / "out" / "art.psd.png") as out:
        pixels = np.asarray(out, dtype=float)
        assert out.mode == "RGBA" and out.size == (60, 40)
        assert np.abs(pixels[..., :3].mean(axis=(0, 1)) - (30, 120, 200)).max() < 2
        assert np.abs(pixels[..., 3] - art[..., 3]).max() < 2


def test_a_multi_page_tiff_comes_back_with_every_page_and_a_still_gif_as_png(tmp_path, caplog):
    """A multi-page TIFF (a scanned letter: pages of their own sizes, one with transparency) came back as its
    first page, and then as that page with a line saying so: every page is stylized now, each at its own size,
    and written as the pages of one TIFF. A still GIF is written as PNG (a stylized picture does not fit in 256
    colours); animations are ``tests/test_folder_animations.py``'s."""
    import logging

    from tests.helpers import folder_as_is

    colours = [(40 * k, 100, 200 - 40 * k) for k in range(3)]
    pages = [Image.fromarray(np.full((40 - 8 * k, 60 - 10 * k, 3), colour, np.uint8)) for k, colour in enumerate(colours)]
    pages[1].putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 50, dtype=np.uint8), (32, 1))))
    (tmp_path / "in").mkdir()
    pages[0].save(tmp_path / "in" / "letter.tif", save_all=True, append_images=pages[1:])
    pages[0].save(tmp_path / "in" / "photo.png")
    pages[1].convert("RGB").save(tmp_path / "in" / "logo.gif")
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        summary = folder_as_is(tmp_path / "in", tmp_path / "out")
    assert summary.count("processed") == 3 and caplog.records == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["letter.tif", "logo.png", "photo.png"]
    with Image.open(tmp_path / "out" / "letter.tif") as letter:
        assert letter.n_frames == 3
        for k, (page, colour) in enumerate(zip(pages, colours)):
            letter.seek(k)
            assert letter.size == page.size and letter.mode == page.mode
            assert np.abs(np.asarray(letter.convert("RGB"), dtype=float).mean(axis=(0, 1)) - colour).max() < 2
            if page.mode == "RGBA":
                assert np.abs(np.asarray(letter.getchannel("A"), int) - np.asarray(page.getchannel("A"))).max() <= 1
    with Image.open(tmp_path / "out" / "logo.png") as logo:  # the GIF's palette colours, as RGB
        assert np.abs(np.asarray(logo.convert("RGB"), dtype=float).mean(axis=(0, 1)) - colours[1]).max() < 2


def test_a_document_cut_inside_a_page_keeps_the_pages_before_and_says_so(tmp_path, caplog):
    """A multi-page TIFF cut inside its last page: as a video's frames before a damaged packet, the pages before
    it are written, and one line names the file and the page; a document whose first page does not decode fails
    in one line, nothing written."""
    import logging

    from tests.helpers import folder_as_is

    pages = [Image.fromarray(np.full((40, 60, 3), (40 * k, 100, 90), np.uint8)) for k in range(3)]
    (tmp_path / "in").mkdir()
    whole = tmp_path / "whole.tif"
    pages[0].save(whole, save_all=True, append_images=pages[1:])
    data = whole.read_bytes()
    (tmp_path / "in" / "cut.tif").write_bytes(data[:len(data) - 3000])
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        summary = folder_as_is(tmp_path / "in", tmp_path / "out")
    (result,) = summary.results
    assert result.status == "processed" and result.reason.startswith("page 3 of 3 does not decode ("), result
    assert result.reason.endswith("; the 2 before it are written")
    assert [r.getMessage() for r in caplog.records] == [f"{tmp_path / 'in' / 'cut.tif'}: {result.reason}"]
    with Image.open(tmp_path / "out" / "cut.tif") as out:
        assert out.n_frames == 2
    (tmp_path / "in" / "cut.tif").write_bytes(data[:3000])  # inside the first page
    summary = folder_as_is(tmp_path / "in", tmp_path / "first")
    assert summary.count("failed") == 1 and not (tmp_path / "first").exists(), summary.results


def test_a_tiff_page_without_a_size_is_one_line(tmp_path):
    """A page whose IFD lost its width (Pillow's fuzzed ``crash-2020-10-test.tif``): Pillow raises TypeError, even
    while counting the pages, which came out as a traceback. One line now."""
    from tests import media
    from tests.helpers import folder_as_is

    (tmp_path / "in").mkdir()
    pages = [np.full((40, 60, 3), (40 * k, 100, 90), np.uint8) for k in range(3)]
    media.tiff_without_a_size(tmp_path / "in" / "fuzzed.tif", pages, page=1)
    (result,) = folder_as_is(tmp_path / "in", tmp_path / "out").results
    assert (result.status, result.reason) == ("failed", "cannot decode: Missing dimensions")
