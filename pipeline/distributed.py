"""The Ray engine (``--engine ray``): the same jobs as the local engine, spread over a Ray cluster.

The driver plans (walks folders, probes videos, checks what already exists); Ray Data hands the work to
actors that load the models and style statistics once each and then call the very same local code
(``run_folder``, ``stylize_video``, ``render_segments``), so outputs are identical to a local run. A
single long video is cut into the local engine's own resumable segments, one Ray task each (every
segment rebuilds its temporal state from the frames before it), and joined on the driver with the audio.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from pipeline.jobs.folder import FolderOptions, JobError, Task, drop_existing, run_folder
from pipeline.gatys import GatysOptions, GatysStylizer
from pipeline.io.video import VideoError, codec_for_container, frame_timestamps, probe
from pipeline.report import FAILED, PROCESSED, ItemResult, Summary
from pipeline.stylizer import StyleOptions, Stylizer
from pipeline.io.segments import finished_segments
from pipeline.video import (Rendered, VideoOptions, finish_output, frame_stylizer_for, prepare_output,
                            render_segments, segment_length, stylize_video)


@dataclass
class Recipe:
    """Everything a worker needs to build its stylizer (picklable, small)."""

    style: StyleOptions
    gatys: GatysOptions | None = None  # images: --method gatys; video: the keyframe / per-frame refiner
    threads: int = 1

    def build(self) -> tuple[Stylizer, GatysStylizer | None]:
        torch.set_num_threads(self.threads)
        stylizer = Stylizer.from_options(self.style)
        refiner = GatysStylizer(stylizer, self.gatys, from_adain=self.gatys.init == "adain") if self.gatys else None
        return stylizer, refiner


def init_ray(address: str | None, workers: int) -> None:
    """Join the cluster at ``address`` (``auto`` finds a running one) or start a local instance."""
    import ray

    if ray.is_initialized():
        return
    kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=max(workers, 1), **kwargs)
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False


def _map(items: list[dict], actor, recipe: Recipe, workers: int, extra: dict, batch_size: int = 1):
    import ray.data

    # Ray Data restarts a crashed actor and retries its unfinished batches elsewhere by default.
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    return ds.map_batches(actor, batch_size=batch_size, fn_constructor_kwargs={"recipe": recipe, **extra},
                          compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
                          num_gpus=1 if torch.cuda.is_available() else 0)


class FolderActor:
    """Stylizes a batch of (src, dst) rows with the local folder code."""

    def __init__(self, recipe: Recipe, folder: FolderOptions) -> None:
        stylizer, gatys = recipe.build()
        self.stylizer = gatys or stylizer
        self.folder = replace(folder, skip_existing=False, readers=1)

    def __call__(self, batch: dict) -> dict:
        tasks = [Task(Path(s), Path(d)) for s, d in zip(batch["src"], batch["dst"])]
        results = run_folder(self.stylizer, tasks, self.folder).results
        return {key: [getattr(r, key) for r in results] for key in ("path", "status", "reason", "output")}


def run_folder_ray(recipe: Recipe, tasks: list[Task], folder: FolderOptions, workers: int,
                   on_result: Callable[[ItemResult], None] | None = None) -> Summary:
    """``run_folder`` on Ray: same outputs, same per-file results, same summary."""
    summary = Summary("folder", on_result=on_result)
    start = time.perf_counter()
    todo = [{"src": str(t.src), "dst": str(t.dst)} for t in drop_existing(tasks, folder.skip_existing, summary)]
    if todo:
        recipe = replace(recipe, threads=max(1, (os.cpu_count() or 1) // workers))
        for row in _map(todo, FolderActor, recipe, workers, {"folder": folder}, folder.batch_size).iter_rows():
            summary.add(ItemResult(str(row["path"]), str(row["status"]), str(row["reason"]), str(row["output"])))
    summary.units_done = summary.count(PROCESSED)
    summary.elapsed_s = time.perf_counter() - start
    return summary


class VideoActor:
    """Runs one whole video, or one segment of a long video, with the local video code."""

    def __init__(self, recipe: Recipe, video: VideoOptions, style_key: str) -> None:
        self.stylizer, self.refiner = recipe.build()
        self.video, self.style_key = video, style_key

    def __call__(self, batch: dict) -> dict:
        src, dst, segment = Path(str(batch["src"][0])), Path(str(batch["dst"][0])), int(batch["segment"][0])
        row = {"src": [str(src)], "status": [PROCESSED], "reason": [""], "frames": [0]}
        try:
            info = probe(src)
            frame_stylizer = frame_stylizer_for(self.stylizer, info, self.video, self.refiner)
            if segment < 0:
                row["frames"] = [stylize_video(frame_stylizer, info, dst, self.video, self.style_key)["frames"]]
            else:
                workdir = Path(str(batch["workdir"][0]))
                rendered = render_segments(frame_stylizer, info, workdir, self.video, range(segment, segment + 1),
                                           frame_timestamps(info))
                row["frames"] = [rendered.frames]
        except (VideoError, JobError) as exc:
            row["status"], row["reason"] = [FAILED], [str(exc)]
        return row


def _split_one_video(src: Path, dst: Path, video: VideoOptions, style_key: str) -> tuple[list[dict], dict]:
    """The segment tasks of one long video, and what the driver needs to join them afterwards."""
    info = probe(src)
    workdir = prepare_output(info, dst, video, style_key)
    timestamps = frame_timestamps(info)
    seg_len = segment_length(info, video)
    count = math.ceil(len(timestamps) / seg_len)
    done = set(finished_segments(workdir))
    items = [{"src": str(src), "dst": str(dst), "segment": k, "workdir": str(workdir)}
             for k in range(count) if k not in done]
    reused = sum(min(seg_len, len(timestamps) - k * seg_len) for k in done)
    return items, {"info": info, "workdir": workdir, "timestamps": timestamps, "reused": reused}


def run_videos_ray(recipe: Recipe, pairs: list[tuple[Path, Path]], video: VideoOptions, workers: int,
                   style_key: str = "", on_frames: Callable[[int], None] = lambda n: None,
                   on_result: Callable[[ItemResult], None] | None = None) -> Summary:
    """A folder of videos runs one task per video; a single whole video is split into its segments."""
    summary = Summary("video", units="frames", on_result=on_result)
    start = time.perf_counter()
    whole = video.start == 0 and video.duration is None and video.max_frames is None
    recipe = replace(recipe, threads=max(1, (os.cpu_count() or 1) // workers))
    if len(pairs) == 1 and whole:
        src, dst = pairs[0]
        video = replace(video, encode=codec_for_container(video.encode, dst))
        try:
            items, join = _split_one_video(src, dst, video, style_key)
        except (VideoError, JobError) as exc:
            summary.add(ItemResult(str(src), FAILED, str(exc)))
            return summary
        on_frames(join["reused"])
        frames, failure = join["reused"], None
        if items:
            for row in _map(items, VideoActor, recipe, workers, {"video": video, "style_key": style_key}).iter_rows():
                frames += int(row["frames"])
                on_frames(int(row["frames"]))
                failure = failure or (str(row["reason"]) if row["status"] == FAILED else None)
        try:
            if failure:
                raise VideoError(failure)
            ts = join["timestamps"]
            finish_output(join["info"], join["workdir"], dst, video, Rendered(frames, 0, ts[0], ts[-1]))
            summary.units_done = frames
            summary.add(ItemResult(str(src), PROCESSED, output=str(dst)))
        except (VideoError, JobError) as exc:
            summary.add(ItemResult(str(src), FAILED, str(exc)))
    else:
        items = [{"src": str(s), "dst": str(d), "segment": -1, "workdir": ""} for s, d in pairs]
        destinations = {item["src"]: item["dst"] for item in items}
        for row in _map(items, VideoActor, recipe, workers, {"video": video, "style_key": style_key}).iter_rows():
            frames = int(row["frames"])
            summary.units_done += frames
            on_frames(frames)
            processed = row["status"] == PROCESSED
            summary.add(ItemResult(str(row["src"]), str(row["status"]), str(row["reason"]),
                                   destinations[str(row["src"])] if processed else ""))
    summary.elapsed_s = time.perf_counter() - start
    return summary
