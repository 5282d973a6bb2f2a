"""Feature-space losses shared by training, Gatys optimisation and the metrics."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from pipeline.ops.adain import calc_mean_std
from pipeline.ops.regions import MIN_AREA, to_feature_size

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


def masked_gram(feat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) features and an (N, 1, H, W) mask in [0, 1] at any size -> (N, C, C): the Gram matrix of
    the features weighted by the mask (area-averaged to (h, w)), normalised by the mask's area, so a binary
    mask gives the Gram matrix of its region alone (Gatys et al. 2017, "Controlling perceptual factors")."""
    n, c = feat.shape[:2]
    weight = to_feature_size(mask.to(feat.dtype), tuple(feat.shape[-2:])).reshape(n, 1, -1)
    flat = feat.reshape(n, c, -1)
    return (flat * weight) @ flat.transpose(1, 2) / weight.sum(-1, keepdim=True).clamp_min(1e-6)


def masked_gram_loss(feat: torch.Tensor, grams: torch.Tensor, masks: torch.Tensor,
                     norms: torch.Tensor) -> torch.Tensor:
    """Spatially controlled Gram loss of one layer: over the K regions of ``masks`` (N, K, H, W), the MSE
    between each region's ``masked_gram`` and its target ``grams[k]`` (K, C, C), divided by ``norms[k]``
    (the target's mean square: a relative error). A region absent from every frame counts nothing."""
    loss = feat.new_zeros((), dtype=torch.float32)
    for k in range(grams.shape[0]):
        mask = masks[:, k:k + 1]
        if float(mask.mean()) < MIN_AREA:
            continue
        gram = masked_gram(feat.float(), mask.float())
        loss = loss + F.mse_loss(gram, grams[k].expand_as(gram)) / norms[k]
    return loss
