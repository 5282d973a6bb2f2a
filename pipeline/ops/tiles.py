"""Run a size-changing function over overlapping tiles and stitch the tile interiors back together."""

from __future__ import annotations

from collections.abc import Callable

import torch


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def tiled_apply(x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], tile: int, overlap: int,
                scale: float, out_channels: int, align: int = 1) -> torch.Tensor:
    """Apply ``fn`` (which maps (N, C, h, w) to (N, out_channels, h*scale, w*scale)) tile by tile.

    Tiles of ``tile`` input pixels overlap by ``overlap`` on each side; each output pixel is taken from the
    tile in which it lies furthest from a tile border, so the seams see the same context as the whole
    image would (given enough overlap for the receptive field). ``tile``, ``overlap`` and tile starts are
    multiples of ``align`` so that strided layers line up with the untiled computation.
    """
    n, _, h, w = x.shape
    step = max(align, (tile - 2 * overlap) // align * align)
    out = x.new_zeros(n, out_channels, round(h * scale), round(w * scale))
    ys, xs = _starts(h, tile, step), _starts(w, tile, step)
    ys = [y // align * align for y in ys]
    xs = [x0 // align * align for x0 in xs]
    for i, y0 in enumerate(ys):
        for j, x0 in enumerate(xs):
            y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
            result = fn(x[:, :, y0:y1, x0:x1])
            # Interior of this tile: half-way into the overlap with each neighbour.
            top = y0 if i == 0 else (ys[i - 1] + tile + y0) // 2 // align * align
            left = x0 if j == 0 else (xs[j - 1] + tile + x0) // 2 // align * align
            bottom = y1 if i == len(ys) - 1 else (y0 + tile + ys[i + 1]) // 2 // align * align
            right = x1 if j == len(xs) - 1 else (x0 + tile + xs[j + 1]) // 2 // align * align
            oy, ox = round((top - y0) * scale), round((left - x0) * scale)
            out[:, :, round(top * scale):round(bottom * scale), round(left * scale):round(right * scale)] = \
                result[:, :, oy:oy + round((bottom - top) * scale), ox:ox + round((right - left) * scale)]
    return out
