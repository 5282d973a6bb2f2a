"""libtiff's own messages kept off the terminal: it prints its errors about a damaged TIFF ("tempfile.tif: Using
code not yet in table.", "TIFFFillStrip: Read error on strip 0") straight to the process's stderr, past Python,
besides the error Pillow raises for the same file, which becomes the file's one ``error:`` line. Pillow turns
libtiff's warnings off itself (``TIFFSetWarningHandler(NULL)`` in its decoder) but not its errors.

The handler is libtiff's process-wide setting, made through its public API on the copy Pillow loaded (its
wheel bundles one): found among the process's mapped libraries, or where the wheel keeps them. Where it cannot
be found, nothing changes.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from pathlib import Path


def _loaded_libtiff() -> str | None:
    """The path of the libtiff Pillow's C module loaded (Linux lists it in /proc/self/maps), else the one in
    Pillow's wheel, else None."""
    import PIL._imaging  # loads libtiff with it

    maps = Path("/proc/self/maps")
    if maps.is_file():
        for line in maps.read_text().splitlines():
            name = line.rsplit(" ", 1)[-1]
            if "/libtiff" in name:
                return name
    folder = Path(PIL.__file__).parent
    bundled = sorted((folder.parent / "pillow.libs").glob("libtiff*")) + sorted((folder / ".dylibs").glob("libtiff*"))
    return str(bundled[0]) if bundled else None


@lru_cache(maxsize=None)
def quiet() -> bool:
    """Turn off libtiff's printing of errors, once; True where it was done."""
    path = _loaded_libtiff()
    if path is None:
        return False
    try:
        library = ctypes.CDLL(path)
        library.TIFFSetErrorHandler(None)
    except (OSError, AttributeError):
        return False
    return True
