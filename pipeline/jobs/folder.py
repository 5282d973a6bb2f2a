"""`stylize folder`: walk a tree of images, stylize them in size-bucketed batches, mirror the tree.

Reading and resizing run in a thread pool ahead of the model, writing in another behind it, so the
model rarely waits on disk; every output is written to a temporary name and renamed. Animations go through
the video job after the stills (``jobs/folder_animations.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from pipeline.batching import SizeBuckets
from pipeline.control.masks import load_item_masks, targets_from
from pipeline.jobs.folder_animations import run_animation
from pipeline.jobs.folder_plan import ANIMATABLE, Task, attach_masks, drop_existing, plan_folder, remove_stray_parts
from pipeline.ops.sizes import work_size
from pipeline.ops.upsample import guided_upsample
from pipeline.options import Engine, EngineOptions, FolderOptions, GatysOptions, StyleOptions, Upscale
from pipeline.io.images import ImageReadError, read_image, to_tensor, to_uint8, write_image
from pipeline.io.snapshots import snapshot_names
from pipeline.report import FAILED, PROCESSED, Hooks, ItemResult, Summary
from pipeline.upscale import decode_at_source, decodes_at_source

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    task: Task
    work: np.ndarray  # (h, w, 3) float32 at the work resolution
    source_hw: tuple[int, int]
    alpha: np.ndarray | None
    source: np.ndarray | None = None  # (H, W, 3) float32 at the source size, the guide of --upscale guided
    metadata: dict | None = None  # the source's ICC profile and EXIF, for the output (io/images.py)
    masks: list[np.ndarray | None] | None = None  # each style's mask at the work size (--mask)
    frames: int = 1  # the file's frames or pages, of which this is one


def load_task(task: Task, size: int, keep_size: bool = False, upscale: Upscale = Upscale.RESIZE,
              page: int = 0) -> Loaded:
    """Read and resize one image (``page`` of a document); large JPEGs are decoded at a reduced scale unless
    --keep-size, which with --upscale guided or decode also keeps the full-size image as the guide."""
    image = read_image(task.src, min_side=0 if keep_size else size, page=page)
    if image.frames > 1 and not task.whole:  # said, not passed over: the frames or pages an --ext leaves out
        _say_frames(task, image.frames)
    h, w = image.source_hw
    wh, ww = work_size(h, w, size)
    work = image.rgb
    if work.shape[:2] != (wh, ww):
        work = cv2.resize(work, (ww, wh), interpolation=cv2.INTER_AREA)
    guided = keep_size and upscale != Upscale.RESIZE and image.rgb.shape[:2] == (h, w) and (h, w) != (wh, ww)
    masks = load_item_masks(task.masks, (wh, ww)) if task.masks else None
    return Loaded(task, work, (h, w), image.alpha, image.rgb if guided else None, image.metadata, masks,
                  image.frames)


def _say_frames(task: Task, frames: int) -> None:
    """One line for a still written from a file of several frames or pages, under an ``--ext`` that holds one."""
    what, unit = ("an animation", "frame") if task.src.suffix.lower() in ANIMATABLE else ("a document", "page")
    log.warning("%s: %s of %d %ss: the first is written, as --ext %s holds one (leave --ext out to keep every %s)",
                task.src, what, frames, unit, task.dst.suffix, unit)


def _save(item: Loaded, out: torch.Tensor, keep_size: bool) -> None:
    """Write one stylized image (3, h, w) as ``_finished`` makes it."""
    write_image(item.task.dst, *_finished(item, out, keep_size), item.metadata)


def _finished(item: Loaded, out: torch.Tensor, keep_size: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(uint8 RGB, alpha or None) of one stylized image (3, h, w), brought back to the source size when asked:
    guided by the source when it was kept (ops/upsample.py), else resized."""
    alpha = item.alpha
    if keep_size and tuple(out.shape[-2:]) != item.source_hw:
        if item.source is not None:
            out = guided_upsample(out[None], to_tensor(item.source)[None])[0].clamp(0, 1)
        else:
            out = F.interpolate(out[None], size=item.source_hw, mode="bicubic", align_corners=False)[0]
    elif alpha is not None and alpha.shape != tuple(out.shape[-2:]):
        alpha = cv2.resize(alpha, (out.shape[-1], out.shape[-2]), interpolation=cv2.INTER_AREA)
    return to_uint8(out), alpha


def run_document(stylizer, task: Task, opts: FolderOptions, first_only: bool = False) -> ItemResult:
    """Every page of a document (a multi-page TIFF; ``first_only``: its first) stylized, one at a time (pages
    may differ in size), and written as the pages of one file; failed in one line, as a still is, when its
    first page cannot be read. From a later page that does not decode on, as a video's frames from a damaged
    packet, the pages before it are written and the rest said."""
    try:
        items = [load_task(task, opts.size, opts.keep_size, opts.upscale)]
    except ImageReadError as exc:
        return ItemResult(str(task.src), FAILED, str(exc))
    note = "" if first_only else _read_pages(task, opts, items)
    try:
        pages = [_finished(item, _stylize_batch(stylizer, to_tensor(item.work)[None], [item], opts)[0],
                           opts.keep_size) for item in items]
    except (RuntimeError, ValueError) as exc:
        return ItemResult(str(task.src), FAILED, f"stylize failed: {exc}")
    try:
        write_image(task.dst, *pages[0], items[0].metadata, more_pages=pages[1:])
    except (OSError, ValueError) as exc:
        return ItemResult(str(task.src), FAILED, f"cannot write {task.dst}: {exc}")
    return ItemResult(str(task.src), PROCESSED, note, str(task.dst))


def _run_whole(stylizer, task: Task, opts: FolderOptions) -> ItemResult:
    """A file written whole: an animation through the video job (or, where its frames cannot be read, its
    first picture as a still), a document page by page (``run_document``, which writes a one-page file too)."""
    result = run_animation(stylizer, task, opts) if task.animation else None
    return result or run_document(stylizer, task, opts, first_only=task.animation)


def _read_pages(task: Task, opts: FolderOptions, items: list[Loaded]) -> str:
    """The pages after the first, appended to ``items`` up to one that does not decode; what was left out, said
    (empty when none was)."""
    for page in range(1, items[0].frames):
        try:
            items.append(load_task(task, opts.size, opts.keep_size, opts.upscale, page))
        except ImageReadError as exc:
            why = str(exc).removeprefix("cannot decode: ")
            note = f"page {page + 1} of {items[0].frames} does not decode ({why}); the {page} before it are written"
            log.warning("%s: %s", task.src, note)
            return note
    return ""


def _prefetch(pool: ThreadPoolExecutor, tasks: Iterable[Task], fn: Callable, depth: int) -> Iterator[Future]:
    """Submit ``fn(task)`` at most ``depth`` ahead of the consumer, so memory stays bounded."""
    pending: list[Future] = []
    for task in tasks:
        pending.append(pool.submit(fn, task))
        if len(pending) >= depth:
            yield pending.pop(0)
    yield from pending


def run_folder(stylizer, tasks: list[Task], opts: FolderOptions,
               on_result: Callable[[ItemResult], None] | None = None) -> Summary:
    """Stylize ``tasks``; failures are recorded per file and never stop the others."""
    summary = Summary("folder", on_result=on_result)
    start = time.perf_counter()
    todo = drop_existing(tasks, opts.skip_existing, summary)
    whole, todo = [t for t in todo if t.whole], [t for t in todo if not t.whole]
    buckets: SizeBuckets[Loaded] = SizeBuckets(opts.batch_size)
    writes: list[tuple[Loaded, Future]] = []

    with ThreadPoolExecutor(opts.readers) as readers, ThreadPoolExecutor(1) as writer:

        def run_batch(batch: list[Loaded]) -> None:
            try:
                images = torch.stack([to_tensor(item.work) for item in batch])
                with snapshot_names([item.task.dst.stem for item in batch]):  # --save-every's NAME
                    outputs = _stylize_batch(stylizer, images, batch, opts)
            except (RuntimeError, ValueError) as exc:  # e.g. out of memory: these files fail, the rest go on
                for item in batch:
                    summary.add(ItemResult(str(item.task.src), FAILED, f"stylize failed: {exc}"))
                return
            for item, out in zip(batch, outputs):
                writes.append((item, writer.submit(_save, item, out, opts.keep_size)))

        load = lambda t: load_task(t, opts.size, opts.keep_size, opts.upscale)  # noqa: E731
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
    for task in whole:  # an animation through the video job, a document page by page
        summary.add(_run_whole(stylizer, task, opts))
    summary.units_done = summary.count(PROCESSED)
    summary.elapsed_s = time.perf_counter() - start
    return summary


def _stylize_batch(stylizer, images: torch.Tensor, batch: list[Loaded], opts: FolderOptions):
    """The batch's results on the CPU: at the work size, or, with --keep-size --upscale decode, at each
    source's size by the decoder (pipeline/upscale.py; with masks or Gatys, guided in ``_save`` instead)."""
    targets = batch_targets(stylizer, batch)
    if opts.keep_size and opts.upscale == Upscale.DECODE and targets is None and decodes_at_source(stylizer):
        return [decode_at_source(stylizer, images[i:i + 1], to_tensor(item.work if item.source is None else
                                                                     item.source)[None])[0].cpu()
                for i, item in enumerate(batch)]
    return (stylizer(images) if targets is None else stylizer(images, targets=targets)).cpu()


def batch_targets(stylizer, batch: list[Loaded]):
    """The per-image region targets of a batch when the run has masks (``control/masks.py``), else None."""
    bank = getattr(stylizer, "bank", None) or getattr(getattr(stylizer, "stylizer", None), "bank", None)
    if bank is None or not bank.control.masked:
        return None
    rows = [item.masks or [None] * len(bank.names) for item in batch]
    return targets_from(bank, rows, batch[0].work.shape[:2], stylizer.device, bank.control.mask_feather)


def _collect_writes(writes: list[tuple[Loaded, Future]], summary: Summary, block: bool) -> None:
    """Record finished writes (all of them when ``block``), keeping unfinished ones queued."""
    while writes and (block or writes[0][1].done()):
        item, future = writes.pop(0)
        try:
            future.result()
            summary.add(ItemResult(str(item.task.src), PROCESSED, output=str(item.task.dst)))
        except (OSError, ValueError) as exc:
            summary.add(ItemResult(str(item.task.src), FAILED, f"cannot write {item.task.dst}: {exc}"))


def run_folder_job(input_dir: Path, output_dir: Path, style: StyleOptions, folder: FolderOptions,
                   gatys: GatysOptions | None, engine: EngineOptions, hooks: Hooks) -> Summary:
    """``stylize folder``: plan, build the stylizer (or hand the plan to Ray), stylize, summarise.

    Raises a UsageError before anything is written when the job cannot start (paths, styles, weights)."""
    tasks, excluded = plan_folder(input_dir, output_dir, folder.ext)
    if excluded is not None:
        log.info("%s is inside %s; it is left out of the walk", output_dir, input_dir)
    if not tasks:
        log.error("no images found under %s", input_dir)
        return Summary("folder")
    hooks.on_total(len(tasks))
    remove_stray_parts(tasks)
    if style.control.masked:
        attach_masks(tasks, input_dir, style.control)
    summary = _run_tasks(tasks, style, folder, gatys, engine, hooks)
    if folder.contact_sheet is not None:
        from pipeline.jobs.sheets import write_folder_sheet

        write_folder_sheet(folder.contact_sheet, input_dir, summary, style.styles)
    return summary


def _run_tasks(tasks: list[Task], style: StyleOptions, folder: FolderOptions, gatys: GatysOptions | None,
               engine: EngineOptions, hooks: Hooks) -> Summary:
    """The planned tasks on the engine asked for."""
    on_result = _counting(hooks)
    if engine.engine == Engine.RAY:
        from pipeline.engines.ray import run_folder_job_ray
        from pipeline.models.backbones import check_backbone

        check_backbone(gatys)  # here, once, rather than failing on every worker
        return run_folder_job_ray(style, gatys, tasks, folder, engine, on_result, hooks.on_adapt_step)
    from pipeline.build import build_refiner, build_stylizer, describe_networks
    from pipeline.stylizer import auto_batch_size

    stylizer = build_stylizer(style, hooks.on_adapt_step)
    if not folder.batch_size:
        folder = replace(folder, batch_size=auto_batch_size(stylizer, (folder.size or 1024, folder.size or 1024)))
    refiner = build_refiner(stylizer, gatys) if gatys else None
    summary = run_folder(refiner or stylizer, tasks, folder, on_result)
    summary.extra["backend"] = describe_networks(stylizer, refiner)
    return summary


def _counting(hooks: Hooks) -> Callable[[ItemResult], None]:
    """``hooks.on_result`` that also counts the item as one unit done."""
    def on_result(result: ItemResult) -> None:
        if hooks.on_result is not None:
            hooks.on_result(result)
        hooks.on_units(1)

    return on_result
