"""Image sequences as video input: a printf pattern (``frames/%05d.png``) or a folder of numbered frames,
read with Pillow behind the same ``probe`` / ``frame_timestamps`` / ``decode_frames`` as a video file.

Frame ``n`` (the number in its name) is shown at ``(n - first) / fps`` (``--fps``, 25 when not given), so a
gap in the numbering (frames a render dropped or someone deleted) is a gap in time: the frame before it
stays on screen, as a player shows a video with a missing frame, and the frames after it keep their times.
(FFmpeg's image2 demuxer stops at the first gap instead.) A folder holds a sequence when it holds numbered
images sharing one name pattern; the largest such group is the sequence. Every frame is shown at the size
of the first, where one differs. 16-bit PNG and TIFF frames are read at 16 bits (OpenCV; Pillow reads RGB at
8), so a deep sequence reaches a 10-bit output (``--pix-fmt yuv420p10le``) without banding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from pipeline.errors import ImageReadError, VideoError
from pipeline.io.color import Colour
from pipeline.io.images import IMAGE_EXTENSIONS, read_image
from pipeline.io.walk import PRINTF, is_pattern

DEFAULT_FPS = 25
_NUMBERED = re.compile(r"^(.*?)(\d+)(\.[A-Za-z0-9]+)$")


def _pattern_files(path: Path) -> list[tuple[int, Path]]:
    spec = PRINTF.search(path.name)
    head, tail = path.name[:spec.start()], path.name[spec.end():]
    zero, width = spec.groups()
    digits = rf"\d{{{width}}}" if zero and width else (rf"\d{{{width},}}" if width else r"\d+")
    name = re.compile(re.escape(head) + f"({digits})" + re.escape(tail))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := name.fullmatch(p.name)) and p.is_file())


def _folder_files(folder: Path) -> list[tuple[int, Path]]:
    groups: dict[tuple[str, str], list[tuple[int, Path]]] = {}
    for p in folder.iterdir():
        m = _NUMBERED.fullmatch(p.name)
        if m and p.is_file() and m.group(3).lower() in IMAGE_EXTENSIONS:
            groups.setdefault((m.group(1), m.group(3)), []).append((int(m.group(2)), p))
    best = max(groups.values(), key=len, default=[])
    return sorted(best) if len(best) >= 2 else []


def sequence_files(path: Path) -> list[tuple[int, Path]]:
    """(number, file) of each frame of the sequence ``path`` names, in order; empty when it names none."""
    if is_pattern(path):
        return _pattern_files(path)
    return _folder_files(path) if path.is_dir() else []


def is_sequence(path: Path) -> bool:
    return is_pattern(path) or (path.is_dir() and bool(_folder_files(path)))


def probe(path: Path, fps: float | None = None):
    """A ``VideoInfo`` of the sequence: time base 1/fps, frame ``n`` at ``n - first``."""
    from pipeline.io.decode import VideoInfo
    from pipeline.io.timing import Timing

    files = sequence_files(path)
    if not files:
        raise VideoError(f"no numbered frames match {path.name}" if is_pattern(path) else "no numbered frames")
    rate = Fraction(fps or DEFAULT_FPS).limit_denominator(1001)
    try:
        first = read_image(files[0][1])
    except ImageReadError as exc:
        raise VideoError(f"frame {files[0][1].name}: {exc}") from None
    height, width = first.rgb.shape[:2]
    span = files[-1][0] - files[0][0] + 1
    return VideoInfo(path, width, height, rate, 1 / rate, len(files), float(span / rate), 0,
                     files[0][1].suffix.lower().lstrip("."), None, Timing.STREAM, seekable=False, reorders=False,
                     format="sequence", alpha=first.alpha is not None,
                     colour=Colour(bits=_bits(files[0][1]), yuv=False))


def _bits(path: Path) -> int:
    """Bits per component of an image file: 16 for 16-bit PNG and TIFF (which Pillow reads at 8 in RGB)."""
    import cv2

    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return 16 if data is not None and data.dtype == np.uint16 else 8


def _read_deep(path: Path, hw: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint16 RGB of a 16-bit image (an 8-bit one scaled up), at ``hw``; OpenCV reads every bit."""
    import cv2

    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None or data.dtype not in (np.uint8, np.uint16):
        return (_read(path, hw).astype(np.uint16) * 257)
    if data.ndim == 2:
        data = np.repeat(data[..., None], 3, axis=2)
    else:
        data = cv2.cvtColor(np.ascontiguousarray(data[..., :3]), cv2.COLOR_BGR2RGB)  # alpha: pipeline/io/alpha.py
    data = data.astype(np.uint16) * 257 if data.dtype == np.uint8 else data
    if data.shape[:2] != hw:
        data = cv2.resize(data, (hw[1], hw[0]), interpolation=cv2.INTER_CUBIC)
    return data


def frame_timestamps(info) -> list[int]:
    files = sequence_files(info.path)
    return [n - files[0][0] for n, _ in files]


def _read(path: Path, hw: tuple[int, int] | None = None) -> np.ndarray:
    try:
        rgb = read_image(path).rgb
    except ImageReadError as exc:
        raise VideoError(f"frame {path.name}: {exc}") from None
    image = (rgb * 255.0 + 0.5).astype(np.uint8)
    if hw is not None and image.shape[:2] != hw:
        from PIL import Image

        image = np.asarray(Image.fromarray(image).resize((hw[1], hw[0]), Image.Resampling.BICUBIC))
    return image


def decode_frames(info, start_s: float = 0.0, end_s: float | None = None, max_frames: int | None = None,
                  first_index: int = 0, deep: bool = False) -> Iterator:
    """RGB frames from ``first_index`` on, in the range asked for, as ``decode.decode_frames``: uint8, or with
    ``deep`` and a 16-bit sequence uint16 (0..65535), as 10-bit video is decoded (``pipeline/io/color.py``)."""
    from pipeline.io.decode import Frame

    read = _read_deep if deep and info.colour is not None and info.colour.deep else _read
    files = sequence_files(info.path)
    for index in range(first_index, len(files)):
        pts = files[index][0] - files[0][0]
        t = float(pts * info.time_base)
        if (end_s is not None and t >= end_s - 1e-6) or (max_frames is not None and index >= max_frames):
            return
        if t >= start_s - 1e-6:
            yield Frame(index, pts, read(files[index][1], (info.height, info.width)))
