"""Edge-aware upsampling of a small stylized result, guided by the full-resolution source (pure tensor maths).

A plain resize of a result stylized at a small work size blurs every edge by the scale factor. A guided
filter (He et al. 2013; fitted small and applied large as in the fast guided filter, He & Sun 2015) fits,
in each small window, the result as a linear function of the grey source, ``result ~ a * grey + b``. The
full-size output is the plain resize plus ``a`` times the detail the small source lost,
``grey_full - resize(grey_small)``: where the result follows the source's edges the edges come back sharp,
in the result's colours and contrast; where the result ignores the source (``a`` near 0: flat paint, the
style's own strokes) it is the resize, strokes and colours untouched. Same sizes in and out: the identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

RADIUS = 1  # window radius of the fit, in pixels of the small image (docs/BENCHMARKS.md, "Upscaling")
EPS = 1e-4  # regularisation of the fit: source contrast below about sqrt(EPS) does not count as an edge
LUMA = (0.299, 0.587, 0.114)  # BT.601 weights: the grey guide


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean of ``x`` (N, C, H, W) over a (2r+1)^2 window at each pixel, windows cut at the borders."""
    if radius <= 0:
        return x
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def grey(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> (N, 1, H, W) luma."""
    weights = torch.tensor(LUMA, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
    return (image * weights).sum(1, keepdim=True)


def guided_gain(guide: torch.Tensor, result: torch.Tensor, radius: int = RADIUS, eps: float = EPS) -> torch.Tensor:
    """The guided filter's smoothed slope ``a`` of ``result`` (N, C, h, w) against ``guide`` (N, 1, h, w)."""
    mean_g, mean_r = box_mean(guide, radius), box_mean(result, radius)
    cov = box_mean(guide * result, radius) - mean_g * mean_r
    var = box_mean(guide * guide, radius) - mean_g * mean_g
    return box_mean(cov / (var.clamp_min(0) + eps), radius)


def guided_detail(result: torch.Tensor, source: torch.Tensor, radius: int = RADIUS, eps: float = EPS) -> torch.Tensor:
    """The source's edges in the result's colours, at the source's size: ``a * (grey_full - up(grey_small))``,
    ``a`` fitted between ``result`` (N, 3, h, w) and the grey of ``source`` (N, 3, H, W) seen at (h, w)."""
    size = tuple(source.shape[-2:])
    full = grey(source.to(result.dtype))
    small = F.interpolate(full, size=result.shape[-2:], mode="bilinear", antialias=True, align_corners=False)
    gain = guided_gain(small, result, radius, eps)
    detail = full - F.interpolate(small, size=size, mode="bicubic", align_corners=False)
    return F.interpolate(gain, size=size, mode="bilinear", align_corners=False) * detail


def guided_upsample(result: torch.Tensor, source: torch.Tensor, radius: int = RADIUS, eps: float = EPS) -> torch.Tensor:
    """``result`` (N, 3, h, w), stylized from ``source`` (N, 3, H, W) seen at (h, w), brought to (H, W) with
    the source's edges; values are not clamped. Equal sizes return ``result`` as it is."""
    size = tuple(source.shape[-2:])
    if tuple(result.shape[-2:]) == size:
        return result
    up = F.interpolate(result, size=size, mode="bicubic", align_corners=False)
    return up + guided_detail(result, source, radius, eps)


def upsample_features(feats: torch.Tensor, work_hw: tuple[int, int], source_hw: tuple[int, int],
                      grid_hw: tuple[int, int]) -> torch.Tensor:
    """relu4_1 ``feats`` (N, C, h8, w8) of an image of ``work_hw`` (padded to h8 * 8), resampled bilinearly onto
    the ``grid_hw`` feature grid of the same image at ``source_hw`` (its padded size / 8): each side scaled by
    source / work, cut or edge-extended to the grid. ``--upscale decode`` decodes these at the source size."""
    (h, w), (big_h, big_w) = work_hw, source_hw
    scaled = (max(1, round(feats.shape[-2] * big_h / h)), max(1, round(feats.shape[-1] * big_w / w)))
    out = F.interpolate(feats, size=scaled, mode="bilinear", align_corners=False)[..., :grid_hw[0], :grid_hw[1]]
    pad_h, pad_w = grid_hw[0] - out.shape[-2], grid_hw[1] - out.shape[-1]
    return F.pad(out, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else out
