"""Masks, one per style (``--mask PATH`` after a ``--style``): where they come from and the targets they give.

A mask is grey: white takes its style, black does not, grey blends. From an image file: its alpha channel
when it has transparency (any pixel not fully opaque: a cut-out's own shape), else its luminance (Rec. 601,
as Pillow's ``L``). It is resized to each frame, whatever its size or aspect. For ``stylize video`` a video
whose frames follow the content's by index (the source's frame index, so ``--start`` keeps them aligned),
held on its last frame when shorter; for ``stylize folder`` a folder mirroring the input tree, where
``MASKS/a/b.png`` (any image suffix) masks ``INPUT/a/b.jpg``.

Mask videos are decoded per lane (``threading.local``) and seek to a lane's first frame through the
decoder's own keyframe seek: memory stays a few frames however long the clip, and since decoding from a
keyframe gives the same pixels, every lane split (and a resumed run) sees the same masks.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from pipeline.errors import ImageReadError, OptionError, VideoError
from pipeline.io.images import IMAGE_EXTENSIONS, read_image
from pipeline.io.video import VIDEO_EXTENSIONS, decode_frames, frame_timestamps, probe
from pipeline.ops.masks import default_feather, style_regions
from pipeline.options import ControlOptions
from pipeline.stylizer import FrameTargets

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # Rec. 601, as Pillow's "L"
KEEP_FRAMES = 80  # mask frames a lane keeps: a segment's warm-up (at most 64) plus a batch reach back


def is_video(path: Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def read_mask(path: Path) -> np.ndarray:
    """(H, W) float32 in [0, 1]: the alpha channel of an image with transparency, else its luminance;
    ImageReadError naming the reason."""
    image = read_image(path)
    if image.alpha is not None and float(image.alpha.min()) < 1.0:
        return np.ascontiguousarray(image.alpha, dtype=np.float32)
    return np.ascontiguousarray(image.rgb @ LUMA)


@functools.lru_cache(maxsize=8)
def _cached_mask(path: str, mtime_ns: int) -> np.ndarray:
    return read_mask(Path(path))


def mask_file(path: Path) -> np.ndarray:
    """``read_mask``, remembered by path and modification time (one mask image serves every item)."""
    path = Path(path)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        raise ImageReadError("no such file") from None
    return _cached_mask(str(path), mtime)


def resized(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """``mask`` at ``hw``: area-averaged down (a thin line stays a grey line), bilinear up."""
    if mask.shape == tuple(hw):
        return mask
    shrink = mask.shape[0] * mask.shape[1] > hw[0] * hw[1]
    return cv2.resize(mask, (hw[1], hw[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def check_masks(control: ControlOptions, video: bool) -> None:
    """Each ``--mask`` usable for the command (``video``: ``stylize video``), read or probed once here:
    OptionError naming the file (exit 2) before anything is written."""
    for path in control.masks:
        if path is None:
            continue
        if path.is_dir():
            if video:
                raise OptionError(f"--mask {path}: a folder of masks mirrors `stylize folder`'s input; for a video "
                                  "give an image or a video")
            continue
        try:
            if is_video(path):
                if not video:
                    raise OptionError(f"--mask {path}: a video mask is for `stylize video`; give an image or a "
                                      "folder mirroring the input")
                probe(path)
            else:
                mask_file(path)
        except (ImageReadError, VideoError) as exc:
            raise OptionError(f"--mask {path}: {exc}") from None


def item_masks(control: ControlOptions, src: Path, input_dir: Path) -> tuple[tuple[Path | None, ...], list[Path]]:
    """Each style's mask file for the image ``src`` under ``input_dir`` (None: no mask), and the mirrored
    masks that are missing (that style is unmasked for this image)."""
    rel = src.relative_to(input_dir)
    paths, missing = [], []
    for mask in control.masks:
        if mask is None or not mask.is_dir():
            paths.append(mask)
            continue
        found = [p for ext in sorted(IMAGE_EXTENSIONS) for p in ((mask / rel).with_suffix(ext),
                                                                   (mask / rel).with_suffix(ext.upper())) if p.is_file()]
        paths.append(found[0] if found else None)
        if not found:
            missing.append(mask / rel.with_suffix(".png"))
    return tuple(paths), missing


def load_item_masks(paths: Sequence[Path | None], hw: tuple[int, int]) -> list[np.ndarray | None]:
    """The masks of one image at its work size ``hw``; ImageReadError naming a mask that cannot be read."""
    out = []
    for path in paths:
        try:
            out.append(None if path is None else resized(mask_file(path), hw))
        except ImageReadError as exc:
            raise ImageReadError(f"mask {path}: {exc}") from None
    return out


def feathered(mask: np.ndarray, radius: float) -> np.ndarray:
    """``ops.regions.feather`` on the host: the same Gaussian (sigma ``radius / 2``, ``2 * round(radius) + 1``
    taps, edges replicated), where OpenCV's blur takes well under a millisecond at 512 px and a one-channel
    ``conv2d`` on the CPU tens of milliseconds (10 % of a frame's time)."""
    if radius <= 0:
        return mask
    taps = 2 * max(1, int(round(radius))) + 1
    return cv2.GaussianBlur(mask, (taps, taps), radius / 2, borderType=cv2.BORDER_REPLICATE)


def targets_from(bank, masks: Sequence[Sequence[np.ndarray | torch.Tensor | None]], hw: tuple[int, int],
                 device: torch.device, radius: float | None) -> FrameTargets:
    """``FrameTargets`` for N images from each one's per-style masks at ``hw`` (None: that style unmasked
    there), feathered by ``radius`` px (None: ``default_feather``) and split into regions by the bank's
    style weights (``ops/masks.py``)."""
    s = len(bank.names)
    stack = np.zeros((len(masks), s, *hw), np.float32)
    masked = torch.zeros(len(masks), s, dtype=torch.bool)
    radius = default_feather(hw) if radius is None else radius
    for i, row in enumerate(masks):
        for k, mask in enumerate(row):
            if mask is not None:
                stack[i, k] = feathered(np.asarray(mask, np.float32), radius)
                masked[i, k] = True
    regions, weights = style_regions(torch.from_numpy(stack).to(device), masked.to(device), bank.weights)
    return bank.targets(weights, regions)


class MaskVideo:
    """A mask video's frames by index as (h, w) uint8 luminance at the size asked for, held on the last one
    past its end. Each thread (a lane) decodes on its own, keeping its last ``KEEP_FRAMES`` frames, and
    seeks when asked for a frame before those or far ahead."""

    def __init__(self, path: Path) -> None:
        self.info = probe(path)
        self.timestamps = frame_timestamps(self.info)
        self.count = len(self.timestamps)
        self._local = threading.local()

    def frame(self, index: int, hw: tuple[int, int]) -> np.ndarray:
        """Frame ``index`` (clamped to the clip) as float32 in [0, 1] at ``hw``."""
        index = min(max(0, index), self.count - 1)
        lane = self._local
        if getattr(lane, "hw", None) != hw:
            self._restart(lane, hw)
        if index not in lane.kept:
            newest = next(reversed(lane.kept), -1)
            if lane.frames is None or not newest < index <= newest + KEEP_FRAMES:
                self._restart(lane, hw)
                lane.frames = decode_frames(self.info, first_index=index, timestamps=self.timestamps)
            self._decode_to(lane, index)
        return lane.kept[index].astype(np.float32) / 255.0

    def _restart(self, lane, hw: tuple[int, int]) -> None:
        if getattr(lane, "frames", None) is not None:
            lane.frames.close()
        lane.frames, lane.kept, lane.hw = None, OrderedDict(), hw

    def _decode_to(self, lane, index: int) -> None:
        for frame in lane.frames:
            grey = (frame.image.astype(np.float32) @ LUMA).clip(0, 255).round().astype(np.uint8)
            lane.kept[frame.index] = resized(grey, lane.hw)
            while len(lane.kept) > KEEP_FRAMES:
                lane.kept.popitem(last=False)
            if frame.index >= index:
                break
        if index not in lane.kept:
            raise VideoError(f"mask {self.info.path}: frame {index} did not decode")


class MaskControl:
    """``control.bank.FrameControl`` for masks in a video: each batch's per-style masks at the work size,
    feathered and split into regions. Shared by the lanes of one video (mask videos decode per thread);
    targets of still masks are made once per batch size."""

    def __init__(self, bank, plan, masks=None) -> None:
        self.bank, self.radius = bank, bank.control.mask_feather
        masks = bank.control.masks if masks is None else masks
        self.sources = [None if m is None else _mask_source(m) for m in masks]
        self.still = not any(isinstance(src, MaskVideo) for src in self.sources)
        self.offset = _frames_before(plan.info, plan.video.start)
        self._made: dict = {}

    def targets(self, indices: Sequence[int], seconds: Sequence[float], hw: tuple[int, int],
                device: torch.device) -> FrameTargets:
        key = (len(indices), tuple(hw), str(device))
        if self.still and key in self._made:
            return self._made[key]
        rows = [[self._mask(src, i, hw) for src in self.sources] for i in indices]
        made = targets_from(self.bank, rows, hw, device, self.radius)
        if self.still:
            self._made[key] = made
        return made

    def _mask(self, src, index: int, hw: tuple[int, int]) -> np.ndarray | None:
        if src is None:
            return None
        return src.frame(index + self.offset, hw) if isinstance(src, MaskVideo) else resized(src, hw)


def _mask_source(path: Path):
    """A mask video, or a still mask's pixels; ImageReadError naming ``path`` where it cannot be read."""
    try:
        return MaskVideo(path) if is_video(path) else mask_file(path)
    except ImageReadError as exc:
        raise ImageReadError(f"mask {path}: {exc}") from None


def _frames_before(info, start_s: float) -> int:
    """How many of the source's frames come before ``--start`` (decode_frames counts from there)."""
    if start_s <= 0:
        return 0
    return sum(1 for pts in frame_timestamps(info) if float(pts * info.time_base) < info.clock(start_s) - 1e-6)
