"""Animated GIF, WebP, APNG and AVIF: read as videos (each frame at its own time), written as animated images
with each frame's own duration, the source's loop count and its transparency (``pipeline/io/alpha.py``).

FFmpeg reads GIF and APNG (``pipeline/io/decode.py`` does, their delays are the frames' times) but its
``webp`` decoder reads only still WebP, so animated WebP is read here with Pillow, behind the same
``probe`` / ``frame_timestamps`` / ``decode_frames`` as the rest. Outputs are written with Pillow, whose
writers keep per-frame durations and the loop count for all three (FFmpeg's GIF encoder has a fixed palette
or needs a filter graph). Like every GIF writer, Pillow merges a frame identical to the one before into it,
adding its duration: what plays is the same. Each frame starts on the delay tick nearest its time (a GIF
counts hundredths of a second), and a GIF holds no frame shorter than browsers play as written (``frame_durations``).
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline.errors import VideoError
from pipeline.io.alpha import image_has_alpha, matched

# Output suffixes written here, and Pillow's format for each; the formats as ``output_format`` names them.
ANIMATED_OUTPUTS = {".gif": "GIF", ".webp": "WEBP", ".apng": "PNG"}
ANIMATED_FORMATS = {".gif": "gif", ".webp": "webp", ".apng": "apng"}
# Input suffixes FFmpeg cannot decode as animations, read with Pillow: its webp decoder reads still WebP only, and
# of an animated AVIF it reads the first frame alone.
PILLOW_INPUTS = {".webp", ".avif"}
_TIME_BASE = Fraction(1, 1000)  # Pillow gives durations in milliseconds
# What each format stores a delay in (Pillow takes milliseconds for all and cuts a GIF's down to hundredths),
# and the shortest delay a viewer plays as written: browsers play a GIF delay under two hundredths as ten.
_TICK_MS = {"GIF": 10, "WEBP": 1, "PNG": 1}
_SHORTEST_MS = {"GIF": 20, "WEBP": 10, "PNG": 10}


def is_animated(path: Path) -> bool:
    """Whether ``path`` is an image file with more than one frame (an animated PNG, WebP or GIF)."""
    try:
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1) > 1
    except (OSError, UnidentifiedImageError, ValueError):
        return False


def loop_count(path: Path) -> int | None:
    """The loop count an animated image stores (0: forever), None when it stores none (it plays once)."""
    try:
        with Image.open(path) as image:
            return image.info.get("loop")
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def _durations_ms(image: Image.Image) -> list[int]:
    durations = []
    for k in range(image.n_frames):
        image.seek(k)
        image.load()  # WebP sets a frame's duration as it loads it
        durations.append(int(image.info.get("duration") or 100))  # browsers play a 0 delay as 100 ms
    return durations


def probe(path: Path):
    """A ``VideoInfo`` of an animated image read with Pillow: times in milliseconds."""
    from pipeline.io.decode import VideoInfo
    from pipeline.io.timing import Timing

    try:
        with Image.open(path) as image:
            durations = _durations_ms(image)
            width, height, fmt = image.width, image.height, (image.format or "image").lower()
            loop, alpha = image.info.get("loop"), image_has_alpha(image)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise VideoError(f"not a readable animated image ({exc})") from None
    total = sum(durations)
    rate = Fraction(len(durations) * 1000, total).limit_denominator(1001)
    return VideoInfo(path, width, height, rate, _TIME_BASE, len(durations), total / 1000, 0, fmt, None,
                     Timing.STREAM, seekable=False, reorders=False, format=f"pillow-{fmt}", loop=loop,
                     alpha=alpha)


def frame_timestamps(info) -> list[int]:
    """Each frame's start, in milliseconds."""
    with Image.open(info.path) as image:
        durations = _durations_ms(image)
    return [int(t) for t in np.cumsum([0, *durations[:-1]])]


def decode_frames(info, start_s: float = 0.0, end_s: float | None = None, max_frames: int | None = None,
                  first_index: int = 0) -> Iterator:
    """RGB frames (alpha dropped) from ``first_index`` on, in the range asked for, as ``decode.decode_frames``."""
    from pipeline.io.decode import Frame

    stamps = frame_timestamps(info)
    with Image.open(info.path) as image:
        for index in range(first_index, len(stamps)):
            t = stamps[index] / 1000
            if (end_s is not None and t >= end_s - 1e-6) or (max_frames is not None and index >= max_frames):
                return
            if t < start_s - 1e-6:
                continue
            image.seek(index)
            yield Frame(index, stamps[index], np.asarray(image.convert("RGB")))


def _frames_and_times(segments: list[Path]) -> tuple[list[np.ndarray], list[float]]:
    images, times = [], []
    for path in segments:
        with av.open(str(path)) as segment:
            stream = segment.streams.video[0]
            for frame in segment.decode(stream):  # converted with the segment's own tags
                images.append(frame.to_ndarray(format="rgb24"))
                times.append(float(frame.pts * stream.time_base))
    order = np.argsort(times, kind="stable")
    return [images[k] for k in order], sorted(times)


def _last_duration(info, last_t: float) -> float:
    """How long the frame shown from ``last_t`` (the source's timeline) lasts there: until the source's next
    frame, else its end or its last delay, else a frame period."""
    from pipeline.io.decode import frame_timestamps

    later = [float(t * info.time_base) for t in frame_timestamps(info) if float(t * info.time_base) > last_t + 1e-6]
    if later:
        return later[0] - last_t
    if info.duration_s - last_t > 1e-6:
        return info.duration_s - last_t
    if info.path.suffix.lower() in (".gif", ".png", ".apng", ".webp", ".avif"):
        try:
            with Image.open(info.path) as image:
                return _durations_ms(image)[-1] / 1000
        except (OSError, UnidentifiedImageError, ValueError):
            pass
    return float(1 / info.rate)


def write_animated(segments: list[Path], info, output: Path, offset_s: float = 0.0,
                   end_s: float | None = None) -> None:
    """The segments' frames as an animated image at ``output`` (its suffix picks the format), each frame
    lasting until the next one starts, the last as long as that frame lasts in the source but not past
    ``end_s`` (--start plus --duration), looping as the source does (forever for a video). Times on the
    source's timeline are the segments' plus ``offset_s`` (--start). The frames are held in memory until
    written: animated images are short."""
    images, times = _frames_and_times(segments)
    last = _last_duration(info, times[-1] + offset_s)
    if end_s is not None:
        last = min(last, end_s - offset_s - times[-1])
    fmt = ANIMATED_OUTPUTS[output.suffix.lower()]
    kept, durations = frame_durations(times, times[-1] + last, _TICK_MS[fmt], _SHORTEST_MS[fmt])
    images, times = [images[k] for k in kept], [times[k] for k in kept]
    if info.alpha:  # the source's transparency, put back on the stylized frames
        alphas = matched(info, [t + offset_s for t in times], images[0].shape[:2])
        images = [np.dstack([image, alpha]) for image, alpha in zip(images, alphas)]
    frames = [Image.fromarray(image) for image in images]
    options = {"quality": 90, "method": 4} if fmt == "WEBP" else {}
    if not (info.loop is None and info.format in ("gif", "apng")):  # a GIF storing no loop count plays once
        options["loop"] = info.loop or 0
    frames[0].save(output, format=fmt, save_all=True, append_images=frames[1:], duration=durations, **options)


def frame_durations(starts_s: list[float], end_s: float, tick_ms: int,
                    shortest_ms: int) -> tuple[list[int], list[int]]:
    """The frames to keep and how long each shows (ms, whole ``tick_ms``): each starts on the tick nearest its
    time, so rounding never adds up over a clip (30000/1001 frames/s as a GIF's 3 hundredths each played 11 %
    fast); a frame that would show under ``shortest_ms`` is left out and its time goes to the one before
    (60 frames/s as a GIF plays at about 40)."""
    stamps = [round(t * 1000 / tick_ms) * tick_ms for t in starts_s]
    kept = [0]
    for k in range(1, len(stamps)):
        if stamps[k] - stamps[kept[-1]] >= shortest_ms:
            kept.append(k)
    ends = [stamps[k] for k in kept[1:]] + [round(end_s * 1000 / tick_ms) * tick_ms]
    return kept, [max(end - stamps[k], shortest_ms) for k, end in zip(kept, ends)]
