"""RGB to the encoder's yuv420p on the device, so the host only copies bytes into the encoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F

BT601 = (0.299, 0.114)  # Kr, Kb of ITU-R BT.601, what libswscale converts rgb24 to yuv420p with by default


def rgb_to_ycbcr(kr_kb: tuple[float, float]) -> torch.Tensor:
    """The 3x3 matrix RGB -> (Y, Cb, Cr), Cb and Cr in [-0.5, 0.5], of the matrix with these Kr and Kb."""
    kr, kb = kr_kb
    kg = 1.0 - kr - kb
    return torch.tensor([[kr, kg, kb],
                         [-0.5 * kr / (1 - kb), -0.5 * kg / (1 - kb), 0.5],
                         [0.5, -0.5 * kg / (1 - kr), -0.5 * kb / (1 - kr)]])


def rgb_to_yuv420p(rgb: torch.Tensor, kr_kb: tuple[float, float] = BT601) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1], H and W even -> (N, H * 3 // 2, W) uint8 limited ("TV") range in PyAV's
    packed I420 layout (the Y plane, then the U and V planes, each quarter-size plane folded into H // 4 rows
    of W), with the matrix of ``kr_kb`` (the one the output is tagged with: ``pipeline/io/color.py``)."""
    n, _, h, w = rgb.shape
    ycc = torch.einsum("ij,njhw->nihw", rgb_to_ycbcr(kr_kb).to(rgb), rgb.float())
    y = 16.0 + 219.0 * ycc[:, 0]
    chroma = 128.0 + 224.0 * F.avg_pool2d(ycc[:, 1:], 2)  # 2x2 box filter, centred like swscale's default
    to_u8 = lambda t: (t + 0.5).clamp(0, 255).to(torch.uint8)
    u, v = (to_u8(chroma[:, i]).reshape(n, h // 4, w) for i in (0, 1))
    return torch.cat([to_u8(y), u, v], dim=1)
