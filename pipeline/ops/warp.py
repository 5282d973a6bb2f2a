"""Flow warping and occlusion masks (Ruder et al. 2016) as pure tensor functions.

Flows are (N, 2, H, W) in pixels, channel 0 = x, channel 1 = y. ``backward`` flow maps each pixel of the
current frame to where it was in the previous one, so warping the previous frame with it lines the
previous frame up with the current one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _base_grid(n: int, h: int, w: int, device, dtype) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=dtype),
                            torch.arange(w, device=device, dtype=dtype), indexing="ij")
    return torch.stack([xs, ys]).unsqueeze(0).expand(n, -1, -1, -1)


def warp(image: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample ``image`` at x + flow(x) (``mode``: bilinear, or bicubic, which softens a texture less when a
    frame is warped again and again; border values outside)."""
    n, _, h, w = image.shape
    pos = _base_grid(n, h, w, image.device, image.dtype) + flow.to(image.dtype)
    grid = torch.stack([2 * pos[:, 0] / max(w - 1, 1) - 1, 2 * pos[:, 1] / max(h - 1, 1) - 1], dim=-1)
    return F.grid_sample(image, grid, mode=mode, padding_mode="border", align_corners=True)


def resize_flow(flow: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """A flow field resized to ``hw`` (bilinear, pixel centres as OpenCV's INTER_LINEAR) and rescaled to that
    size's pixels."""
    h, w = flow.shape[-2:]
    out = F.interpolate(flow, size=hw, mode="bilinear", align_corners=False)
    return out * torch.tensor([hw[1] / w, hw[0] / h], device=flow.device, dtype=flow.dtype).view(1, 2, 1, 1)


def occlusion_mask(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """1 where the backward flow of the current frame is reliable, 0 at disocclusions and motion boundaries.

    ``forward`` maps previous -> current, ``backward`` current -> previous. A pixel is kept when following
    the backward flow and then the forward flow returns close to where it started (Ruder et al., eq. 6),
    when it is not on a motion boundary (large flow gradient), and when it came from inside the previous
    frame (content entering at an edge is new). Shape (N, 1, H, W).
    """
    return _flow_checks(forward, backward)[0].unsqueeze(1).to(forward.dtype)


def flow_confidence(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """A soft :func:`occlusion_mask`: in [0, 1], 0 where the mask is 0, else falling with the round-trip
    error relative to its tolerance, exp(-error / (0.01 |flow|^2 + 0.5)): a pixel whose flow barely passes
    the test counts little, one that returns where it started counts fully. Shape (N, 1, H, W)."""
    keep, round_trip, tolerance = _flow_checks(forward, backward)
    return (keep * torch.exp(-round_trip / tolerance)).unsqueeze(1).to(forward.dtype)


def _flow_checks(forward: torch.Tensor, backward: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(pixels kept by the occlusion tests, squared round-trip error, its tolerance), each (N, H, W)."""
    fwd_at = warp(forward, backward)  # forward flow sampled where each current pixel came from
    round_trip = (fwd_at + backward).pow(2).sum(1)
    magnitude = fwd_at.pow(2).sum(1) + backward.pow(2).sum(1)
    tolerance = 0.01 * magnitude + 0.5
    consistent = round_trip <= tolerance
    du = F.pad(backward[:, :, :, 1:] - backward[:, :, :, :-1], (0, 1, 0, 0))
    dv = F.pad(backward[:, :, 1:, :] - backward[:, :, :-1, :], (0, 0, 0, 1))
    gradient = du.pow(2).sum(1) + dv.pow(2).sum(1)
    boundary = gradient > 0.01 * backward.pow(2).sum(1) + 0.002
    n, _, h, w = backward.shape
    pos = _base_grid(n, h, w, backward.device, backward.dtype) + backward
    inside = (pos[:, 0] >= 0) & (pos[:, 0] <= w - 1) & (pos[:, 1] >= 0) & (pos[:, 1] <= h - 1)
    return consistent & ~boundary & inside, round_trip, tolerance
