"""JPEG 2000 stills (archives', museums' and libraries' scans) through Pillow's OpenJPEG plugin.

A codestream stores its picture as successive halvings, so a scan wanted at 512 px decodes at the smallest
halving still as large (as JPEG's DCT scaling does), never past the levels the file has. Pillow reads no ICC
profile from a JP2 and writes none: the profile is read here from the JP2 header's colour box, and an output
written as JPEG 2000 has its pixels converted to sRGB, so the colours keep their meaning.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageCms

from pipeline.io.boxes import boxes

EXTENSIONS = {".jp2": "JPEG2000", ".j2k": "JPEG2000", ".j2c": "JPEG2000", ".jpf": "JPEG2000", ".jpx": "JPEG2000"}
_CODESTREAM_ONLY = {".j2k", ".j2c"}  # no JP2 boxes around the codestream
# Irreversible (9/7) wavelet at 48 dB: near lossless, as the other formats are written here.
_SAVE = {"quality_mode": "dB", "quality_layers": [48], "irreversible": True}
_HEAD = 1 << 16  # the JP2 header and the codestream's main header lie in the first bytes


def header(path: Path) -> bytes:
    """The first bytes of ``path``, where the JP2 header and the codestream's main header lie."""
    with open(path, "rb") as file:
        return file.read(_HEAD)


def icc_profile(head: bytes) -> bytes | None:
    """The ICC profile of a JP2's colour box (method 2 or 3) in its ``header``, or None (an enumerated colour
    space: sRGB, grey)."""
    for kind, body, stop in boxes(head):
        if kind == b"jp2h":
            for inner, start, end in boxes(head, body, stop):
                if inner == b"colr" and end - start > 3 and head[start] in (2, 3):
                    return head[start + 3:end]
    return None


def _levels(head: bytes) -> int:
    """How many halvings the codestream stores (its COD marker's decomposition levels); 0 where not found."""
    at = head.find(b"\xff\x52")  # COD: Lcod (2), Scod (1), SGcod (4), then the levels
    return head[at + 9] if at >= 0 and at + 9 < len(head) else 0


def _sized_right(side: int, k: int) -> bool:
    """Whether Pillow's size for a side halved ``k`` times is OpenJPEG's (it rounds (side + 2**k / 2) / 2**k
    down, OpenJPEG side / 2**k up: 2717 px halved twice is 679 to one and 680 to the other, and the decode
    fails as a "broken data stream")."""
    power = 1 << k
    return (side + (power >> 1)) // power == -(-side // power)


def reduce_for(img: Image.Image, head: bytes, min_side: int) -> None:
    """Have ``img`` (its file's ``header``) decode at the smallest stored halving with both sides at least
    ``min_side`` that Pillow sizes right."""
    width, height = img.size
    fits = [k for k in range(_levels(head) + 1) if min(width, height) >> k >= min_side]
    img.reduce = max((k for k in fits if _sized_right(width, k) and _sized_right(height, k)), default=0)


def save(img: Image.Image, tmp: Path, suffix: str, icc: bytes | None) -> None:
    """Write ``img`` as JPEG 2000 (a bare codestream for ``.j2k``/``.j2c``), in sRGB where ``icc`` says the
    pixels mean other colours."""
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            img = ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode=img.mode)
        except (ImageCms.PyCMSError, OSError):
            pass  # a profile littlecms cannot use: the pixels as they are
    img.save(tmp, format="JPEG2000", no_jp2=suffix in _CODESTREAM_ONLY, **_SAVE)
