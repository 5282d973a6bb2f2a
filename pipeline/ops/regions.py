"""AdaIN by region and over time: per-frame, per-region style statistics applied in feature space.

The AdaIN paper's spatial control: the content statistics are taken inside each region, each region is
renormalised to its own style's statistics, and the regions are blended by their masks before decoding, so
the decoder sees one feature map and draws no seam. What no mask covers keeps the content's features (and,
after decoding, the source's pixels: ``composite``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeline.ops.adain import EPS, adain_stats, calc_mean_std

MIN_AREA = 1e-3  # a region covering less than this share of a frame takes the frame's own statistics


def masked_mean_std(feat: torch.Tensor, weight: torch.Tensor,
                    eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of (N, C, h, w) ``feat`` weighted by ``weight`` (N, 1, h, w) >= 0, each
    (N, C, 1, 1). A frame whose weight is (nearly) empty gets its unweighted statistics: the region is absent
    there, so whatever it would be normalised by does not show."""
    total = weight.sum((2, 3), keepdim=True)
    mean = (feat * weight).sum((2, 3), keepdim=True) / total.clamp_min(eps)
    var = ((feat - mean).pow(2) * weight).sum((2, 3), keepdim=True) / total.clamp_min(eps)
    plain_mean, plain_std = calc_mean_std(feat, eps)
    empty = total < MIN_AREA * feat.shape[-1] * feat.shape[-2]
    return torch.where(empty, plain_mean, mean), torch.where(empty, plain_std, (var + eps).sqrt())


def to_feature_size(masks: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """(N, K, H, W) masks at image size averaged down to the features' (h, w) (area: a grey edge stays grey)."""
    if tuple(masks.shape[-2:]) == tuple(hw):
        return masks
    return F.adaptive_avg_pool2d(masks, hw) if masks.shape[-2] >= hw[0] else F.interpolate(
        masks, size=hw, mode="bilinear", align_corners=False)


def adain_regions(feat: torch.Tensor, means: torch.Tensor, stds: torch.Tensor, masks: torch.Tensor | None = None,
                  alpha: torch.Tensor | None = None,
                  content_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """AdaIN of (N, C, h, w) ``feat`` region by region: region k of frame n renormalised to ``means[n, k]``,
    ``stds[n, k]`` (each (N, K, C, 1, 1)), blended by ``masks`` (N, K, H, W) in [0, 1] whose sum over K is at
    most 1 (any size; None: one region, the whole frame); what the masks leave keeps ``feat``. ``alpha`` (N,):
    per-frame content-style trade-off. ``content_stats`` replaces the content statistics of a frame-wide
    region (smoothed over time for video); regions under a mask always take their own."""
    n, k = means.shape[:2]
    if masks is None:
        out = adain_stats(feat, means[:, 0], stds[:, 0], content_stats)
    else:
        masks = to_feature_size(masks.to(feat.dtype), tuple(feat.shape[-2:]))
        out = feat * (1 - masks.sum(1, keepdim=True)).clamp_min(0)
        for i in range(k):
            weight = masks[:, i:i + 1]
            stats = masked_mean_std(feat, weight)
            out = out + weight * adain_stats(feat, means[:, i], stds[:, i], stats)
    if alpha is not None:
        out = torch.lerp(feat, out, alpha.to(feat.dtype).reshape(n, 1, 1, 1))
    return out


def composite(stylized: torch.Tensor, source: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``stylized`` (N, 3, H, W) where the (N, K, H', W') ``masks`` cover the frame, ``source`` where they
    leave it: the pixels a region without a style keeps exactly."""
    cover = masks.sum(1, keepdim=True).clamp(0, 1)
    if tuple(cover.shape[-2:]) != tuple(stylized.shape[-2:]):
        cover = F.interpolate(cover, size=stylized.shape[-2:], mode="bilinear", align_corners=False)
    return torch.lerp(source.to(stylized.dtype), stylized, cover.to(stylized.dtype))
