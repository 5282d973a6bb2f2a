"""Adaptive instance normalization and the operations built on its channel statistics."""

from __future__ import annotations

from collections.abc import Sequence

import torch

EPS = 1e-5


def calc_mean_std(feat: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel mean and standard deviation of an (N, C, H, W) map, shaped (N, C, 1, 1).

    The variance is the unbiased one plus ``eps``, as in the reference implementation.
    """
    n, c = feat.shape[:2]
    flat = feat.reshape(n, c, -1)
    std = (flat.var(dim=2) + eps).sqrt().reshape(n, c, 1, 1)
    mean = flat.mean(dim=2).reshape(n, c, 1, 1)
    return mean, std


def adain_stats(content_feat: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor,
                content_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Renormalise ``content_feat`` to the given style statistics.

    ``content_stats`` lets a caller supply the content statistics (smoothed over time for video, or
    computed on a whole frame when it is processed in tiles).
    """
    c_mean, c_std = content_stats if content_stats is not None else calc_mean_std(content_feat)
    scale = style_std / c_std
    # One pass, one full-size result where the four-step form held three (docs/BENCHMARKS.md, "Start-up
    # and activations").
    return torch.addcmul(style_mean - c_mean * scale, content_feat, scale)


def adain(content_feat: torch.Tensor, style_feat: torch.Tensor) -> torch.Tensor:
    """AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y)."""
    return adain_stats(content_feat, *calc_mean_std(style_feat))


def mix_style_stats(means: torch.Tensor, stds: torch.Tensor,
                    weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Interpolate K styles given as stacked (K, C, 1, 1) statistics.

    AdaIN is affine in the style statistics, so the weighted sum of the K AdaIN outputs (the reference
    interpolation) equals one AdaIN with the weighted statistics; the weights are normalised to sum to 1.
    """
    w = weights.to(means.dtype) / weights.sum()
    w = w.reshape(-1, 1, 1, 1)
    return (w * means).sum(0, keepdim=True), (w * stds).sum(0, keepdim=True)


def mix_layer_stats(per_style: Sequence[Sequence[tuple[torch.Tensor, torch.Tensor]]],
                    weights: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``mix_style_stats`` layer by layer: ``per_style[k][l]`` is style k's (1, C, 1, 1) (mean, std) at layer l."""
    return [mix_style_stats(torch.cat([m for m, _ in layer]), torch.cat([s for _, s in layer]), weights)
            for layer in zip(*per_style)]


def blend(content_feat: torch.Tensor, stylized_feat: torch.Tensor, alpha: float) -> torch.Tensor:
    """Content-style trade-off: alpha=1 is full style, alpha=0 reconstructs the content."""
    if alpha == 1.0:
        return stylized_feat
    return torch.lerp(content_feat, stylized_feat, alpha)


def correct_stats(mean: torch.Tensor, std: torch.Tensor, target_mean: torch.Tensor, target_std: torch.Tensor,
                  out_mean: torch.Tensor, out_std: torch.Tensor,
                  max_gain: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One fixed-point step on the statistics fed to the decoder, so that its output's statistics come closer
    to the target: the mean moved by what the output missed, the std scaled by the missed ratio.

    The decoder inverts relu4_1 features only approximately, channel by channel; ``(mean, std)`` went in,
    ``(out_mean, out_std)`` came out, ``(target_mean, target_std)`` was wanted. The ratio is clamped to
    ``[1 / max_gain, max_gain]`` because a channel the output hardly uses would otherwise explode.
    """
    gain = (target_std / out_std).clamp(1.0 / max_gain, max_gain)
    return mean + (target_mean - out_mean), std * gain
