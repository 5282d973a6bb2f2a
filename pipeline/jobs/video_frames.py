"""The stylize step of the video pipeline: host frames in, output frames out, temporal state passed through.

Frames go to the device as uint8 (a quarter of the bytes of float) and are resized there; the cues that the
temporal steps need (grey frames for the flow, histograms for scene cuts) are made on the host from frames
already there, so nothing comes back from the device but the finished output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.control.select import video_control
from pipeline.io.decode import Frame
from pipeline.io.video import decode_frames
from pipeline.jobs.video_plan import VideoPlan
from pipeline.ops.colorspace import BT601, rgb_to_yuv420p
from pipeline.ops.upsample import guided_upsample
from pipeline.options import Upscale
from pipeline.temporal.flow import Guide
from pipeline.temporal.stabilizer import Stabilizer, TemporalState


@dataclass
class VideoNets:
    """What stylizes one video: the stylizer (its styles recoloured once to the first frame for CORAL, so
    colours do not flicker), the stabilizer (None with --temporal off and no refinement), and the control that
    gives each batch its style targets (``control.bank.FrameControl``: masks, keyframes; None: the stylizer's
    fixed target). Lanes share it; each keeps its own ``TemporalState``."""

    stylizer: object
    stabilizer: Stabilizer | None
    control: object | None = None

    def close(self) -> None:
        if self.stabilizer is not None:
            self.stabilizer.close()


def nets_for_video(stylizer, refiner, plan: VideoPlan, masks=None) -> VideoNets:
    """The networks for ``plan``'s video (decodes its first frame for CORAL recolouring); ``masks``: each
    style's mask file where they are not the run's (``control.select.video_control``)."""
    if stylizer.preserve_color == "coral":
        frames = decode_frames(plan.info, plan.video.start, max_frames=1)
        try:
            first = next(frames).image
        finally:
            frames.close()
        stylizer = stylizer.with_fixed_coral(FrameStage.upload(stylizer.device, [first], plan.work_hw))
    control = video_control(getattr(stylizer, "bank", None), plan, masks)
    if not plan.video.temporal.stateful:
        return VideoNets(stylizer, None, control)
    return VideoNets(stylizer, Stabilizer(stylizer, plan.video.temporal, refiner), control)


class FrameStage:
    """Stylizes one lane's batches of frames (RGB uint8, source size) for ``plan``: (H, W, 3) RGB results, or
    with ``yuv`` the encoder's packed yuv420p (H * 3 // 2, W), converted on the device."""

    def __init__(self, nets: VideoNets, plan: VideoPlan) -> None:
        self.nets, self.plan = nets, plan
        self.device = nets.stylizer.device
        self.yuv = self.device.type == "cuda" and plan.encode.pix_fmt == "yuv420p"  # the CPU has swscale's SIMD
        self.kr_kb = plan.colour.kr_kb if plan.colour is not None else BT601
        self.deep = plan.colour is not None and plan.colour.deep  # 16-bit RGB out for a 10-bit --pix-fmt
        self.flow = nets.stabilizer.flow if nets.stabilizer is not None else None  # cues only for the stabilizer

    @staticmethod
    def to_device(device: torch.device, images: list[np.ndarray]) -> torch.Tensor:
        """uint8 (or uint16, deep sources) frames to the device as they are, then to float in [0, 1] there, at
        their own size."""
        stacked = np.stack(images)
        scale = 255.0 if stacked.dtype == np.uint8 else 65535.0
        batch = torch.from_numpy(stacked)
        if device.type == "cuda":
            batch = batch.pin_memory()
        return batch.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(scale)

    @staticmethod
    def upload(device: torch.device, images: list[np.ndarray], work_hw: tuple[int, int]) -> torch.Tensor:
        """``to_device``, then resized to ``work_hw`` on the device."""
        return FrameStage.resized(FrameStage.to_device(device, images), work_hw)

    @staticmethod
    def resized(batch: torch.Tensor, work_hw: tuple[int, int]) -> torch.Tensor:
        if tuple(batch.shape[-2:]) != work_hw:
            batch = F.interpolate(batch, size=work_hw, mode="bilinear", antialias=True, align_corners=False)
        return batch

    def guides(self, images: list[np.ndarray], batch: torch.Tensor) -> list[Guide]:
        """The temporal cues of each frame, from host memory: on the CPU the work-size frames the networks see
        are there already; otherwise the decoded frames, resized on the host. With the torch flow backend
        they are made on the device from ``batch`` and stay there."""
        if self.flow.on_device:
            return self.flow.guides(batch)
        if self.device.type == "cpu":
            images = list((batch * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy())
        else:
            images = [(image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image for image in images]
        return [self.flow.guide(image, self.plan.work_hw) for image in images]

    def targets(self, frames: list[Frame]):
        """The style targets of ``frames`` (``stylizer.FrameTargets``), or None for the fixed target."""
        if self.nets.control is None:
            return None
        seconds = [float(f.pts * self.plan.info.time_base) for f in frames]
        return self.nets.control.targets([f.index for f in frames], seconds, self.plan.work_hw, self.device)

    def _step(self, frames: list[Frame], state: TemporalState,
              full: torch.Tensor | None = None) -> tuple[torch.Tensor, TemporalState]:
        """``full``: the frames already on the device at their own size, when the caller keeps them."""
        images = [f.image for f in frames]
        batch = self.resized(full, self.plan.work_hw) if full is not None else self.upload(
            self.device, images, self.plan.work_hw)
        targets = self.targets(frames)
        if self.nets.stabilizer is None:  # any BatchStylizer takes a batch; targets only when there are some
            return (self.nets.stylizer(batch) if targets is None else self.nets.stylizer(batch, targets)), state
        return self.nets.stabilizer.step(state, batch, self.guides(images, batch), targets, [f.index for f in frames])

    def stylize(self, frames: list[Frame], state: TemporalState) -> tuple[list[np.ndarray], TemporalState]:
        """One batch of consecutive frames, from ``state``; returns the output frames and the state after. With
        guided upscaling the frames go to the device once, at their own size: the network's input and the guide."""
        full = self.to_device(self.device, [f.image for f in frames]) if self.guides_upscale() else None
        out, state = self._step(frames, state, full)
        return self.to_frames(out, full), state

    def warm_up(self, previous: list[Frame], batch_size: int) -> TemporalState:
        """A fresh state rebuilt from the frames just before a segment, in the run's batch size, so every
        segment starts the same way whether the run is fresh, resumed, or split across lanes or workers."""
        state = TemporalState()
        frames = previous[-self.plan.warmup:] if self.plan.warmup else []
        for i in range(0, len(frames), batch_size):
            _, state = self._step(frames[i:i + batch_size], state)
        return state

    def guides_upscale(self) -> bool:
        """Whether results go up to the source size guided by the source frames (--keep-size, --upscale
        guided, a source larger than the work size); scaling down, or to undo an enlarged tiny frame, resizes."""
        source_hw, work_hw, video = self.plan.source_hw, self.plan.work_hw, self.plan.video
        return (video.keep_size and video.upscale == Upscale.GUIDED and source_hw is not None
                and source_hw[0] * source_hw[1] > work_hw[0] * work_hw[1])

    def to_frames(self, out: torch.Tensor, source: torch.Tensor | None = None) -> list[np.ndarray]:
        """Scaled back to the source size when planned (guided by ``source``, the frames on the device at
        their own size, when given), padded to the (even) output size, to uint8 (uint16 for deep output)."""
        source_hw, out_hw = self.plan.source_hw, self.plan.out_hw
        if source is not None:
            out = guided_upsample(out, source)
        elif source_hw is not None and tuple(out.shape[-2:]) != source_hw:
            out = F.interpolate(out, size=source_hw, mode="bicubic", align_corners=False)
        ph, pw = out_hw[0] - out.shape[-2], out_hw[1] - out.shape[-1]
        if ph or pw:
            out = F.pad(out, (0, pw, 0, ph), mode="replicate")
        if self.yuv:
            return list(rgb_to_yuv420p(out.clamp(0, 1), self.kr_kb).cpu().numpy())
        if self.deep:
            return list((out.clamp(0, 1) * 65535.0 + 0.5).to(torch.int32).permute(0, 2, 3, 1).cpu().numpy()
                        .astype(np.uint16))
        return list((out.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
