"""Planning a folder job: which image goes where, checked before anything is written.

The walk mirrors INPUT into OUTPUT. Refused up front, with one line: an output that would contain the input,
two inputs that would write one output (``a.jpg`` and ``a.png`` with ``--ext png``), and a symlink inside
the output tree on the way to an output (a write through it would land outside OUTPUT).
"""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import JobError
from pipeline.io.animated import ANIMATED_OUTPUTS, is_animated
from pipeline.io.claim import held
from pipeline.io.finished import finished_image
from pipeline.io.images import IMAGE_EXTENSIONS, WRITTEN_EXTENSIONS, written_as
from pipeline.io.segments import joined_for, workdir_for
from pipeline.io.video import VIDEO_EXTENSIONS
from pipeline.io.walk import kept_apart, walk_files
from pipeline.report import SKIPPED, ItemResult, Summary

log = logging.getLogger(__name__)


# Suffixes whose files may hold an animation (GIF, APNG, animated WebP and AVIF): each such file is opened at
# planning to see (its header says, or for a GIF whether a second frame follows the first).
ANIMATABLE = {".gif", ".png", ".apng", ".webp", ".avif"}
# Suffixes of documents whose pages (a scan's, a fax's) are each stylized and written as pages of one file, where
# the output is one of them too.
DOCUMENTS = {".tif", ".tiff"}
# Still images a folder may hold that are not read here (no decoder for them): said in one line, not passed over
# in silence, so a camera's raw files are not found missing later.
UNREAD_IMAGES = {".jxl", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf", ".svg"}


@dataclass
class Task:
    src: Path
    dst: Path
    masks: tuple[Path | None, ...] = ()  # each style's mask file for this image (--mask; None: unmasked)
    animation: bool = False  # every frame stylized by the video job and written as an animation
    pages: bool = False  # a document: every page stylized, written as pages of one file

    @property
    def whole(self) -> bool:
        """Whether the file is stylized and written whole (an animation, a document), not as one still."""
        return self.animation or self.pages


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
    for src, dst, moving in _destinations(sources, input_dir, output_dir, ext):
        if dst in claimed:
            raise JobError(f"{claimed[dst]} and {src} would both be written to {dst}; "
                           "choose another --ext or rename one")
        claimed[dst] = src
        _check_no_link(dst, output_dir)
        pages = src.suffix.lower() in DOCUMENTS and dst.suffix.lower() in DOCUMENTS and is_animated(src)
        tasks.append(Task(src, dst, animation=moving, pages=pages))
    _say_unread(input_dir, passed)
    return tasks, output_dir if _inside(output_dir, input_dir) else None


def _destinations(sources: list[Path], input_dir: Path, output_dir: Path, ext: str | None):
    """Each source with its mirrored output and whether it is written as an animation: under ``ext`` where one
    is given, else its own format (an animation too), or for a still in a format read but not written the one
    ``images.written_as`` gives (HEIC as JPEG, PSD and GIF as PNG), named apart from another output that has
    that name (``walk.kept_apart``)."""
    mirrored = [output_dir / src.relative_to(input_dir) for src in sources]
    moving = [_animated_suffix(src, ext) for src in sources]
    if ext:
        pairs = [(src, dst.with_suffix(ext)) for src, dst in zip(sources, mirrored)]
    else:
        pairs = kept_apart([(src, dst.with_suffix(suffix) if suffix else written_as(dst))
                            for src, dst, suffix in zip(sources, mirrored, moving)])
    return [(src, dst, suffix is not None) for (src, dst), suffix in zip(pairs, moving)]


def _animated_suffix(src: Path, ext: str | None) -> str | None:
    """The suffix ``src`` is written under as an animation (``ext``, else its own), or None: a still, or an
    ``ext`` that holds no animation (its first frame is written, said when it is read)."""
    suffix = ext or src.suffix.lower()
    if src.suffix.lower() not in ANIMATABLE or suffix not in ANIMATED_OUTPUTS or not is_animated(src):
        return None
    return suffix


def _say_unread(input_dir: Path, passed: Counter) -> None:
    unread = {suffix: n for suffix, n in sorted(passed.items()) if suffix in UNREAD_IMAGES}
    if unread:
        found = ", ".join(f"{suffix} ({n})" for suffix, n in unread.items())
        log.warning("%s: left out, in formats stylize folder does not read: %s; it reads %s", input_dir, found,
                    ", ".join(sorted(IMAGE_EXTENSIONS)))


def remove_stray_parts(tasks: list[Task]) -> int:
    """Delete the temporary files (``.NAME.XXXX.EXT.part``, from ``io.images.atomic_write``; an animation's work
    folder and joined file, from the video job) that a killed run left beside these outputs; returns how many.
    What a running run holds (``io.claim``: the file it writes, the animation it works on) is left to it."""
    removed = 0
    for task in tasks:
        if not task.dst.parent.is_dir():
            continue
        strays = [p for p in task.dst.parent.glob(f".{task.dst.stem}.*{task.dst.suffix}.part") if not held(p)]
        if task.animation and not held(workdir_for(task.dst)):
            strays += [p for p in (joined_for(task.dst), workdir_for(task.dst)) if p.exists()]
        for stray in strays:
            if stray.is_dir():
                shutil.rmtree(stray)
            else:
                stray.unlink(missing_ok=True)
            removed += 1
    return removed


def drop_existing(tasks: list[Task], skip_existing: bool, summary: Summary) -> list[Task]:
    """With --skip-existing, record tasks whose output exists and decodes as skipped; returns the others."""
    todo = []
    for task in tasks:
        if skip_existing and task.dst.exists() and finished_image(task.dst):
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
