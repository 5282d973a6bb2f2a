"""One frozen plan per video, made once after probing: sizes, segments, lanes, batch size, encoder settings
and warm-up frames, so nothing downstream guesses or computes them again."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from pipeline.io.color import Colour, output_colour
from pipeline.io.hdr import KNEE, PEAK, REFERENCE_WHITE
from pipeline.io.segments import SegmentFormat, job_key, workdir_for
from pipeline.io.video import VideoInfo, codec_for_container, even_size, timeline
from pipeline.ops.sizes import work_size
from pipeline.options import EncodeOptions, VideoOptions

MIN_WORK_SIDE = 16  # the networks (two 2x2 positions at relu4_1) and the flow need this many pixels a side
MAX_AUTO_LANES = 4
CORES_PER_LANE = 4  # on CUDA: an x264 encoder with frame threads, and the lane's decoder
CPU_LANES_WORK = 512 * 512  # on the CPU, two lanes for work frames up to this many pixels
CPU_LANES_OUT = 1280 * 720  # and output frames up to this many (docs/BENCHMARKS.md, "Lanes")


@dataclass(frozen=True)
class VideoPlan:
    """Everything decided about one video before its first frame is decoded (picklable, for Ray workers).

    ``runs``: the runs of consecutive segments rendered side by side (lanes), None for one run over all;
    ``timestamps``: every frame's pts, present when a run starts mid-file (it seeks by them);
    ``batch_size`` 0: sized by whoever holds the networks (``VideoJob.settle``)."""

    src: Path
    dst: Path
    info: VideoInfo
    video: VideoOptions
    work_hw: tuple[int, int]
    out_hw: tuple[int, int]
    source_hw: tuple[int, int] | None  # the frame size the result is scaled back to, if not the work size
    seg_len: int
    runs: tuple[range, ...] | None
    timestamps: tuple[int, ...] | None
    batch_size: int
    encode: EncodeOptions
    warmup: int
    expected: int
    key: str
    scene_cuts: tuple[int, ...] | None = None  # frames starting a new scene (--style-per-scene), found once here

    @property
    def workdir(self) -> Path:
        return workdir_for(self.dst)

    @property
    def lanes(self) -> int:
        return len(self.runs) if self.runs else 1

    @property
    def colour(self) -> Colour | None:
        """The matrix, range and tags the output is encoded with: the source's (``pipeline/io/color.py``)."""
        return output_colour(self.info.colour, self.encode.pix_fmt, self.out_hw)

    @property
    def segment_format(self) -> SegmentFormat:
        return SegmentFormat(self.seg_len, self.out_hw, self.info.rate, self.info.time_base, self.encode, self.colour)

    def segment_count(self) -> int | None:
        """Segments of the whole run, when the frame timestamps are known."""
        if self.timestamps is None:
            return None
        return math.ceil(min(len(self.timestamps), self.video.max_frames or len(self.timestamps)) / self.seg_len)


def plan_sizes(info: VideoInfo, video: VideoOptions,
               pix_fmt: str | None = None) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int] | None]:
    """(work size, output size, size to scale back to or None). Frames smaller than ``MIN_WORK_SIDE`` on a
    side are enlarged for the networks and the flow, and scaled back to the source size; the output is the
    work size, or the source size with --keep-size, padded to even sides for chroma-subsampled formats
    (``pix_fmt``: the one the segments are written in, when not --pix-fmt)."""
    source = (info.height, info.width)
    work = work_size(*source, video.size)
    if min(work) < MIN_WORK_SIDE:
        scale = MIN_WORK_SIDE / min(work)
        work = (max(MIN_WORK_SIDE, round(work[0] * scale)), max(MIN_WORK_SIDE, round(work[1] * scale)))
    back = source if (video.keep_size or min(source) < MIN_WORK_SIDE) and source != work else None
    return work, even_size(*(back or work), pix_fmt or video.encode.pix_fmt), back


def auto_parallel(device: torch.device, work_hw: tuple[int, int], out_hw: tuple[int, int]) -> int:
    """Lanes for ``--parallel 0``. On CUDA the host's x264 and one lane's waits leave the GPU idle: one lane
    per four host cores, at most four. On the CPU a second lane fills the networks' idle serial parts (flow,
    blending, conversions) for small frames; large ones stay at one for memory (docs/BENCHMARKS.md, "Lanes")."""
    cores = os.cpu_count() or 1
    if device.type == "cuda":
        return max(1, min(MAX_AUTO_LANES, cores // CORES_PER_LANE))
    small = work_hw[0] * work_hw[1] <= CPU_LANES_WORK and out_hw[0] * out_hw[1] <= CPU_LANES_OUT
    return 2 if small and cores >= 2 else 1


def lean_encoder(opts: EncodeOptions, device: torch.device, out_hw: tuple[int, int]) -> EncodeOptions:
    """x264 in one thread looking 10 frames ahead for CPU runs writing frames past 720p: the networks set the
    pace there, and the encoder's memory counts (docs/BENCHMARKS.md, "Encoder")."""
    if device.type != "cpu" or opts.codec != "libx264" or opts.threads or out_hw[0] * out_hw[1] <= CPU_LANES_OUT:
        return opts
    return replace(opts, threads=1, lookahead=10)


def segment_length(info: VideoInfo, video: VideoOptions) -> int:
    return max(1, round(float(info.rate) * video.segment_seconds))


def expected_frames(info: VideoInfo, video: VideoOptions) -> int:
    """How many frames a job will produce (for progress totals; 0 when the container does not say)."""
    frames = info.expected_frames
    if video.duration is not None:
        frames = min(frames, round(video.duration * float(info.rate)))
    elif video.start:
        frames = max(0, frames - round(video.start * float(info.rate)))
    return min(frames, video.max_frames or frames)


def split_runs(segments: int, lanes: int) -> tuple[range, ...] | None:
    """``segments`` cut into ``lanes`` runs of consecutive segments; None when that leaves one run."""
    lanes = min(lanes, segments)
    if lanes <= 1:
        return None
    edges = [k * segments // lanes for k in range(lanes + 1)]
    return tuple(range(a, b) for a, b in zip(edges, edges[1:]))


def job_settings(video: VideoOptions, style_key: str, sizes: tuple, info: VideoInfo | None = None) -> dict:
    """The settings a segment depends on: how many lanes render it does not change it, so --resume may use
    another --parallel, nor does the contact sheet made after the job, nor --skip-existing (left out, so
    segments of a version before it are still taken). The frame sizes worked out from the source are among
    them, so segments from a version that sized the frames otherwise are made again; so is an HDR source's SDR
    rendering (earlier versions stylized its signal as it was)."""
    video_settings = {name: value for name, value in asdict(video).items() if name != "skip_existing"}
    settings = {"style": style_key, "sizes": sizes,
                "video": video_settings | {"resume": None, "parallel": None, "contact_sheet": None}}
    if info is not None and info.colour is not None and info.colour.hdr:
        settings["sdr"] = ("bt2408", REFERENCE_WHITE, PEAK, KNEE)
    return settings


def make_plan(src: Path, dst: Path, info: VideoInfo, video: VideoOptions, device: torch.device,
              style_key: str = "", seekable: bool = False, scenes: bool = False) -> VideoPlan:
    """The plan of one probed video for networks on ``device``; ``seekable`` asks for the frame timestamps
    even with one lane (a Ray worker renders single segments); ``scenes`` for the scene cuts (one decoding
    pass, ``control/scenes.py``). Reads the file's packets when it needs the timestamps; writes nothing."""
    info = info if video.deinterlace else replace(info, deinterlace=False)
    encode = codec_for_container(video.encode, dst, deep=info.colour is not None and info.colour.deep)
    work_hw, out_hw, source_hw = plan_sizes(info, video, encode.pix_fmt)
    lanes = video.parallel or auto_parallel(device, work_hw, out_hw)
    from_start = video.start == 0 and video.duration is None
    timestamps = None
    if from_start and (lanes > 1 or seekable):
        stamps, seams = timeline(info)
        timestamps = tuple(stamps)
        if seams:  # parts joined end to end: times repeat, so no seek finds a frame by its time
            info = replace(info, seekable=False)
    seg_len = segment_length(info, video)
    plan = VideoPlan(src, dst, info, video, work_hw, out_hw, source_hw, seg_len, None, timestamps,
                     video.batch_size, lean_encoder(encode, device, out_hw),
                     video.temporal.warmup_frames, expected_frames(info, video),
                     job_key(src, job_settings(video, style_key, (work_hw, out_hw), info)))
    count = plan.segment_count()
    if scenes:
        from pipeline.control.scenes import find_scene_cuts

        plan = replace(plan, scene_cuts=find_scene_cuts(info, video))
    return replace(plan, runs=split_runs(count, lanes) if count else None)
