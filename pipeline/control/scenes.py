"""Scene cuts of a video, found once when it is planned (``--style-per-scene``), so that every lane, resumed
segment or Ray worker knows the scene of any frame without having seen the frames before it.

The test is the stabilizer's (``temporal/flow.py``: hue/saturation histograms of the frame shrunk to 64x64,
a correlation under ``--cut-threshold``'s 0.5), so both find the same cuts; the scene's first frame also
restarts the temporal state (``Mix.restart``), so a new scene's style never blends the previous one in.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from pipeline.control.keyframes import Mix
from pipeline.io.video import VideoInfo, decode_frames
from pipeline.options import VideoOptions
from pipeline.temporal.flow import colour_hist, hists_cut


def find_scene_cuts(info: VideoInfo, video: VideoOptions) -> tuple[int, ...]:
    """The indices of the frames that start a new scene, over the frames a run of ``video`` renders (from
    --start, within --duration and --max-frames, with the render's frame indices). One decoding pass; a file
    that stops decoding part way gives the cuts of the frames that decoded (the render keeps those too)."""
    stops: list = []
    frames = decode_frames(info, video.start, video.duration, video.max_frames, stops=stops)
    cuts, previous = [], None
    try:
        for frame in frames:
            hist = colour_hist(frame.image)
            if previous is not None and hists_cut(previous, hist, video.temporal.cut_threshold):
                cuts.append(frame.index)
            previous = hist
    finally:
        frames.close()
    return tuple(cuts)


def scene_mix(index: int, cuts: Sequence[int], styles: int) -> Mix:
    """Frame ``index``'s style: scene k (counted from 0, the scenes before ``cuts``) takes style k modulo
    ``styles``, whole; a scene's first frame restarts the temporal state."""
    scene = bisect.bisect_right(cuts, index)
    weights = tuple(1.0 if s == scene % styles else 0.0 for s in range(styles))
    return Mix(weights, None, scene > 0 and cuts[scene - 1] == index)
