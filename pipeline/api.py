"""The Python API, for notebooks and other programs: what ``stylize folder`` does to one image, in memory.

``stylize_image(content, style, **options)`` for one image, ``load_stylizer(style, **options)`` for many
with one style (the models, calibration and adaptation are paid once). Options are ``StyleOptions`` fields
plus ``size`` (the work size's long side, 512 as in the CLI), ``keep_size`` (give the result at the
content's size), ``upscale`` (``"guided"``, ``"resize"`` or ``"decode"``: how, as ``--upscale``) and ``device``; every
default is the CLI's.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pipeline.build import build_stylizer, load_style_images
from pipeline.device import pick_device, pick_dtype
from pipeline.errors import UsageError
from pipeline.io.images import _to_float_rgb, read_image, to_tensor, to_uint8
from pipeline.ops.resize import resize_long_side
from pipeline.ops.sizes import work_size
from pipeline.ops.upsample import guided_upsample
from pipeline.options import ControlOptions, StyleOptions, Upscale, calibration_size_for, style_size_for
from pipeline.process import setup_process
from pipeline.stylizer import Stylizer
from pipeline.upscale import decode_at_source

Picture = Union[str, os.PathLike, Image.Image, np.ndarray, torch.Tensor]
log = logging.getLogger(__name__)
IN_MEMORY = Path("<in-memory style>")  # names a style given as pixels (StyleOptions wants a name per style)
OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(StyleOptions)) - {"styles", "device"}


class ImageStylizer:
    """One style, ready for many images: ``stylizer(content)`` gives the content's kind back (a path or a PIL
    image gives a PIL image, an (H, W, 3) uint8 array a uint8 array, a float tensor (3, H, W) or (1, 3, H, W)
    in [0, 1] a float tensor of that layout), at the work size, or at the content's size with ``keep_size``."""

    def __init__(self, stylizer: Stylizer, size: int, keep_size: bool, upscale: Upscale = Upscale.GUIDED) -> None:
        self.stylizer, self.size, self.keep_size, self.upscale = stylizer, size, keep_size, Upscale(upscale)

    def __call__(self, content: Picture) -> Image.Image | np.ndarray | torch.Tensor:
        if isinstance(content, torch.Tensor):
            return self._tensor(content)
        if isinstance(content, (str, os.PathLike)):  # read as the folder job reads (EXIF turned, JPEG draft)
            image = read_image(content, min_side=0 if self.keep_size else self.size)
            rgb, source_hw = image.rgb, image.source_hw
            if image.frames > 1:  # said, not passed over: an image in, an image out
                log.warning("%s: %d frames or pages: the first is stylized (`stylize folder` and `stylize video` "
                            "keep every frame of an animation)", content, image.frames)
        else:
            rgb = _float_rgb(content)
            source_hw = rgb.shape[:2]
        guide = to_tensor(rgb)[None] if rgb.shape[:2] == tuple(source_hw) else None
        out = self._stylize(to_tensor(_to_work(rgb, source_hw, self.size))[None], source_hw, guide)
        result = to_uint8(out[0])
        return result if isinstance(content, np.ndarray) else Image.fromarray(result)

    def _tensor(self, content: torch.Tensor) -> torch.Tensor:
        batch = _check_tensor(content)
        out = self._stylize(resize_long_side(batch.float(), self.size), tuple(batch.shape[-2:]), batch.float())
        return out.to(content.device, content.dtype).reshape(*content.shape[:-2], *out.shape[-2:])

    @torch.no_grad()
    def _stylize(self, batch: torch.Tensor, source_hw: tuple[int, int], guide: torch.Tensor | None) -> torch.Tensor:
        """``guide``: the content at ``source_hw``, for ``--upscale guided`` as the folder job does it."""
        targets = _mask_targets(self.stylizer, tuple(batch.shape[-2:]))
        if self.keep_size and self.upscale == Upscale.DECODE and guide is not None and targets is None:
            return decode_at_source(self.stylizer, batch, guide).cpu()
        out = self.stylizer(batch, targets)
        if self.keep_size and tuple(out.shape[-2:]) != tuple(source_hw):
            if self.upscale != Upscale.RESIZE and guide is not None:  # decode with masks: guided
                out = guided_upsample(out.float(), guide.to(out.device))
            else:
                out = F.interpolate(out, size=tuple(source_hw), mode="bicubic", align_corners=False)
        return out.clamp(0, 1).cpu()


def load_stylizer(style: Picture | Sequence[Picture], *, size: int = 512, keep_size: bool = False,
                  upscale: str = "guided", device: str = "auto", masks=None, mask_feather: float | None = None,
                  **options) -> ImageStylizer:
    """A reusable stylizer for ``style`` (a path, a PIL image, an (H, W, 3) uint8 array, a float tensor, or a
    list of these, mixed by ``style_weights``); ``options`` are ``StyleOptions`` fields. ``masks``: a mask
    image path for the one style, or one path (or None) per style, as ``--mask`` (``mask_feather`` as
    ``--mask-feather``). Raises ``UsageError`` (a ``ValueError``) for an unusable option, style or mask."""
    unknown = sorted(set(options) - OPTION_NAMES)
    if unknown:
        names = ", ".join(sorted(OPTION_NAMES | {"size", "keep_size", "upscale", "device", "masks", "mask_feather"}))
        raise UsageError(f"unknown option {unknown[0]!r}; expected one of {names}")
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    paths = [Path(s) if isinstance(s, (str, os.PathLike)) else None for s in styles]
    options.setdefault("style_size", style_size_for(size))
    options.setdefault("calibration_size", calibration_size_for(size))
    if masks is not None:
        options["control"] = _mask_control(masks, len(styles), mask_feather)
    opts = StyleOptions(styles=[p or IN_MEMORY for p in paths], device=device, **options)
    pixels = None if all(paths) else [_style_tensor(s, p) for s, p in zip(styles, paths)]
    torch_device = pick_device(opts.device)
    setup_process(torch_device, pick_dtype(opts.precision, torch_device))
    try:
        upscale = Upscale(upscale)
    except ValueError:
        raise UsageError(f"upscale must be 'guided', 'resize' or 'decode', got {upscale!r}") from None
    return ImageStylizer(build_stylizer(opts, styles=pixels), size, keep_size, upscale)


def stylize_image(content: Picture, style: Picture | Sequence[Picture], *, size: int = 512,
                  keep_size: bool = False, device: str = "auto", **options) -> Image.Image | np.ndarray | torch.Tensor:
    """``content`` stylized after ``style``, of the content's kind (see ``ImageStylizer``); for many images
    with one style, ``load_stylizer`` once."""
    return load_stylizer(style, size=size, keep_size=keep_size, device=device, **options)(content)


def _mask_control(masks, count: int, feather: float | None) -> ControlOptions:
    """``masks=`` as ``ControlOptions``: one image path per style (a single path for a single style)."""
    from pipeline.control.masks import check_masks

    slots = [masks] if isinstance(masks, (str, os.PathLike)) else list(masks)
    if len(slots) != count or any(m is not None and not isinstance(m, (str, os.PathLike)) for m in slots):
        raise UsageError(f"masks must be one image path (or None) per style: {count} styles, got {masks!r}")
    control = ControlOptions(masks=tuple(None if m is None else Path(m) for m in slots), mask_feather=feather)
    if any(m is not None and m.is_dir() for m in control.masks):
        raise UsageError("masks: a folder of masks is for `stylize folder`; give one image per style")
    check_masks(control, video=False)
    return control


def _mask_targets(stylizer: Stylizer, hw: tuple[int, int]):
    """The region targets of a run with masks for one image at ``hw`` (None without masks)."""
    bank = stylizer.bank
    if bank is None or not bank.control.masked:
        return None
    from pipeline.control.masks import mask_file, resized, targets_from

    row = [None if m is None else resized(mask_file(m), hw) for m in bank.control.masks]
    return targets_from(bank, [row], hw, stylizer.device, bank.control.mask_feather)


def _to_work(rgb: np.ndarray, source_hw: tuple[int, int], size: int) -> np.ndarray:
    """(H, W, 3) float resized as the folder job does: to the work size of the source's full size
    (``source_hw``; a JPEG decoded in draft mode is smaller), by area averaging."""
    h, w = work_size(*source_hw, size)
    return rgb if rgb.shape[:2] == (h, w) else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)


def _float_rgb(picture: Image.Image | np.ndarray) -> np.ndarray:
    """A PIL image (any mode) or an (H, W, 3) uint8 array as (H, W, 3) float32 in [0, 1]."""
    if isinstance(picture, Image.Image):
        return np.ascontiguousarray(_to_float_rgb(picture)[0])
    if not isinstance(picture, np.ndarray):
        raise UsageError(f"expected a path, a PIL image, an (H, W, 3) uint8 array or a float tensor, got "
                         f"{type(picture).__name__}")
    if picture.dtype != np.uint8 or picture.ndim != 3 or picture.shape[2] != 3 or 0 in picture.shape:
        raise UsageError(f"an array image must be (H, W, 3) uint8, got {picture.shape} {picture.dtype}")
    return picture.astype(np.float32) / 255.0


def _check_tensor(image: torch.Tensor) -> torch.Tensor:
    """A float (3, H, W) or (1, 3, H, W) tensor in [0, 1] as (1, 3, H, W); anything else is a UsageError,
    since a uint8 or 0-255 tensor would otherwise come out as a plausible but wrong image."""
    if not image.is_floating_point():
        raise UsageError(f"a tensor image must be float in [0, 1], got {image.dtype} (use tensor.float() / 255)")
    batch = image[None] if image.dim() == 3 else image
    if batch.dim() != 4 or batch.shape[:2] != (1, 3) or 0 in batch.shape:
        raise UsageError(f"a tensor image must be (3, H, W) or (1, 3, H, W), got {tuple(image.shape)}")
    low, high = batch.min().item(), batch.max().item()
    if not (0.0 <= low and high <= 1.0):  # also false for NaN
        raise UsageError(f"a tensor image must be in [0, 1], got values in [{low:g}, {high:g}]")
    return batch


def _style_tensor(style: Picture, path: Path | None) -> torch.Tensor:
    """A style given as pixels (or a path, when another style of the list is pixels) as (1, 3, H, W)."""
    if isinstance(style, torch.Tensor):
        return _check_tensor(style).float().cpu()
    if path is not None:
        return load_style_images([path], 0)[0]  # full size: the builder resizes
    return to_tensor(_float_rgb(style))[None]
