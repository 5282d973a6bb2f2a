"""Resizing and padding image batches (N, 3, H, W) for the networks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

MULTIPLE = 8  # three 2x poolings between the image and relu4_1


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize (N, 3, H, W) so the longer side is ``long_side`` (never upscales; 0 keeps the size)."""
    h, w = image.shape[-2:]
    if long_side <= 0 or max(h, w) <= long_side:
        return image
    scale = long_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)


def enlarge_to_short_side(image: torch.Tensor, short_side: int) -> torch.Tensor:
    """(N, 3, H, W) scaled up, keeping its shape, until its shorter side is at least ``short_side``."""
    h, w = image.shape[-2:]
    if min(h, w) >= short_side:
        return image
    scale = short_side / min(h, w)
    size = (max(short_side, round(h * scale)), max(short_side, round(w * scale)))
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False)


def pad_to_multiple(batch: torch.Tensor, multiple: int = MULTIPLE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad the bottom/right so both sides divide by ``multiple`` and are at least ``2 * multiple``
    (relu4_1 needs 2x2 positions for a standard deviation); returns the original (H, W)."""
    h, w = batch.shape[-2:]
    return pad_bottom_right(batch, max(2 * multiple, h + (-h) % multiple) - h,
                            max(2 * multiple, w + (-w) % multiple) - w), (h, w)


def pad_to_min_side(batch: torch.Tensor, side: int) -> torch.Tensor:
    """``batch`` (N, C, H, W) padded at the bottom and right to at least ``side`` on both sides."""
    h, w = batch.shape[-2:]
    return pad_bottom_right(batch, max(0, side - h), max(0, side - w))


def pad_bottom_right(batch: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
    """``ph`` rows and ``pw`` columns more, reflected where the image is larger than what is added (the
    border then continues the picture), repeated where it is not."""
    if not (ph or pw):
        return batch
    h, w = batch.shape[-2:]
    return F.pad(batch, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
