"""The bundled styles and sample photos the page offers, looked up by name (never by a path from a request).

The samples ship in the source tree (``samples/``, beside the package), not in the wheel: an installed
wheel finds no gallery there unless ``--gallery DIR`` names a folder holding ``style/`` and ``content/``.
The sample photos fall back to the calibration photos that do ship in the wheel (``pipeline/weights/
calibration``), so the page always has a photo to try.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.serve.uploads import IMAGE_SUFFIXES

PACKAGE = Path(__file__).resolve().parents[1]
SOURCE_SAMPLES = PACKAGE.parent / "samples"


@dataclass(frozen=True)
class Gallery:
    styles: dict[str, Path]  # name (file stem) -> image
    photos: dict[str, Path]

    @classmethod
    def find(cls, root: Path | None = None) -> Gallery:
        """Styles from ``root/style`` and photos from ``root/content`` (``root``: the source tree's
        ``samples/``), photos falling back to the bundled calibration photos."""
        root = SOURCE_SAMPLES if root is None else Path(root)
        photos = _images(root / "content") or _images(PACKAGE / "weights" / "calibration")
        return cls(_images(root / "style"), photos)

    def listing(self) -> dict:
        return {"styles": [{"name": n, "url": f"/api/styles/{n}"} for n in self.styles],
                "photos": [{"name": n, "url": f"/api/photos/{n}"} for n in self.photos]}


def _images(folder: Path) -> dict[str, Path]:
    """Images under ``folder`` (recursively), named by file stem; the first of a repeated stem wins."""
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            found.setdefault(path.stem, path)
    return found
