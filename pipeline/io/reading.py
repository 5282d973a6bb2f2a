"""Which file each thread is reading, so that a library's warning about it (Pillow's "Tag data larger than
file" on a damaged TIFF) can name the file: ``warnings`` reports in the thread that warned."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_NOW = threading.local()


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Mark ``path`` as the file this thread reads until the block ends."""
    _NOW.path = path
    try:
        yield
    finally:
        _NOW.path = None


def now() -> Path | None:
    """The file this thread is reading, if any."""
    return getattr(_NOW, "path", None)
