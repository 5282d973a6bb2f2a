"""Recursive, loop-safe discovery of input files, and the printf pattern that names an image sequence's (no
torch here: the CLI checks paths before torch loads)."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

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
