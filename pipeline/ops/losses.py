"""Feature-space losses shared by training, Gatys optimisation and the metrics."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from pipeline.ops.adain import calc_mean_std

# Per-layer (mean, std) channel statistics, each shaped (N, C, 1, 1).
LayerStats = Sequence[tuple[torch.Tensor, torch.Tensor]]


def channel_stats(feats: Sequence[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Channel means and stds of each layer's features, in fp32 (bf16 statistics of raw Caffe features
    in the hundreds would be off by whole units)."""
    return [calc_mean_std(f.float()) for f in feats]


def stats_mse(output_feats: Sequence[torch.Tensor], targets: LayerStats) -> torch.Tensor:
    """AdaIN training style loss: sum over layers of MSE between channel means plus between stds."""
    loss = output_feats[0].new_zeros((), dtype=torch.float32)
    for (om, os_), (tm, ts) in zip(channel_stats(output_feats), targets):
        loss = loss + F.mse_loss(om, tm) + F.mse_loss(os_, ts)
    return loss


def stats_distance_terms(output_feats: Sequence[torch.Tensor], targets: LayerStats) -> torch.Tensor:
    """The terms of :func:`stats_distance`: the L2 distance between channel means and between channel stds
    of each layer, shaped (N, layers, 2); the evaluation reports them to show where the loss left sits."""
    terms = [torch.stack(((om - tm).flatten(1).norm(dim=1), (os_ - ts).flatten(1).norm(dim=1)), dim=1)
             for (om, os_), (tm, ts) in zip(channel_stats(output_feats), targets)]
    return torch.stack(terms, dim=1)


def stats_distance(output_feats: Sequence[torch.Tensor], targets: LayerStats) -> torch.Tensor:
    """AdaIN-protocol style loss per sample: sum over layers of the L2 distances between channel means and
    between channel standard deviations (Huang & Belongie 2017, eq. 12). Shape (N,)."""
    return stats_distance_terms(output_feats, targets).sum(dim=(1, 2))


def gram_matrix(feat: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) Gram matrix normalised by the number of positions."""
    n, c, h, w = feat.shape
    flat = feat.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)
