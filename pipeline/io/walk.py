"""Recursive, loop-safe discovery of input files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def walk_files(root: Path, extensions: set[str], exclude: Path | None = None) -> Iterator[Path]:
    """Files under ``root`` whose lower-cased suffix is in ``extensions``, sorted per folder.

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
            if Path(name).suffix.lower() in extensions and not name.startswith("."):
                yield Path(folder) / name
