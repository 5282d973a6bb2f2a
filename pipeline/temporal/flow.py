"""Optical flow between consecutive input frames, and scene-cut detection, from small cues of each frame
(``Guide``). Two backends with one interface: ``FlowEstimator`` (OpenCV's DIS on host-side cues, so a frame
uploaded to the device never comes back for them) and ``TorchFlowEstimator`` (pipeline/ops/flow.py on cues
made on the device from the work-size batch: nothing goes to the host)."""

from __future__ import annotations

import threading
from concurrent.futures import Executor, Future
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from pipeline.ops.flow import FlowParams, forward_backward, photometric_fit
from pipeline.ops.scene_cuts import correlations, hue_sat_histograms
from pipeline.ops.warp import flow_confidence, occlusion_mask, resize_flow
from pipeline.options import FlowBackend

MIN_FLOW_SIDE = 8  # DIS needs a few pixels each way
# OpenCV's DIS reads past a frame whose short side is small for its long side and crashes the process
# (opencv/opencv#14554, still so in OpenCV 5: a 256x80 GNOME help video at --size 96 gave 96x30); with both
# sides at least this it did not, on 2703 shapes from 1x1 to 320x400 with each preset (OpenCV 5.1).
DIS_MIN_SIDE = 32


@dataclass(frozen=True)
class Guide:
    """What the temporal steps need of one input frame: its grey image at the flow size and its hue and
    saturation histogram (scene cuts); host arrays for ``FlowEstimator``, device tensors for
    ``TorchFlowEstimator`` ((1, 1, h, w) and (128,))."""

    gray: np.ndarray | torch.Tensor
    hist: np.ndarray | torch.Tensor


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

    on_device = False  # its guides are made on the host, from frames there

    def flow_size(self, hw: tuple[int, int]) -> tuple[int, int]:
        """(width, height) at which flow between frames of ``hw`` is computed."""
        return flow_size(hw, self.max_side)

    @staticmethod
    def gray(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """``image`` (RGB uint8, any size) as grey at ``size`` (width, height)."""
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return cv2.resize(gray, size, interpolation=cv2.INTER_AREA) if gray.shape[::-1] != size else gray

    def guide(self, image: np.ndarray, work_hw: tuple[int, int]) -> Guide:
        """The cues of one RGB uint8 frame that the network sees at ``work_hw``."""
        return Guide(self.gray(image, self.flow_size(work_hw)), colour_hist(image))

    @staticmethod
    def cuts(previous: list[Guide | None], guides: list[Guide], threshold: float) -> list[bool]:
        """Whether each frame starts a new scene (no previous frame, or a hard cut from it)."""
        return [p is None or hists_cut(p.hist, g.hist, threshold) for p, g in zip(previous, guides)]

    def start_flows(self, previous: list[Guide | None], guides: list[Guide], cuts: list[bool],
                    pool: Executor) -> list[Future | None]:
        """The small flows of each frame from the one before (None at a cut), started on ``pool``'s threads
        so they run while the networks do."""
        return [None if cut else pool.submit(self.small_flows, p.gray, g.gray)
                for p, g, cut in zip(previous, guides, cuts)]

    def small_flows(self, previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward (previous -> current) and backward (current -> previous) flow, (h, w, 2) each, between two
        grey frames of the flow size, in its pixels. The CPU part: OpenCV releases the GIL."""
        h, w = previous.shape
        if min(h, w) >= DIS_MIN_SIDE:
            return self.dis.calc(previous, current, None), self.dis.calc(current, previous, None)
        grow = (0, max(0, DIS_MIN_SIDE - h), 0, max(0, DIS_MIN_SIDE - w))  # its edges repeated, cropped after
        previous, current = (cv2.copyMakeBorder(g, *grow, cv2.BORDER_REPLICATE) for g in (previous, current))
        return tuple(flow[:h, :w] for flow in self.small_flows(previous, current))

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


def flow_size(hw: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(width, height) at which flow between frames of ``hw`` is computed: long side at most ``max_side``."""
    h, w = hw
    scale = min(1.0, max_side / max(h, w))
    return max(MIN_FLOW_SIDE, round(w * scale)), max(MIN_FLOW_SIDE, round(h * scale))


def make_flow_estimator(backend: FlowBackend, device: torch.device, max_side: int = 320):
    """The flow backend for frames on ``device``: ``auto`` is torch on CUDA (the frames are there) and
    OpenCV DIS on the CPU, where it costs several times less a frame pair (docs/BENCHMARKS.md, "Optical flow"
    and "Torch optical flow")."""
    if backend == FlowBackend.TORCH or (backend == FlowBackend.AUTO and device.type == "cuda"):
        return TorchFlowEstimator(max_side)
    return FlowEstimator(max_side)


def _done(value) -> Future:
    future = Future()
    future.set_result(value)
    return future


class TorchFlowEstimator:
    """Flow and scene cuts in torch on the frames' device (pipeline/ops/flow.py, pipeline/ops/scene_cuts.py):
    the cues come from the work-size batch already there, and all flows of a batch, forward and backward,
    are one call. One host sync a batch: the cut decisions, which steer the temporal state."""

    on_device = True

    def __init__(self, max_side: int = 320, params: FlowParams = FlowParams(), fit_sigma: float = 0.08) -> None:
        self.max_side, self.params, self.fit_sigma = max_side, params, fit_sigma

    def flow_size(self, hw: tuple[int, int]) -> tuple[int, int]:
        return flow_size(hw, self.max_side)

    def guides(self, batch: torch.Tensor) -> list[Guide]:
        """The cues of each frame of an (N, 3, H, W) work-size batch in [0, 1], left on its device: grey
        (ITU-R BT.601 luma, as ``cv2.COLOR_RGB2GRAY``) at the flow size, and the hue/saturation histogram."""
        with torch.autocast(batch.device.type, enabled=False):
            rgb = batch.float()
            weights = torch.tensor([0.299, 0.587, 0.114], device=rgb.device).view(1, 3, 1, 1)
            gray = (rgb * weights).sum(1, keepdim=True)
            w, h = self.flow_size(tuple(rgb.shape[-2:]))
            if (h, w) != tuple(gray.shape[-2:]):
                gray = torch.nn.functional.interpolate(gray, size=(h, w), mode="bilinear", antialias=True,
                                                       align_corners=False)
            hists = hue_sat_histograms(rgb)
        return [Guide(gray[i:i + 1], hists[i]) for i in range(batch.shape[0])]

    @staticmethod
    def cuts(previous: list[Guide | None], guides: list[Guide], threshold: float) -> list[bool]:
        """As ``FlowEstimator.cuts``, all frames' correlations in one batch."""
        known = [i for i, p in enumerate(previous) if p is not None]
        cut = [True] * len(guides)
        if known:
            corr = correlations(torch.stack([previous[i].hist for i in known]),
                                torch.stack([guides[i].hist for i in known]))
            for i, value in zip(known, (corr < threshold).tolist()):
                cut[i] = value
        return cut

    def start_flows(self, previous: list[Guide | None], guides: list[Guide], cuts: list[bool],
                    pool: Executor | None = None) -> list[Future | None]:
        """The small flows of each frame from the one before (None at a cut), computed now as one batch (the
        device runs them in order with the networks), with how well the backward flow lines the two grey frames
        up (ops/flow.photometric_fit); ``pool`` is not used."""
        todo = [i for i, cut in enumerate(cuts) if not cut]
        flows: list[Future | None] = [None] * len(guides)
        if todo:
            before, after = torch.cat([previous[i].gray for i in todo]), torch.cat([guides[i].gray for i in todo])
            fwd, bwd = forward_backward(before, after, self.params)
            fit = photometric_fit(before, after, bwd, self.fit_sigma)
            for k, i in enumerate(todo):
                flows[i] = _done((fwd[k:k + 1], bwd[k:k + 1], fit[k:k + 1]))
        return flows

    @staticmethod
    def backward_and_mask(forward: torch.Tensor, backward: torch.Tensor, fit: torch.Tensor, out_hw: tuple[int, int],
                          device: torch.device | str = "cpu", soft: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """As ``FlowEstimator.backward_and_mask``, from (1, 2, h, w) flows already on the device and their
        photometric ``fit`` (1, 1, h, w): the confidence is scaled by the fit (the mask needs a fit over 0.5).
        The forward-backward test alone passes a torch flow that is smooth and wrong together; DIS's patch
        search fails the test there instead (docs/BENCHMARKS.md, "Torch optical flow")."""
        fwd, bwd = (resize_flow(f.to(device), out_hw) for f in (forward, backward))
        fit = torch.nn.functional.interpolate(fit.to(device), size=out_hw, mode="bilinear", align_corners=False)
        if soft:
            return bwd, flow_confidence(fwd, bwd) * fit.to(fwd.dtype)
        return bwd, occlusion_mask(fwd, bwd) * (fit > 0.5).to(fwd.dtype)
