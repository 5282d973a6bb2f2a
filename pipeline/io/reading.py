"""Which file each thread is reading, so that a library's warning about it (Pillow's "Tag data larger than
file" on a damaged TIFF) can name the file: ``warnings`` reports in the thread that warned; and what Pillow
raises for a file it cannot read."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

_NOW = threading.local()
# What Pillow raises for a file it cannot open, seek through or decode, besides OSError: a damaged APNG's frame
# order (SyntaxError), a TIFF page with no size (TypeError), a page past the end (EOFError), its AVIF decoder's
# errors (RuntimeError), a GIF that ends inside a frame's header (IndexError), a picture too large to decode
# safely (DecompressionBombError)
PILLOW_ERRORS = (OSError, ValueError, SyntaxError, TypeError, EOFError, RuntimeError, IndexError,
                 Image.DecompressionBombError)


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
