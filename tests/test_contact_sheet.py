"""Contact sheets: the grid has the expected size whatever the count, and its tiles are the job's own images
(sources and results, or video frames at their times), read back after the job."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.io.contact_sheet import (CELL_H, CELL_W, GAP, HEADER_H, LINE, MAX_ITEMS, MAX_WIDTH, TILE, Pair,
                                       Section, draw_sheet, even_sample, grid, sheet_size, tile_origin)
from pipeline.jobs.sheets import write_folder_sheet
from pipeline.report import FAILED, PROCESSED, ItemResult, Summary
from tests.conftest import SAMPLES
from tests.helpers import STYLE_PATH, gradient_image, one_error_line, psnr, run_cli
from tests.videos import make_video, read_video

PLAIN = ("--no-calibrate", "--precision", "fp32", "--device", "cpu", "--adapt", "0")


def _tile(sheet: np.ndarray, origin: tuple[int, int], image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The region of ``sheet`` where ``image`` was placed (fitted into the tile box, centred) and ``image``
    resized to it independently (OpenCV's resampling, not Pillow's)."""
    h, w = image.shape[:2]
    scale = TILE / max(h, w)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    x, y = origin[0] + (TILE - tw) // 2, origin[1] + (TILE - th) // 2
    resized = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return sheet[y:y + th, x:x + tw], resized


def test_the_grid_has_the_expected_size_and_stays_under_2000_px():
    assert [grid(n) for n in (1, 3, 6, 7, 60)] == [(1, 1), (3, 1), (3, 2), (4, 2), (4, 15)]
    assert MAX_WIDTH // CELL_W == 4
    assert even_sample(100, 60)[:3] == [0, 2, 3] and len(even_sample(100, 60)) == 60 and even_sample(3, 6) == [0, 1, 2]
    source = Image.fromarray(gradient_image(120, 80))
    result = Image.fromarray(gradient_image(120, 80, seed=1)[::-1].copy())
    sections = [Section(None, [Pair(f"{i}.jpg", source, result) for i in range(7)])]
    sheet = draw_sheet("title", [("style.png", Image.open(STYLE_PATH))], sections)
    assert sheet.size == sheet_size(sections) == (4 * CELL_W, HEADER_H + 2 * CELL_H)
    # pair 5 sits in row 1, column 1: its result tile is the result, resized
    got, want = _tile(np.asarray(sheet), tile_origin(HEADER_H, 5, 4, result=True), np.asarray(result))
    assert psnr(got, want) > 30
    titled = [Section("a", [Pair("x", source, result)] * 6), Section("b", [Pair("y", source, result)] * 2)]
    assert sheet_size(titled) == (3 * CELL_W, HEADER_H + (LINE + GAP) * 2 + 2 * CELL_H + CELL_H)


def test_a_large_folder_is_sampled_and_failed_items_are_left_out(tmp_path):
    summary = Summary("folder")
    for i in range(100):
        src, dst = tmp_path / "in" / f"{i:03d}.png", tmp_path / "out" / f"{i:03d}.png"
        for path in (src, dst):
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(gradient_image(24, 16, seed=i)).save(path)
        summary.add(ItemResult(str(src), FAILED if i % 10 == 9 else PROCESSED, output="" if i % 10 == 9 else str(dst)))
    write_folder_sheet(tmp_path / "sheet.jpg", tmp_path / "in", summary, [STYLE_PATH])
    sheet = Image.open(tmp_path / "sheet.jpg")
    assert sheet.size == (4 * CELL_W, HEADER_H + 15 * CELL_H)  # 60 of the 90 that succeeded
    assert not any(p.name.endswith(".part") for p in tmp_path.iterdir())


def test_folder_sheet_shows_each_source_beside_its_result(tmp_path):
    photos = sorted((SAMPLES / "content").glob("*.jpg"))[:2]
    (tmp_path / "in").mkdir()
    for photo in photos:
        (tmp_path / "in" / photo.name).write_bytes(photo.read_bytes())
    (tmp_path / "in" / "broken.jpg").write_text("not an image")
    result = run_cli("folder", tmp_path / "in", tmp_path / "out", "--style", STYLE_PATH, "--size", "64",
                     "--contact-sheet", tmp_path / "sheet.jpg", *PLAIN)
    assert result.exit_code == 1 and "broken.jpg" in one_error_line(result.stderr)  # the sheet is still made
    sheet = np.asarray(Image.open(tmp_path / "sheet.jpg"))
    assert sheet.shape[:2] == (HEADER_H + CELL_H, 2 * CELL_W)  # two pairs, the broken file left out
    for i, photo in enumerate(photos):  # sorted by source path
        out = np.asarray(Image.open(tmp_path / "out" / photo.name).convert("RGB"))
        assert psnr(*_tile(sheet, tile_origin(HEADER_H, i, 2, result=True), out)) > 25
        src = np.asarray(Image.open(photo).convert("RGB"))
        assert psnr(*_tile(sheet, tile_origin(HEADER_H, i, 2), src)) > 25


def test_a_sheet_suffix_other_than_png_or_jpeg_is_refused(tmp_path):
    (tmp_path / "in").mkdir()
    result = run_cli("folder", tmp_path / "in", tmp_path / "out", "--style", STYLE_PATH, "--contact-sheet",
                     tmp_path / "sheet.gif", *PLAIN)
    assert result.exit_code == 2 and "--contact-sheet" in one_error_line(result.stderr)


def test_video_sheet_shows_frames_sampled_evenly_with_their_source(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", frames=8, size=(96, 64), audio=None, lossless=True)
    out = tmp_path / "out.mp4"
    result = run_cli("video", clip, out, "--style", STYLE_PATH, "--size", "96", "--temporal", "off",
                     "--contact-sheet", tmp_path / "sheet.png", *PLAIN)
    assert result.exit_code == 0, result.stderr
    sheet = np.asarray(Image.open(tmp_path / "sheet.png"))
    top = HEADER_H + LINE + GAP  # under the video's title line
    assert sheet.shape[:2] == (top + 2 * CELL_H, 3 * CELL_W)  # 6 frames: 3 x 2
    outputs, sources = read_video(out)["images"], read_video(clip)["images"]
    for k, index in enumerate(even_sample(len(outputs), 6)):
        assert psnr(*_tile(sheet, tile_origin(top, k, 3, result=True), outputs[index])) > 30
        assert psnr(*_tile(sheet, tile_origin(top, k, 3), sources[index])) > 30


@pytest.mark.parametrize("count", [1, 13])
def test_items_map_to_cells_in_reading_order(count):
    columns, rows = grid(count)
    last = tile_origin(0, count - 1, columns)
    assert last == (((count - 1) % columns) * CELL_W + GAP, ((count - 1) // columns) * CELL_H + GAP)
    assert columns * CELL_W <= MAX_WIDTH and rows * columns >= count and MAX_ITEMS == 60
