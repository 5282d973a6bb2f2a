"""`stylize video`: decode -> batch -> stylize -> encode, as three overlapping stages with bounded queues.

One thread decodes (PyAV, frame threading on), the calling thread stylizes batches, one thread encodes.
Encoded output goes into per-segment files in a work folder beside the output; when every segment is
there they are joined with the audio into a temporary file that is renamed onto OUTPUT. ``--resume``
keeps the finished segments of an interrupted run, so the result is the same as an uninterrupted one.
With ``--parallel N`` a whole video is cut into N runs of consecutive segments, each rendered by its own
lane (decoder, stylizing thread with its own temporal state, encoder) on the shared networks.
"""

from __future__ import annotations

import copy
import functools
import math
import os
import queue
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.errors import Cancelled, JobError
from pipeline.ops.sizes import work_size
from pipeline.options import VideoOptions
from pipeline.io.segments import finished_segments, job_key, prepare_workdir, segment_part_path, segment_path
from pipeline.io.video import (VIDEO_EXTENSIONS, EncodeOptions, Frame, SegmentWriter, VideoError, VideoInfo,
                               check_encoder, codec_for_container, decode_frames, even_size, frame_timestamps,
                               join_segments, probe)
from pipeline.io.walk import walk_files
from pipeline.ops.colorspace import rgb_to_yuv420p
from pipeline.report import FAILED, PROCESSED, ItemResult, Summary
from pipeline.temporal.stabilizer import TemporalOptions, TemporalStylizer

_END = object()
WARMUP_FRAMES = 8  # enough for the 0.5-momentum state to forget its reset (0.5^8 < 0.4 %)
MAX_AUTO_LANES = 4
CORES_PER_LANE = 4  # on CUDA: an x264 encoder at 1080p with frame threads, and the lane's decoder
CPU_LANES_WORK = 512 * 512  # on the CPU, two lanes for work frames up to this many pixels
CPU_LANES_OUT = 1280 * 720  # and output frames up to this many (docs/BENCHMARKS.md, "Lanes")


def auto_parallel(device: torch.device, work_hw: tuple[int, int], out_hw: tuple[int, int]) -> int:
    """Lanes for ``--parallel 0``. On CUDA the host's single x264 was the bottleneck (16 frames/s at 1080p
    `medium` on a 16-core H100 host against a net at 30 frames/s), and one lane's thread leaves the GPU
    idle while it waits for its batch to come back: one lane per four host cores, at most four. On the
    CPU the networks already use every core, but one lane leaves them idle in its serial parts (flow,
    blending, conversions): two lanes ran 5-17 % faster on 2 cores, for 0.4-0.6 GB more memory, so
    two for frames up to 512x512 stylized and 720p written, one beyond (1080p stays under 2 GB)."""
    cores = os.cpu_count() or 1
    if device.type == "cuda":
        return max(1, min(MAX_AUTO_LANES, cores // CORES_PER_LANE))
    small = work_hw[0] * work_hw[1] <= CPU_LANES_WORK and out_hw[0] * out_hw[1] <= CPU_LANES_OUT
    return 2 if small and cores >= 2 else 1


def lean_encoder(opts: EncodeOptions, device: torch.device, out_hw: tuple[int, int]) -> EncodeOptions:
    """x264 in one thread looking 10 frames ahead for CPU runs writing frames past 720p: the networks take
    a second or more a frame there, so the encoder's speed does not matter, but its memory counts against
    the 2 GB: at 1080p it took 144 MiB instead of 281 (alone: 19.1 -> 11.3 frames/s, same file size)."""
    if device.type != "cpu" or opts.codec != "libx264" or opts.threads or out_hw[0] * out_hw[1] <= CPU_LANES_OUT:
        return opts
    return replace(opts, threads=1, lookahead=10)


@dataclass
class Timings:
    decode_s: float = 0.0
    compute_s: float = 0.0
    encode_s: float = 0.0
    join_s: float = 0.0


class FrameStylizer:
    """Stylizes a list of uint8 frames: resize to the work size, stylize, resize back with --keep-size,
    pad to the (even) output size, convert back to uint8: (H, W, 3) RGB, or with ``yuv`` the encoder's
    packed yuv420p (H * 3 // 2, W), converted on the device so the host does no pixel work."""

    def __init__(self, stylizer, work_hw: tuple[int, int], out_hw: tuple[int, int],
                 source_hw: tuple[int, int] | None = None, warmup: int = 0, yuv: bool = False) -> None:
        self.stylizer = stylizer
        self.work_hw, self.out_hw, self.source_hw = work_hw, out_hw, source_hw
        self.warmup = warmup  # frames re-run before a segment's first frame to rebuild temporal state
        self.yuv = yuv

    def reset(self) -> None:
        self.stylizer.reset()

    def fork(self) -> FrameStylizer:
        """Another lane's frame stylizer: the same networks and sizes, its own temporal state."""
        twin = copy.copy(self)
        twin.stylizer = self.stylizer.fork()
        return twin

    def to_batch(self, images: list[np.ndarray]) -> torch.Tensor:
        """uint8 frames uploaded as they are (a quarter of the bytes of float), converted on the device."""
        batch = torch.from_numpy(np.stack(images))
        if self.stylizer.device.type == "cuda":
            batch = batch.pin_memory()
        batch = batch.to(self.stylizer.device, non_blocking=True)
        batch = batch.permute(0, 3, 1, 2).float().div_(255.0)
        if tuple(batch.shape[-2:]) != self.work_hw:
            batch = F.interpolate(batch, size=self.work_hw, mode="bilinear", antialias=True, align_corners=False)
        return batch

    def to_frames(self, out: torch.Tensor) -> list[np.ndarray]:
        if self.source_hw is not None and tuple(out.shape[-2:]) != self.source_hw:
            out = F.interpolate(out, size=self.source_hw, mode="bicubic", align_corners=False)
        ph, pw = self.out_hw[0] - out.shape[-2], self.out_hw[1] - out.shape[-1]
        if ph or pw:
            out = F.pad(out, (0, pw, 0, ph), mode="replicate")
        if self.yuv:
            return list(rgb_to_yuv420p(out.clamp(0, 1)).cpu().numpy())
        return list((out.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())

    def __call__(self, images: list[np.ndarray]) -> list[np.ndarray]:
        return self.to_frames(self.stylizer(self.to_batch(images)))

    def start_segment(self, previous: list[np.ndarray], batch_size: int) -> None:
        """Reset the temporal state and rebuild it from the frames just before the segment, so every
        segment starts the same way whether the run is fresh, resumed, or split across workers. In the
        run's batches: all eight at once held eight frames' activations (a 512x288 video on the CPU with
        1 s segments peaked at 2.4 GB instead of 1.2)."""
        self.reset()
        frames = previous[-self.warmup:] if self.warmup else []
        for i in range(0, len(frames), batch_size):
            self.stylizer(self.to_batch(frames[i:i + batch_size]))


def plan_sizes(info: VideoInfo, opts: VideoOptions) -> tuple[tuple[int, int], tuple[int, int]]:
    """(work size, output size): the output is the work size, or the source size with --keep-size,
    padded to even sides for chroma-subsampled pixel formats."""
    work = work_size(info.height, info.width, opts.size)
    base = (info.height, info.width) if opts.keep_size else work
    return work, even_size(*base, opts.encode.pix_fmt)


class _Stage(threading.Thread):
    """A pipeline stage in a thread; its exception is re-raised in the caller by ``check``."""

    def __init__(self, target: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.error = exc

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def _put(q: queue.Queue, item, stop: threading.Event, peer: _Stage | None = None) -> None:
    """Put ``item`` unless ``stop`` is set first; ``peer``, the stage taking from ``q``, has its error raised
    here once it has failed, instead of this filling a queue nobody empties and then waiting for ever."""
    while not stop.is_set():
        if peer is not None:
            peer.check()
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _get(q: queue.Queue, stop: threading.Event, peer: _Stage | None = None):
    """The next item, or None once ``stop`` is set; ``peer``, the stage filling ``q``, has its error raised
    here if it fails (a file that stops decoding half way must not leave this waiting for ever)."""
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if peer is not None:
                peer.check()
    return None


def _batches(frames: Iterable[Frame], size: int, seg_len: int) -> Iterator[list[Frame]]:
    """Batches of up to ``size`` frames that never span two segments, so a resumed run stylizes exactly
    the same batches (batch composition can change floating-point results)."""
    batch: list[Frame] = []
    for frame in frames:
        if batch and frame.index // seg_len != batch[0].index // seg_len:
            yield batch
            batch = []
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class Rendered:
    """What rendering segments saw: frames decoded, frames whose segment was already done, the first and
    last presentation timestamps, and where the time went."""

    frames: int = 0
    reused: int = 0
    first_pts: int | None = None
    last_pts: int | None = None
    timings: Timings = field(default_factory=Timings)


def segment_length(info: VideoInfo, opts: VideoOptions) -> int:
    return max(1, round(float(info.rate) * opts.segment_seconds))


def prepare_output(info: VideoInfo, dst: Path, opts: VideoOptions, style_key: str = "") -> Path:
    """Check the output path and return the work folder of finished segments (kept only by --resume)."""
    if dst.resolve() == info.path.resolve():
        raise JobError("output path is the input file")
    if dst.suffix.lower() not in VIDEO_EXTENSIONS:
        raise JobError(f"output {dst}: extension must be one of {', '.join(sorted(VIDEO_EXTENSIONS))}")
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JobError(f"cannot create the output folder {dst.parent}: {exc.strerror or exc}") from None
    if not os.access(dst.parent, os.W_OK):
        raise JobError(f"output folder {dst.parent} is not writable")
    check_encoder(opts.encode, plan_sizes(info, opts)[1], info.rate)
    # How many lanes render it does not change a segment, so --resume may use another --parallel.
    settings = {"style": style_key, "video": asdict(opts) | {"resume": None, "parallel": None}}
    return prepare_workdir(dst, job_key(info.path, settings), opts.resume)


def render_segments(frame_stylizer: FrameStylizer, info: VideoInfo, workdir: Path, opts: VideoOptions,
                    segments: range | None = None, timestamps: list[int] | None = None,
                    on_frames: Callable[[int], None] = lambda n: None,
                    cancel: threading.Event | None = None) -> Rendered:
    """Decode, stylize and encode the given segments (all of them by default) into ``workdir``.

    Segments already in ``workdir`` are skipped. Each segment starts from a reset temporal state rebuilt
    from the frames just before it, so a segment comes out the same whichever run or worker makes it.
    ``cancel`` set from outside stops it at the next batch (raising Cancelled).
    """
    _, out_hw = plan_sizes(info, opts)
    seg_len = segment_length(info, opts)
    done = set(finished_segments(workdir))
    result = Rendered()
    timings = result.timings
    stop = threading.Event()
    decoded: queue.Queue = queue.Queue(maxsize=2 * opts.batch_size)
    encoded: queue.Queue = queue.Queue(maxsize=2 * opts.batch_size)
    first_index = max(0, segments.start * seg_len - frame_stylizer.warmup) if segments else 0
    stop_index = segments.stop * seg_len if segments else None
    offset = {"pts": 0}

    def decode() -> None:
        frames = decode_frames(info, opts.start, opts.duration, opts.max_frames, first_index, timestamps)
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            timings.decode_s += time.perf_counter() - t0
            if frame is None or (stop_index is not None and frame.index >= stop_index):
                break
            _put(decoded, frame, stop)
        _put(decoded, _END, stop)

    def encode() -> None:
        """Frames into segment files; a segment is renamed finished once the next one's first frame (or the
        end) arrives. Stopped (the run failed or was cancelled), it discards the segment it was writing."""
        writer, current = None, -1
        try:
            while (item := _get(encoded, stop)) is not None:
                t0 = time.perf_counter()
                if item is _END or (item[0] // seg_len) != current:
                    if writer is not None:
                        writer.close()
                        writer.path.replace(segment_path(workdir, current))
                        writer = None
                    if item is _END:
                        timings.encode_s += time.perf_counter() - t0
                        return
                    current = item[0] // seg_len
                    writer = SegmentWriter(segment_part_path(workdir, current), out_hw, info.rate, info.time_base,
                                           opts.encode)
                index, pts, image = item
                writer.write(image, pts - offset["pts"])
                timings.encode_s += time.perf_counter() - t0
        finally:
            if writer is not None:
                writer.discard()

    recent: deque[Frame] = deque(maxlen=frame_stylizer.warmup + opts.batch_size)

    def incoming() -> Iterator[Frame]:
        while True:
            item = _get(decoded, stop, decoder)
            if item is _END:
                return
            recent.append(item)
            segment = item.index // seg_len
            if segments is not None and segment not in segments:
                continue  # warm-up frames before this worker's first segment
            if result.first_pts is None:
                result.first_pts = item.pts
                offset["pts"] = item.pts if opts.start > 0 else 0
            result.last_pts = item.pts
            result.frames += 1
            if segment in done:
                result.reused += 1
                on_frames(1)
                continue
            yield item

    decoder, encoder = _Stage(decode), _Stage(encode)
    decoder.start()
    encoder.start()
    try:
        segment = -1
        for batch in _batches(incoming(), opts.batch_size, seg_len):
            if cancel is not None and cancel.is_set():
                raise Cancelled
            t0 = time.perf_counter()
            if batch[0].index // seg_len != segment:
                segment = batch[0].index // seg_len
                first = segment * seg_len
                frame_stylizer.start_segment([f.image for f in recent if f.index < first], opts.batch_size)
            images = frame_stylizer([f.image for f in batch])
            timings.compute_s += time.perf_counter() - t0
            for frame, image in zip(batch, images):
                _put(encoded, (frame.index, frame.pts, image), stop, encoder)
            on_frames(len(batch))
        _put(encoded, _END, stop, encoder)
        encoder.join()  # before ``stop`` is set below: set, the encoder would drop the end and its last segment
        encoder.check()
    finally:
        # Joined, so that when this returns or raises no thread of it still writes into ``workdir``.
        stop.set()
        encoder.join()
        decoder.join(timeout=5)
    return result


def lane_runs(info: VideoInfo, opts: VideoOptions) -> tuple[list[range], list[int]] | None:
    """The runs of consecutive segments that ``opts.parallel`` lanes render, with the frame timestamps
    they seek by; None for a single lane, and with a start or duration to honour (segment indices then
    count from --start, not from the first frame, so a lane could not seek to its run)."""
    if opts.parallel <= 1 or opts.start > 0 or opts.duration is not None:
        return None
    timestamps = frame_timestamps(info)
    frames = min(len(timestamps), opts.max_frames or len(timestamps))
    count = math.ceil(frames / segment_length(info, opts))
    lanes = min(opts.parallel, count)
    if lanes <= 1:
        return None
    edges = [k * count // lanes for k in range(lanes + 1)]
    return [range(a, b) for a, b in zip(edges, edges[1:])], timestamps


def render_lanes(frame_stylizer: FrameStylizer, info: VideoInfo, workdir: Path, opts: VideoOptions,
                 on_frames: Callable[[int], None] = lambda n: None) -> Rendered:
    """``render_segments`` over every segment, split into ``lane_runs`` rendered side by side, each with
    its own fork of ``frame_stylizer``: the segments are those of a one-lane run, frame for frame. The
    first failure (or an interruption) cancels the other lanes and is raised; timings are summed."""
    plan = lane_runs(info, opts)
    if plan is None:
        return render_segments(frame_stylizer, info, workdir, opts, on_frames=on_frames)
    runs, timestamps = plan
    cancel = threading.Event()
    results: list[Rendered] = [Rendered() for _ in runs]

    def lane(k: int, stylizer: FrameStylizer) -> None:
        try:
            results[k] = render_segments(stylizer, info, workdir, opts, runs[k], timestamps, on_frames, cancel)
        except BaseException:
            cancel.set()  # the other lanes stop at their next batch
            raise

    stages = [_Stage(functools.partial(lane, k, frame_stylizer if k == 0 else frame_stylizer.fork()))
              for k in range(len(runs))]
    for stage in stages:
        stage.start()
    try:
        for stage in stages:
            stage.join()
    except BaseException:  # interrupted here, in the calling thread
        cancel.set()
        raise
    failed = [stage.error for stage in stages if stage.error is not None]
    if failed:
        raise next((e for e in failed if not isinstance(e, Cancelled)), failed[0])
    return Rendered(sum(r.frames for r in results), sum(r.reused for r in results), results[0].first_pts,
                    results[-1].last_pts, Timings(*(sum(getattr(r.timings, f.name) for r in results)
                                                    for f in fields(Timings))))


def finish_output(info: VideoInfo, workdir: Path, dst: Path, opts: VideoOptions, rendered: Rendered) -> None:
    """Check that every frame arrived, join the segments with the audio into a temporary file, rename it
    onto ``dst`` and remove the work folder."""
    whole = opts.start == 0 and opts.duration is None and opts.max_frames is None
    if whole and info.frames and rendered.frames < info.frames:
        shutil.rmtree(workdir, ignore_errors=True)
        raise VideoError(f"truncated: the container lists {info.frames} frames but only {rendered.frames} decode")
    t0 = time.perf_counter()
    found = finished_segments(workdir)
    if sorted(found) != list(range(len(found))) or not found:
        raise VideoError(f"segments missing from {workdir} (have {sorted(found)}); run again with --resume")
    segments = [found[k] for k in sorted(found)]
    tmp = dst.with_name(f".{dst.stem}.tmp{dst.suffix}")
    start_s = float(rendered.first_pts * info.time_base) if opts.start > 0 else 0.0
    end_s = None if whole else float(rendered.last_pts * info.time_base + 1 / info.rate)
    try:
        join_segments(segments, info, tmp, opts.encode, start_s=start_s, end_s=end_s, offset_s=start_s)
        tmp.replace(dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    rendered.timings.join_s = time.perf_counter() - t0
    shutil.rmtree(workdir, ignore_errors=True)


def stylize_video(frame_stylizer: FrameStylizer, info: VideoInfo, dst: Path, opts: VideoOptions,
                  style_key: str = "", on_frames: Callable[[int], None] = lambda n: None) -> dict:
    """Stylize one probed video into ``dst``; returns figures (frames, timings).

    Raises VideoError or JobError, or OSError when writing fails; an interruption or a failed write leaves
    OUTPUT untouched and the finished segments in the work folder for --resume."""
    device, work_hw, out_hw = frame_stylizer.stylizer.device, frame_stylizer.work_hw, frame_stylizer.out_hw
    opts = replace(opts, batch_size=opts.batch_size or 1,
                   encode=lean_encoder(codec_for_container(opts.encode, dst), device, out_hw),
                   parallel=opts.parallel or auto_parallel(device, work_hw, out_hw))
    workdir = prepare_output(info, dst, opts, style_key)
    try:
        rendered = render_lanes(frame_stylizer, info, workdir, opts, on_frames=on_frames)
    except VideoError:
        shutil.rmtree(workdir, ignore_errors=True)  # a file that fails to decode fails again: nothing to resume
        raise
    finish_output(info, workdir, dst, opts, rendered)
    return {"frames": rendered.frames, "reused_frames": rendered.reused, "parallel": opts.parallel,
            "output_size": list(plan_sizes(info, opts)[1]),
            **{k: round(v, 3) for k, v in asdict(rendered.timings).items()}}


def frame_stylizer_for(stylizer, info: VideoInfo, opts: VideoOptions, refiner=None) -> FrameStylizer:
    """The frame stylizer for one video: plain per-frame, or temporally stabilised (with Gatys keyframe
    refinement when ``refiner`` is given); a fresh one per video, since it holds temporal state."""
    work_hw, out_hw = plan_sizes(info, opts)
    source_hw = (info.height, info.width) if opts.keep_size else None
    yuv = stylizer.device.type == "cuda" and opts.encode.pix_fmt == "yuv420p"  # the CPU has swscale's SIMD
    if stylizer.preserve_color == "coral":  # one recolouring for the whole video, from its first frame
        first = next(decode_frames(info, opts.start, max_frames=1)).image
        stylizer = stylizer.with_fixed_coral(FrameStylizer(stylizer, work_hw, out_hw).to_batch([first]))
    if opts.temporal.mode == "off" and not opts.temporal.refine_every:
        return FrameStylizer(stylizer, work_hw, out_hw, source_hw, yuv=yuv)
    temporal = TemporalStylizer(stylizer, opts.temporal, refiner)
    return FrameStylizer(temporal, work_hw, out_hw, source_hw, warmup=WARMUP_FRAMES, yuv=yuv)


def plan_videos(input_path: Path, output_path: Path) -> list[tuple[Path, Path]]:
    """(source, destination) pairs: one file, or every video under a folder mirrored into OUTPUT."""
    if not input_path.exists():
        raise JobError(f"input {input_path} does not exist")
    if input_path.is_file():
        dst = output_path / input_path.name if output_path.is_dir() else output_path
        return [(input_path, dst)]
    if output_path.exists() and not output_path.is_dir():
        raise JobError(f"input {input_path} is a folder, so OUTPUT must be a folder")
    if output_path.resolve() == input_path.resolve():
        raise JobError("output folder is the input folder")
    excluded = output_path if output_path.resolve().is_relative_to(input_path.resolve()) else None
    return [(src, output_path / src.relative_to(input_path))
            for src in walk_files(input_path, VIDEO_EXTENSIONS, exclude=excluded)]


Probed = tuple[Path, Path, "VideoInfo | VideoError"]


def probe_all(pairs: list[tuple[Path, Path]]) -> list[Probed]:
    """Probe every source once: (source, destination, its VideoInfo or the VideoError that refused it)."""
    probed = []
    for src, dst in pairs:
        try:
            probed.append((src, dst, probe(src)))
        except VideoError as exc:
            probed.append((src, dst, exc))
    return probed


def expected_frames(info: VideoInfo, opts: VideoOptions) -> int:
    """How many frames a job will produce (for progress totals; 0 when the container does not say)."""
    frames = info.expected_frames
    if opts.duration is not None:
        frames = min(frames, round(opts.duration * float(info.rate)))
    elif opts.start:
        frames = max(0, frames - round(opts.start * float(info.rate)))
    return min(frames, opts.max_frames or frames)


def run_videos(make_frame_stylizer: Callable[[VideoInfo, VideoOptions], FrameStylizer], probed: list[Probed],
               opts: VideoOptions, style_key: str = "", on_frames: Callable[[int], None] = lambda n: None,
               on_result: Callable[[ItemResult], None] | None = None) -> Summary:
    """Stylize each probed video; a failing one is reported and the others still run."""
    summary = Summary("video", units="frames", on_result=on_result)
    start = time.perf_counter()
    for src, dst, info in probed:
        try:
            if isinstance(info, VideoError):
                raise info
            figures = stylize_video(make_frame_stylizer(info, opts), info, dst, opts, style_key, on_frames)
        except (VideoError, JobError) as exc:
            summary.add(ItemResult(str(src), FAILED, str(exc)))
            continue
        except OSError as exc:  # decoding errors are VideoErrors: this is the output side (a full disk, ...)
            summary.add(ItemResult(str(src), FAILED, f"writing failed: {exc} (finished segments are kept for "
                                                     "--resume)"))
            continue
        summary.units_done += figures["frames"]
        for key in ("decode_s", "compute_s", "encode_s", "join_s"):
            summary.extra[key] = round(summary.extra.get(key, 0.0) + figures[key], 3)
        summary.add(ItemResult(str(src), PROCESSED, output=str(dst)))
    summary.elapsed_s = time.perf_counter() - start
    return summary
