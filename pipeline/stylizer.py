"""The feed-forward AdaIN stylizer: models and style statistics loaded once, then batches in, batches out."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from pipeline.adaptation import adapt_decoder, default_steps, cache_key, cached_adaptation
from pipeline.calibration import CALIBRATION_SIZE, calibrate, calibration_photos
from pipeline.errors import StyleError
from pipeline.options import StyleOptions
from pipeline.device import autocast, compile_or_eager, keep_freed_memory, pick_device, pick_dtype
from pipeline.io.images import ImageReadError, read_image, to_tensor
from pipeline.models.decoder import load_decoder, shipped_weights_path
from pipeline.models.fast_cpu import nnpack_available, use_fast_cpu_layers
from pipeline.models.vgg import STYLE_LAYERS, VGGEncoder, load_encoder
from pipeline.ops.adain import adain_stats, blend, calc_mean_std, correct_stats, mix_layer_stats
from pipeline.ops.color import coral, transfer_luminance
from pipeline.ops.losses import channel_stats
from pipeline.ops.tiles import tile_shape, tiled_apply

PRESERVE_COLOR = ("none", "coral", "luminance")
STYLE_SIZE = 512  # the style's long side unless the work size says otherwise
MULTIPLE = 8  # three 2x poolings between the image and relu4_1
TILE_OVERLAP = 48  # pixels each side: exact from 32 (16 is not), the reach of the encoder and decoder
OOM_TILE = 1024  # tile side used when even one frame does not fit in memory
CPU_TILE_ABOVE = 600_000  # CPU frames past this many pixels go in tiles of at most CPU_TILE_AREA pixels
CPU_TILE_AREA = 512 * 512  # (Stylizer._tile_for says why)
RELU4_1_CHANNELS = 512
StatsFn = Callable[[torch.Tensor], "tuple[torch.Tensor, torch.Tensor] | None"]


def style_size_for(work_size: int) -> int:
    """The style at the work size (0: the source's, then 512): the output is aimed at the style's statistics
    at that scale, so a 256 px run is not aimed at a 512 px style's finer ones (model card, "Calibration")."""
    return work_size or STYLE_SIZE


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize (N, 3, H, W) so the longer side is ``long_side`` (never upscales; 0 keeps the size)."""
    h, w = image.shape[-2:]
    if long_side <= 0 or max(h, w) <= long_side:
        return image
    scale = long_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)


def pad_to_multiple(batch: torch.Tensor, multiple: int = MULTIPLE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad the bottom/right so both sides divide by ``multiple`` and are at least ``2 * multiple``
    (relu4_1 needs 2x2 positions for a standard deviation); returns the original (H, W)."""
    h, w = batch.shape[-2:]
    ph = max(2 * multiple, h + (-h) % multiple) - h
    pw = max(2 * multiple, w + (-w) % multiple) - w
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        batch = F.pad(batch, (0, pw, 0, ph), mode=mode)
    return batch, (h, w)


def load_style_images(paths: Sequence[Path], style_size: int) -> list[torch.Tensor]:
    """Read each style image as (1, 3, H, W), resized to ``style_size`` on its long side."""
    if not paths:
        raise StyleError("at least one --style image is needed")
    images = []
    for path in paths:
        try:
            rgb = read_image(path).rgb
        except ImageReadError as exc:
            raise StyleError(f"style {path}: {exc}") from None
        images.append(resize_long_side(to_tensor(rgb)[None], style_size))
    return images


class Stylizer:
    """AdaIN with cached style statistics; ``encode`` and ``decode`` are exposed so video code can adjust
    the content statistics between them (temporal smoothing, whole-frame statistics for tiles)."""

    def __init__(self, encoder: VGGEncoder, decoder: torch.nn.Module, styles: list[torch.Tensor],
                 style_weights: Sequence[float] | None = None, alpha: float = 1.0, preserve_color: str = "none",
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, tile: int = 0,
                 compile: bool = False, fast_cpu: bool = True, calibration_size: int = 0,
                 feedback: int = 0, adapt: int = 0, adapt_size: int = CALIBRATION_SIZE,
                 on_adapt_step: Callable[[int], None] | None = None) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise StyleError(f"--alpha must be in [0, 1], got {alpha}")
        if preserve_color not in PRESERVE_COLOR:
            raise StyleError(f"--preserve-color must be one of {', '.join(PRESERVE_COLOR)}")
        weights = [1.0] * len(styles) if not style_weights else list(style_weights)
        if len(weights) != len(styles):
            raise StyleError(f"{len(weights)} --style-weights given for {len(styles)} styles")
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise StyleError("--style-weights must be non-negative and not all zero")
        if feedback < 0 or adapt < 0:
            raise StyleError(f"--feedback and --adapt must be 0 or more, got {feedback} and {adapt}")
        if adapt and preserve_color == "coral":
            raise StyleError("--adapt fits the decoder to the style's own colours: use --preserve-color "
                             "luminance, or --adapt 0 with coral")
        if tile and tile < 2 * TILE_OVERLAP + MULTIPLE * 4:
            raise StyleError(f"--tile must be 0 or at least {2 * TILE_OVERLAP + MULTIPLE * 4}")
        self.device = torch.device(device)
        self.dtype = dtype
        self.tile = tile
        self.alpha = alpha
        self.feedback = feedback
        self.preserve_color = preserve_color
        # channels_last: faster convolutions with cuDNN and with oneDNN on the CPU. fp32 on the CPU goes
        # through models/fast_cpu.py instead (NNPACK's Winograd kernels, thin layers as matrix products;
        # docs/BENCHMARKS.md has the gain), which wants NCHW (torch.compile brings its own CPU kernels).
        self.fast_cpu = (fast_cpu and not compile and self.device.type == "cpu" and dtype == torch.float32
                         and nnpack_available())
        self.memory_format = torch.contiguous_format if self.fast_cpu else torch.channels_last
        if self.device.type == "cpu":
            keep_freed_memory()  # every frame's activations are allocated again: no page faults for them
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            # PyTorch runs fp32 convolutions in TF32 by default; fp32 asked for is fp32 computed.
            torch.backends.cudnn.allow_tf32 = dtype != torch.float32
        self.encoder = encoder.reflect_padded().to(self.device, memory_format=self.memory_format).eval()
        adapting = adapt > 0 and alpha > 0  # alpha 0 is the content's reconstruction: no style to adapt to
        if adapting:
            decoder = copy.deepcopy(decoder)  # adapted in place below; the caller's stays as it was
        self.decoder = decoder.to(self.device, memory_format=self.memory_format).eval()
        if self.fast_cpu:
            use_fast_cpu_layers(self.encoder)
            use_fast_cpu_layers(self.decoder)
        self._encode_fn = compile_or_eager(self.encoder) if compile else self.encoder
        self._decode_fn = compile_or_eager(self.decoder) if compile else self.decoder
        self.styles = [s.to(self.device) for s in styles]
        self.weights = torch.tensor(weights, device=self.device)
        self.style_mean, self.style_std = self._style_stats(self.styles)
        self.shift, self.gain = self._calibration(calibration_size) if calibration_size else (0.0, 1.0)
        if adapting:
            self._adapt(adapt, adapt_size, calibration_size, on_adapt_step)

    @classmethod
    def from_options(cls, opts: StyleOptions, on_adapt_step: Callable[[int], None] | None = None) -> Stylizer:
        device = pick_device(opts.device)
        decoder_path = opts.decoder if opts.decoder is not None else shipped_weights_path()
        return cls(load_encoder(opts.vgg), load_decoder(decoder_path),
                   load_style_images(opts.styles, opts.style_size), opts.style_weights, opts.alpha,
                   opts.preserve_color, device, pick_dtype(opts.precision, device), opts.tile, opts.compile,
                   calibration_size=opts.calibration_size if opts.calibrate else 0, feedback=opts.feedback,
                   adapt=default_steps(device) if opts.adapt is None else opts.adapt, adapt_size=opts.calibration_size, on_adapt_step=on_adapt_step)

    @torch.no_grad()
    def _style_stats(self, styles: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixed relu4_1 (mean, std) of the styles, each (1, C, 1, 1): computed once per run."""
        return mix_layer_stats([[calc_mean_std(self._features(s).float())] for s in styles], self.weights)[0]

    @torch.no_grad()
    def _calibration(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's per-channel correction for the mixed style statistics (``calibration.calibrate``), on
        the calibration photos at long side ``size``: the miss depends on scale, so calibrate at the work size."""
        return calibrate(self.encode, self._render, self._photo_features(size), self.style_mean, self.style_std)

    def _photo_features(self, size: int) -> list[torch.Tensor]:
        """relu4_1 features of the calibration photos at long side ``size``."""
        photos = [pad_to_multiple(p)[0] for p in load_style_images(calibration_photos(), size)]
        return [self.encode(p).float() for p in photos]

    def _adapt(self, steps: int, size: int, calibration_size: int, on_step: Callable[[int], None] | None) -> None:
        """Fine-tune the decoder to the mixed style on the calibration photos at long side ``size``
        (``adaptation.adapt_decoder``), aiming its calibrated inputs at the style's statistics at every style
        layer; cached on disk (``adaptation.cached_adaptation``)."""

        def run() -> None:
            feats = self._photo_features(size)
            inputs = [adain_stats(f, self.style_mean + self.shift, self.style_std * self.gain) for f in feats]
            targets = [adain_stats(f, self.style_mean, self.style_std) for f in feats]
            with torch.no_grad():
                style_stats = mix_layer_stats([channel_stats(self._layers(s)) for s in self.styles], self.weights)
            decode = functools.partial(self._render, decoder=self.decoder)  # eager: backward through it
            adapt_decoder(self.decoder, self._layers, decode, inputs, targets, style_stats, steps, on_step=on_step)

        # Keyed by what is exactly reproducible (weights, pixels, settings), not by features, whose last bits
        # can change with the thread count: a Ray worker must find what the driver stored.
        key = cache_key([self.decoder, self.encoder], [*self.styles, self.weights], steps, size, calibration_size,
                        str(self.dtype), self.device.type)
        cached_adaptation(self.decoder, key, run)

    def _layers(self, batch: torch.Tensor) -> list[torch.Tensor]:
        """Features at the style layers (with gradients when enabled), for adaptation."""
        with autocast(self.device, self.dtype):
            return self.encoder(batch.to(self.device, memory_format=self.memory_format), STYLE_LAYERS)

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.dtype):
            return self._encode_fn(batch.to(self.device, memory_format=self.memory_format))[0]

    @torch.no_grad()
    def encode(self, batch: torch.Tensor) -> torch.Tensor:
        """relu4_1 features of an (N, 3, H, W) batch whose sides divide by 8."""
        return self._features(batch)

    @torch.no_grad()
    def decode(self, content: torch.Tensor, feats: torch.Tensor,
               content_stats: tuple[torch.Tensor, torch.Tensor] | None = None,
               tile: tuple[int, int] | None = None) -> torch.Tensor:
        """AdaIN to the (calibrated) style statistics, alpha blend, decode (in tiles of ``tile`` image pixels
        when given), feedback passes, and colour handling; returns [0, 1] images."""
        mean, std = self.style_mean, self.style_std
        if self.preserve_color == "coral":
            mean, std = self._coral_stats(content)
        feats = feats.float()
        target = blend(feats, adain_stats(feats, mean + self.shift, std * self.gain, content_stats), self.alpha)
        out = self._render_part(tile, target)
        if self.feedback:
            wanted = calc_mean_std(blend(feats, adain_stats(feats, mean, std, content_stats), self.alpha))
            for _ in range(self.feedback):
                fed = correct_stats(*calc_mean_std(target), *wanted, *calc_mean_std(self._encode_part(tile, out)))
                target = adain_stats(target, *fed)
                out = self._render_part(tile, target)
        if self.preserve_color == "luminance":
            out = transfer_luminance(out, content.to(out.device, torch.float32))
        return out

    def _render(self, target: torch.Tensor, decoder: Callable | None = None) -> torch.Tensor:
        with autocast(self.device, self.dtype):
            out = (decoder or self._decode_fn)(target.to(memory_format=self.memory_format))
        return out.float().clamp(0, 1)

    def with_fixed_coral(self, reference: torch.Tensor) -> Stylizer:
        """A copy whose styles are recoloured (CORAL) once, to ``reference`` (1, 3, H, W). For video, where
        recolouring to every frame would cost a style encoding per frame and make the colours flicker."""
        fixed = copy.copy(self)
        fixed.preserve_color = "none"
        fixed.style_mean, fixed.style_std = self._coral_stats(reference.to(self.device, torch.float32))
        return fixed

    def _coral_stats(self, content: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image style statistics of the styles recoloured to each content image (CORAL)."""
        stats = [self._style_stats([coral(s[0], c)[None] for s in self.styles]) for c in content.to(self.device)]
        return torch.cat([m for m, _ in stats]), torch.cat([s for _, s in stats])

    def reset(self) -> None:
        """Per-frame AdaIN keeps no state between calls."""

    def fork(self) -> Stylizer:
        """What another video lane uses: this very stylizer, since it keeps no state between calls."""
        return self

    def __call__(self, batch: torch.Tensor, content_stats: StatsFn | None = None) -> torch.Tensor:
        """Stylize an (N, 3, H, W) batch in [0, 1] of any size; the result has the same size.

        ``content_stats`` maps the batch's relu4_1 features to the statistics AdaIN normalises them by
        (temporal smoothing); it is called once, on the whole batch, whatever happens below. Frames past
        ``tile`` on a side, or on the CPU past ``CPU_TILE_ABOVE`` pixels, go through in tiles with the
        statistics of the whole frame. Out of memory, a stage is retried on half the batch, down to one
        frame, which then goes through in tiles."""
        batch = batch.to(self.device, torch.float32)
        padded, (h, w) = pad_to_multiple(batch)
        tile = self._tile_for(*padded.shape[-2:])
        feats = self._in_parts(self._encode_part, tile, padded)
        stats = content_stats(feats) if content_stats else None
        out = self._in_parts(self._decode_part, tile, padded, feats, *(stats or (None, None)))
        return out[..., :h, :w]

    def _tile_for(self, h: int, w: int) -> tuple[int, int] | None:
        """The tile shape for (padded) frames of ``h`` x ``w``, or None to run them whole. On the CPU, large
        frames go in tiles even unasked: a whole 1080p frame took 4.8 GB at peak (glibc's heap fragments
        under activations of 270 MB each) and ran slower than its tiles, memory-bound (1080p in 3x4 tiles of
        424x552, 1.34x the pixels: 3.8-3.9 s against 4.5-6.9 s whole; 720p in 1x4 tiles 1.7 s against
        2.3 s; 800x600 whole 0.75 s against 0.94 s in tiles, hence the threshold). Tiles of 640x640 were
        4 % faster at 1080p (2x4 of 592x552) and 15 % at 720p, but a 1080p video at full size then peaked
        at 2.0-2.1 GB against 1.7-1.85 GB (docs/BENCHMARKS.md)."""
        if self.tile:
            return tile_shape(h, w, self.tile**2, TILE_OVERLAP, MULTIPLE, self.tile) if max(h, w) > self.tile else None
        if self.device.type == "cpu" and h * w > CPU_TILE_ABOVE:
            return tile_shape(h, w, CPU_TILE_AREA, TILE_OVERLAP, MULTIPLE)
        return None

    def _in_parts(self, stage: Callable[..., torch.Tensor], tile: tuple[int, int] | None,
                  *tensors: torch.Tensor | None) -> torch.Tensor:
        """``stage(tile, *tensors)`` frame by frame in tiles, or on the whole batch; out of memory, on each
        half in turn, and a single frame in tiles."""
        n = tensors[0].shape[0]
        rows = lambda i, j: [t if t is None else t[i:j] for t in tensors]
        if tile is not None:
            return torch.cat([stage(tile, *rows(i, i + 1)) for i in range(n)])
        try:
            return stage(None, *tensors)
        except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
            if not _is_too_large(exc):
                raise
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        if n > 1:
            return torch.cat([self._in_parts(stage, None, *rows(0, n // 2)),
                              self._in_parts(stage, None, *rows(n // 2, n))])
        h, w = tensors[0].shape[-2:]
        side = min(self.tile or OOM_TILE, max(h, w) // 2 + TILE_OVERLAP)
        return stage(tile_shape(h, w, side * side, TILE_OVERLAP, MULTIPLE, side), *tensors)

    def _encode_part(self, tile: tuple[int, int] | None, padded: torch.Tensor) -> torch.Tensor:
        if tile is None:
            return self.encode(padded).float()
        return tiled_apply(padded, lambda t: self.encode(t).float(), tile, TILE_OVERLAP, 1 / MULTIPLE,
                           RELU4_1_CHANNELS, align=MULTIPLE)

    def _render_part(self, tile: tuple[int, int] | None, target: torch.Tensor) -> torch.Tensor:
        if tile is None:
            return self._render(target)
        feature_tile = (tile[0] // MULTIPLE, tile[1] // MULTIPLE)
        return tiled_apply(target, self._render, feature_tile, TILE_OVERLAP // MULTIPLE, MULTIPLE, 3)

    def _decode_part(self, tile: tuple[int, int] | None, padded: torch.Tensor, feats: torch.Tensor,
                     mean: torch.Tensor | None, std: torch.Tensor | None) -> torch.Tensor:
        return self.decode(padded, feats, None if mean is None else (mean, std), tile=tile)


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
    probe.preserve_color = "none"  # CORAL statistics are per call and small: not what fills memory
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    probe(torch.rand(1, 3, *hw, device=stylizer.device))
    per_frame = max(1, torch.cuda.max_memory_allocated() - base)
    free, _ = torch.cuda.mem_get_info()
    (h, w), m = hw, MULTIPLE
    index_limit = (2**31 - 1) // (64 * (-(-h // m) * m + 2) * (-(-w // m) * m + 2))
    return max(1, min(limit, index_limit, int(0.7 * free / per_frame / lanes)))


def _is_too_large(exc: BaseException) -> bool:
    """Out of memory, or a tensor past 32-bit indexing: both are cured by a smaller batch or tiles."""
    text = str(exc).lower()
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in text or \
        "can't allocate memory" in text or "32-bit index" in text
