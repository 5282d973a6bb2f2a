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


class _Gram(torch.autograd.Function):
    """R^T R / positions of ``rows`` R (N, positions, C), with a backward of one product, R (dG + dG^T) /
    positions, where autograd would make one per factor (the same gradient to rounding): the Gram products
    are a tenth of a Gatys evaluation on the CPU. The gradient comes back in the layout of ``rows``."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(rows)
        return torch.bmm(rows.transpose(1, 2), rows) / rows.shape[1]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (rows,) = ctx.saved_tensors
        sym = ((grad + grad.transpose(1, 2)) / rows.shape[1]).to(rows.dtype)
        if rows.stride(-1) == 1:  # channels_last features: positions-major rows
            return torch.bmm(rows, sym)
        return torch.bmm(sym, rows.transpose(1, 2)).transpose(1, 2)  # NCHW: channel-major, as the features


def gram_matrix(feat: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) Gram matrix normalised by the number of positions, in ``feat``'s dtype
    (bf16 features: bf16 products accumulated in fp32, rounded to bf16). NCHW and channels_last features
    are both read in place (no copy to one layout)."""
    n, c, h, w = feat.shape
    return _Gram.apply(feat.permute(0, 2, 3, 1).reshape(n, h * w, c))


def outside_range(image: torch.Tensor, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """Mean square distance of the pixels of ``image`` from [low, high] (0 for an image inside it): the
    penalty that keeps an optimised image where it will be clamped to, so the clamp costs no loss."""
    return (image - image.clamp(low, high)).pow(2).mean()


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
