"""`stylize video`: one plan per video, work items that render runs of its segments, and a finish that joins
them with the audio into OUTPUT.

The job exposes plan / claim / run one item / finish; the engines (engines/local.py, engines/ray.py) only
schedule the items and collect what they return. Encoded output goes into per-segment files in a work folder
beside the output, held by one run at a time (io/claim.py); when every segment is there they are joined into
a temporary file renamed onto OUTPUT (an image sequence: a folder of frames moved into place), so an
interrupted run leaves OUTPUT untouched and ``--resume`` reuses the finished segments.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import av
import torch

from pipeline.errors import JobError, JoinFailed, SegmentsMissing, VideoError
from pipeline.io.alpha import opaque
from pipeline.io.alpha_video import alpha_conflict, alpha_encoding, holds_alpha, work_muxer, write_with_alpha
from pipeline.io.animated import check_memory
from pipeline.io.claim import Busy, Claim, claim
from pipeline.io.data_tracks import data_left_out
from pipeline.io.finished import finished_video
from pipeline.io.hdr import TRANSFERS
from pipeline.io.subtitles import tracks_left_out
from pipeline.io.segments import Tally, drop_damaged_segments, finished_segments, joined_for, prepare_workdir
from pipeline.io.video import Timing, check_encoder, join_segments, output_format, probe
from pipeline.io.encode import audio_plan, from_frames, is_animated_output, lossless_segments
from pipeline.io.sequence_out import discard, is_sequence_output, place, write_sequence
from pipeline.jobs.render import Rendered, SinkFactory, Source, decode_source, render_run, segment_sink
from pipeline.jobs.video_frames import FrameStage, VideoNets
from pipeline.jobs.video_paths import check_destination, plan_videos
from pipeline.jobs.video_plan import VideoPlan, make_plan
from pipeline.options import EngineOptions, GatysOptions, StyleOptions, VideoOptions
from pipeline.report import FAILED, PROCESSED, SKIPPED, Hooks, ItemResult, Summary, Totals

log = logging.getLogger(__name__)
TIMINGS = ("decode_s", "compute_s", "encode_s", "join_s")


@dataclass(frozen=True)
class WorkItem:
    """One run of a plan's segments (``run`` None: all of them), rendered by one lane or one Ray task."""

    plan: VideoPlan
    run: range | None = None


@dataclass(frozen=True)
class Media:
    """Where an item's frames come from and go to; tests swap in a source or sink failing at a known frame."""

    source: Source = decode_source
    sink: SinkFactory = segment_sink


class VideoJob:
    """The video job's three steps: ``plan`` each video, ``run_item`` on each work item, ``finish`` each
    video. ``device`` is where the networks will run (sizes lanes and the encoder)."""

    def __init__(self, video: VideoOptions, style_key: str, device: torch.device, media: Media = Media(),
                 scenes: bool = False) -> None:
        self.video, self.style_key, self.device, self.media = video, style_key, torch.device(device), media
        self.scenes = scenes  # plans find the scene cuts (--style-per-scene)
        self.said_fps = False  # that --fps leaves a video with times as it is

    def plan(self, src: Path, dst: Path, seekable: bool = False) -> VideoPlan:
        """Probe ``src`` and plan it; VideoError when it cannot be read, JobError when it cannot be written."""
        check_destination(src, dst, self.video.encode)
        info = probe(src, self.video.fps)
        if self.video.fps and info.timing != Timing.RATE and info.format != "sequence" and not self.said_fps:
            self.said_fps = True  # once a job: a folder of videos would say it of each
            log.warning("--fps sets the rate of image sequences and raw streams, which store no times: %s keeps its "
                        "own (%s fps)", src, f"{float(info.rate):.6g}")
        plan = make_plan(src, dst, info, self.video, self.device, self.style_key, seekable, self.scenes)
        check_encoder(plan.encode, plan.out_hw, plan.info.rate)
        if is_animated_output(dst):  # its frames are held until it is written
            check_memory(dst, plan.expected, plan.out_hw)
        for _, codec in plan.info.audio_tracks:  # --audio copy: each track one the output can hold
            audio_plan(codec, output_format(dst), plan.encode.audio)
        if plan.info.empty_audio and plan.encode.audio != "none":
            log.warning("%s: its audio stream holds no samples (FFmpeg finds no sample rate): the output has no "
                        "audio", src)
        _say_what_changes(plan)
        return _with_alpha(plan) if plan.info.alpha and not from_frames(dst) else plan

    def plan_all(self, pairs: list[tuple[Path, Path]], summary: Summary, seekable: bool = False) -> list[VideoPlan]:
        """Plans of the videos that can be read; the others go into ``summary`` as failed, and with
        --skip-existing those whose output is in place and decodes as skipped."""
        plans = []
        for src, dst in pairs:
            if self.video.skip_existing and finished_video(dst):
                summary.add(ItemResult(str(src), SKIPPED, "output exists", str(dst)))
                continue
            try:
                plans.append(self.plan(src, dst, seekable))
            except VideoError as exc:
                summary.add(ItemResult(str(src), FAILED, str(exc)))
        return plans

    @staticmethod
    def settle(plan: VideoPlan, stylizer, lanes: int | None = None) -> VideoPlan:
        """``plan`` with its batch size decided for ``stylizer``'s device when it was left to auto."""
        if plan.batch_size:
            return plan
        from pipeline.stylizer import auto_batch_size

        return replace(plan, batch_size=auto_batch_size(stylizer, plan.work_hw, lanes=lanes or plan.lanes))

    @staticmethod
    def claim(plan: VideoPlan) -> Claim:
        """This run's hold on the plan's output (``io.claim``), from before ``prepare`` until after ``finish``
        or ``drop_work``; raises Busy when another run holds it, or with --skip-existing has finished it since
        this run planned (runs sharing a folder of videos). Creates the output folder."""
        try:
            plan.dst.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JobError(f"cannot create the output folder {plan.dst.parent}: {exc.strerror or exc}") from None
        held = claim(plan.workdir, plan.dst)
        if plan.video.skip_existing and finished_video(plan.dst):
            shutil.rmtree(plan.workdir, ignore_errors=True)  # made by the claim, empty
            held.release()
            raise Busy(f"another run finished {plan.dst} while this one worked")
        return held

    @staticmethod
    def prepare(plan: VideoPlan) -> None:
        """Ready the claimed work folder (what an earlier run left kept only by --resume)."""
        prepare_workdir(plan.dst, plan.key, plan.video.resume)
        for k in drop_damaged_segments(plan.workdir, plan.seg_len):
            log.warning("%s: finished segment %d of an earlier run is damaged; it is made again", plan.src, k)

    @staticmethod
    def items(plan: VideoPlan, per_segment: bool = False) -> list[WorkItem]:
        """The plan's lanes, or with ``per_segment`` one item per unfinished segment (a Ray split)."""
        if per_segment and plan.timestamps is not None:
            done = finished_segments(plan.workdir)
            return [WorkItem(plan, range(k, k + 1)) for k in range(plan.segment_count()) if k not in done]
        return [WorkItem(plan, run) for run in plan.runs] if plan.runs else [WorkItem(plan)]

    def run_item(self, nets: VideoNets, item: WorkItem, cancel=None, on_units=lambda n: None) -> Rendered:
        """Render one item with its own temporal state; see ``render.render_run``."""
        stage = FrameStage(nets, item.plan)
        return render_run(item.plan, item.run, stage, self.media.source, self.media.sink, cancel, on_units)

    @staticmethod
    def finish(plan: VideoPlan, rendered: list[Rendered]) -> dict:
        """Join the finished segments with the audio into a temporary file renamed onto OUTPUT, remove the
        work folder; returns the figures (frames, timings)."""
        tally = _merge([r.tally for r in rendered])
        found = finished_segments(plan.workdir)
        stops = sorted((r for r in rendered if r.stopped_at_s is not None), key=lambda r: r.stopped_at_s)
        count = plan.segment_count() if not stops else None  # a source cut short: the segments up to the cut
        empty = {k for r in rendered for k in r.empty}  # every frame damaged, left out: none to join there
        expected = [k for k in range(count) if k not in empty] if count is not None else list(range(len(found)))
        if not found or sorted(found) != expected:
            raise SegmentsMissing(f"segments missing from {plan.workdir} (have {sorted(found)}); run again with "
                                  "--resume")
        t0 = time.perf_counter()
        video, info = plan.video, plan.info
        tmp = joined_for(plan.dst)
        start_s = float(tally.first_pts * info.time_base) if video.start > 0 else 0.0
        end_s = None if video.whole and not stops else float(tally.last_pts * info.time_base + 1 / info.rate)
        try:
            _write_output(plan, [found[k] for k in sorted(found)], tmp, start_s, end_s)
            _put_in_place(tmp, plan.dst)
        except BaseException as exc:
            _discard(tmp, plan.dst)
            if isinstance(exc, av.error.FFmpegError) and not isinstance(exc, OSError):  # OSError: a full disk
                raise JoinFailed(f"joining the segments failed ({exc.strerror}); the finished segments are "
                                 "kept for --resume") from None
            raise
        shutil.rmtree(plan.workdir, ignore_errors=True)
        timings = {"decode_s": sum(r.decode_s for r in rendered), "compute_s": sum(r.compute_s for r in rendered),
                   "encode_s": sum(r.tally.encode_s for r in rendered), "join_s": time.perf_counter() - t0}
        stop = stops[0] if stops else None
        stopped = {"stopped_at_s": round(stop.stopped_at_s, 3), "stopped_why": stop.stopped_why} if stop else {}
        return {"frames": tally.frames, "reused_frames": tally.reused, **timings, **stopped}

    @staticmethod
    def failed(plan: VideoPlan, exc: BaseException) -> ItemResult:
        """The result of a video that failed, or that another run is writing (skipped, said)."""
        if isinstance(exc, Busy):
            log.warning("%s: %s", plan.src, exc)
            return ItemResult(str(plan.src), SKIPPED, str(exc), str(plan.dst))
        if isinstance(exc, OSError):
            return ItemResult(str(plan.src), FAILED, f"writing failed: {exc} (finished segments are kept for "
                                                     "--resume)")
        return ItemResult(str(plan.src), FAILED, str(exc))

    @staticmethod
    def drop_work(plan: VideoPlan, exc: BaseException) -> None:
        """After ``exc``, with the claim still held: a file that fails to decode fails again, so its work folder
        goes; a failed write (a full disk), missing segments or a refused join keep theirs for --resume."""
        if isinstance(exc, VideoError) and not isinstance(exc, (SegmentsMissing, JoinFailed)):
            shutil.rmtree(plan.workdir, ignore_errors=True)

    @staticmethod
    def record(summary: Summary, plan: VideoPlan, figures: dict) -> None:
        summary.units_done += figures["frames"]
        for key in TIMINGS:
            summary.extra[key] = round(summary.extra.get(key, 0.0) + figures[key], 3)
        summary.add(VideoJob.result(plan, figures))

    @staticmethod
    def result(plan: VideoPlan, figures: dict) -> ItemResult:
        """The result of a finished video; where its source stopped decoding part way, said in one line."""
        if "stopped_at_s" not in figures:
            return ItemResult(str(plan.src), PROCESSED, output=str(plan.dst))
        note = (f"stopped decoding at {figures['stopped_at_s']:.3f} s ({figures['stopped_why']}); the output holds "
                f"the {figures['frames']} frames before")
        log.warning("%s: %s (--strict makes this an error)", plan.src, note)
        return ItemResult(str(plan.src), PROCESSED, note, str(plan.dst), figures["stopped_at_s"])


def _say_what_changes(plan: VideoPlan) -> None:
    """One line each for what of the source the output shows otherwise: HDR made SDR, tracks of codecs FFmpeg
    does not know, subtitle and data tracks its container cannot hold."""
    colour = plan.info.colour
    if colour is not None and colour.hdr:
        log.info("%s: HDR video (%s): stylized and written as SDR (BT.709), as style images are", plan.src,
                 TRANSFERS[colour.transfer])
    if plan.info.unknown_tracks:
        log.info("%s: left out, in codecs FFmpeg does not know: %s", plan.src, ", ".join(plan.info.unknown_tracks))
    if is_sequence_output(plan.dst):
        log.info("%s: written as a file a frame (%s), numbered in order; an image sequence holds no times (the "
                 "source's rate: %s fps)%s", plan.src, plan.dst.name, f"{float(plan.info.rate):.6g}",
                 " and no audio" if plan.info.audio_tracks else "")
    left_out = tracks_left_out(plan.info, output_format(plan.dst))
    if left_out:
        log.info("%s: subtitles not kept, %s holds no %s (.mkv keeps them)", plan.src,
                 plan.dst.suffix or "the output", ", ".join(left_out))
    data = data_left_out(plan.info, output_format(plan.dst))
    if data:
        log.info("%s: %d data track%s (telemetry, timed metadata) not kept, %s holds none (.mp4 and .mov keep them)",
                 plan.src, data, "s" if data > 1 else "", plan.dst.suffix or "the output")


def keeps_alpha(plan: VideoPlan) -> bool:
    """Whether ``plan``'s output keeps its source's alpha in a video container (``pipeline/io/alpha_video.py``)."""
    dst = plan.dst
    return (plan.info.alpha and not from_frames(dst) and holds_alpha(dst)
            and alpha_conflict(plan.video.encode, dst) is None)


def _with_alpha(plan: VideoPlan) -> VideoPlan:
    """A plan whose source has alpha: lossless segments that the finish encodes with the alpha codec where the
    output keeps it (JobError when that encoder cannot be used), else as it was, with one line saying why the
    alpha is dropped; a source whose alpha is opaque in every frame, as a source without one, said."""
    src, dst = plan.src, plan.dst
    if keeps_alpha(plan) and opaque(plan.info):  # as if it had none: the output's own codec, no alpha finish
        log.info("%s: its alpha channel is opaque in every frame: %s is written without one", src, dst.name)
        return replace(plan, info=replace(plan.info, alpha=False))
    if keeps_alpha(plan):
        try:
            check_encoder(alpha_encoding(plan.video.encode, dst), plan.out_hw, plan.info.rate)
        except JobError as exc:  # a frame size the alpha codec refuses stays this video's (FrameSizeError)
            raise JobError(f"{exc} (for the transparency of {src})") from None
        deep = plan.info.colour is not None and plan.info.colour.deep and output_format(dst) == "mov"
        return replace(plan, encode=lossless_segments(plan.encode, deep))
    if holds_alpha(dst):
        log.info("%s: its transparency is dropped: %s asks for a format without it (leave it out to keep the "
                 "alpha)", src, alpha_conflict(plan.video.encode, dst))
    else:
        log.info("%s: its transparency is dropped: %s output holds none here (write .webm, .mov, .webp, .gif or "
                 ".apng to keep it)", src, dst.suffix or "this")
    return plan


def _write_output(plan: VideoPlan, segments: list[Path], tmp: Path, start_s: float, end_s: float | None) -> None:
    """The segments joined with the audio into ``tmp``; for an output keeping the source's alpha, joined into
    a work file first, then encoded with the alpha there."""
    if is_sequence_output(plan.dst):  # a file a frame, written into the folder ``tmp``
        write_sequence(segments, plan.info, tmp, plan.dst, offset_s=start_s)
        return
    if is_animated_output(plan.dst):  # each frame as long as in the source, the last up to the --duration asked
        video = plan.video
        end_s = plan.info.clock(video.start + video.duration) if video.duration is not None else None
    if not keeps_alpha(plan):
        join_segments(segments, plan.info, tmp, plan.encode, start_s=start_s, end_s=end_s, offset_s=start_s)
        return
    work = plan.workdir / f"joined.part{plan.dst.suffix}"
    try:
        join_segments(segments, plan.info, work, plan.encode, start_s=start_s, end_s=end_s, offset_s=start_s,
                      muxer=work_muxer(plan.dst))
        write_with_alpha(work, plan.info, tmp, alpha_encoding(plan.video.encode, plan.dst), offset_s=start_s)
    finally:
        work.unlink(missing_ok=True)


def _put_in_place(tmp: Path, dst: Path) -> None:
    """The joined output ``tmp`` moved to ``dst``: renamed, or an image sequence's frames moved one by one."""
    if is_sequence_output(dst):
        place(tmp, dst)
    else:
        tmp.replace(dst)


def _discard(tmp: Path, dst: Path) -> None:
    """The joined output ``tmp`` of ``dst`` removed where it could not be put in place."""
    if is_sequence_output(dst):
        discard(tmp)
    else:
        tmp.unlink(missing_ok=True)


def _merge(tallies: list[Tally]) -> Tally:
    """One tally of a video's items."""
    firsts = [t.first_pts for t in tallies if t.first_pts is not None]
    lasts = [t.last_pts for t in tallies if t.last_pts is not None]
    return Tally(sum(t.frames for t in tallies), sum(t.reused for t in tallies), min(firsts, default=None),
                 max(lasts, default=None), sum(t.encode_s for t in tallies))


def run_video_job(input_path: Path, output: Path, style: StyleOptions, video: VideoOptions,
                  refine: GatysOptions | None, engine: EngineOptions, hooks: Hooks) -> Summary:
    """``stylize video``: check, probe and plan every video, build the networks (or hand the items to Ray),
    render and join each video; one failing video is reported and the others still run.

    Raises a UsageError before anything is created when the job cannot start."""
    from pipeline.device import pick_device
    from pipeline.options import Engine

    pairs = plan_videos(input_path, output)
    summary = Summary("video", units="frames", on_result=hooks.on_result)
    if not pairs:
        log.error("no videos found under %s", input_path)
        return summary
    start = time.perf_counter()
    ray = engine.engine == Engine.RAY
    job = VideoJob(video, style.key(), pick_device(style.device), scenes=style.control.style_per_scene)
    plans = job.plan_all(pairs, summary, seekable=ray and len(pairs) == 1)
    totals = Totals(hooks, {str(p.src): p.expected for p in plans})
    hooks, summary.on_result = totals.hooks, totals.hooks.on_result
    if plans:  # none when every video failed to plan or was skipped: no networks, no cluster
        _render(job, plans, style, refine, engine, hooks, summary)
    summary.elapsed_s = time.perf_counter() - start
    if video.contact_sheet is not None:
        from pipeline.jobs.sheets import write_video_sheet

        write_video_sheet(video.contact_sheet, summary, style.styles, video.start, video.fps)
    return summary


def _render(job: VideoJob, plans: list[VideoPlan], style: StyleOptions, refine: GatysOptions | None,
            engine: EngineOptions, hooks: Hooks, summary: Summary) -> None:
    """Render and finish ``plans`` on the engine asked for: this process's networks, or Ray's workers."""
    from pipeline.options import Engine

    if engine.engine == Engine.RAY:
        from pipeline.engines.ray import run_videos_ray
        from pipeline.models.backbones import check_backbone

        check_backbone(refine)  # here, once, rather than failing on every worker
        run_videos_ray(job, plans, style, refine, engine, hooks, summary)
        return
    from pipeline.build import build_refiner, build_stylizer, describe_networks
    from pipeline.engines.local import run_videos_local

    stylizer = build_stylizer(style, hooks.on_adapt_step)
    refiner = build_refiner(stylizer, refine) if refine is not None else None
    summary.extra["backend"] = describe_networks(stylizer, refiner)
    run_videos_local(job, plans, stylizer, refiner, hooks, summary)
