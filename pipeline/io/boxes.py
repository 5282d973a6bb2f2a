"""Boxes of the ISO base media file format, as HEIF (ISO/IEC 23008-12) and JPEG 2000's JP2 (ISO/IEC 15444-1
annex I) lay out their headers: a 32-bit size (1: a 64-bit one follows; 0: to the end), a four-letter type."""

from __future__ import annotations

import struct
from collections.abc import Iterator


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each whole box in ``data[start:end]``; a box that runs past
    ``end`` (a file cut short) ends the walk."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        body = start + 8
        if size == 1:
            if start + 16 > end:
                return
            size, body = struct.unpack(">Q", data[start + 8:start + 16])[0], start + 16
        stop = end if size == 0 else start + size
        if stop <= start or stop > end:
            return
        yield kind, body, stop
        start = stop
