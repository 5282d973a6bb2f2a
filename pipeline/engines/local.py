"""The local engine for videos: each video's work items (its lanes) side by side in threads of this process."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from pipeline.errors import Cancelled, JobError, VideoError
from pipeline.jobs.render import Rendered, StageThread
from pipeline.jobs.video import VideoJob, WorkItem
from pipeline.jobs.video_frames import VideoNets, nets_for_video
from pipeline.jobs.video_plan import VideoPlan
from pipeline.options import VideoOptions
from pipeline.report import Hooks, Summary


def run_videos_local(job: VideoJob, plans: list[VideoPlan], stylizer, refiner, hooks: Hooks,
                     summary: Summary) -> Summary:
    """Render and finish each planned video in turn; a failing video is recorded and the others still run.
    An interruption propagates once every thread has stopped, leaving finished segments for --resume."""
    for plan in plans:
        try:
            figures = render_video(job, plan, stylizer, refiner, hooks.on_units)
        except (VideoError, JobError, OSError) as exc:
            summary.add(job.failed(plan, exc))
            continue
        job.record(summary, plan, figures)
    return summary


def render_video(job: VideoJob, plan: VideoPlan, stylizer, refiner=None, on_units=lambda n: None,
                 masks=None) -> dict:
    """One planned video, its lanes side by side, joined into its output: its figures (frames, timings,
    lanes, batch size, output size). ``masks``: each style's mask file, where they are not the run's. Raises
    ``io.claim.Busy`` when another run is writing the output."""
    plan = job.settle(plan, stylizer)
    with job.claim(plan):  # no other run touches the output until it is joined, or this one has failed
        try:
            job.prepare(plan)
            nets = nets_for_video(stylizer, refiner, plan, masks)
            try:
                rendered = run_items(job, nets, job.items(plan), on_units)
            finally:
                nets.close()
            figures = job.finish(plan, rendered)
        except VideoError as exc:
            job.drop_work(plan, exc)
            raise
    return {**figures, "parallel": plan.lanes, "batch_size": plan.batch_size, "output_size": list(plan.out_hw)}


def stylize_one(stylizer, src: Path, dst: Path, video: VideoOptions, refiner=None, style_key: str = "") -> dict:
    """One video with networks already built (scripts, notebooks); raises what fails it."""
    job = VideoJob(video, style_key, stylizer.device)
    return render_video(job, job.plan(src, dst), stylizer, refiner)


def _lane(job: VideoJob, nets: VideoNets, item: WorkItem, cancel: threading.Event, on_units) -> Rendered:
    try:
        return job.run_item(nets, item, cancel, on_units)
    except BaseException:
        cancel.set()  # the other lanes stop at their next batch
        raise


def run_items(job: VideoJob, nets: VideoNets, items: list[WorkItem], on_units) -> list[Rendered]:
    """The items of one video: one in this thread, several each in its own thread. The first failure (or an
    interruption here) cancels the others; all are joined before it is raised."""
    if len(items) == 1:
        return [job.run_item(nets, items[0], on_units=on_units)]
    cancel = threading.Event()
    lanes = [StageThread(functools.partial(_lane, job, nets, item, cancel, on_units), f"lane {item.run}")
             for item in items]
    try:
        for lane in lanes:
            lane.start()
        for lane in lanes:
            lane.wait()
    finally:
        cancel.set()
        for lane in lanes:
            if lane.ident is not None:  # started
                lane.wait()
    errors = [lane.error for lane in lanes if lane.error is not None]
    if errors:
        raise next((e for e in errors if not isinstance(e, Cancelled)), errors[0])
    return [lane.result for lane in lanes]
