"""Run a size-changing function over overlapping tiles and stitch the tile interiors back together."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def _split(length: int, parts: int, overlap: int, align: int) -> int:
    """The side of ``parts`` equal tiles that cover ``length`` with ``2 * overlap`` between neighbours."""
    side = math.ceil((length + (parts - 1) * 2 * overlap) / parts)
    return min(length, -(-side // align) * align)


@functools.lru_cache(maxsize=64)
def tile_shape(h: int, w: int, max_area: int, overlap: int, align: int = 1,
               max_side: int | None = None) -> tuple[int, int]:
    """The (height, width) of the tiles that cover an ``h`` x ``w`` image with the fewest pixels computed,
    each tile at most ``max_area`` pixels and ``max_side`` on a side. Neighbours share ``2 * overlap``
    pixels, so small tiles recompute a lot, and equal tiles beat full ones with a sliver at the end (a
    1088x1920 frame in at most 640x640: 2x4 tiles of 640x624)."""
    smallest = 2 * overlap + align  # a tile must step forward past its overlaps
    sides = []
    for length in (h, w):
        options = []
        for parts in range(1, length // align + 1):
            side = _split(length, parts, overlap, align)
            if parts > 1 and side < smallest:
                break
            if max_side is None or side <= max_side:
                options.append((parts, side))
        sides.append(options or [(1, min(length, max(smallest, max_side or 0)))])
    fits = [(rows * cols * th * tw, rows * cols, (th, tw)) for rows, th in sides[0] for cols, tw in sides[1]
            if th * tw <= max_area]
    if not fits:  # even the smallest tiles are over the budget: take them anyway
        return sides[0][-1][1], sides[1][-1][1]
    return min(fits)[2]


def tiled_apply(x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], tile: int | tuple[int, int],
                overlap: int, scale: float, out_channels: int, align: int = 1) -> torch.Tensor:
    """Apply ``fn`` (which maps (N, C, h, w) to (N, out_channels, h*scale, w*scale)) tile by tile.

    Tiles of ``tile`` input pixels (a side, or (height, width)) overlap by ``overlap`` on each side; each
    output pixel is taken from the tile in which it lies furthest from a tile border, so the seams see the
    same context as the whole image would (given enough overlap for the receptive field). Tile sides,
    ``overlap`` and tile starts are multiples of ``align`` so that strided layers line up with the untiled
    computation.
    """
    n, _, h, w = x.shape
    th, tw = (tile, tile) if isinstance(tile, int) else tile
    ys = [y // align * align for y in _starts(h, th, max(align, (th - 2 * overlap) // align * align))]
    xs = [x0 // align * align for x0 in _starts(w, tw, max(align, (tw - 2 * overlap) // align * align))]
    out = x.new_zeros(n, out_channels, round(h * scale), round(w * scale))
    for i, y0 in enumerate(ys):
        for j, x0 in enumerate(xs):
            y1, x1 = min(h, y0 + th), min(w, x0 + tw)
            result = fn(x[:, :, y0:y1, x0:x1])
            # Interior of this tile: half-way into the overlap with each neighbour.
            top = y0 if i == 0 else (ys[i - 1] + th + y0) // 2 // align * align
            left = x0 if j == 0 else (xs[j - 1] + tw + x0) // 2 // align * align
            bottom = y1 if i == len(ys) - 1 else (y0 + th + ys[i + 1]) // 2 // align * align
            right = x1 if j == len(xs) - 1 else (x0 + tw + xs[j + 1]) // 2 // align * align
            oy, ox = round((top - y0) * scale), round((left - x0) * scale)
            out[:, :, round(top * scale):round(bottom * scale), round(left * scale):round(right * scale)] = \
                result[:, :, oy:oy + round((bottom - top) * scale), ox:ox + round((right - left) * scale)]
    return out
