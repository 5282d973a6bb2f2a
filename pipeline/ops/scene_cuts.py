"""Scene cuts on the device: the hue/saturation histogram correlation of ``temporal/flow.py`` (``colour_hist``,
``hists_cut``) in torch, batched, so frames on a GPU need not come to the host for it.

Made as OpenCV makes it: a 64 x 64 area-resized uint8 frame, ``cv2.COLOR_RGB2HSV`` (hue in [0, 180), both
rounded to integers), 16 hue x 8 saturation bins; the histograms are compared by Pearson correlation
(``cv2.HISTCMP_CORREL``), which OpenCV's L2 normalisation does not change.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

HUE_BINS, SAT_BINS = 16, 8


def hue_sat_histograms(frames: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 128) float32 pixel counts per (hue, saturation) bin."""
    with torch.autocast(frames.device.type, enabled=False):
        small = F.interpolate(frames.float(), size=(64, 64), mode="area")
        r, g, b = (small * 255 + 0.5).floor().clamp(0, 255).unbind(1)
        value = torch.maximum(torch.maximum(r, g), b)
        spread = value - torch.minimum(torch.minimum(r, g), b)
        sat = torch.where(value > 0, 255 * spread / value.clamp(min=1) + 0.5, 0).floor()  # rounded half up
        step = 60 / spread.clamp(min=1)  # OpenCV: hue from the largest channel; 0 for greys
        hue = torch.where(value == r, (g - b) * step, torch.where(value == g, 120 + (b - r) * step,
                                                                  240 + (r - g) * step))
        hue = torch.where(spread > 0, (hue / 2 + 0.5).floor(), 0)  # 8-bit HSV: degrees / 2, rounded, then
        hue = torch.where(hue < 0, hue + 180, hue)  # wrapped into [0, 180)
        hue_bin = (hue * HUE_BINS / 180).floor().long().clamp(max=HUE_BINS - 1)
        sat_bin = (sat * SAT_BINS / 256).floor().long().clamp(max=SAT_BINS - 1)
        n = frames.shape[0]
        bins = HUE_BINS * SAT_BINS
        index = hue_bin * SAT_BINS + sat_bin + bins * torch.arange(n, device=frames.device).view(n, 1, 1)
        return torch.bincount(index.flatten(), minlength=n * bins).view(n, bins).float()


def correlations(previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row of ``previous`` with the same row of ``current``, (N, bins) -> (N,);
    1 for two identical constant rows, as OpenCV."""
    a = previous.float() - previous.float().mean(1, keepdim=True)
    b = current.float() - current.float().mean(1, keepdim=True)
    denom = (a.pow(2).sum(1) * b.pow(2).sum(1)).sqrt()
    return torch.where(denom > 0, (a * b).sum(1) / denom.clamp(min=1e-30), 1.0)
