"""Quality metrics: AdaIN-protocol style loss, content loss, and (for video) warping error."""

from __future__ import annotations

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
    resized = [cv2.resize(frame, out.shape[1::-1], interpolation=cv2.INTER_AREA) for frame, out in zip(inputs, outputs)]
    errors = []
    for t in range(1, len(outputs)):
        h, w = outputs[t].shape[:2]
        backward, mask = flow.backward_with_mask(resized[t - 1], resized[t], (h, w))
        prev_out = torch.from_numpy(outputs[t - 1]).permute(2, 0, 1)[None].float() / 255
        cur_out = torch.from_numpy(outputs[t]).permute(2, 0, 1)[None].float() / 255
        diff = (cur_out - warp(prev_out, backward)).pow(2).sum(1, keepdim=True)
        errors.append(((mask * diff).sum() / mask.sum().clamp_min(1.0)).item())
    return float(np.mean(errors)) if errors else 0.0


def video_metrics(encoder: VGGEncoder, inputs: list[np.ndarray], outputs: list[np.ndarray], style: torch.Tensor,
                  sample_every: int = 1) -> dict[str, float]:
    """Warping error over all frames; style and content losses over every ``sample_every``-th frame."""
    picks = range(0, len(outputs), max(1, sample_every))
    styles, contents = [], []
    for i in picks:
        h, w = outputs[i].shape[:2]
        out = torch.from_numpy(outputs[i]).permute(2, 0, 1)[None].float() / 255
        inp = cv2.resize(inputs[i], (w, h), interpolation=cv2.INTER_AREA)
        inp = torch.from_numpy(inp).permute(2, 0, 1)[None].float() / 255
        styles.append(style_loss(encoder, out, style).item())
        contents.append(content_loss(encoder, out, inp).item())
    return {"frames": len(outputs), "warping_error": warping_error(inputs, outputs),
            "style_loss": float(np.mean(styles)), "content_loss": float(np.mean(contents))}


def measure_video(input_video: Path, output_video: Path, style: Path, max_frames: int | None = None,
                  sample_every: int = 1) -> dict[str, float]:
    """``stylize metrics``: the figures of ``video_metrics`` for a source and its stylized version. A file
    that cannot be read raises VideoError (or, for the style, StyleError) naming it."""
    frames = []
    for path in (input_video, output_video):
        try:
            frames.append([f.image for f in decode_frames(probe(path), max_frames=max_frames)])
        except VideoError as exc:
            raise VideoError(f"{path}: {exc}") from None
    image = load_style_images([style], max(frames[1][0].shape[:2]))[0]
    return video_metrics(load_encoder(last_layer="relu4_1"), frames[0], frames[1], image, sample_every)
