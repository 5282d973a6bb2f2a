"""Masks, one per style, turned into the regions ``ops/regions.adain_regions`` takes.

Each masked style owns its (feathered) mask; where masks overlap past 1 they are scaled down to sum to 1,
and what they leave goes to the styles without a mask, mixed by their weights, or, when every style has a
mask, keeps the source. A fixed K = S + 1 regions (one per style, then the rest) lets a batch mix items
whose masks differ (a missing mask in a folder): a region with a zero mask contributes nothing.
"""

from __future__ import annotations

import torch


def style_regions(style_masks: torch.Tensor, masked: torch.Tensor,
                  weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, S, H, W) masks in [0, 1] (ignored where ``masked`` (N, S) is False), the styles' (S,) weights ->
    region masks (N, S + 1, H, W) summing to at most 1 and region style weights (N, S + 1, S), no row zero."""
    n, s = masked.shape
    own = style_masks.float() * masked[..., None, None].to(style_masks.device, torch.float32)
    own = own / own.sum(1, keepdim=True).clamp_min(1.0)  # overlaps past 1 normalised
    shares = weights.to(own.device, torch.float32).expand(n, s) * (~masked).to(own.device)
    has_rest = shares.sum(-1) > 0
    rest = (1 - own.sum(1, keepdim=True)).clamp_min(0) * has_rest[:, None, None, None]
    rest_weights = torch.where(has_rest[:, None], shares, torch.ones_like(shares))
    eye = torch.eye(s, device=own.device).expand(n, s, s)
    return torch.cat([own, rest], 1), torch.cat([eye, rest_weights[:, None]], 1)


def default_feather(hw: tuple[int, int]) -> float:
    """The seam's blur radius at work size ``hw``: 1/64 of the long side (8 px at 512), at least 1 px. The
    features are at 1/8 of the size, so the decoder blends the styles over about 8 px anyway."""
    return max(1.0, max(hw) / 64)
