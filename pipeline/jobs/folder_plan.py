"""Planning a folder job: which image goes where, checked before anything is written.

The walk mirrors INPUT into OUTPUT. Refused up front, with one line: an output that would contain the input,
two inputs that would write one output (``a.jpg`` and ``a.png`` with ``--ext png``), and a symlink inside
the output tree on the way to an output (a write through it would land outside OUTPUT).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from pipeline.errors import JobError
from pipeline.io.images import IMAGE_EXTENSIONS, WRITTEN_EXTENSIONS, written_as
from pipeline.io.video import VIDEO_EXTENSIONS
from pipeline.io.walk import kept_apart, walk_files
from pipeline.report import SKIPPED, ItemResult, Summary

log = logging.getLogger(__name__)


# Still images a folder may hold that are not read here (no decoder for them): said in one line, not passed over
# in silence, so a camera's raw files are not found missing later.
UNREAD_IMAGES = {".jxl", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf", ".svg"}


@dataclass
class Task:
    src: Path
    dst: Path
    masks: tuple[Path | None, ...] = ()  # each style's mask file for this image (--mask; None: unmasked)


def _inside(path: Path, parent: Path) -> bool:
    return path.resolve().is_relative_to(parent.resolve())


def _check_paths(input_dir: Path, output_dir: Path, ext: str | None) -> None:
    if not input_dir.exists():
        raise JobError(f"input folder {input_dir} does not exist")
    if not input_dir.is_dir():
        hint = "; for a video use `stylize video`" if input_dir.suffix.lower() in VIDEO_EXTENSIONS else ""
        raise JobError(f"input {input_dir} is not a folder (`stylize folder` walks a folder of images){hint}")
    if output_dir.exists() and not output_dir.is_dir():
        raise JobError(f"output {output_dir} exists and is not a folder")
    if output_dir.resolve() == input_dir.resolve() or _inside(input_dir, output_dir):
        raise JobError(f"output folder {output_dir} would contain the input folder {input_dir}")
    if ext is not None and ext.lower() not in WRITTEN_EXTENSIONS:
        raise JobError(f"--ext {ext}: not one of {', '.join(sorted(WRITTEN_EXTENSIONS))}")


def _check_no_link(dst: Path, output_dir: Path) -> None:
    """Every existing component from OUTPUT down to ``dst`` is a plain folder (or file): no symlink."""
    rel = dst.relative_to(output_dir)
    path = output_dir
    for part in rel.parts:
        path = path / part
        if path.is_symlink():
            raise JobError(f"{path} is a symlink inside the output folder; remove it (writes never leave "
                           f"{output_dir})")


def plan_folder(input_dir: Path, output_dir: Path, ext: str | None = None) -> tuple[list[Task], Path | None]:
    """Map every image under ``input_dir`` to its mirrored path under ``output_dir``; returns the tasks and
    the output folder when it lies inside the input (it is left out of the walk).

    The output tree is never walked as input, even through a symlink in the input tree that points to it."""
    _check_paths(input_dir, output_dir, ext)
    tasks: list[Task] = []
    claimed: dict[Path, Path] = {}
    passed: Counter = Counter()
    sources = list(walk_files(input_dir, IMAGE_EXTENSIONS, exclude=output_dir, passed=passed))
    for src, dst in _destinations(sources, input_dir, output_dir, ext):
        if dst in claimed:
            raise JobError(f"{claimed[dst]} and {src} would both be written to {dst}; "
                           "choose another --ext or rename one")
        claimed[dst] = src
        _check_no_link(dst, output_dir)
        tasks.append(Task(src, dst))
    _say_unread(input_dir, passed)
    return tasks, output_dir if _inside(output_dir, input_dir) else None


def _destinations(sources: list[Path], input_dir: Path, output_dir: Path, ext: str | None):
    """Each source with its mirrored output: under ``ext`` where one is given, else its own format, or for a
    format read but not written the one ``images.written_as`` gives (HEIC as JPEG, PSD and GIF as PNG), named
    apart from another output that has that name (``walk.kept_apart``)."""
    mirrored = [output_dir / src.relative_to(input_dir) for src in sources]
    if ext:
        return [(src, dst.with_suffix(ext)) for src, dst in zip(sources, mirrored)]
    return kept_apart([(src, written_as(dst)) for src, dst in zip(sources, mirrored)])


def _say_unread(input_dir: Path, passed: Counter) -> None:
    unread = {suffix: n for suffix, n in sorted(passed.items()) if suffix in UNREAD_IMAGES}
    if unread:
        found = ", ".join(f"{suffix} ({n})" for suffix, n in unread.items())
        log.warning("%s: left out, in formats stylize folder does not read: %s; it reads %s", input_dir, found,
                    ", ".join(sorted(IMAGE_EXTENSIONS)))


def remove_stray_parts(tasks: list[Task]) -> int:
    """Delete the temporary files (``.NAME.XXXX.EXT.part``, from ``io.images.atomic_write``) that a killed
    run left beside these outputs; returns how many."""
    removed = 0
    for task in tasks:
        if task.dst.parent.is_dir():
            for stray in task.dst.parent.glob(f".{task.dst.stem}.*{task.dst.suffix}.part"):
                stray.unlink(missing_ok=True)
                removed += 1
    return removed


def _usable(path: Path) -> bool:
    """An existing output that is not empty and decodes (a killed writer's leftover is redone)."""
    try:
        if path.stat().st_size == 0:
            return False
        with Image.open(path) as img:
            img.verify()
        return True
    except (OSError, ValueError, SyntaxError):
        return False


def drop_existing(tasks: list[Task], skip_existing: bool, summary: Summary) -> list[Task]:
    """With --skip-existing, record tasks whose output exists and decodes as skipped; returns the others."""
    todo = []
    for task in tasks:
        if skip_existing and task.dst.exists() and _usable(task.dst):
            summary.add(ItemResult(str(task.src), SKIPPED, "output exists", str(task.dst)))
        else:
            todo.append(task)
    return todo


def attach_masks(tasks: list[Task], input_dir: Path, control) -> list[Task]:
    """``tasks`` with each image's mask files (``control.masks.item_masks``); a mask missing from a mirrored
    folder is one warning line naming the image, which is then stylized as if that style had no mask."""
    from pipeline.control.masks import item_masks

    for task in tasks:
        task.masks, missing = item_masks(control, task.src, input_dir)
        for path in missing:
            log.warning("%s: no mask %s (any image suffix); stylized as if that style had no --mask", task.src,
                        path.with_suffix(".*"))
    return tasks
