"""RGB to the encoder's yuv420p on the device, so the host only copies bytes into the encoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# ITU-R BT.601 in limited ("TV") range, as libswscale converts rgb24 to yuv420p by default.
_RGB_TO_YCBCR = torch.tensor([[0.299, 0.587, 0.114],
                              [-0.168736, -0.331264, 0.5],
                              [0.5, -0.418688, -0.081312]])


def rgb_to_yuv420p(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1], H and W even -> (N, H * 3 // 2, W) uint8 in PyAV's packed I420 layout
    (the Y plane, then the U and V planes, each quarter-size plane folded into H // 4 rows of W)."""
    n, _, h, w = rgb.shape
    ycc = torch.einsum("ij,njhw->nihw", _RGB_TO_YCBCR.to(rgb), rgb.float())
    y = 16.0 + 219.0 * ycc[:, 0]
    chroma = 128.0 + 224.0 * F.avg_pool2d(ycc[:, 1:], 2)  # 2x2 box filter, centred like swscale's default
    to_u8 = lambda t: (t + 0.5).clamp(0, 255).to(torch.uint8)
    u, v = (to_u8(chroma[:, i]).reshape(n, h // 4, w) for i in (0, 1))
    return torch.cat([to_u8(y), u, v], dim=1)
