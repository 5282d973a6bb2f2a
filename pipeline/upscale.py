"""``--upscale decode``: the network's second half run at the source size (photos: folder job and API).

The encoder and AdaIN run at the work size (cheap); their relu4_1 features are resampled onto the source
size's feature grid (``ops/upsample.upsample_features``) and the decoder renders them at the source size, so
its strokes come out at its own pixel scale, fine, instead of a small result's strokes blown up; the guided
filter's edge term (``ops/upsample.guided_detail``) then adds the source's edges. It costs one decoder pass
at the source size (figures: docs/BENCHMARKS.md, "Upscaling").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeline.ops.resize import MULTIPLE, pad_to_multiple
from pipeline.ops.upsample import guided_detail, upsample_features
from pipeline.stylizer import Encoded, Stylizer


def decodes_at_source(stylizer) -> bool:
    """Whether ``stylizer`` can decode at the source size: the plain AdaIN stylizer (not a Gatys refiner)."""
    return isinstance(stylizer, Stylizer)


@torch.no_grad()
def decode_at_source(stylizer: Stylizer, work: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``work`` (N, 3, h, w) in [0, 1], the network's input, and ``source`` (N, 3, H, W), the same images at
    their own size: stylized results (N, 3, H, W) in [0, 1], on ``source``'s device. One image at a time, so
    an image's bytes do not depend on its batch. Equal sizes are the plain ``stylizer(work)``."""
    if tuple(work.shape[-2:]) == tuple(source.shape[-2:]):
        return stylizer(work).clamp(0, 1).to(source.device)
    return torch.cat([_one(stylizer, work[i:i + 1], source[i:i + 1]) for i in range(work.shape[0])])


def _one(stylizer: Stylizer, work: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    small = stylizer.encode_batch(work)
    padded, source_hw = pad_to_multiple(source.to(stylizer.device, torch.float32))
    grid = (padded.shape[-2] // MULTIPLE, padded.shape[-1] // MULTIPLE)
    feats = upsample_features(small.feats, small.hw, source_hw, grid)
    out = stylizer.decode_batch(Encoded(padded, feats, source_hw, stylizer.tiling.tile_for(*padded.shape[-2:])))
    seen = F.interpolate(out, size=small.hw, mode="area")  # the result as the work size sees it: the edge fit
    return (out + guided_detail(seen, padded[..., :source_hw[0], :source_hw[1]])).clamp(0, 1).to(source.device)
