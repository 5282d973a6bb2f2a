"""Colour preservation (Gatys et al. 2017): CORAL recolouring and luminance-only transfer."""

from __future__ import annotations

import torch

# ITU-R BT.601 RGB -> YIQ, as used by Gatys et al. for luminance-only transfer.
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114],
                            [0.595716, -0.274453, -0.321263],
                            [0.211456, -0.522591, 0.311135]])


def _sym_matrix_power(cov: torch.Tensor, power: float) -> torch.Tensor:
    evals, evecs = torch.linalg.eigh(cov)
    return evecs @ torch.diag_embed(evals.clamp_min(1e-8) ** power) @ evecs.transpose(-1, -2)


def coral(source: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Recolour ``source`` (3, H, W) so its RGB mean and covariance equal those of ``target`` (3, H', W')."""
    src = source.reshape(3, -1).double()
    tgt = target.reshape(3, -1).double()
    src_mean, tgt_mean = src.mean(1, keepdim=True), tgt.mean(1, keepdim=True)
    eye = torch.eye(3, dtype=torch.float64, device=source.device)
    src_cov = torch.cov(src) + eps * eye
    tgt_cov = torch.cov(tgt) + eps * eye
    transform = _sym_matrix_power(tgt_cov, 0.5) @ _sym_matrix_power(src_cov, -0.5)
    out = transform @ (src - src_mean) + tgt_mean
    return out.reshape(source.shape).to(source.dtype).clamp(0, 1)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB to YIQ."""
    return torch.einsum("ij,njhw->nihw", _RGB_TO_YIQ.to(image), image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(_RGB_TO_YIQ).to(image), image)


def transfer_luminance(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Keep the luminance (Y) of ``stylized`` and the chroma (I, Q) of ``content``."""
    y = rgb_to_yiq(stylized)[:, :1]
    iq = rgb_to_yiq(content)[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp(0, 1)
