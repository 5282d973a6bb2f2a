"""`stylize folder`: walk a tree of images, stylize them in size-bucketed batches, mirror the tree.

Reading and resizing run in a thread pool ahead of the model, writing in another behind it, so the
model rarely waits on disk; every output is written to a temporary name and renamed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from pipeline.batching import SizeBuckets
from pipeline.errors import JobError
from pipeline.ops.sizes import work_size
from pipeline.options import FolderOptions
from pipeline.io.images import IMAGE_EXTENSIONS, ImageReadError, read_image, to_tensor, to_uint8, write_image
from pipeline.io.walk import walk_files
from pipeline.report import FAILED, PROCESSED, SKIPPED, ItemResult, Summary
from pipeline.stylizer import Stylizer


@dataclass
class Task:
    src: Path
    dst: Path


@dataclass
class Loaded:
    task: Task
    work: np.ndarray  # (h, w, 3) float32 at the work resolution
    source_hw: tuple[int, int]
    alpha: np.ndarray | None


def _inside(path: Path, parent: Path) -> bool:
    return path.resolve().is_relative_to(parent.resolve())


def plan_folder(input_dir: Path, output_dir: Path, ext: str | None = None) -> tuple[list[Task], Path | None]:
    """Map every image under ``input_dir`` to its mirrored path under ``output_dir``.

    An ``output_dir`` inside ``input_dir`` is left out of the walk (returned as the excluded folder);
    ``output_dir`` equal to ``input_dir`` is refused, since that would write over the inputs.
    """
    if not input_dir.exists():
        raise JobError(f"input folder {input_dir} does not exist")
    if not input_dir.is_dir():
        raise JobError(f"input {input_dir} is not a folder")
    if output_dir.exists() and not output_dir.is_dir():
        raise JobError(f"output {output_dir} exists and is not a folder")
    if output_dir.resolve() == input_dir.resolve() or _inside(input_dir, output_dir):
        raise JobError(f"output folder {output_dir} would contain the input folder {input_dir}")
    if ext is not None and ext.lower() not in IMAGE_EXTENSIONS:
        raise JobError(f"--ext {ext}: not one of {', '.join(sorted(IMAGE_EXTENSIONS))}")
    excluded = output_dir if _inside(output_dir, input_dir) else None
    tasks = []
    for src in walk_files(input_dir, IMAGE_EXTENSIONS, exclude=excluded):
        dst = output_dir / src.relative_to(input_dir)
        tasks.append(Task(src, dst.with_suffix(ext) if ext else dst))
    return tasks, excluded


def load_task(task: Task, size: int, keep_size: bool = False) -> Loaded:
    """Read and resize one image; large JPEGs are decoded at a reduced scale unless --keep-size."""
    image = read_image(task.src, min_side=0 if keep_size else size)
    h, w = image.source_hw
    wh, ww = work_size(h, w, size)
    work = image.rgb
    if work.shape[:2] != (wh, ww):
        work = cv2.resize(work, (ww, wh), interpolation=cv2.INTER_AREA)
    return Loaded(task, work, (h, w), image.alpha)


def _save(item: Loaded, out: torch.Tensor, keep_size: bool) -> None:
    """Write one stylized image (3, h, w), resized back to the source size when asked."""
    alpha = item.alpha
    if keep_size and tuple(out.shape[-2:]) != item.source_hw:
        out = F.interpolate(out[None], size=item.source_hw, mode="bicubic", align_corners=False)[0]
    elif alpha is not None and alpha.shape != tuple(out.shape[-2:]):
        alpha = cv2.resize(alpha, (out.shape[-1], out.shape[-2]), interpolation=cv2.INTER_AREA)
    write_image(item.task.dst, to_uint8(out), alpha)


def _prefetch(pool: ThreadPoolExecutor, tasks: Iterable[Task], fn: Callable, depth: int) -> Iterator[Future]:
    """Submit ``fn(task)`` at most ``depth`` ahead of the consumer, so memory stays bounded."""
    pending: list[Future] = []
    for task in tasks:
        pending.append(pool.submit(fn, task))
        if len(pending) >= depth:
            yield pending.pop(0)
    yield from pending


def drop_existing(tasks: list[Task], skip_existing: bool, summary: Summary) -> list[Task]:
    """With --skip-existing, record tasks whose output exists as skipped; returns the others."""
    todo = []
    for task in tasks:
        if skip_existing and task.dst.exists():
            summary.add(ItemResult(str(task.src), SKIPPED, "output exists", str(task.dst)))
        else:
            todo.append(task)
    return todo


def run_folder(stylizer: Stylizer, tasks: list[Task], opts: FolderOptions,
               on_result: Callable[[ItemResult], None] | None = None) -> Summary:
    """Stylize ``tasks``; failures are recorded per file and never stop the others."""
    summary = Summary("folder", on_result=on_result)
    start = time.perf_counter()
    todo = drop_existing(tasks, opts.skip_existing, summary)
    buckets: SizeBuckets[Loaded] = SizeBuckets(opts.batch_size)
    writes: list[tuple[Loaded, Future]] = []

    with ThreadPoolExecutor(opts.readers) as readers, ThreadPoolExecutor(1) as writer:

        def run_batch(batch: list[Loaded]) -> None:
            try:
                images = torch.stack([to_tensor(item.work) for item in batch])
                outputs = stylizer(images).cpu()
            except (RuntimeError, ValueError) as exc:  # e.g. out of memory: these files fail, the rest go on
                for item in batch:
                    summary.add(ItemResult(str(item.task.src), FAILED, f"stylize failed: {exc}"))
                return
            for item, out in zip(batch, outputs):
                writes.append((item, writer.submit(_save, item, out, opts.keep_size)))

        load = lambda t: load_task(t, opts.size, opts.keep_size)  # noqa: E731
        for task, future in zip(todo, _prefetch(readers, todo, load, depth=4 * opts.batch_size)):
            try:
                item = future.result()
            except ImageReadError as exc:
                summary.add(ItemResult(str(task.src), FAILED, str(exc)))
                continue
            full = buckets.add(item.work.shape[:2], item)
            if full:
                run_batch(full)
            _collect_writes(writes, summary, block=False)
        for batch in buckets.drain():
            run_batch(batch)
        _collect_writes(writes, summary, block=True)
    summary.units_done = summary.count(PROCESSED)
    summary.elapsed_s = time.perf_counter() - start
    return summary


def _collect_writes(writes: list[tuple[Loaded, Future]], summary: Summary, block: bool) -> None:
    """Record finished writes (all of them when ``block``), keeping unfinished ones queued."""
    while writes and (block or writes[0][1].done()):
        item, future = writes.pop(0)
        try:
            future.result()
            summary.add(ItemResult(str(item.task.src), PROCESSED, output=str(item.task.dst)))
        except (OSError, ValueError) as exc:
            summary.add(ItemResult(str(item.task.src), FAILED, f"cannot write {item.task.dst}: {exc}"))
