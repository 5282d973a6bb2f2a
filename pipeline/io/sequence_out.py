"""Image sequences as output: a printf pattern (``frames/%05d.png``) names one image file a frame, written from
the segments' lossless frames, as animated images are, in the format its suffix names (PNG, JPEG, TIFF, WebP,
AVIF, BMP, JPEG 2000).

An image sequence stores no times and no audio. Frames are numbered in the order they are shown: from 1 for
a video (FFmpeg's image2 muxer starts there too), and with the source's own numbers where the source is itself
a sequence (a render's frames 1001-1100 stay 1001-1100, a gap in them stays a gap), so a compositor lines them
up with the originals. A source deeper than 8 bits (10-bit video, 16-bit frames) gives 16-bit PNG or TIFF
frames, through 10-bit segments, so a gradient does not band on its way out. Everything is written into a
hidden folder beside the frames and moved into place once the last frame is written; a pattern that already
matches a file is refused before any work, so no frame of an earlier run or of another sequence is
overwritten or mixed in.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np

from pipeline.errors import JobError
from pipeline.io.alpha import AlphaTrack
from pipeline.io.animated import segment_frames
from pipeline.io.images import ALPHA_SUFFIXES, WRITTEN_EXTENSIONS, atomic_write, write_image
from pipeline.io.sequence import sequence_files
from pipeline.io.walk import PRINTF, is_pattern

# What a frame may be written as: every still format except MPO (a JPEG that holds several pictures).
SEQUENCE_OUTPUTS = WRITTEN_EXTENSIONS - {".mpo"}
# Written at 16 bits a sample from a source deeper than 8 (10-bit video, 16-bit frames): OpenCV writes these
# (Pillow writes no 16-bit RGB); the segments between hold 10 bits.
DEEP_OUTPUTS = {".png", ".tif", ".tiff"}
_IN_FLIGHT = 2  # frames encoded at once per core: Pillow's encoders let go of the GIL


def is_sequence_output(path: Path) -> bool:
    """Whether ``path`` names an image sequence to write: a printf pattern with a still's suffix."""
    return is_pattern(path) and path.suffix.lower() in SEQUENCE_OUTPUTS


def check_unused(pattern: Path) -> None:
    """Refuse (JobError) a pattern that already matches files: frames of an earlier run or of another sequence
    would be overwritten or mixed with the new ones."""
    found = sequence_files(pattern)
    if found:
        raise JobError(f"output {pattern}: {len(found)} file{'s' if len(found) > 1 else ''} already match it "
                       f"({found[0][1].name}{' ...' if len(found) > 1 else ''}); move them away, or name another "
                       "folder or pattern (--skip-existing leaves a finished sequence as it is)")


def frame_name(pattern: Path, number: int) -> str:
    """The file name of frame ``number``: the pattern's first ``%d`` filled in as printf does (any other ``%``
    in the name stays as it is)."""
    spec = PRINTF.search(pattern.name)
    return pattern.name[:spec.start()] + spec.group(0) % number + pattern.name[spec.end():]


def write_sequence(segments: list[Path], info, folder: Path, pattern: Path, offset_s: float = 0.0) -> int:
    """Each frame of the segments as its own file in ``folder`` (made empty first: a killed run may have left
    it), named by ``pattern`` (its numbering above), with the source's transparency where the format holds it;
    ``offset_s``: what puts the segments' times on the source's timeline (--start). Returns how many frames
    were written. Several frames are encoded at once."""
    discard(folder)
    folder.mkdir()
    numbers = _numbering(info)
    keeps_alpha = info.alpha and pattern.suffix.lower() in ALPHA_SUFFIXES
    alpha: AlphaTrack | None = None
    pending: list[Future] = []
    count, workers = 0, os.cpu_count() or 1
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for count, (t, frame) in enumerate(segment_frames(segments), start=1):
                t += offset_s
                if keeps_alpha and alpha is None:  # at the frames' size, known from the first
                    alpha = AlphaTrack(info, (frame.height, frame.width))
                rgb = _rgb(frame)
                write = write_image if rgb.dtype == np.uint8 else write_deep
                name = frame_name(pattern, numbers(t, count))
                pending.append(pool.submit(write, folder / name, rgb, alpha.at(t) if alpha is not None else None))
                if len(pending) >= _IN_FLIGHT * workers:
                    pending.pop(0).result()  # at most so many frames held at once; a failed write stops here
            for future in pending:
                future.result()
    finally:
        if alpha is not None:
            alpha.close()
    return count


def _numbering(info):
    """``number(t, k)`` of the ``k``-th frame written, shown at ``t`` on the source's timeline."""
    if info.format != "sequence":
        return lambda t, k: k
    first = sequence_files(info.path)[0][0]
    return lambda t, k: first + round((t - info.origin_s) * info.rate)


def _rgb(frame: av.VideoFrame) -> np.ndarray:
    """A segment's frame as RGB: uint8, or uint16 from a segment deeper than 8 bits."""
    deep = max(c.bits for c in frame.format.components) > 8
    return frame.to_ndarray(format="rgb48le" if deep else "rgb24")


def write_deep(path: Path, rgb: np.ndarray, alpha: np.ndarray | None = None) -> None:
    """Save an (H, W, 3) uint16 array (``alpha``: uint8) as a 16-bit PNG or TIFF, atomically."""
    import cv2

    pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if alpha is not None:
        pixels = np.dstack([pixels, alpha.astype(np.uint16) * 257])
    ok, data = cv2.imencode(path.suffix.lower(), pixels)
    if not ok:
        raise OSError(f"{path.name}: OpenCV could not encode the frame")
    atomic_write(path, lambda tmp: tmp.write_bytes(data.tobytes()))


def place(folder: Path, pattern: Path) -> None:
    """Move the frames written into ``folder`` to where ``pattern`` names them, then remove ``folder``."""
    for path in sorted(folder.iterdir()):
        os.replace(path, pattern.parent / path.name)
    folder.rmdir()


def discard(folder: Path) -> None:
    """Remove a folder of frames not moved into place (a failed or interrupted write)."""
    shutil.rmtree(folder, ignore_errors=True)
