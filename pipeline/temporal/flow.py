"""Optical flow between consecutive input frames with OpenCV's DIS, and scene-cut detection."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import torch

from pipeline.ops.warp import occlusion_mask, resize_flow


class FlowEstimator:
    """DIS optical flow computed at a reduced resolution (``max_side``) and scaled back up: stylized
    textures do not need sub-pixel flow, and the small size keeps it cheap on the CPU."""

    def __init__(self, max_side: int = 320, preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST) -> None:
        self.max_side, self.preset = max_side, preset
        self._local = threading.local()  # one DIS object per thread: flows of a batch run side by side

    @property
    def dis(self) -> cv2.DISOpticalFlow:
        if not hasattr(self._local, "dis"):
            self._local.dis = cv2.DISOpticalFlow_create(self.preset)
        return self._local.dis

    def _gray(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return cv2.resize(gray, size, interpolation=cv2.INTER_AREA) if gray.shape[::-1] != size else gray

    def small_flows(self, previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward (previous -> current) and backward (current -> previous) flow, (h, w, 2) each, at the
        working size and in its pixels. The CPU part: OpenCV releases the GIL, so threads can run it."""
        h, w = previous.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        prev, cur = self._gray(previous, size), self._gray(current, size)
        return self.dis.calc(prev, cur, None), self.dis.calc(cur, prev, None)

    @staticmethod
    def backward_and_mask(forward: np.ndarray, backward: np.ndarray, out_hw: tuple[int, int],
                          device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """The small flows brought to ``out_hw`` on ``device`` (where the frames are): the backward flow and
        its reliability mask, as (1, 2, H, W) and (1, 1, H, W)."""
        fwd, bwd = (resize_flow(torch.from_numpy(f).permute(2, 0, 1)[None].to(device), out_hw)
                    for f in (forward, backward))
        return bwd, occlusion_mask(fwd, bwd)

    def backward_with_mask(self, previous: np.ndarray, current: np.ndarray, out_hw: tuple[int, int],
                           device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Backward flow (current -> previous) in ``out_hw`` pixels and its reliability mask."""
        return self.backward_and_mask(*self.small_flows(previous, current), out_hw, device)


def is_scene_cut(previous: np.ndarray, current: np.ndarray, threshold: float = 0.5) -> bool:
    """True when the colour histograms of two frames barely overlap (a hard cut, not motion)."""
    def hist(image: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2HSV)
        h = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
        return cv2.normalize(h, h).flatten()

    return cv2.compareHist(hist(previous), hist(current), cv2.HISTCMP_CORREL) < threshold
