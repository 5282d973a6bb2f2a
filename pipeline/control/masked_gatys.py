"""Gatys optimisation with masks: each region matched to its own styles' Gram matrices (Gatys et al. 2017,
"Controlling perceptual factors in neural style transfer", spatial control), the source kept where no mask
reaches. The masked Gram loss itself is ``ops/losses.masked_gram_loss``."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pipeline.gatys import GatysStylizer, gatys, style_targets
from pipeline.io.snapshots import current_names
from pipeline.ops.regions import composite
from pipeline.options import Init


class MaskedGatysStylizer(GatysStylizer):
    """``GatysStylizer`` that takes the region targets of masks (``stylizer.FrameTargets`` with ``masks`` and
    ``weights``); without them it is the plain one. Each style's Gram matrices are computed once."""

    def __init__(self, stylizer, opts, from_adain: bool = False) -> None:
        super().__init__(stylizer, opts, from_adain)
        one = torch.ones(1, device=self.device)
        self.style_grams = [style_targets(self.net, [s], one, self.dtype) for s in stylizer.styles]

    def region_grams(self, weights: torch.Tensor) -> list[torch.Tensor]:
        """(K, S) style weights per region -> per Gram layer the (K, C, C) region targets (mixed Grams)."""
        w = weights.float().to(self.device)
        w = w / w.sum(-1, keepdim=True)
        return [torch.einsum("ks,scd->kcd", w, torch.cat(layer)) for layer in zip(*self.style_grams)]

    def refine_regions(self, content: torch.Tensor, init: torch.Tensor, masks: torch.Tensor,
                       weights: torch.Tensor, name: str | None = None) -> torch.Tensor:
        """One image (1, 3, H, W) optimised against the masked Gram loss of its (1, K, H, W) ``masks`` with
        (K, S) region ``weights``, then composited onto the source where the masks leave it."""
        self._check_scales(content.shape[-2:])
        h, w = content.shape[-2:]
        masks = masks.to(self.device, torch.float32)
        padded, init, padded_masks = self.padded(content, init, masks)
        snaps = self.snapshots(name, tuple(padded.shape[-2:]), (h, w))
        with torch.enable_grad():
            out, _ = gatys(self.net, padded, self.region_grams(weights), self.opts, init, None, self.dtype, snaps,
                           masks=padded_masks)
        return composite(out[..., :h, :w], content, masks)

    def __call__(self, batch: torch.Tensor, names: Sequence[str] | None = None, targets=None) -> torch.Tensor:
        if targets is None or targets.masks is None or targets.weights is None:
            return super().__call__(batch, names)
        batch = batch.to(self.device, torch.float32)
        names = names if names is not None else current_names()
        names = list(names) if names is not None and len(names) == len(batch) else [None] * len(batch)
        from_adain = self.from_adain or self.opts.init == Init.ADAIN
        adain = self.stylizer(batch, targets) if from_adain else [None] * len(batch)
        return torch.cat([self.refine_regions(c[None], self.start(c[None], None if a is None else a[None]),
                                              targets.masks[i:i + 1], targets.weights[i], names[i])
                          for i, (c, a) in enumerate(zip(batch, adain))])
