"""Each style of a run encoded and calibrated once, and mixed per frame and region from there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from pipeline.options import ControlOptions
from pipeline.stylizer import FrameTargets


@dataclass(frozen=True, eq=False)
class StyleBank:
    """The S styles of a run: their images (1, 3, H, W) on the device and the decoder's calibrated inputs
    for each alone, ``mean`` and ``std`` (S, C, 1, 1) (``StyleTarget``'s ``mean + shift``, ``std * gain``).
    AdaIN is affine in the statistics, so a weighted mix of styles is the weighted mix of these rows.
    ``control``: what the run asked of them (masks, keyframes, scenes)."""

    names: tuple[str, ...]
    images: tuple[torch.Tensor, ...]
    mean: torch.Tensor
    std: torch.Tensor
    control: ControlOptions = ControlOptions()
    weights: torch.Tensor | None = None  # (S,) the run's --style-weights (masks: how unmasked styles share)

    def mix(self, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., S) non-negative weights (normalised here, each row must not sum to 0) -> the mixed
        (mean, std), each (..., C, 1, 1)."""
        w = weights.to(self.mean.device, self.mean.dtype)
        w = w / w.sum(-1, keepdim=True)
        return (torch.tensordot(w, self.mean, dims=([-1], [0])),
                torch.tensordot(w, self.std, dims=([-1], [0])))

    def targets(self, weights: torch.Tensor, masks: torch.Tensor | None = None,
                alpha: torch.Tensor | None = None) -> FrameTargets:
        """``FrameTargets`` for N frames and K regions from (N, K, S) style weights per region, (N, K, H, W)
        ``masks`` (None: K must be 1) and (N,) ``alpha``."""
        mean, std = self.mix(weights)
        return FrameTargets(mean, std, masks, alpha, weights)


class FrameControl(Protocol):
    """What decides each frame's targets (masks, a keyframe schedule, scenes). ``indices`` are the frames'
    indices in the source, ``seconds`` their presentation times (pts x time base), ``hw`` the size the
    network sees them at; the targets go to ``device``."""

    def targets(self, indices: Sequence[int], seconds: Sequence[float], hw: tuple[int, int],
                device: torch.device) -> FrameTargets: ...
