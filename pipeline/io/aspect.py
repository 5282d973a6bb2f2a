"""Non-square pixels: DVD, DV, HDV, VCD and 3GP video store a picture whose pixels are shown wider or narrower
than tall (the sample aspect ratio). Frames are decoded to the shape they are shown in, in square pixels, so
the styles' strokes are round on screen and the output, whose pixels are square, plays at the source's shape."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np

from pipeline.io.said import once

log = logging.getLogger(__name__)

# Sample aspect ratios outside this range are damaged headers, not pictures anyone shows.
_PLAUSIBLE = (Fraction(1, 4), Fraction(4))


def pixel_aspect(stream) -> Fraction:
    """The width of the stream's pixels over their height: the container's value where it gives one, else the
    codec's (FFmpeg's order); 1 where neither does, or where the value is not plausible."""
    for sar in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if sar and sar > 0:
            sar = Fraction(sar)
            return sar if _PLAUSIBLE[0] <= sar <= _PLAUSIBLE[1] else Fraction(1)
    return Fraction(1)


def display_size(width: int, height: int, aspect: Fraction) -> tuple[int, int]:
    """A coded ``width`` x ``height`` of pixels ``aspect`` wide, in square pixels: stretched, never squeezed, so
    no detail is lost (a 16:9 DVD's 720x480 at 32:27 is 854x480, 4:3 DV's 720x480 at 8:9 is 720x540), and even
    where the coded size is, as 4:2:0 encoders need."""
    if aspect == 1:
        return width, height
    even = width % 2 == 0 and height % 2 == 0
    exact = (width * aspect, height) if aspect > 1 else (width, height / aspect)
    if even:
        return 2 * round(exact[0] / 2), 2 * round(exact[1] / 2)
    return round(exact[0]), round(exact[1])


def fit_inside(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """``size`` (width, height) scaled to fit ``box`` with its shape kept, at least a pixel each way."""
    scale = min(box[0] / size[0], box[1] / size[1])
    return max(1, min(box[0], round(size[0] * scale))), max(1, min(box[1], round(size[1] * scale)))


def letterboxed(image: np.ndarray, box: tuple[int, int]) -> np.ndarray:
    """(H, W, C) ``image`` centred in a black ``box`` (width, height) at least its size."""
    out = np.zeros((box[1], box[0], image.shape[2]), image.dtype)
    top, left = (box[1] - image.shape[0]) // 2, (box[0] - image.shape[1]) // 2
    out[top:top + image.shape[0], left:left + image.shape[1]] = image
    return out


def say_resized(path: Path, first: tuple[int, int], now: tuple[int, int], at_s: float) -> None:
    """One line, once a file, for a picture size that changes part way (an adaptive stream's switch of quality,
    a screen recording's window): later pictures are fitted into the first size, bars where the shape differs."""
    once(log, ("resized", path), "%s: its picture size changes part way (%dx%d to %dx%d near %.3f s): fitted into "
         "%dx%d, bars where the shape differs", path, *first, *now, at_s, *first)
