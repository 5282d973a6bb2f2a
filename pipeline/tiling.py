"""Running the networks within memory: large frames in overlapping tiles, and on running out of memory, half
the batch, down to one frame, which then goes in tiles.

Only the networks run per tile; what AdaIN needs (the content statistics, the feedback statistics) is
computed on whole frames by the caller, so tiles give the whole frame's result up to seams far below an
8-bit step (docs/BENCHMARKS.md, "Tiles").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from pipeline.ops.resize import MULTIPLE
from pipeline.ops.tiles import tile_shape, tiled_apply
from pipeline.options import TILE_OVERLAP

OOM_TILE = 1024  # tile side used when even one frame does not fit in memory
CPU_TILE_ABOVE = 600_000  # CPU frames past this many pixels go in tiles of at most CPU_TILE_AREA pixels:
CPU_TILE_AREA = 512 * 512  # smaller and faster there (docs/BENCHMARKS.md, "Tiles")
RELU4_1_CHANNELS = 512
Tile = tuple[int, int]  # (height, width) of a tile in image pixels


@dataclass(frozen=True)
class Tiling:
    """When and how frames on ``device`` are split: past ``side`` pixels on a side (``--tile``; 0: only on
    the CPU past ``CPU_TILE_ABOVE`` pixels, and when out of memory)."""

    device: torch.device
    side: int = 0

    def tile_for(self, h: int, w: int) -> Tile | None:
        """The tile shape for (padded) frames of ``h`` x ``w``, or None to run them whole."""
        if self.side:
            if max(h, w) <= self.side:
                return None
            return tile_shape(h, w, self.side**2, TILE_OVERLAP, MULTIPLE, self.side)
        if self.device.type == "cpu" and h * w > CPU_TILE_ABOVE:
            return tile_shape(h, w, CPU_TILE_AREA, TILE_OVERLAP, MULTIPLE)
        return None

    def run(self, stage: Callable[..., torch.Tensor], tile: Tile | None,
            *tensors: torch.Tensor | None) -> torch.Tensor:
        """``stage(tile, *tensors)`` on rows of the batch (``tensors`` share their first dimension; None
        entries pass through): frame by frame in tiles when ``tile`` is given, else on the whole batch, and
        out of memory on each half in turn, down to a single frame in tiles."""
        n = tensors[0].shape[0]
        rows = lambda i, j: [t if t is None else t[i:j] for t in tensors]  # noqa: E731
        if tile is not None:
            return torch.cat([stage(tile, *rows(i, i + 1)) for i in range(n)])
        try:
            return stage(None, *tensors)
        except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
            if not is_too_large(exc):
                raise
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        if n > 1:
            return torch.cat([self.run(stage, None, *rows(0, n // 2)), self.run(stage, None, *rows(n // 2, n))])
        h, w = tensors[0].shape[-2:]
        side = min(self.side or OOM_TILE, max(h, w) // 2 + TILE_OVERLAP)
        return stage(tile_shape(h, w, side * side, TILE_OVERLAP, MULTIPLE, side), *tensors)


def encode_in_tiles(encode: Callable[[torch.Tensor], torch.Tensor], padded: torch.Tensor,
                    tile: Tile | None) -> torch.Tensor:
    """relu4_1 features (float) of ``padded`` images whose sides divide by 8, whole or in ``tile``s."""
    if tile is None:
        return encode(padded).float()
    return tiled_apply(padded, lambda t: encode(t).float(), tile, TILE_OVERLAP, 1 / MULTIPLE, RELU4_1_CHANNELS,
                       align=MULTIPLE)


def render_in_tiles(render: Callable[[torch.Tensor], torch.Tensor], target: torch.Tensor,
                    tile: Tile | None) -> torch.Tensor:
    """Images decoded from relu4_1 ``target`` features, whole or in tiles of ``tile`` image pixels."""
    if tile is None:
        return render(target)
    feature_tile = (tile[0] // MULTIPLE, tile[1] // MULTIPLE)
    return tiled_apply(target, render, feature_tile, TILE_OVERLAP // MULTIPLE, MULTIPLE, 3)


def is_too_large(exc: BaseException) -> bool:
    """Out of memory, or a tensor past 32-bit indexing: both are cured by a smaller batch or tiles."""
    text = str(exc).lower()
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in text or \
        "can't allocate memory" in text or "32-bit index" in text
