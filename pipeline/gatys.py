"""Gatys et al. (2016) optimisation: pixels optimised against VGG Gram-matrix style and relu4_2 content losses.

Used on its own (``--method gatys``), to refine AdaIN outputs (``adain+gatys``), and for video keyframes
with Ruder et al.'s (2016) temporal loss against the flow-warped previous output. Each loss is divided by
the size of its target (relative error), so the default weights work on raw Caffe VGG features at any
resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from pipeline.device import autocast
from pipeline.options import GatysOptions, Init, Optimizer
from pipeline.models.vgg import VGGEncoder
from pipeline.ops.losses import gram_matrix

if TYPE_CHECKING:
    from pipeline.stylizer import Stylizer

GRAM_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"


def style_targets(encoder: VGGEncoder, styles: Sequence[torch.Tensor], weights: torch.Tensor,
                  dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Weighted mean of the styles' Gram matrices at each layer, each (1, C, C); computed once per run."""
    w = weights.float() / weights.sum()
    targets = None
    with torch.no_grad():
        for style, wi in zip(styles, w):
            with autocast(style.device, dtype):
                feats = encoder(style, GRAM_LAYERS)
            grams = [wi * gram_matrix(f.float()) for f in feats]
            targets = grams if targets is None else [a + b for a, b in zip(targets, grams)]
    return targets


def total_variation(image: torch.Tensor) -> torch.Tensor:
    return (image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (image[..., :, 1:] - image[..., :, :-1]).abs().mean()


class GatysLoss:
    """Weighted content + style (+ TV, + temporal) loss for one content image."""

    def __init__(self, encoder: VGGEncoder, content: torch.Tensor, grams: list[torch.Tensor], opts: GatysOptions,
                 dtype: torch.dtype = torch.float32, temporal: tuple[torch.Tensor, torch.Tensor] | None = None):
        self.encoder, self.opts, self.dtype, self.temporal = encoder, opts, dtype, temporal
        with torch.no_grad(), autocast(content.device, dtype):
            self.content_target = encoder(content, (CONTENT_LAYER,))[0].float()
        self.grams = grams
        self.gram_norms = [g.pow(2).mean() for g in grams]
        self.content_norm = self.content_target.pow(2).mean()

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        with autocast(image.device, self.dtype):
            feats = self.encoder(image, GRAM_LAYERS + (CONTENT_LAYER,))
        content = F.mse_loss(feats[-1].float(), self.content_target) / self.content_norm
        style = sum(w * F.mse_loss(gram_matrix(f.float()), g.expand(f.shape[0], -1, -1)) / n
                    for w, f, g, n in zip(self.opts.layer_weights, feats[:-1], self.grams, self.gram_norms))
        loss = self.opts.content_weight * content + self.opts.style_weight * style
        parts = {"content": content.item(), "style": style.item()}
        if self.opts.tv_weight:
            loss = loss + self.opts.tv_weight * total_variation(image)
        if self.temporal is not None:
            warped, mask = self.temporal
            temporal = (mask * (image - warped).pow(2)).sum() / mask.sum().clamp_min(1.0) / image.shape[1]
            loss = loss + self.opts.temporal_weight * temporal
            parts["temporal"] = temporal.item()
        parts["total"] = loss.item()
        return loss, parts


def _optimize_at(image: torch.Tensor, loss_fn: GatysLoss, opts: GatysOptions, iterations: int,
                 history: list[dict[str, float]]) -> torch.Tensor:
    x = image.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    if opts.optimizer == Optimizer.ADAM:
        optimizer = torch.optim.Adam([x], lr=opts.lr)
        for _ in range(iterations):
            optimizer.zero_grad(set_to_none=True)
            loss, parts = loss_fn(x)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                x.clamp_(0, 1)
            history.append(parts)
        return x.detach()
    optimizer = torch.optim.LBFGS([x], lr=1.0, max_iter=iterations, max_eval=int(iterations * 1.25),
                                  tolerance_grad=0.0, tolerance_change=0.0, history_size=50,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss, parts = loss_fn(x)
        loss.backward()
        history.append(parts)
        return loss

    optimizer.step(closure)
    return x.detach().clamp(0, 1)


def gatys(encoder: VGGEncoder, content: torch.Tensor, grams: list[torch.Tensor], opts: GatysOptions,
          init: torch.Tensor | None = None, temporal: tuple[torch.Tensor, torch.Tensor] | None = None,
          dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, list[dict[str, float]]]:
    """Optimise an image (N, 3, H, W) in [0, 1]; returns it and the per-evaluation loss history.

    ``init`` (e.g. the AdaIN output, or the warped previous frame) is the starting point; without it
    ``opts.init`` picks the content or noise. With ``opts.scales`` > 1 the image is first optimised at
    1/2^(scales-1) of the size, upsampled, and refined at each larger size.
    """
    if init is None:
        init = torch.rand_like(content) if opts.init == Init.NOISE else content
    history: list[dict[str, float]] = []
    size = content.shape[-2:]
    x = init
    per_scale = max(1, opts.iterations // opts.scales)
    for level in reversed(range(opts.scales)):
        hw = (max(16, size[0] >> level), max(16, size[1] >> level))
        c = F.interpolate(content, size=hw, mode="bilinear", antialias=True) if level else content
        x = F.interpolate(x, size=hw, mode="bilinear", align_corners=False) if x.shape[-2:] != hw else x
        t = None
        if temporal is not None and not level:
            t = temporal
        loss_fn = GatysLoss(encoder, c, grams, opts, dtype, t)
        iterations = opts.iterations - per_scale * (opts.scales - 1) if not level else per_scale
        x = _optimize_at(x, loss_fn, opts, iterations, history)
    return x, history


class GatysStylizer:
    """``--method gatys`` / ``adain+gatys``: a ``stylizer.BatchStylizer`` like the AdaIN one, each image
    optimised on its own (starting from the AdaIN output for init ``adain``, or when ``from_adain``)."""

    def __init__(self, stylizer: Stylizer, opts: GatysOptions, from_adain: bool = False) -> None:
        self.stylizer, self.opts, self.from_adain = stylizer, opts, from_adain
        self.device = stylizer.device
        # Reduced precision only on CUDA: L-BFGS line searches need fp32 gradients on the CPU's bf16 path.
        self.dtype = stylizer.dtype if self.device.type == "cuda" else torch.float32
        self.grams = style_targets(stylizer.encoder, stylizer.styles, stylizer.weights, self.dtype)

    def refine(self, content: torch.Tensor, init: torch.Tensor | None = None,
               temporal: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Optimise one image (1, 3, H, W) from ``init`` (default: per ``opts.init``)."""
        with torch.enable_grad():
            out, _ = gatys(self.stylizer.encoder, content, self.grams, self.opts, init, temporal, self.dtype)
        return out

    def reset(self) -> None:
        """Each image is optimised on its own: no state."""

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.device, torch.float32)
        starts = self.stylizer(batch) if self.from_adain or self.opts.init == Init.ADAIN else [None] * len(batch)
        return torch.cat([self.refine(c[None], None if s is None else s[None]) for c, s in zip(batch, starts)])
