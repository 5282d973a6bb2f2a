"""Optical flow between consecutive input frames with OpenCV's DIS, and scene-cut detection."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from pipeline.ops.warp import occlusion_mask


class FlowEstimator:
    """DIS optical flow computed at a reduced resolution (``max_side``) and scaled back up: stylized
    textures do not need sub-pixel flow, and the small size keeps it cheap on the CPU."""

    def __init__(self, max_side: int = 320, preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST) -> None:
        self.dis = cv2.DISOpticalFlow_create(preset)
        self.max_side = max_side

    def _gray(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return cv2.resize(gray, size, interpolation=cv2.INTER_AREA) if gray.shape[::-1] != size else gray

    def flow(self, source: np.ndarray, target: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
        """Flow (H, W, 2) in ``out_hw`` pixels that maps each pixel of ``source`` to its place in ``target``."""
        h, w = source.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        flow = self.dis.calc(self._gray(source, size), self._gray(target, size), None)
        oh, ow = out_hw
        flow = cv2.resize(flow, (ow, oh), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= ow / size[0]
        flow[..., 1] *= oh / size[1]
        return flow

    def backward_with_mask(self, previous: np.ndarray, current: np.ndarray,
                           out_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Backward flow (current -> previous) and its reliability mask, as (1, 2, H, W) and (1, 1, H, W)."""
        backward = torch.from_numpy(self.flow(current, previous, out_hw)).permute(2, 0, 1)[None]
        forward = torch.from_numpy(self.flow(previous, current, out_hw)).permute(2, 0, 1)[None]
        return backward, occlusion_mask(forward, backward)


def is_scene_cut(previous: np.ndarray, current: np.ndarray, threshold: float = 0.5) -> bool:
    """True when the colour histograms of two frames barely overlap (a hard cut, not motion)."""
    def hist(image: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2HSV)
        h = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
        return cv2.normalize(h, h).flatten()

    return cv2.compareHist(hist(previous), hist(current), cv2.HISTCMP_CORREL) < threshold
