"""Gatys et al. (2016) optimisation: pixels optimised against Gram-matrix style and content feature losses.

Used on its own (``--method gatys``), to refine AdaIN outputs (``adain+gatys``), and for video keyframes
with Ruder et al.'s (2016) temporal loss against the flow-warped previous output. Each loss is divided by
the size of its target (relative error), so the default weights work on raw Caffe VGG features (or
ResNet-50's, ``--backbone``) at any resolution. The features come through ``models/backbones.py``: the
network and its layer choice are data, as are its pools (``--pooling``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from pipeline.device import autocast
from pipeline.gatys_bf16 import Bf16Features, bf16_features, cpu_features_dtype
from pipeline.io.images import to_uint8
from pipeline.io.snapshots import SnapshotWriter, current_names
from pipeline.models.backbones import VGG19_GATYS, FeatureNet, gatys_net
from pipeline.options import Backbone, GatysOptions, Init, Optimizer
from pipeline.ops.losses import gram_matrix, masked_gram_loss, outside_range
from pipeline.ops.resize import pad_to_min_side

if TYPE_CHECKING:
    from pipeline.stylizer import Stylizer

log = logging.getLogger(__name__)
GRAM_LAYERS, CONTENT_LAYER = VGG19_GATYS.gram, VGG19_GATYS.content  # VGG-19's, as the paper chose them
# After each span of iterations: (image, iterations done so far, the loss of this level).
OnIterations = Callable[[torch.Tensor, int, "GatysLoss"], None]


def feature_net(net) -> FeatureNet:
    """``net`` as a FeatureNet: a bare VGG encoder reads the paper's VGG-19 layers."""
    return net if isinstance(net, FeatureNet) else FeatureNet(net, VGG19_GATYS)


def style_targets(net, styles: Sequence[torch.Tensor], weights: torch.Tensor,
                  dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Weighted mean of the styles' Gram matrices at each Gram layer, each (1, C, C); computed once per run. A
    style smaller than the net's deepest layer takes (``--size 32``) is padded as a content image is."""
    net = feature_net(net)
    w = weights.float() / weights.sum()
    targets = None
    with torch.no_grad():
        for style, wi in zip(styles, w):
            style = pad_to_min_side(style, getattr(net, "min_side", 0))
            with autocast(style.device, dtype):
                feats = net(style, net.layers.gram)
            grams = [wi * gram_matrix(f.float()) for f in feats]
            targets = grams if targets is None else [a + b for a, b in zip(targets, grams)]
    return targets


def usable_scales(hw: Sequence[int], scales: int, min_side: int) -> int:
    """How many of ``scales`` coarse-to-fine levels an image of size ``hw`` can have: the coarsest (the size
    halved ``scales - 1`` times) must still be ``min_side`` on its short side; at least one level."""
    levels = max(1, scales)
    while levels > 1 and min(hw) >> (levels - 1) < min_side:
        levels -= 1
    return levels


def total_variation(image: torch.Tensor) -> torch.Tensor:
    return (image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (image[..., :, 1:] - image[..., :, :-1]).abs().mean()


class GatysLoss:
    """Weighted content + style (+ TV, + pixels outside [0, 1], + temporal) loss for one content image. The
    range term keeps L-BFGS's image near [0, 1], where it is clamped at the end: without it the clamp raised
    the final loss by 17 % and 60 % on the two pairs measured (docs/BENCHMARKS.md, "Gatys on the CPU")."""

    def __init__(self, net, content: torch.Tensor, grams: list[torch.Tensor], opts: GatysOptions,
                 dtype: torch.dtype = torch.float32, temporal: tuple[torch.Tensor, torch.Tensor] | None = None,
                 masks: torch.Tensor | None = None):
        """``masks`` (N, K, H, W): spatial control, ``grams`` then (K, C, C) per layer, one per region."""
        self.net, self.opts, self.dtype, self.temporal, self.masks = feature_net(net), opts, dtype, temporal, masks
        self.names = self.net.layers.gram + (self.net.layers.content,)
        with torch.no_grad(), autocast(content.device, dtype):
            self.content_target = self.net(content, (self.net.layers.content,))[0].float()
        self.grams = grams
        self.gram_norms = [g.pow(2).mean() if masks is None else g.pow(2).mean((1, 2)) for g in grams]
        self.content_norm = self.content_target.pow(2).mean()

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        with autocast(image.device, self.dtype):
            feats = self.net(image, self.names)
        content = F.mse_loss(feats[-1].float(), self.content_target) / self.content_norm
        style = sum(w * (F.mse_loss(gram_matrix(f).float(), g.expand(f.shape[0], -1, -1)) / n if self.masks is None
                         else masked_gram_loss(f, g, self.masks, n))
                    for w, f, g, n in zip(self.opts.layer_weights, feats[:-1], self.grams, self.gram_norms))
        loss = self.opts.content_weight * content + self.opts.style_weight * style
        parts = {"content": content.item(), "style": style.item()}
        if self.opts.tv_weight:
            loss = loss + self.opts.tv_weight * total_variation(image)
        if self.opts.range_weight:
            loss = loss + self.opts.range_weight * outside_range(image)
        if self.temporal is not None:
            warped, mask = self.temporal
            temporal = (mask * (image - warped).pow(2)).sum() / mask.sum().clamp_min(1.0) / image.shape[1]
            loss = loss + self.opts.temporal_weight * temporal
            parts["temporal"] = temporal.item()
        parts["total"] = loss.item()
        return loss, parts


def spans(done: int, iterations: int, every: int) -> list[int]:
    """``iterations`` split into runs that end at every multiple of ``every`` (counted from 0, ``done`` of
    them already run); one run when ``every`` is 0."""
    if not every:
        return [iterations]
    out, at, end = [], done, done + iterations
    while at < end:
        stop = min(end, (at // every + 1) * every)
        out.append(stop - at)
        at = stop
    return out


def _optimize_at(image: torch.Tensor, loss_fn: GatysLoss, opts: GatysOptions, iterations: int,
                 history: list[dict[str, float]], on_iterations: OnIterations | None = None,
                 done: int = 0) -> torch.Tensor:
    """``iterations`` steps from ``image``; ``on_iterations`` after each span ending at a multiple of
    ``opts.save_every`` (L-BFGS keeps its history across spans: one extra evaluation per span)."""
    x = image.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    runs = spans(done, iterations, opts.save_every if on_iterations is not None else 0)
    if opts.optimizer == Optimizer.ADAM:
        optimizer = torch.optim.Adam([x], lr=opts.lr)
        for n in runs:
            for _ in range(n):
                optimizer.zero_grad(set_to_none=True)
                loss, parts = loss_fn(x)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    x.clamp_(0, 1)
                history.append(parts)
            done += n
            if on_iterations is not None:
                on_iterations(x.detach(), done, loss_fn)
        return x.detach()
    optimizer = torch.optim.LBFGS([x], lr=1.0, max_iter=runs[0], max_eval=int(runs[0] * 1.25),
                                  tolerance_grad=0.0, tolerance_change=0.0, history_size=50,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss, parts = loss_fn(x)
        loss.backward()
        history.append(parts)
        return loss

    for n in runs:
        optimizer.param_groups[0].update(max_iter=n, max_eval=int(n * 1.25))
        optimizer.step(closure)
        done += n
        if on_iterations is not None:
            on_iterations(x.detach().clamp(0, 1), done, loss_fn)
    return x.detach().clamp(0, 1)


def gatys(net, content: torch.Tensor, grams: list[torch.Tensor], opts: GatysOptions,
          init: torch.Tensor | None = None, temporal: tuple[torch.Tensor, torch.Tensor] | None = None,
          dtype: torch.dtype = torch.float32,
          on_iterations: OnIterations | None = None,
          masks: torch.Tensor | None = None) -> tuple[torch.Tensor, list[dict[str, float]]]:
    """Optimise an image (N, 3, H, W) in [0, 1] against ``net``'s features (a FeatureNet, or a VGG encoder);
    returns it and the per-evaluation loss history.

    ``init`` (e.g. the AdaIN output, or the warped previous frame) is the starting point; without it
    ``opts.init`` picks the content or noise. With ``opts.scales`` > 1 the image is first optimised at
    1/2^(scales-1) of the size, upsampled, and refined at each larger size; levels whose short side would be
    under ``net.min_side`` are left out (``usable_scales``). ``on_iterations`` sees the image every
    ``opts.save_every`` iterations, counted over all levels. ``masks``: per-region ``grams`` (``GatysLoss``).
    """
    net = feature_net(net)
    if init is None:
        init = torch.rand_like(content) if opts.init == Init.NOISE else content
    history: list[dict[str, float]] = []
    size = content.shape[-2:]
    scales = usable_scales(size, opts.scales, net.min_side)
    x, done = init, 0
    per_scale = max(1, opts.iterations // scales)
    for level in reversed(range(scales)):
        hw = (size[0] >> level, size[1] >> level)
        c = F.interpolate(content, size=hw, mode="bilinear", antialias=True) if level else content
        x = F.interpolate(x, size=hw, mode="bilinear", align_corners=False) if x.shape[-2:] != hw else x
        loss_fn = GatysLoss(net, c, grams, opts, dtype, None if level else temporal, masks)
        iterations = opts.iterations - per_scale * (scales - 1) if not level else per_scale
        x = _optimize_at(x, loss_fn, opts, iterations, history, on_iterations, done)
        done += iterations
    return x, history


class Snapshots:
    """``on_iterations`` for one image: writes it at the full ``size`` it is optimised at, cropped to its own
    ``crop`` (smaller where it was padded: ``GatysStylizer.padded``), with its loss there."""

    def __init__(self, writer: SnapshotWriter, size: tuple[int, int], crop: tuple[int, int]) -> None:
        self.writer, self.size, self.crop = writer, size, crop

    def __call__(self, x: torch.Tensor, done: int, loss_fn: GatysLoss) -> None:
        with torch.no_grad():
            _, parts = loss_fn(x)
        work_hw = tuple(x.shape[-2:])
        if work_hw != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False).clamp(0, 1)
        self.writer.write(done, to_uint8(x[0, :, :self.crop[0], :self.crop[1]].float().cpu()), parts, work_hw)


class GatysStylizer:
    """``--method gatys`` / ``adain+gatys``: a ``stylizer.BatchStylizer`` like the AdaIN one, each image
    optimised on its own (starting per ``opts.init``: the AdaIN output, the content, noise or the style), in
    the features of ``opts.backbone`` with ``opts.pooling``'s pools."""

    def __init__(self, stylizer: Stylizer, opts: GatysOptions, from_adain: bool = False) -> None:
        self.stylizer, self.opts, self.from_adain = stylizer, opts, from_adain
        self.device = stylizer.device
        # Autocast only on CUDA. On the CPU the image, L-BFGS's history and the losses stay fp32; VGG's
        # features come from weights cast to bf16 once where the networks run in bf16 (``gatys_bf16.py``).
        self.dtype = stylizer.dtype if self.device.type == "cuda" else torch.float32
        self.net = gatys_net(opts, stylizer.encoder, self.device)
        cpu = getattr(getattr(stylizer, "nets", None), "backend", None)
        if self.device.type == "cpu" and opts.backbone == Backbone.VGG19 and \
                cpu_features_dtype(cpu) == torch.bfloat16:
            self.net = bf16_features(self.net)
        self.grams = style_targets(self.net, stylizer.styles, stylizer.weights, self.dtype)
        self._warned = False

    def start(self, content: torch.Tensor, adain: torch.Tensor | None = None) -> torch.Tensor:
        """Where the optimisation of ``content`` (1, 3, H, W) starts, per ``opts.init`` (``adain``: the AdaIN
        output when the caller has it; init ``adain`` or ``from_adain``)."""
        init = Init.ADAIN if self.from_adain else self.opts.init
        if init == Init.ADAIN:
            return adain if adain is not None else self.stylizer(content)
        if init == Init.NOISE:
            return torch.rand_like(content)
        if init == Init.STYLE:
            style = self.stylizer.styles[int(torch.argmax(self.stylizer.weights))]
            return F.interpolate(style.to(content), size=content.shape[-2:], mode="bilinear", antialias=True)
        return content

    def refine(self, content: torch.Tensor, init: torch.Tensor | None = None,
               temporal: tuple[torch.Tensor, torch.Tensor] | None = None, name: str | None = None) -> torch.Tensor:
        """Optimise one image (1, 3, H, W) from ``init`` (default: ``start``); with ``--save-every``,
        snapshots named ``name`` (default: the one name ``io.snapshots.snapshot_names`` gives, if any)."""
        self._check_scales(content.shape[-2:])
        init = self.start(content) if init is None else init
        names = current_names()
        name = name if name is not None else names[0] if names is not None and len(names) == 1 else None
        h, w = content.shape[-2:]
        content, init = self.padded(content, init)
        temporal = tuple(self.padded(*temporal)) if temporal is not None else None
        snaps = self.snapshots(name, tuple(content.shape[-2:]), (h, w))
        with torch.enable_grad():
            out, _ = gatys(self.net, content, self.grams, self.opts, init, temporal, self.dtype, snaps)
        return out[..., :h, :w]

    def padded(self, *tensors: torch.Tensor | None) -> list[torch.Tensor | None]:
        """``tensors`` (N, C, H, W; None passes) padded at the bottom and right to the smallest side the net's
        deepest layer takes (``FeatureNet.min_side``, 32 px for VGG-19): a smaller image is optimised with a
        reflected border, then cropped back."""
        return [None if t is None else pad_to_min_side(t, self.net.min_side) for t in tensors]

    def snapshots(self, name: str | None, size: tuple[int, int], crop: tuple[int, int]) -> Snapshots | None:
        """With ``--save-every``, the snapshots of the image called ``name`` optimised at ``size`` (padded),
        written at ``crop``, its own size; else None."""
        if not self.opts.save_every or name is None:
            return None
        return Snapshots(SnapshotWriter(self.opts.snapshot_dir, name), size, crop)

    def _check_scales(self, hw) -> None:
        """One warning line per run when ``--scales`` asks for a level smaller than the net takes."""
        levels = usable_scales(hw, self.opts.scales, self.net.min_side)
        if levels < self.opts.scales and not self._warned:
            self._warned = True
            log.warning("--scales %d: at %dx%d the coarsest level would be under the %d px a side that %s to "
                        "its deepest layer needs; using %d (at this size and below)", self.opts.scales, hw[1],
                        hw[0], self.net.min_side, self.opts.backbone, levels)

    def describe(self) -> str:
        """The dtype of the features the optimisation runs on, for a run's summary."""
        dtype = torch.bfloat16 if isinstance(self.net, Bf16Features) else self.dtype
        return f"Gatys {str(dtype).removeprefix('torch.')} features"

    def reset(self) -> None:
        """Each image is optimised on its own: no state."""

    def __call__(self, batch: torch.Tensor, names: Sequence[str] | None = None) -> torch.Tensor:
        """Each image of ``batch`` optimised; ``names`` (default: ``snapshot_names``'s) name the snapshots."""
        batch = batch.to(self.device, torch.float32)
        names = names if names is not None else current_names()
        names = list(names) if names is not None and len(names) == len(batch) else [None] * len(batch)
        adain = self.stylizer(batch) if self.from_adain or self.opts.init == Init.ADAIN else [None] * len(batch)
        return torch.cat([self.refine(c[None], self.start(c[None], None if a is None else a[None]), name=n)
                          for c, a, n in zip(batch, adain, names)])
