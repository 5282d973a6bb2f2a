"""The Ray engine (``--engine ray``): the same work items as the local engine, scheduled on a Ray cluster.

The driver plans (walks folders, probes videos, prepares work folders); Ray Data hands the items to actors
that build the networks once each (``Recipe.build``) and run the very same job code (``run_folder``,
``VideoJob.run_item``), so outputs are identical to a local run. A single video is split into its segments,
one item each (every segment rebuilds its temporal state from the frames before it); the driver finishes
each video (joins its segments with the audio) once all its items are back.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from pipeline.engines.ray_connect import init_ray
from pipeline.errors import EngineError, JobError, VideoError
from pipeline.io.segments import Tally, finished_segments
from pipeline.jobs.folder import run_folder
from pipeline.jobs.folder_plan import Task, drop_existing
from pipeline.jobs.render import Rendered
from pipeline.jobs.video import VideoJob, WorkItem
from pipeline.jobs.video_plan import VideoPlan
from pipeline.options import EngineOptions, FolderOptions, GatysOptions, StyleOptions
from pipeline.report import PROCESSED, Hooks, ItemResult, Summary


@dataclass(frozen=True)
class Recipe:
    """Everything a worker needs to build its networks (picklable, small)."""

    style: StyleOptions
    gatys: GatysOptions | None = None  # images: --method gatys; video: the keyframe / per-frame refiner
    threads: int = 1

    def build(self):
        """(stylizer, refiner or None), with this worker process set up for them."""
        from pipeline.build import build_refiner, build_stylizer
        from pipeline.device import pick_device, pick_dtype
        from pipeline.process import setup_process

        device = pick_device(self.style.device)
        setup_process(device, pick_dtype(self.style.precision, device), self.threads)
        stylizer = build_stylizer(self.style)
        return stylizer, build_refiner(stylizer, self.gatys) if self.gatys else None


def _map(rows: list[dict], actor, recipe: Recipe, workers: int, extra: dict, batch_size: int = 1):
    import ray.data

    # Ray Data restarts a crashed actor and retries its unfinished batches elsewhere by default.
    ds = ray.data.from_items(rows, override_num_blocks=len(rows))
    recipe = replace(recipe, threads=max(1, (os.cpu_count() or 1) // workers))
    return ds.map_batches(actor, batch_size=batch_size, fn_constructor_kwargs={"recipe": recipe, **extra},
                          compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
                          num_gpus=1 if torch.cuda.is_available() else 0)


def _rows(rows: list[dict], actor, recipe: Recipe, workers: int, extra: dict, batch_size: int = 1) -> Iterator[dict]:
    """The actors' result rows; a failure of the cluster itself (a worker that died, a lost node) becomes one
    ``EngineError`` line instead of Ray's traceback."""
    from ray.exceptions import RayError

    try:
        yield from _map(rows, actor, recipe, workers, extra, batch_size).iter_rows()
    except RayError as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        raise EngineError(f"the Ray cluster failed ({type(exc).__name__}: {first}); what was finished is kept: "
                          "run again with --skip-existing (videos also with --resume)") from None


def prepare_workers(style: StyleOptions, on_adapt_step: Callable[[int], None] | None) -> StyleOptions:
    """Fail here, not on every worker; with --adapt, adapt here once so that workers on this machine find the
    weights in the cache instead of each adapting on its own. Returns ``style`` with the CPU backend that
    ``auto`` picks here named outright, so every worker runs the same kernels and writes the same pixels as a
    local run (a worker's own probe could pick another)."""
    from pipeline.build import build_stylizer, check_weights, cpu_backend, load_style_images
    from pipeline.device import pick_device

    if style.adapt:
        build_stylizer(style, on_adapt_step)
    else:
        check_weights(style)
        load_style_images(style.styles, style.style_size)
    if style.cpu_backend == "auto" and pick_device(style.device).type == "cpu":
        from pipeline.models.vgg import load_encoder

        encoder = load_encoder(style.vgg)
        encoder.use_reflect_padding()  # as a run's: the probe converts it for OpenVINO, keyed by its form
        style = replace(style, cpu_backend=cpu_backend(style, encoder).name)
    return style


class FolderActor:
    """Stylizes a batch of (src, dst) rows with the local folder code."""

    def __init__(self, recipe: Recipe, folder: FolderOptions) -> None:
        stylizer, gatys = recipe.build()
        self.stylizer = gatys or stylizer
        self.folder = replace(folder, skip_existing=False, readers=1)

    def __call__(self, batch: dict) -> dict:
        tasks = [Task(Path(s), Path(d), tuple(Path(p) if p else None for p in json.loads(m)), bool(a), bool(pg))
                 for s, d, m, a, pg in zip(batch["src"], batch["dst"], batch["masks"], batch["animation"],
                                           batch["pages"])]
        results = run_folder(self.stylizer, tasks, self.folder).results
        return {key: [getattr(r, key) for r in results] for key in ("path", "status", "reason", "output")}


def run_folder_job_ray(style: StyleOptions, gatys: GatysOptions | None, tasks: list[Task], folder: FolderOptions,
                       engine: EngineOptions, on_result: Callable[[ItemResult], None] | None = None,
                       on_adapt_step: Callable[[int], None] | None = None) -> Summary:
    """``run_folder`` on Ray: same outputs, same per-file results, same summary."""
    style = prepare_workers(style, on_adapt_step)
    init_ray(engine.ray_address, engine.workers)
    summary = Summary("folder", on_result=on_result)
    start = time.perf_counter()
    todo = [{"src": str(t.src), "dst": str(t.dst), "masks": json.dumps([str(m) if m else "" for m in t.masks]),
             "animation": t.animation, "pages": t.pages} for t in drop_existing(tasks, folder.skip_existing, summary)]
    if todo:
        folder = replace(folder, batch_size=folder.batch_size or 1)
        for row in _rows(todo, FolderActor, Recipe(style, gatys), engine.workers, {"folder": folder},
                         folder.batch_size):
            summary.add(ItemResult(str(row["path"]), str(row["status"]), str(row["reason"]), str(row["output"])))
    summary.units_done = summary.count(PROCESSED)
    summary.elapsed_s = time.perf_counter() - start
    return summary


_ERRORS = {"OSError": OSError, "VideoError": VideoError, "JobError": JobError}


class VideoActor:
    """Renders video work items (a whole video, or one segment of a split one) with the local job code."""

    def __init__(self, recipe: Recipe, job: VideoJob, plans: list[VideoPlan]) -> None:
        self.stylizer, self.refiner = recipe.build()
        self.job, self.plans = job, plans
        self._nets: dict = {}  # per video: CORAL recolours to each video's first frame

    def __call__(self, batch: dict) -> dict:
        from pipeline.jobs.video_frames import nets_for_video

        i, first, stop = int(batch["plan"][0]), int(batch["first"][0]), int(batch["stop"][0])
        plan = self.job.settle(self.plans[i], self.stylizer, lanes=1)
        row = {"plan": i, "error": "", "reason": "", "frames": 0, "reused": 0, "first_pts": -1, "last_pts": -1,
               "decode_s": 0.0, "compute_s": 0.0, "encode_s": 0.0, "stopped_at_s": -1.0, "stopped_why": "",
               "empty": "[]"}
        try:
            if i not in self._nets:
                self._nets[i] = nets_for_video(self.stylizer, self.refiner, plan)
            done = self.job.run_item(self._nets[i], WorkItem(plan, range(first, stop) if first >= 0 else None))
            tally = done.tally
            row.update(frames=tally.frames, reused=tally.reused, encode_s=tally.encode_s, decode_s=done.decode_s,
                       compute_s=done.compute_s, first_pts=_or(tally.first_pts), last_pts=_or(tally.last_pts),
                       stopped_at_s=-1.0 if done.stopped_at_s is None else done.stopped_at_s,
                       stopped_why=done.stopped_why, empty=json.dumps(done.empty))
        except (VideoError, JobError, OSError) as exc:
            kind = next(name for name, cls in _ERRORS.items() if isinstance(exc, cls))
            row.update(error=kind, reason=str(exc))
        return {key: [value] for key, value in row.items()}


def _or(pts: int | None) -> int:
    return -1 if pts is None else pts


def _rendered(row: dict) -> Rendered:
    pts = lambda v: None if int(v) < 0 else int(v)  # noqa: E731
    tally = Tally(int(row["frames"]), int(row["reused"]), pts(row["first_pts"]), pts(row["last_pts"]),
                  float(row["encode_s"]))
    stopped = float(row["stopped_at_s"])  # a source that stopped decoding part way (-1: none)
    return Rendered(tally, float(row["decode_s"]), float(row["compute_s"]), None if stopped < 0 else stopped,
                    str(row["stopped_why"]), tuple(json.loads(row["empty"])))


def _finished_part(plan: VideoPlan) -> Rendered:
    """What the segments finished before a split (they are not scheduled again) count for."""
    stamps, seg_len = plan.timestamps, plan.seg_len
    frames = sum(min(seg_len, len(stamps) - k * seg_len) for k in finished_segments(plan.workdir))
    return Rendered(Tally(frames, frames, stamps[0], stamps[-1]))


def _schedule(job: VideoJob, plans: list[VideoPlan], split: bool, hooks: Hooks, summary: Summary,
              parts: dict[int, list[Rendered]], claims: ExitStack) -> list[dict]:
    """Claim and prepare each video's work folder (held in ``claims`` until the run ends) and list its items as
    rows; a video that cannot start is failed, one another run is writing skipped."""
    rows = []
    for i, plan in enumerate(plans):
        try:
            claims.enter_context(job.claim(plan))
            job.prepare(plan)
        except JobError as exc:
            summary.add(job.failed(plan, exc))
            continue
        parts[i] = []
        items = [WorkItem(plan)]
        if split:
            parts[i].append(_finished_part(plan))
            hooks.on_units(parts[i][0].tally.frames)
            items = job.items(plan, per_segment=True)
        rows += [{"plan": i, "first": it.run.start if it.run else -1, "stop": it.run.stop if it.run else -1}
                 for it in items]
    return rows


def run_videos_ray(job: VideoJob, plans: list[VideoPlan], style: StyleOptions, refine: GatysOptions | None,
                   engine: EngineOptions, hooks: Hooks, summary: Summary) -> Summary:
    """Every planned video's items on Ray, then each video finished on the driver. A single whole video is
    split into its unfinished segments; several videos go one item each."""
    if not plans:
        return summary
    style = prepare_workers(style, hooks.on_adapt_step)
    init_ray(engine.ray_address, engine.workers)
    split = len(plans) == 1 and plans[0].video.whole and plans[0].timestamps is not None
    parts: dict[int, list[Rendered]] = {}
    errors: dict[int, BaseException] = {}
    with ExitStack() as claims:  # every video's work folder held by this driver until it is joined or failed
        rows = _schedule(job, plans, split, hooks, summary, parts, claims)
        extra = {"job": job, "plans": plans}
        for row in _rows(rows, VideoActor, Recipe(style, refine), engine.workers, extra) if rows else ():
            i = int(row["plan"])
            if row["error"]:
                errors.setdefault(i, _ERRORS[str(row["error"])](str(row["reason"])))
                continue
            parts[i].append(_rendered(row))
            hooks.on_units(int(row["frames"]))
        _finish(job, plans, parts, errors, summary)
    return summary


def _finish(job: VideoJob, plans: list[VideoPlan], parts: dict[int, list[Rendered]],
            errors: dict[int, BaseException], summary: Summary) -> None:
    """Join each video whose items all finished; record the others as failed (their work folders still held)."""
    for i, rendered in parts.items():
        try:
            if i in errors:
                raise errors[i]
            job.record(summary, plans[i], job.finish(plans[i], rendered))
        except (VideoError, JobError, OSError) as exc:
            job.drop_work(plans[i], exc)
            summary.add(job.failed(plans[i], exc))
