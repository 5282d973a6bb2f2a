"""Quality metrics: AdaIN-protocol style loss, content loss, and (for video) warping error."""

from __future__ import annotations

import torch

from pipeline.models.vgg import STYLE_LAYERS, VGGEncoder


@torch.no_grad()
def style_loss(encoder: VGGEncoder, images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Per-image AdaIN-protocol style loss of ``images`` (N, 3, H, W) against one ``style`` (1, 3, h, w):
    the sum over relu1_1..relu4_1 of the L2 distances between channel means and between channel stds."""
    from pipeline.ops.losses import style_stat_distance

    out_feats = encoder(images, STYLE_LAYERS)
    style_feats = [f.expand(images.shape[0], -1, -1, -1) for f in encoder(style, STYLE_LAYERS)]
    return style_stat_distance(out_feats, style_feats)


@torch.no_grad()
def content_loss(encoder: VGGEncoder, images: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared distance between relu4_1 features of ``images`` and ``content``."""
    a, b = encoder(images, ("relu4_1",))[0], encoder(content, ("relu4_1",))[0]
    return (a - b).pow(2).flatten(1).mean(1)
