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
from pipeline.options import MIN_TILE, TILE_OVERLAP

OOM_TILE = 1024  # tile side used when even one frame does not fit in memory
RELU4_1_CHANNELS = 512
MEMORY_BUDGET_GB = 2.0  # default peak resident memory of a CPU run, in GiB (--memory-budget)
# What one frame costs at peak on the CPU, measured (docs/BENCHMARKS.md, "Tiles by memory"): the process
# itself (torch, weights, styles, decode and encode buffers), what the whole frame holds however it is split
# (input, padding, relu4_1 features, output), and the networks' working memory per pixel of what runs at
# once (whole frame or one tile; the largest of bf16, fp32 and int8 so every backend decides alike).
PROCESS_BYTES = 800 * 2**20
FRAME_BYTES_PER_PIXEL = 100
WORK_BYTES_PER_PIXEL = 1200
Tile = tuple[int, int]  # (height, width) of a tile in image pixels


@dataclass(frozen=True)
class Tiling:
    """When and how frames on ``device`` are split: past ``side`` pixels on a side (``--tile``); with 0, on
    the CPU only when a whole frame would take the run past ``budget_gb`` of peak memory (then in the
    largest tiles within it), and anywhere when out of memory. The choice depends on the frame size and
    the options alone, never on the memory in use, so every run of a job splits its frames alike."""

    device: torch.device
    side: int = 0
    budget_gb: float = MEMORY_BUDGET_GB

    def tile_for(self, h: int, w: int) -> Tile | None:
        """The tile shape for (padded) frames of ``h`` x ``w``, or None to run them whole."""
        if self.side:
            if max(h, w) <= self.side:
                return None
            return tile_shape(h, w, self.side**2, TILE_OVERLAP, MULTIPLE, self.side)
        if self.device.type == "cpu":
            area = cpu_tile_area(h, w, self.budget_gb)
            if area is not None:
                return tile_shape(h, w, area, TILE_OVERLAP, MULTIPLE)
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


def cpu_tile_area(h: int, w: int, budget_gb: float) -> int | None:
    """None when a whole ``h`` x ``w`` frame keeps a CPU run within ``budget_gb`` GiB at peak, else the
    largest tile area (pixels) that does, at least ``MIN_TILE`` squared: a budget below what the process
    needs anyway gets the smallest tiles, not an error."""
    allowance = budget_gb * 2**30 - PROCESS_BYTES - FRAME_BYTES_PER_PIXEL * h * w
    if WORK_BYTES_PER_PIXEL * h * w <= allowance:
        return None
    return max(MIN_TILE * MIN_TILE, int(allowance // WORK_BYTES_PER_PIXEL))


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
