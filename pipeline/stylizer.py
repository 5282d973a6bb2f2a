"""The feed-forward AdaIN stylizer: batches in, batches out, in two stages (encode, then AdaIN and decode).

It only computes: ``pipeline/build.py`` loads the weights, reads the styles, calibrates and adapts. The path
reads as in the AdaIN paper's reference ``style_transfer``: encode the content, take its statistics,
renormalise them to the style's, decode; tiling and out-of-memory halving (``pipeline/tiling.py``) wrap each
stage without changing what it computes.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from pipeline.device import autocast
from pipeline.models.vgg import STYLE_LAYERS, VGGEncoder
from pipeline.ops.adain import adain_stats, blend, calc_mean_std, correct_stats, mix_layer_stats
from pipeline.ops.color import coral, transfer_luminance
from pipeline.ops.regions import adain_regions, composite
from pipeline.ops.resize import MULTIPLE, pad_to_multiple
from pipeline.options import PreserveColor
from pipeline.tiling import MEMORY_BUDGET_GB, Tile, Tiling, encode_in_tiles, render_in_tiles

Stats = tuple[torch.Tensor, torch.Tensor]  # per-image, per-channel (mean, std), each (N, C, 1, 1)


@runtime_checkable
class BatchStylizer(Protocol):
    """Whatever stylizes a batch: (N, 3, H, W) in [0, 1] on any device -> the same shape on ``device``."""

    device: torch.device

    def __call__(self, batch: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True, eq=False)
class Networks:
    """The encoder and decoder on their device, ready to run; ``encode_fn`` / ``decode_fn`` are their
    compiled forms when asked for (else the modules). Built by ``build.build_networks``."""

    encoder: VGGEncoder
    decoder: nn.Module
    device: torch.device
    dtype: torch.dtype
    memory_format: torch.memory_format = torch.channels_last
    fast_cpu: bool = False
    encode_fn: Callable | None = None
    decode_fn: Callable | None = None
    backend: object | None = None  # backends.Backend on the CPU: which kernels, chosen how

    def describe(self) -> str:
        """Where and how the networks run, for a run's summary: the CPU backend (and its probe's times), or
        the device and dtype."""
        if self.backend is not None:
            return f"cpu {self.backend.describe()}"
        return f"{self.device.type} {str(self.dtype).removeprefix('torch.')}"

    def features(self, batch: torch.Tensor) -> torch.Tensor:
        """relu4_1 features of an (N, 3, H, W) batch whose sides divide by 8 (in the autocast dtype)."""
        with autocast(self.device, self.dtype):
            return (self.encode_fn or self.encoder)(batch.to(self.device, memory_format=self.memory_format))[0]

    def layers(self, batch: torch.Tensor) -> list[torch.Tensor]:
        """Features at the style layers through the eager encoder (with gradients when enabled)."""
        with autocast(self.device, self.dtype):
            return self.encoder(batch.to(self.device, memory_format=self.memory_format), STYLE_LAYERS)

    def render(self, target: torch.Tensor, eager: bool = False) -> torch.Tensor:
        """Images in [0, 1] (float) decoded from relu4_1 ``target``; ``eager`` for a backward pass."""
        decode = self.decoder if eager or self.decode_fn is None else self.decode_fn
        with autocast(self.device, self.dtype):
            out = decode(target.to(memory_format=self.memory_format))
        return out.float().clamp(0, 1)


@dataclass(frozen=True, eq=False)
class StyleTarget:
    """The styles and what AdaIN aims at: their mixed relu4_1 ``(mean, std)``, each (1, C, 1, 1), fed to the
    decoder as ``(mean + shift, std * gain)`` (the decoder's calibration, ``calibration.calibrate``)."""

    images: tuple[torch.Tensor, ...]  # (1, 3, H, W) each, on the device
    weights: torch.Tensor  # (K,), one per image
    mean: torch.Tensor
    std: torch.Tensor
    shift: torch.Tensor | float = 0.0
    gain: torch.Tensor | float = 1.0


@torch.no_grad()
def style_stats(nets: Networks, images: list[torch.Tensor] | tuple[torch.Tensor, ...],
                weights: torch.Tensor) -> Stats:
    """Mixed relu4_1 (mean, std) of the style ``images``, each (1, C, 1, 1)."""
    return mix_layer_stats([[calc_mean_std(nets.features(s).float())] for s in images], weights)[0]


@dataclass(frozen=True, eq=False)
class FrameTargets:
    """Per-frame, per-region style targets for one batch of N frames: what masks (styles by region) and
    keyframes (styles over time) hand ``Stylizer.decode_batch`` instead of its fixed target.

    ``mean`` / ``std``: (N, K, C, 1, 1), the decoder's inputs for region k of frame n (calibration already
    applied, as ``StyleTarget``'s ``mean + shift`` and ``std * gain``). ``masks``: (N, K, H, W) in [0, 1] at
    the batch's size, summing to at most 1 over K (feathered by whoever made them); what they leave keeps the
    source. None: one region, the whole frame. ``alpha``: (N,), per-frame trade-off; None: the stylizer's.
    ``weights``: (N, K, S), the styles' shares in each region that ``mean`` / ``std`` mix (when the bank made
    them): what the Gatys optimisation mixes the styles' Gram matrices by, region by region.
    ``restart``: per frame, whether the style jumps there (a scene, a keyframe cut): the temporal state
    starts afresh at such a frame, as at a scene cut, instead of blending the previous style in."""

    mean: torch.Tensor
    std: torch.Tensor
    masks: torch.Tensor | None = None
    alpha: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    restart: tuple[bool, ...] | None = None

    def rows(self) -> tuple[torch.Tensor | None, ...]:
        """The tensors in the order ``Stylizer._decode_part`` takes them (batch-first: tiling splits them)."""
        return self.mean, self.std, self.masks, self.alpha


@dataclass(eq=False)
class Encoded:
    """What the first stage hands the second: the padded batch, its relu4_1 features (float,
    (N, 512, h, w)), the batch's own (H, W) before padding, and the tiles both stages use (None: whole)."""

    padded: torch.Tensor
    feats: torch.Tensor
    hw: tuple[int, int]
    tile: Tile | None


class Stylizer:
    """AdaIN to a fixed style target; ``__call__(batch) == decode_batch(encode_batch(batch))``. Video code
    changes the content statistics between the two stages (temporal smoothing)."""

    def __init__(self, nets: Networks, target: StyleTarget, alpha: float = 1.0,
                 preserve_color: PreserveColor | str = PreserveColor.NONE, feedback: int = 0, tile: int = 0,
                 memory_budget: float = MEMORY_BUDGET_GB) -> None:
        self.nets, self.target = nets, target
        self.alpha, self.feedback = alpha, feedback
        self.preserve_color = PreserveColor(preserve_color)
        self.tiling = Tiling(nets.device, tile, memory_budget)
        self.bank = None  # control.bank.StyleBank: each style alone, when masks or keyframes mix them per frame

    device = property(lambda self: self.nets.device)
    dtype = property(lambda self: self.nets.dtype)
    encoder = property(lambda self: self.nets.encoder, doc="The reflection-padded VGG on the device.")
    fast_cpu = property(lambda self: self.nets.fast_cpu)
    styles = property(lambda self: list(self.target.images))
    weights = property(lambda self: self.target.weights)
    style_mean = property(lambda self: self.target.mean)
    style_std = property(lambda self: self.target.std)
    gain = property(lambda self: self.target.gain)

    @torch.no_grad()
    def encode(self, batch: torch.Tensor) -> torch.Tensor:
        """relu4_1 features of an (N, 3, H, W) batch whose sides divide by 8."""
        return self.nets.features(batch)

    def encode_batch(self, batch: torch.Tensor) -> Encoded:
        """Stage one: pad ``batch`` (N, 3, H, W) in [0, 1] to a multiple of 8 and encode it, in tiles past
        the tile size (and out of memory, on half the batch at a time)."""
        padded, hw = pad_to_multiple(batch.to(self.device, torch.float32))
        tile = self.tiling.tile_for(*padded.shape[-2:])
        feats = self.tiling.run(self._encode_part, tile, padded)
        return Encoded(padded, feats, hw, tile)

    def decode_batch(self, encoded: Encoded, stats: Stats | None = None,
                     targets: FrameTargets | None = None) -> torch.Tensor:
        """Stage two: AdaIN normalising by ``stats`` (the content's (mean, std), each (N, 512, 1, 1); None:
        the features' own) to the style target (``targets``: per frame and region instead), decode, feedback
        passes, colour handling; the result is cropped back to the batch's (H, W)."""
        mean, std = stats if stats is not None else (None, None)
        rows = (None,) * 4
        if targets is not None:
            masks = targets.masks
            if masks is not None:
                masks = pad_to_multiple(masks.to(self.device, torch.float32))[0]
            rows = dataclasses.replace(targets, masks=masks).rows()
        out = self.tiling.run(self._decode_part, encoded.tile, encoded.padded, encoded.feats, mean, std, *rows)
        return out[..., :encoded.hw[0], :encoded.hw[1]]

    def __call__(self, batch: torch.Tensor, targets: FrameTargets | None = None) -> torch.Tensor:
        """Stylize an (N, 3, H, W) batch in [0, 1] of any size (to ``targets``, when given, instead of the
        fixed target); the result has the same size."""
        return self.decode_batch(self.encode_batch(batch), targets=targets)

    def _encode_part(self, tile: Tile | None, padded: torch.Tensor) -> torch.Tensor:
        return encode_in_tiles(self.encode, padded, tile)

    @torch.no_grad()
    def _decode_part(self, tile: Tile | None, content: torch.Tensor, feats: torch.Tensor,
                     mean: torch.Tensor | None, std: torch.Tensor | None,
                     *targets: torch.Tensor | None) -> torch.Tensor:
        """The AdaIN path for one part of the batch (all of it, a half, or one frame in tiles); ``targets``:
        ``FrameTargets.rows()`` of that part, or Nones."""
        content_stats = None if mean is None else (mean, std)
        if targets and targets[0] is not None:
            return self._decode_targets(tile, content, feats, content_stats, *targets)
        style_mean, style_std = self.target.mean, self.target.std
        if self.preserve_color == PreserveColor.CORAL:
            style_mean, style_std = self._coral_stats(content)
        shift, gain = self.target.shift, self.target.gain
        target = blend(feats, adain_stats(feats, style_mean + shift, style_std * gain, content_stats), self.alpha)
        out = render_in_tiles(self.nets.render, target, tile)
        if self.feedback:
            wanted = calc_mean_std(blend(feats, adain_stats(feats, style_mean, style_std, content_stats), self.alpha))
            for _ in range(self.feedback):
                seen = calc_mean_std(encode_in_tiles(self.encode, out, tile))
                target = adain_stats(target, *correct_stats(*calc_mean_std(target), *wanted, *seen))
                out = render_in_tiles(self.nets.render, target, tile)
        if self.preserve_color == PreserveColor.LUMINANCE:
            out = transfer_luminance(out, content.to(out.device, torch.float32))
        return out

    def _decode_targets(self, tile: Tile | None, content: torch.Tensor, feats: torch.Tensor,
                        content_stats: Stats | None, mean: torch.Tensor, std: torch.Tensor,
                        masks: torch.Tensor | None, alpha: torch.Tensor | None) -> torch.Tensor:
        """The AdaIN path to per-frame, per-region targets (``FrameTargets``); no feedback passes (the
        options refuse them together)."""
        if alpha is None and self.alpha != 1.0:
            alpha = torch.full((feats.shape[0],), self.alpha, device=feats.device)
        out = render_in_tiles(self.nets.render, adain_regions(feats, mean, std, masks, alpha, content_stats), tile)
        content = content.to(out.device, torch.float32)
        if masks is not None:
            out = composite(out, content, masks)
        if self.preserve_color == PreserveColor.LUMINANCE:
            out = transfer_luminance(out, content)
        return out

    def _coral_stats(self, content: torch.Tensor) -> Stats:
        """Per-image style statistics of the styles recoloured to each content image (CORAL)."""
        stats = [style_stats(self.nets, [coral(s[0], c)[None] for s in self.target.images], self.target.weights)
                 for c in content.to(self.device)]
        return torch.cat([m for m, _ in stats]), torch.cat([s for _, s in stats])

    def with_fixed_coral(self, reference: torch.Tensor) -> Stylizer:
        """A copy whose styles are recoloured (CORAL) once, to ``reference`` (1, 3, H, W). For video, where
        recolouring to every frame would cost a style encoding per frame and make the colours flicker."""
        fixed = copy.copy(self)
        fixed.preserve_color = PreserveColor.NONE
        mean, std = self._coral_stats(reference.to(self.device, torch.float32))
        fixed.target = dataclasses.replace(self.target, mean=mean, std=std)
        return fixed

    def reset(self) -> None:
        """Per-frame AdaIN keeps no state between calls."""

    def fork(self) -> Stylizer:
        """What another video lane uses: this very stylizer, since it keeps no state between calls."""
        return self


def auto_batch_size(stylizer: Stylizer, hw: tuple[int, int], limit: int = 16, lanes: int = 1) -> int:
    """The largest batch that fits: one on the CPU (oneDNN is fastest frame by frame there); on CUDA,
    70 % of the free memory divided by what one frame of ``hw`` takes at peak and by the ``lanes`` whose
    batches are on the device at once (out-of-memory halving covers any misjudgement), at most ``limit``
    (throughput no longer grows there, and a large batch only adds latency) and small enough that the
    widest activation (64 channels at full size) stays within the 2**31 elements that cuDNN and padding
    kernels index."""
    if stylizer.device.type != "cuda":
        return 1
    probe = copy.copy(stylizer)
    probe.preserve_color = PreserveColor.NONE  # CORAL statistics are per call and small: not what fills memory
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    probe(torch.rand(1, 3, *hw, device=stylizer.device))
    per_frame = max(1, torch.cuda.max_memory_allocated() - base)
    free, _ = torch.cuda.mem_get_info()
    (h, w), m = hw, MULTIPLE
    index_limit = (2**31 - 1) // (64 * (-(-h // m) * m + 2) * (-(-w // m) * m + 2))
    return max(1, min(limit, index_limit, int(0.7 * free / per_frame / lanes)))

