"""Contact sheets (``--contact-sheet PATH``): one image showing a finished job at a glance.

At the top the style thumbnails under a title line; below, per item, the source and the result side by side
with a label: the file name (``stylize folder``), or for each video a few frames sampled evenly over the
result, read back after the job from the finished output and from the source at the same time (decoded with
``io/decode.py``), labelled with their time. A sheet is at most ``MAX_WIDTH`` px wide whatever the count: a
large folder is shown as an even sample and the title says how many of how many. Drawn with Pillow (its
default font); PNG or JPEG by the suffix, written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.io.images import atomic_write

TILE = 200  # the box a source or result thumbnail is fitted into (px)
GAP = 8  # space around tiles
LINE = 16  # one line of the default font
STYLE_TILE = 120  # the box of a style thumbnail
MAX_WIDTH = 2000
CELL_W = 2 * TILE + 3 * GAP  # a pair: gap, source, gap, result, gap
CELL_H = GAP + TILE + LINE + GAP  # tiles, then their label
HEADER_H = GAP + LINE + GAP + STYLE_TILE + LINE + GAP  # title, style thumbnails with their names
MAX_COLUMNS = MAX_WIDTH // CELL_W
MAX_ITEMS = 60  # pairs shown from a folder (an even sample past that)
BACKGROUND, INK = (255, 255, 255), (20, 20, 20)


@dataclass
class Pair:
    label: str
    source: Image.Image
    result: Image.Image


@dataclass
class Section:
    """A run of pairs, under a title line when ``title`` is given (one per video)."""

    title: str | None
    pairs: list[Pair]


def even_sample(count: int, at_most: int) -> list[int]:
    """``min(count, at_most)`` indices spread evenly over ``range(count)``, first and last included."""
    if count <= at_most:
        return list(range(count))
    if at_most == 1:
        return [0]
    return sorted({round(i * (count - 1) / (at_most - 1)) for i in range(at_most)})


def grid(count: int) -> tuple[int, int]:
    """(columns, rows) for ``count`` pairs: as few rows as ``MAX_COLUMNS`` allows, then as few columns as
    those rows need (6 pairs: 3 x 2, not 4 + 2)."""
    rows = max(1, math.ceil(count / MAX_COLUMNS))
    return max(1, math.ceil(count / rows)), rows


def sheet_size(sections: Sequence[Section]) -> tuple[int, int]:
    """(width, height) of the sheet for ``sections``."""
    columns = max((grid(len(s.pairs))[0] for s in sections), default=1)
    height = HEADER_H + sum((LINE + GAP if s.title else 0) + grid(len(s.pairs))[1] * CELL_H for s in sections)
    return columns * CELL_W, height


def tile_origin(section_top: int, index: int, columns: int, result: bool = False) -> tuple[int, int]:
    """Top-left corner of pair ``index``'s source (or result) tile box in a section whose pairs start at
    ``section_top``."""
    row, col = divmod(index, columns)
    return col * CELL_W + GAP + (TILE + GAP if result else 0), section_top + row * CELL_H + GAP


def fitted_size(width: int, height: int, box: int) -> tuple[int, int]:
    """(width, height) of an image fitted into ``box`` x ``box``, aspect kept (small frames are enlarged, so
    every tile of a sheet is the same size)."""
    scale = box / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def thumbnail(image: Image.Image, box: int) -> Image.Image:
    """``image`` fitted into ``box`` x ``box`` (``fitted_size``), RGB."""
    size = fitted_size(image.width, image.height, box)
    image = image.convert("RGB")
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def from_array(rgb: np.ndarray) -> Image.Image:
    """An (H, W, 3) uint8 or float [0, 1] array as a PIL image."""
    if rgb.dtype != np.uint8:
        rgb = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(rgb)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at 13 px (Pillow 10.1 on; before it, its fixed bitmap font)."""
    try:
        return ImageFont.load_default(size=13)
    except TypeError:
        return ImageFont.load_default()


def _fit_text(draw: ImageDraw.ImageDraw, text: str, width: int) -> str:
    """``text``, cut at the front with an ellipsis until it fits ``width`` px (the end of a path says most)."""
    if draw.textlength(text) <= width:
        return text
    while text and draw.textlength("..." + text) > width:
        text = text[1:]
    return "..." + text


def _paste_centred(sheet: Image.Image, image: Image.Image, origin: tuple[int, int], box: int) -> None:
    x, y = origin
    sheet.paste(image, (x + (box - image.width) // 2, y + (box - image.height) // 2))


def _header(sheet: Image.Image, draw: ImageDraw.ImageDraw, title: str, styles: Sequence[tuple[str, Image.Image]]):
    draw.text((GAP, GAP), _fit_text(draw, title, sheet.width - 2 * GAP), fill=INK)
    top = GAP + LINE + GAP
    fits = max(1, (sheet.width - GAP) // (STYLE_TILE + GAP))
    for i, (name, image) in enumerate(list(styles)[:fits]):
        x = GAP + i * (STYLE_TILE + GAP)
        _paste_centred(sheet, thumbnail(image, STYLE_TILE), (x, top), STYLE_TILE)
        draw.text((x, top + STYLE_TILE + 2), _fit_text(draw, name, STYLE_TILE), fill=INK)


def draw_sheet(title: str, styles: Sequence[tuple[str, Image.Image]], sections: Sequence[Section]) -> Image.Image:
    """The sheet: ``title`` and the ``styles`` (name, image) at the top, then each section's pairs."""
    width, height = sheet_size(sections)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    draw.font = _font()
    _header(sheet, draw, title, styles)
    columns = width // CELL_W
    top = HEADER_H
    for section in sections:
        if section.title:
            draw.text((GAP, top), _fit_text(draw, section.title, width - 2 * GAP), fill=INK)
            top += LINE + GAP
        for i, pair in enumerate(section.pairs):
            for result, image in ((False, pair.source), (True, pair.result)):
                _paste_centred(sheet, thumbnail(image, TILE), tile_origin(top, i, columns, result), TILE)
            x, y = tile_origin(top, i, columns)
            draw.text((x, y + TILE + 2), _fit_text(draw, pair.label, CELL_W - 2 * GAP), fill=INK)
        top += grid(len(section.pairs))[1] * CELL_H
    return sheet


def save_sheet(sheet: Image.Image, path: Path) -> None:
    """Write ``sheet`` atomically as PNG or JPEG, by ``path``'s suffix (checked by the options)."""
    fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    options = {"quality": 90} if fmt == "JPEG" else {}
    atomic_write(path, lambda tmp: sheet.save(tmp, format=fmt, **options))
