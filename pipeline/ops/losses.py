"""Feature-space losses shared by training, Gatys optimisation and the metrics."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from pipeline.ops.adain import calc_mean_std


def style_stat_mse(output_feats: Sequence[torch.Tensor], style_feats: Sequence[torch.Tensor]) -> torch.Tensor:
    """AdaIN training style loss: sum over layers of MSE between channel means plus between stds."""
    loss = output_feats[0].new_zeros(())
    for out, sty in zip(output_feats, style_feats):
        (om, os_), (sm, ss) = calc_mean_std(out), calc_mean_std(sty)
        loss = loss + F.mse_loss(om, sm) + F.mse_loss(os_, ss)
    return loss


def style_stat_distance(output_feats: Sequence[torch.Tensor], style_feats: Sequence[torch.Tensor]) -> torch.Tensor:
    """AdaIN-protocol style loss per sample: sum over layers of the L2 distances between channel means and
    between channel standard deviations (Huang & Belongie 2017, eq. 12). Shape (N,)."""
    total = output_feats[0].new_zeros(output_feats[0].shape[0])
    for out, sty in zip(output_feats, style_feats):
        (om, os_), (sm, ss) = calc_mean_std(out.float()), calc_mean_std(sty.float())
        total = total + (om - sm).flatten(1).norm(dim=1) + (os_ - ss).flatten(1).norm(dim=1)
    return total


def gram_matrix(feat: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) Gram matrix normalised by the number of positions."""
    n, c, h, w = feat.shape
    flat = feat.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)
