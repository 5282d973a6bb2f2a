"""Styles that change over a video's length (a keyframe schedule, one style per scene) as a ``FrameControl``:
each frame's ``Mix`` of the bank's styles, from its index and time alone, made into ``FrameTargets``. A
frame's targets never depend on the frames before it, so lanes, resumed segments and Ray workers agree."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from fractions import Fraction

import torch

from pipeline.control.bank import StyleBank
from pipeline.control.keyframes import Mix, Schedule
from pipeline.control.scenes import scene_mix
from pipeline.io.video import VideoInfo, decode_frames
from pipeline.stylizer import FrameTargets


class TimelineControl:
    """``FrameControl`` from ``mix(index, seconds)``: one region (the whole frame) per frame."""

    def __init__(self, bank: StyleBank, mix: Callable[[int, float], Mix]) -> None:
        self.bank, self.mix = bank, mix

    def targets(self, indices: Sequence[int], seconds: Sequence[float], hw: tuple[int, int],
                device: torch.device) -> FrameTargets:
        mixes = [self.mix(i, s) for i, s in zip(indices, seconds)]
        weights = torch.tensor([m.weights for m in mixes], dtype=torch.float32)[:, None]  # (N, 1, S)
        alphas = [m.alpha for m in mixes]
        alpha = None if None in alphas else torch.tensor(alphas, dtype=torch.float32, device=device)
        return replace(self.bank.targets(weights, None, alpha), restart=tuple(m.restart for m in mixes))


def keyframe_control(bank: StyleBank, schedule: Schedule, rate: Fraction, origin: float = 0.0) -> TimelineControl:
    """The schedule's mix at each frame's time, counted from ``origin`` (the source's first frame: MPEG-TS
    and files with B-frames can start later than 0). A frame restarts the temporal state when a cut keyframe
    lies within one frame period (at the video's average ``rate``) before it: the style jumps there, and
    blending the warped previous frame in would fade it in over several frames instead."""
    period = 1 / float(rate) if rate else 0.0

    def mix(index: int, seconds: float) -> Mix:
        seconds -= origin
        return replace(schedule.at(seconds), restart=schedule.cut_within(seconds - period, seconds))

    return TimelineControl(bank, mix)


def first_frame_seconds(info: VideoInfo) -> float:
    """The time of the source's first frame (its pts in seconds), where keyframe times count from."""
    frames = decode_frames(info, max_frames=1)
    try:
        return float(next(frames).pts * info.time_base)
    finally:
        frames.close()


def scene_control(bank: StyleBank, cuts: Sequence[int]) -> TimelineControl:
    """Scene k (between the planned ``cuts``) takes the bank's style k, cycling through them."""
    count = len(bank.names)
    return TimelineControl(bank, lambda index, seconds: scene_mix(index, cuts, count))
