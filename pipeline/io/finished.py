"""Whether an output already under its name is a finished one, for ``--skip-existing``.

Outputs are written under a temporary name and renamed into place (a sequence's frames moved together), so a
file under the final name was finished; one that is empty or does not decode (a copy cut short, another
program's leftover) is made again rather than left as a result.
"""

from __future__ import annotations

from pathlib import Path

import av
from PIL import Image

from pipeline.io.animated import ANIMATED_OUTPUTS
from pipeline.io.reading import PILLOW_ERRORS
from pipeline.io.sequence import sequence_files
from pipeline.io.walk import is_pattern


def finished_image(path: Path) -> bool:
    """An image file that is not empty and whose data Pillow reads to the end."""
    try:
        if path.stat().st_size == 0:
            return False
        with Image.open(path) as img:
            img.verify()
        return True
    except PILLOW_ERRORS:
        return False


def finished_video(path: Path) -> bool:
    """A video output: an image sequence whose first and last frames read, an animated image, or a container
    whose first video frame decodes (a file cut before its index, as a killed copy leaves it, does not open)."""
    if is_pattern(path):
        files = sequence_files(path)
        return bool(files) and finished_image(files[0][1]) and finished_image(files[-1][1])
    if path.suffix.lower() in ANIMATED_OUTPUTS:
        return path.is_file() and finished_image(path)
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return False
        with av.open(str(path)) as container:
            return bool(container.streams.video) and next(container.decode(video=0), None) is not None
    except (av.FFmpegError, OSError, ValueError):
        return False
