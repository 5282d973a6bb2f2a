"""Dense optical flow in pure torch, with no learned weights: coarse-to-fine Lucas-Kanade windows with a
smoothness pull (a combined local-global scheme), batched over frame pairs.

Frames are (N, 1, H, W) grey in [0, 1]; a flow is (N, 2, H, W) in pixels with OpenCV's convention (that of
``cv2.DISOpticalFlow.calc(prev, next)``): it maps each pixel of the first frame to where it is in the second,
next(x + flow(x)) ~ prev(x). Runs where the frames are (CPU or CUDA), so they never go to the host for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pipeline.ops.warp import resize_flow, warp


@dataclass(frozen=True)
class FlowParams:
    """How the solver works: an image pyramid down to ``min_side`` pixels (halving); at each level
    ``iterations`` warps, each solved with ``smooth`` Jacobi sweeps (twice as many a level coarser, up to 16
    times: coarse levels are cheap and carry the flow into flat areas); data windows of (2 ``radius`` + 1)²
    pixels; ``alpha`` the pull toward the neighbours' flow, relative to the frame's mean gradient energy;
    residuals above about ``robust`` (grey levels in [0, 1]) count less (occlusions, motion boundaries; 0: all
    count fully); the finest ``skip`` levels left out (upsampled from there, as DIS's finest scale); a final
    (2 ``blur`` + 1)² mean of the flow (0: none).
    The defaults beat DIS's FAST preset on tests/test_flow_torch.py's pairs; the pull and the sweeps are strong
    enough that flat, noisy areas of real clips (skies, roads) get their neighbours' flow rather than noise,
    which the temporal blend would take for motion (docs/BENCHMARKS.md, "Torch optical flow")."""

    min_side: int = 16
    iterations: int = 3
    smooth: int = 10
    radius: int = 5
    alpha: float = 0.3
    robust: float = 0.02
    skip: int = 0
    blur: int = 3


def optical_flow(first: torch.Tensor, second: torch.Tensor, params: FlowParams = FlowParams()) -> torch.Tensor:
    """Flow from each of ``first`` to the same index of ``second``, (N, 1, H, W) each -> (N, 2, H, W).

    Computed in float32 whatever autocast says: sub-pixel positions of a few hundred pixels need its mantissa."""
    with torch.autocast(first.device.type, enabled=False):
        pyr0, pyr1 = pyramid(first.float(), params.min_side), pyramid(second.float(), params.min_side)
        last = min(params.skip, len(pyr0) - 1)
        flow = first.new_zeros(first.shape[0], 2, *pyr0[-1].shape[-2:], dtype=torch.float32)
        for level in range(len(pyr0) - 1, last - 1, -1):
            i0, i1 = pyr0[level], pyr1[level]
            if flow.shape[-2:] != i0.shape[-2:]:
                flow = resize_flow(flow, tuple(i0.shape[-2:]))
            flow = _refine(i0, i1, flow, params, params.smooth << min(level, 4))
        if params.blur:
            flow = _window(flow, params.blur)
        if flow.shape[-2:] != first.shape[-2:]:
            flow = resize_flow(flow, tuple(first.shape[-2:]))
        return flow


def forward_backward(first: torch.Tensor, second: torch.Tensor,
                     params: FlowParams = FlowParams()) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward (first -> second) and backward (second -> first) flows of N pairs, as one batch of 2N."""
    flows = optical_flow(torch.cat([first, second]), torch.cat([second, first]), params)
    return flows[: first.shape[0]], flows[first.shape[0]:]


def photometric_fit(previous: torch.Tensor, current: torch.Tensor, backward: torch.Tensor, sigma: float = 0.08,
                    radius: int = 1) -> torch.Tensor:
    """How well ``backward`` (current -> previous, (N, 2, H, W)) lines ``previous`` up with ``current`` (grey,
    (N, 1, H, W) in [0, 1]): exp(-e / sigma²) of e, the squared residual's mean over a (2 ``radius`` + 1)²
    window, (N, 1, H, W) in (0, 1]. A flow can agree with itself forwards and backwards and still be wrong (a
    smooth flow carried over a fast-moving part); the frames themselves say so."""
    with torch.autocast(backward.device.type, enabled=False):
        residual = warp(previous.float(), backward.float()) - current.float()
        return torch.exp(-_window(residual * residual, radius) / sigma**2)


def pyramid(images: torch.Tensor, min_side: int) -> list[torch.Tensor]:
    """``images`` and its halvings (antialiased) while the short side stays at least ``min_side``."""
    levels = [images]
    while min(levels[-1].shape[-2:]) // 2 >= min_side:
        h, w = levels[-1].shape[-2:]
        levels.append(F.interpolate(levels[-1], size=((h + 1) // 2, (w + 1) // 2), mode="bilinear",
                                    antialias=True, align_corners=False))
    return levels


def _gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences (one-sided at the edges), (N, 1, H, W) each."""
    padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
    gx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) * 0.5
    gy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) * 0.5
    return gx, gy


def _window(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2 radius + 1)² window, the window cut at the borders. Running sums: a cost per pixel that
    does not grow with the window (a 2-D average pool on the CPU costs the window's area)."""
    size, (h, w) = 2 * radius + 1, x.shape[-2:]
    c = F.pad(x, (radius + 1, radius)).cumsum(-1)
    x = c[..., size:] - c[..., :-size]
    c = F.pad(x, (0, 0, radius + 1, radius)).cumsum(-2)
    x = c[..., size:, :] - c[..., :-size, :]
    return x / (_counts(h, radius, x).view(h, 1) * _counts(w, radius, x).view(1, w))


def _counts(n: int, radius: int, like: torch.Tensor) -> torch.Tensor:
    """How many of the 2 radius + 1 places around each of ``n`` positions lie inside them."""
    i = torch.arange(n, device=like.device, dtype=like.dtype)
    return (i + radius).clamp(max=n - 1) - (i - radius).clamp(min=0) + 1


def _refine(i0: torch.Tensor, i1: torch.Tensor, flow: torch.Tensor, p: FlowParams, sweeps: int) -> torch.Tensor:
    """Updates of ``flow`` at one level (a combined local-global scheme): each pixel's flow is the one that
    best lines up its window of ``i0`` with ``i1`` (every window pixel's residual linearised around its own
    current flow, gradients of ``i0``) while staying close to its neighbours' mean (weight ``alpha``), which
    fills flat areas from their surroundings. Pixels whose flow leaves the frame, or whose residual is large
    (occlusions, motion boundaries), count less. ``iterations`` warps, each with ``sweeps`` Jacobi sweeps."""
    gx, gy = _gradients(i0)
    gg = torch.cat([gx * gx, gx * gy, gy * gy], 1)
    for _ in range(p.iterations):
        r = warp(i1, flow) - i0
        weight = _inside(flow) / (r.abs() / p.robust + 1) if p.robust else _inside(flow)
        wgg = weight * gg
        u, v = flow[:, :1], flow[:, 1:]
        sums = _window(torch.cat([wgg, wgg[:, :1] * u + wgg[:, 1:2] * v - weight * gx * r,
                                  wgg[:, 1:2] * u + wgg[:, 2:] * v - weight * gy * r], 1), p.radius)
        # The pull is relative to the frame's mean texture (its mean gradient energy), so that it means the
        # same at every level and contrast; a tiny floor keeps a blank frame solvable. Summed in float64: how
        # a reduction is split over threads depends on the batch, and a pair's flow must not (lanes).
        energy = (sums[:, :1] + sums[:, 2:3]).double().mean((2, 3), keepdim=True).float()
        alpha = p.alpha * energy + 1e-9
        a11, a12, a22 = sums[:, :1] + alpha, sums[:, 1:2], sums[:, 2:3] + alpha
        det, data = a11 * a22 - a12 * a12, sums[:, 3:]
        for _ in range(sweeps):
            b = data + alpha * _neighbours(flow)
            b1, b2 = b[:, :1], b[:, 1:]
            flow = torch.cat([a22 * b1 - a12 * b2, a11 * b2 - a12 * b1], 1) / det
    return flow


def _inside(flow: torch.Tensor) -> torch.Tensor:
    """1 where x + flow(x) falls inside the frame, else 0, (N, 1, H, W)."""
    n, _, h, w = flow.shape
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, w) + flow[:, 0]
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype).view(h, 1) + flow[:, 1]
    return ((xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)).unsqueeze(1).to(flow.dtype)


def _neighbours(flow: torch.Tensor) -> torch.Tensor:
    """The mean of each pixel's four neighbours (edges replicated)."""
    padded = F.pad(flow, (1, 1, 1, 1), mode="replicate")
    return 0.25 * (padded[..., 1:-1, :-2] + padded[..., 1:-1, 2:] + padded[..., :-2, 1:-1] + padded[..., 2:, 1:-1])
