"""Work sizes: pure arithmetic on (height, width) shared by the image and video jobs."""

from __future__ import annotations


def work_size(h: int, w: int, size: int) -> tuple[int, int]:
    """(h, w) scaled so the long side is ``size``; images already smaller are not enlarged."""
    if size <= 0 or max(h, w) <= size:
        return h, w
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))
