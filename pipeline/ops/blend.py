"""Carrying a warped previous frame into a fresh one, renewed on a schedule, as pure tensor functions.

Averaging two textures that do not line up lowers their energy (a recursive blend of weight w settles at
(1-w)/(1+w) of the fresh energy) and washes the style out; a texture carried whole keeps it. So the carried
frame is kept where the flow is confident and renewed from the fresh one once a period, in staggered
patches, so no frame renews (and pops) all at once; where the content stands still the renewal fades in over
two frames. Measured: docs/TEMPORAL.md, "Flicker against style".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def refresh_phase(n: int, h: int, w: int, period: float, device, cell: int | None = None) -> torch.Tensor:
    """Each pixel's phase, a whole number in [0, ``period``), (N, 1, H, W): smooth blobs (a fixed-seed random
    grid of ``cell`` px, by default 3/8 of the long side, upsampled, spread evenly over the range), so each
    frame renews about 1/period of the picture in a few large patches instead of all of it at once. Large:
    every seam between a carried and a renewed texture puts an edge in the texture that costs style
    (docs/TEMPORAL.md, "48 frames, and the seams")."""
    cell = cell or max(8, max(h, w) * 3 // 8)
    generator = torch.Generator().manual_seed(0)
    grid = torch.rand(1, 1, max(2, h // cell + 2), max(2, w // cell + 2), generator=generator)
    smooth = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=True).flatten()
    ranks = torch.empty_like(smooth)
    ranks[smooth.argsort()] = torch.arange(smooth.numel(), dtype=smooth.dtype)
    phase = (ranks * (period / smooth.numel())).floor()  # whole frames: carried or renewed, never averaged
    return phase.view(1, 1, h, w).expand(n, -1, -1, -1).to(device)


def carry_weight(age: torch.Tensor, confidence: torch.Tensor, period: torch.Tensor | float,
                 fade: torch.Tensor | float = 1) -> torch.Tensor:
    """How much of a carried frame to keep, (N, 1, H, W): the flow's ``confidence`` while the carried texture's
    ``age`` (frames carried) is under ``period`` - ``fade``, falling over the last ``fade`` frames to 0 at
    ``period`` (the fresh frame renews it). A fade of 1 swaps the texture in one frame; a longer one spreads the
    jump over several: used where the content stands still, where a texture renewed at once is the largest
    part of the flicker left and a two-frame average of two stylizations of nearly the same content costs little
    style (docs/TEMPORAL.md, "Still content")."""
    return confidence * ((period - age) / fade).clamp(0, 1)


def next_age(age: torch.Tensor, confidence: torch.Tensor, period: torch.Tensor | float) -> torch.Tensor:
    """The carried texture's age after this frame: kept while the flow is confident (``confidence`` >= 0.5) and
    the period is not over, else 0 (renewed from the fresh frame). Not decided by the weight, which a fade
    lowers before the period ends."""
    return torch.where((confidence >= 0.5) & (age < period), age, 0.0)
