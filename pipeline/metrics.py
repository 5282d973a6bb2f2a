"""Quality metrics: AdaIN-protocol style loss, content loss, and (for video) warping error."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

from pipeline.build import load_style_images
from pipeline.errors import VideoError
from pipeline.io.video import decode_frames, probe
from pipeline.models.vgg import STYLE_LAYERS, VGGEncoder, load_encoder
from pipeline.ops.losses import channel_stats, stats_distance_terms
from pipeline.ops.warp import warp
from pipeline.temporal.flow import FlowEstimator


@torch.no_grad()
def style_loss(encoder: VGGEncoder, images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Per-image AdaIN-protocol style loss of ``images`` (N, 3, H, W) against one ``style`` (1, 3, h, w):
    the sum over relu1_1..relu4_1 of the L2 distances between channel means and between channel stds."""
    return style_loss_terms(encoder, images, style).sum(dim=(1, 2))


@torch.no_grad()
def style_loss_terms(encoder: VGGEncoder, images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The terms of :func:`style_loss`, shaped (N, layers, 2): mean and std distance of each style layer."""
    style_stats = channel_stats(encoder(style, STYLE_LAYERS))  # (1, C, 1, 1): broadcast over the batch
    return stats_distance_terms(encoder(images, STYLE_LAYERS), style_stats)


@torch.no_grad()
def content_loss(encoder: VGGEncoder, images: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared distance between relu4_1 features of ``images`` and ``content``."""
    a, b = encoder(images, ("relu4_1",))[0], encoder(content, ("relu4_1",))[0]
    return (a - b).pow(2).flatten(1).mean(1)


def warping_error(inputs: list[np.ndarray], outputs: list[np.ndarray], flow: FlowEstimator | None = None) -> float:
    """Warping error (Lai et al. 2018): flow on the INPUT video, then the occlusion-masked mean squared
    difference between each output frame and the flow-warped previous output frame (RGB in [0, 1]),
    averaged over frame pairs. Input frames are resized to the output size first."""
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} input frames but {len(outputs)} output frames")
    flow = flow or FlowEstimator()
    pairs = [(_at(inp, out.shape[:2]), out) for inp, out in zip(inputs, outputs)]
    errors = [pair_warping_error(a, b, flow) for a, b in zip(pairs, pairs[1:])]
    return float(np.mean(errors)) if errors else 0.0


def pair_warping_error(before: tuple[np.ndarray, np.ndarray], after: tuple[np.ndarray, np.ndarray],
                       flow: FlowEstimator) -> float:
    """One step of :func:`warping_error`: two consecutive (input at the output's size, output) frame pairs."""
    h, w = after[1].shape[:2]
    backward, mask = flow.backward_with_mask(before[0], after[0], (h, w))
    prev_out = torch.from_numpy(before[1]).permute(2, 0, 1)[None].float() / 255
    cur_out = torch.from_numpy(after[1]).permute(2, 0, 1)[None].float() / 255
    diff = (cur_out - warp(prev_out, backward)).pow(2).sum(1, keepdim=True)
    return ((mask * diff).sum() / mask.sum().clamp_min(1.0)).item()


def video_metrics(encoder: VGGEncoder, inputs: list[np.ndarray], outputs: list[np.ndarray], style: torch.Tensor,
                  sample_every: int = 1) -> dict[str, float]:
    """Warping error over all frames; style and content losses over every ``sample_every``-th frame."""
    return pair_metrics(encoder, zip(inputs, outputs), style, sample_every)


def pair_metrics(encoder: VGGEncoder, pairs: Iterable[tuple[np.ndarray, np.ndarray]], style: torch.Tensor,
                 sample_every: int = 1) -> dict[str, float]:
    """:func:`video_metrics` of (input, output) frame pairs taken one at a time: a long video is never held."""
    flow, previous, frames = FlowEstimator(), None, 0
    errors, styles, contents = [], [], []
    for k, (inp, out) in enumerate(pairs):
        pair = (_at(inp, out.shape[:2]), out)
        if previous is not None:
            errors.append(pair_warping_error(previous, pair, flow))
        if k % max(1, sample_every) == 0:
            out_t, in_t = (torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255 for x in (out, pair[0]))
            styles.append(style_loss(encoder, out_t, style).item())
            contents.append(content_loss(encoder, out_t, in_t).item())
        previous, frames = pair, frames + 1
    mean = lambda values: float(np.mean(values)) if values else 0.0  # noqa: E731
    return {"frames": frames, "warping_error": mean(errors), "style_loss": mean(styles),
            "content_loss": mean(contents)}


def _at(frame: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """``frame`` at ``hw`` (the output's size), 8 bits a channel as the output's."""
    if frame.dtype == np.uint16:
        frame = (frame >> 8).astype(np.uint8)
    return frame if frame.shape[:2] == tuple(hw) else cv2.resize(frame, hw[::-1], interpolation=cv2.INTER_AREA)


def paired_frames(input_video: Path, output_video: Path, start: float = 0.0,
                  max_frames: int | None = None, unpaired: list[int] | None = None) -> Iterator[tuple]:
    """(input frame, output frame) at the same moment, one pair at a time: output frame k at its time from
    the output's first frame, the input frame nearest ``start`` plus that time (``stylize video`` keeps the
    source's times, from its --start). An output frame with no input frame within half a frame of its time is
    left out (its time appended to ``unpaired``). A file that cannot be read raises VideoError naming it."""
    inputs = _times(input_video, start, None)
    current, ahead = next(inputs, None), next(inputs, None)
    for t, out, _ in _times(output_video, 0.0, max_frames):
        while ahead is not None and abs(ahead[0] - t) <= abs(current[0] - t):
            current, ahead = ahead, next(inputs, None)
        if current is None or abs(current[0] - t) > current[2]:
            if unpaired is not None:
                unpaired.append(t)
            continue
        yield current[1], out


def _times(path: Path, start: float, max_frames: int | None) -> Iterator[tuple[float, np.ndarray, float]]:
    """(seconds from ``start``, frame, half the frame's average duration) of ``path``'s frames from
    ``start`` (counted from its first frame's time)."""
    try:
        info = probe(path)
        half = 0.5 / float(info.rate) if info.rate else 0.5 / 24
        for frame in decode_frames(info, start_s=start, max_frames=max_frames):
            yield float(frame.pts * info.time_base) - info.origin_s - start, frame.image, half
    except VideoError as exc:
        raise VideoError(f"{path}: {exc}") from None


def measure_video(input_video: Path, output_video: Path, style: Path, max_frames: int | None = None,
                  sample_every: int = 1, start: float = 0.0) -> dict[str, float]:
    """``stylize metrics``: the figures of ``video_metrics`` for a source and its stylized version, frames
    paired by time (``paired_frames``); memory stays a few frames whatever the length. A file that cannot be
    read raises VideoError (or, for the style, StyleError) naming it, as does an output whose frames do not
    line up with the source's."""
    unpaired: list[float] = []
    pairs = paired_frames(input_video, output_video, start, max_frames, unpaired)
    first = next(pairs, None)  # the style at the first output frame's size: no second probe of the output
    if first is not None:
        image = load_style_images([style], max(first[1].shape[:2]))[0]
        figures = pair_metrics(load_encoder(last_layer="relu4_1"), itertools.chain([first], pairs), image,
                               sample_every)
    if first is None or figures["frames"] < 2:
        lined_up = 0 if first is None else figures["frames"]
        raise VideoError(f"{output_video}: {lined_up} of its frames line up in time with {input_video}'s from "
                         f"{start:g} s (metrics need 2): is it made from it, with --start {start:g}?")
    return {**figures, **({"unpaired_frames": len(unpaired)} if unpaired else {})}
