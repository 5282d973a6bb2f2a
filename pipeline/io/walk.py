"""Recursive, loop-safe discovery of input files, outputs named apart, and the printf pattern that names an image
sequence's (no torch here: the CLI checks paths before torch loads)."""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import JobError

log = logging.getLogger(__name__)

PRINTF = re.compile(r"%(0?)(\d*)d")


def is_pattern(path: Path) -> bool:
    """``path``'s name is a printf pattern such as ``%05d.png`` (one ``%d``, optionally zero-padded)."""
    return len(PRINTF.findall(path.name)) == 1


def walk_files(root: Path, extensions: set[str], exclude: Path | None = None,
               passed: Counter | None = None) -> Iterator[Path]:
    """Files under ``root`` whose lower-cased suffix is in ``extensions``, sorted per folder; ``passed`` counts
    the suffixes of the other files (hidden ones aside).

    Symlinked folders are followed once each (by real path), so a link back to an ancestor cannot loop;
    ``exclude`` (e.g. an output folder inside the input) is never entered.
    """
    seen: set[str] = set()
    excluded = os.path.realpath(exclude) if exclude is not None else None
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen or real == excluded:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in sorted(files):
            suffix = Path(name).suffix.lower()
            if name.startswith("."):
                continue
            if suffix in extensions:
                yield Path(folder) / name
            elif passed is not None:
                passed[suffix] += 1


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists: where a write under ``path`` would make its missing
    folders, so whether it can be written is asked there."""
    while not path.exists():
        path = path.parent
    return path


def kept_apart(pairs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """(source, output) ``pairs`` with no two sources written to one output: a source written in another format
    than its own (a video's ``b.h264`` or ``b.ts`` as ``.mp4``, a photo's ``IMG_1.HEIC`` as ``.jpg``) beside
    one that claims the same name (``b.mp4``, ``IMG_1.jpg``) keeps its own suffix in the output's name
    (``b.h264.mp4``, ``IMG_1.HEIC.jpg``), said in one line; JobError where a clash is left even then."""
    sources: dict[Path, list[Path]] = {}
    for src, dst in pairs:
        sources.setdefault(dst, []).append(src)
    apart = []
    for src, dst in pairs:
        if len(sources[dst]) > 1 and dst.name != src.name:
            moved = dst.with_name(src.name + dst.suffix)
            others = ", ".join(str(other) for other in sources[dst] if other != src)
            log.warning("%s: written to %s, as %s is written to %s", src, moved.name, others, dst.name)
            dst = moved
        apart.append((src, dst))
    twice = [dst for dst, count in Counter(dst for _, dst in apart).items() if count > 1]
    if twice:
        raise JobError(f"two inputs would both be written to {twice[0]}; rename one")
    return apart
