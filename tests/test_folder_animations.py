"""Animations in a folder (GIF, APNG, animated WebP and AVIF) come back as animations in their own format, every
frame stylized by the video job with its duration and the loop count kept (``jobs/folder_animations.py``);
before, each came back as its first frame, written as a still."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from tests import media
from tests.conftest import SAMPLES
from tests.helpers import folder_as_is, run_cli
from tests.media import played
from tests.videos import moving_frames

DURATIONS = [100, 200, 50, 300, 100, 70]  # ms; GIF stores hundredths
SIZE = (33, 25)  # odd sides: no padding may show


@pytest.fixture()
def animations(tmp_path):
    """A folder of the four animated formats (an APNG under ``.png``, as most are named), a still GIF and a
    photo."""
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    media.animation(root / "moving.gif", DURATIONS, SIZE, loop=3)
    media.animation(root / "sub" / "banner.png", DURATIONS, SIZE, loop=2)
    media.animation(root / "spin.apng", DURATIONS, SIZE, loop=1, format="PNG")
    media.animation(root / "sticker.webp", DURATIONS, SIZE, loop=0, lossless=True)
    media.animation(root / "clip.avif", DURATIONS, SIZE, loop=0, quality=100, subsampling="4:4:4")
    Image.fromarray(moving_frames(1, *SIZE)[0]).save(root / "logo.gif")
    Image.fromarray(moving_frames(1, *SIZE)[0]).save(root / "photo.jpg", quality=95)
    return root


def test_a_folders_animations_come_back_animated_in_their_own_format(animations, tmp_path):
    out = tmp_path / "out"
    summary = folder_as_is(animations, out)
    assert summary.count("processed") == 7 and summary.count("failed") == 0, summary.results
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "clip.avif", "logo.png", "moving.gif", "photo.jpg", "spin.apng", "sticker.webp", "sub/banner.png"]
    loops = {"moving.gif": 3, "sub/banner.png": 2, "spin.apng": 1, "sticker.webp": 0, "clip.avif": None}  # AVIF: none
    for name, loop in loops.items():
        durations, looped, images = played(out / name)
        assert durations == DURATIONS and looped == loop, name
        assert max(np.abs(a.astype(int) - b).mean() for a, b in zip(images, moving_frames(6, *SIZE))) < 4, name
    assert played(out / "logo.png")[0] == [0]  # a still GIF stays a still, as PNG


def test_an_ext_that_holds_an_animation_keeps_it_one_that_does_not_is_said(animations, tmp_path, caplog):
    """``--ext .webp``: the GIF and the APNG become animated WebPs. ``--ext .jpg``: each animation's first
    frame, with one line naming the file; a multi-page TIFF's pages are said the same way."""
    summary = folder_as_is(animations, tmp_path / "webp", ext=".webp")
    assert summary.count("processed") == 7, summary.results
    for name in ("moving.webp", "sub/banner.webp", "spin.webp", "clip.webp"):
        assert played(tmp_path / "webp" / name)[0] == DURATIONS, name
    pages = [Image.fromarray(f) for f in moving_frames(3, *SIZE)]
    pages[0].save(animations / "letter.tif", save_all=True, append_images=pages[1:])
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        assert folder_as_is(animations, tmp_path / "jpg", ext=".jpg").count("processed") == 8
    said = sorted(r.getMessage() for r in caplog.records if "first" in r.getMessage())
    assert said == sorted([f"{animations / name}: an animation of 6 frames: the first is written, as --ext .jpg "
                           "holds one (leave --ext out to keep every frame)"
                           for name in ("clip.avif", "moving.gif", "spin.apng", "sticker.webp", "sub/banner.png")]
                          + [f"{animations / 'letter.tif'}: a document of 3 pages: the first is written, as --ext .jpg "
                             "holds one (leave --ext out to keep every page)"])
    assert played(tmp_path / "jpg" / "moving.jpg")[0] == [0]


def test_an_animation_whose_later_frames_do_not_decode_keeps_its_first(tmp_path, caplog):
    """A GIF whose frames after the first have no colour table (Pillow's ``no_palette_after_rgb.gif``): FFmpeg
    decodes the first alone, and the segment of the frames after it held none. The run failed with "segments
    missing ... run again with --resume", which could never help; the frames that decode are written, said."""
    src = tmp_path / "in"
    src.mkdir()
    media.gif_without_palettes(src / "faded.gif", moving_frames(4, *SIZE), delay_cs=500)  # 5 s each: 2 segments
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        summary = folder_as_is(src, tmp_path / "out")
    assert summary.count("processed") == 1, summary.results
    durations, _, images = played(tmp_path / "out" / "faded.gif")
    assert len(images) == 1 and np.abs(images[0].astype(int) - moving_frames(1, *SIZE)[0]).mean() < 4
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith(f"{src / 'faded.gif'}: 3 damaged video packets did not decode")


def test_an_animation_follows_its_own_mask(tmp_path):
    """``--mask masks/`` in a folder: an animation's mask is found beside the stills' (``masks/moving.png`` for
    ``moving.webp``) and each of its frames is stylized as a still of that frame is. Before, the animation was
    its first frame; read as a video now, it took the run's mask folder as its mask and failed."""
    root = tmp_path / "in"
    root.mkdir()
    frames = moving_frames(4, 64, 48)
    media.animation(root / "moving.webp", [100] * 4, (64, 48), loop=0, lossless=True)
    Image.fromarray(frames[0]).save(root / "first.png")
    (tmp_path / "masks").mkdir()
    left = np.zeros((48, 64), np.uint8)
    left[:, :32] = 255
    for name in ("moving.png", "first.png"):
        Image.fromarray(left).save(tmp_path / "masks" / name)
    result = run_cli("folder", root, tmp_path / "out", "-s", SAMPLES / "style" / "stained_glass.png", "--mask",
                     tmp_path / "masks", "-s", SAMPLES / "style" / "starry_night.jpg", "--size", "64",
                     "--temporal", "off", "--mask-feather", "0")
    assert result.exit_code == 0, result.stderr
    _, _, images = played(tmp_path / "out" / "moving.webp")
    still = np.asarray(Image.open(tmp_path / "out" / "first.png").convert("RGB"), dtype=float)
    assert len(images) == 4
    halves = [np.abs(images[0][:, half] - still[:, half]).mean() for half in (slice(0, 28), slice(36, 64))]
    swapped = np.abs(images[0][:, :28] - still[:, 36:]).mean()  # the two styles' regions against each other
    assert max(halves) < swapped / 3, (halves, swapped)


def test_an_apng_whose_animation_is_broken_is_written_as_its_picture(tmp_path, caplog):
    """An APNG whose later frames lost their data (Pillow's ``chunk_no_fdat.png``): neither FFmpeg nor Pillow
    reads its animation, and it failed; a viewer without APNG shows its picture, which is written as a still now,
    said in one line."""
    src = tmp_path / "in"
    src.mkdir()
    frames = moving_frames(3, *SIZE)
    media.apng_without_frame_data(src / "broken.png", frames)
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        summary = folder_as_is(src, tmp_path / "out")
    assert summary.count("processed") == 1, summary.results
    durations, _, images = played(tmp_path / "out" / "broken.png")
    assert len(images) == 1 and np.abs(images[0].astype(int) - frames[0]).mean() < 1
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and said[0].startswith(f"{src / 'broken.png'}: its animation cannot be read (")
    assert said[0].endswith("): its first picture is written as a still")


def test_what_a_killed_run_left_of_an_animation_is_removed(animations, tmp_path):
    """An animation is written through the video job's work folder and a temporary joined file: a run killed
    while writing one left them in the output tree for good. The next run removes them, as it removes a still's
    ``.part`` file, and nothing else."""
    from pipeline.jobs.folder_plan import plan_folder, remove_stray_parts

    out = tmp_path / "out"
    (out / ".moving.gif.parts").mkdir(parents=True)
    (out / ".moving.gif.parts" / "segment_000000.mp4").write_bytes(b"half a segment")
    (out / ".moving.tmp.gif").write_bytes(b"half a GIF")
    (out / ".photo.tmp.jpg").write_bytes(b"not ours")  # a still is never written under that name
    tasks, _ = plan_folder(animations, out)
    assert remove_stray_parts(tasks) == 2
    assert sorted(p.name for p in out.iterdir()) == [".photo.tmp.jpg"]
