"""Optical flow between consecutive input frames with OpenCV's DIS, and scene-cut detection, both from
small host-side cues of each frame (``Guide``), so a frame uploaded to the device never comes back for them."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from pipeline.ops.warp import flow_confidence, occlusion_mask, resize_flow

MIN_FLOW_SIDE = 8  # DIS needs a few pixels each way


@dataclass(frozen=True)
class Guide:
    """What the temporal steps need of one input frame: its grey image at the flow size and its hue and
    saturation histogram (scene cuts)."""

    gray: np.ndarray
    hist: np.ndarray


def colour_hist(image: np.ndarray) -> np.ndarray:
    """The normalised hue/saturation histogram (16 x 8 bins) of an RGB uint8 frame."""
    hsv = cv2.cvtColor(cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2HSV)
    h = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(h, h).flatten()


def hists_cut(previous: np.ndarray, current: np.ndarray, threshold: float = 0.5) -> bool:
    """True when two frames' histograms barely overlap (a hard cut, not motion)."""
    return cv2.compareHist(previous, current, cv2.HISTCMP_CORREL) < threshold


def is_scene_cut(previous: np.ndarray, current: np.ndarray, threshold: float = 0.5) -> bool:
    """True when the colour histograms of two RGB frames barely overlap."""
    return hists_cut(colour_hist(previous), colour_hist(current), threshold)


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

    def flow_size(self, hw: tuple[int, int]) -> tuple[int, int]:
        """(width, height) at which flow between frames of ``hw`` is computed."""
        h, w = hw
        scale = min(1.0, self.max_side / max(h, w))
        return max(MIN_FLOW_SIDE, round(w * scale)), max(MIN_FLOW_SIDE, round(h * scale))

    @staticmethod
    def gray(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """``image`` (RGB uint8, any size) as grey at ``size`` (width, height)."""
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return cv2.resize(gray, size, interpolation=cv2.INTER_AREA) if gray.shape[::-1] != size else gray

    def guide(self, image: np.ndarray, work_hw: tuple[int, int]) -> Guide:
        """The cues of one RGB uint8 frame that the network sees at ``work_hw``."""
        return Guide(self.gray(image, self.flow_size(work_hw)), colour_hist(image))

    def small_flows(self, previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward (previous -> current) and backward (current -> previous) flow, (h, w, 2) each, between two
        grey frames of the flow size, in its pixels. The CPU part: OpenCV releases the GIL."""
        return self.dis.calc(previous, current, None), self.dis.calc(current, previous, None)

    @staticmethod
    def backward_and_mask(forward: np.ndarray, backward: np.ndarray, out_hw: tuple[int, int],
                          device: torch.device | str = "cpu", soft: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The small flows brought to ``out_hw`` on ``device`` (where the frames are): the backward flow and
        its reliability mask (``soft``: its confidence in [0, 1]), as (1, 2, H, W) and (1, 1, H, W)."""
        fwd, bwd = (resize_flow(torch.from_numpy(f).permute(2, 0, 1)[None].to(device), out_hw)
                    for f in (forward, backward))
        return bwd, (flow_confidence if soft else occlusion_mask)(fwd, bwd)

    def backward_with_mask(self, previous: np.ndarray, current: np.ndarray, out_hw: tuple[int, int],
                           device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Backward flow (current -> previous) between two RGB frames of ``out_hw``, in its pixels, and its
        reliability mask."""
        size = self.flow_size(tuple(previous.shape[:2]))
        flows = self.small_flows(self.gray(previous, size), self.gray(current, size))
        return self.backward_and_mask(*flows, out_hw, device)
