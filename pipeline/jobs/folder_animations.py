"""The animations of a folder (GIF, APNG, animated WebP and AVIF): every frame stylized by the video job, with
its temporal consistency, each frame's duration, the loop count and the transparency kept, written in the
source's format (``jobs/folder_plan.py`` marks them; ``pipeline/io/animated.py`` reads and writes them)."""

from __future__ import annotations

import logging
from dataclasses import replace

from pipeline.errors import ImageReadError, JobError, VideoError
from pipeline.io.images import writable
from pipeline.jobs.folder_plan import Task
from pipeline.options import FolderOptions, Upscale, VideoOptions
from pipeline.report import FAILED, ItemResult

log = logging.getLogger(__name__)


def animation_options(opts: FolderOptions, refined: bool) -> VideoOptions:
    """The video job's options for a folder's animations: the folder's size, upscaling (``decode``, which the
    temporal step cannot take, as ``guided``) and temporal mode, every frame refined where it runs Gatys."""
    upscale = Upscale.GUIDED if opts.upscale == Upscale.DECODE else opts.upscale
    temporal = replace(opts.temporal, refine_every=1) if refined else opts.temporal
    return VideoOptions(size=opts.size, keep_size=opts.keep_size, upscale=upscale, temporal=temporal)


def run_animation(stylizer, task: Task, opts: FolderOptions) -> ItemResult | None:
    """Stylize one animation with ``stylizer`` (a folder's: the feed-forward one, or the Gatys one wrapping it,
    which then refines every frame); its result, failed in one line when it cannot be read or written. None
    where its frames cannot be read but its format holds a still (an APNG: its default image, as a viewer
    without APNG shows it, is then written as a still by the caller), said."""
    from pipeline.engines.local import render_video
    from pipeline.jobs.video import VideoJob

    base = getattr(stylizer, "stylizer", stylizer)  # the Gatys optimiser holds the feed-forward stylizer
    refiner = None if base is stylizer else stylizer
    if refiner is not None and task.masks:
        return ItemResult(str(task.src), FAILED, "an animation with --mask is stylized with --method adain only "
                                                 "(Gatys refinement of its frames optimises toward one style)")
    job = VideoJob(animation_options(opts, refiner is not None), "folder", base.device)
    try:
        plan = job.plan(task.src, task.dst)
    except JobError as exc:
        return ItemResult(str(task.src), FAILED, str(exc))
    except VideoError as exc:
        return _as_still(task, exc, ItemResult(str(task.src), FAILED, str(exc)))
    try:
        figures = render_video(job, plan, base, refiner, masks=task.masks or None)
    except VideoError as exc:
        return _as_still(task, exc, job.failed(plan, exc))
    except (JobError, OSError) as exc:
        return job.failed(plan, exc)
    except ImageReadError as exc:  # its mask, named
        return ItemResult(str(task.src), FAILED, str(exc))
    except (RuntimeError, ValueError) as exc:  # as a still's batch: out of memory fails this file, the rest go on
        return ItemResult(str(task.src), FAILED, f"stylize failed: {exc}")
    return job.result(plan, figures)  # a file cut short: the frames before the damage kept and said, as a video's


def _as_still(task: Task, exc: VideoError, failed: ItemResult) -> ItemResult | None:
    """None (written as a still) where ``task``'s output format holds one, said; else ``failed``."""
    if not writable(task.dst):
        return failed
    log.warning("%s: its animation cannot be read (%s): its first picture is written as a still", task.src, exc)
    return None
