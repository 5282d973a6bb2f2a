"""Animated GIF, WebP, APNG and AVIF: read as videos (each frame at its own time), written as animated images
with each frame's own duration, the source's loop count and its transparency (``pipeline/io/alpha.py``).
An APNG is written under ``.png`` as well as ``.apng``: browsers and viewers play either name.

FFmpeg reads GIF and APNG (``pipeline/io/decode.py`` does, their delays are the frames' times) but its
``webp`` decoder reads only still WebP, so animated WebP is read here with Pillow, behind the same
``probe`` / ``frame_timestamps`` / ``decode_frames`` as the rest. Outputs are written with Pillow, whose
writers keep per-frame durations and the loop count for all four (FFmpeg's GIF encoder has a fixed palette
or needs a filter graph). Like every GIF writer, Pillow merges a frame identical to the one before into it,
adding its duration: what plays is the same. Each frame starts on the delay tick nearest its time (a GIF
counts hundredths of a second), and a GIF holds no frame shorter than browsers play as written (``frame_durations``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from pipeline.errors import JobError, VideoError
from pipeline.io.alpha import image_has_alpha, matched
from pipeline.io.reading import PILLOW_ERRORS

# Output suffixes written here, and Pillow's format for each; the formats as ``output_format`` names them.
ANIMATED_OUTPUTS = {".gif": "GIF", ".webp": "WEBP", ".apng": "PNG", ".png": "PNG", ".avif": "AVIF"}
ANIMATED_FORMATS = {".gif": "gif", ".webp": "webp", ".apng": "apng", ".png": "apng", ".avif": "avif"}
# Input suffixes FFmpeg cannot decode as animations, read with Pillow: its webp decoder reads still WebP only, and
# of an animated AVIF it reads the first frame alone. APNGs of 16 bits a sample too (``pillow_reads``).
PILLOW_INPUTS = {".webp", ".avif"}
_TIME_BASE = Fraction(1, 1000)  # Pillow gives durations in milliseconds
# What each format stores a delay in (Pillow takes milliseconds for all and cuts a GIF's down to hundredths),
# and the shortest delay a viewer plays as written: browsers play a GIF delay under two hundredths as ten.
_TICK_MS = {"GIF": 10, "WEBP": 1, "PNG": 1, "AVIF": 1}
_SHORTEST_MS = {"GIF": 20, "WEBP": 10, "PNG": 10, "AVIF": 10}
_OPTIONS = {"WEBP": {"quality": 90, "method": 4}, "AVIF": {"quality": 90}}  # near lossless, as stills are


def is_animated(path: Path) -> bool:
    """Whether ``path`` is an image file with more than one frame (an animated PNG, WebP, GIF or AVIF; a TIFF
    of several pages). A GIF is read only as far as its second frame. False for a file Pillow cannot open
    (``PILLOW_ERRORS``: a bomb, a damaged header), whose reader then says why in one line, and Pillow's warnings
    are left to that reader."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path) as image:
                return getattr(image, "n_frames", 1) - first_played(image) > 1 if image.format == "PNG" else \
                    bool(getattr(image, "is_animated", False))
        except PILLOW_ERRORS:
            return False


def pillow_reads(path: Path) -> bool:
    """Whether the animation at ``path`` is read with Pillow: an animated WebP or AVIF, or an APNG of 16 bits a
    sample, which FFmpeg's apng decoder does not decode ("not yet implemented")."""
    suffix = path.suffix.lower()
    if suffix in (".png", ".apng"):
        try:
            with open(path, "rb") as file:
                head = file.read(25)  # the signature, then IHDR: length, type, width, height, bit depth
        except OSError:
            return False  # the reader that opens it says why
        return head[12:16] == b"IHDR" and head[24:25] == b"\x10" and is_animated(path)
    return suffix in PILLOW_INPUTS and is_animated(path)


def first_played(image: Image.Image) -> int:
    """The index of an animation's first frame in Pillow: 1 where an APNG's default image is not part of its
    animation (Pillow counts it as a frame, viewers do not play it), else 0."""
    return int(image.format == "PNG" and bool(image.info.get("default_image")))


def loop_count(path: Path) -> int | None:
    """The loop count an animated image stores (0: forever), None when it stores none (it plays once)."""
    try:
        with Image.open(path) as image:
            return image.info.get("loop")
    except PILLOW_ERRORS:
        return None


def _durations_ms(image: Image.Image) -> list[int]:
    durations = []
    for k in range(first_played(image), image.n_frames):
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
    except PILLOW_ERRORS as exc:
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
        first = first_played(image)
        for index in range(first_index, len(stamps)):
            t = stamps[index] / 1000
            if (end_s is not None and t >= end_s - 1e-6) or (max_frames is not None and index >= max_frames):
                return
            if t < start_s - 1e-6:
                continue
            image.seek(first + index)
            yield Frame(index, stamps[index], np.asarray(image.convert("RGB")))


def segment_frames(segments: list[Path]) -> Iterator[tuple[float, av.VideoFrame]]:
    """(time in seconds, frame) of each frame of the finished ``segments``, one segment after another, for an
    output written from decoded frames (an animated image, an image sequence: ``pipeline/io/sequence_out.py``).
    Converted to RGB, a frame is converted with its segment's own colour tags."""
    for path in segments:
        with av.open(str(path)) as segment:
            stream = segment.streams.video[0]
            for frame in segment.decode(stream):
                yield float(frame.pts * stream.time_base), frame


def _frames_and_times(segments: list[Path]) -> tuple[list[Image.Image], list[float]]:
    """The segments' frames as Pillow images (one copy of each: all are held until written) and their times."""
    images, times = [], []
    for t, frame in segment_frames(segments):
        images.append(frame.to_image())
        times.append(t)
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
        except PILLOW_ERRORS:  # a damaged APNG FFmpeg decodes and Pillow refuses: a frame period
            pass
    return float(1 / info.rate)


# What writing an animated image holds per pixel of each frame until the file is written (measured, docs/BENCHMARKS.md
# "Animated outputs in memory": a GIF about 4.4 bytes, a WebP about 7), rounded up.
HELD_PER_PIXEL = 8


def check_memory(output: Path, frames: int, hw: tuple[int, int]) -> None:
    """Refuse (JobError), before any work, an animated ``output`` of ``frames`` frames of ``hw`` that would not fit
    in the memory this machine has available now (Linux's MemAvailable; not checked where it is not known)."""
    free = _available_memory()
    need = frames * hw[0] * hw[1] * HELD_PER_PIXEL
    if free is not None and need > free:
        raise JobError(f"output {output.name}: an animated image's {frames} frames at {hw[1]}x{hw[0]} are held in "
                       f"memory until it is written, about {_size(need)}, more than the {_size(free)} available: "
                       "write a video (.mp4, .webm), or fewer frames (--duration, --max-frames) or smaller ones "
                       "(--size)")


def _size(count: int) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def write_animated(segments: list[Path], info, output: Path, offset_s: float = 0.0,
                   end_s: float | None = None) -> None:
    """The segments' frames as an animated image at ``output`` (its suffix picks the format), each frame
    lasting until the next one starts, the last as long as that frame lasts in the source but not past
    ``end_s`` (--start plus --duration), looping as the source does (forever for a video). Times on the
    source's timeline are the segments' plus ``offset_s`` (--start). The frames are held in memory until
    written (``check_memory`` refuses what would not fit); a GIF's in one palette (``_one_palette``)."""
    images, times = _frames_and_times(segments)
    last = _last_duration(info, times[-1] + offset_s)
    if end_s is not None:
        last = min(last, end_s - offset_s - times[-1])
    fmt = ANIMATED_OUTPUTS[output.suffix.lower()]
    kept, durations = frame_durations(times, times[-1] + last, _TICK_MS[fmt], _SHORTEST_MS[fmt])
    images, times = [images[k] for k in kept], [times[k] for k in kept]
    if info.alpha:  # the source's transparency, put back on the stylized frames
        for image, alpha in zip(images, matched(info, [t + offset_s for t in times], (images[0].height,
                                                                                     images[0].width))):
            image.putalpha(Image.fromarray(alpha))
    options = dict(_OPTIONS.get(fmt, {}))
    if fmt == "GIF":
        _one_palette(images)
        if info.alpha:  # each frame whole: what the one before showed goes before the next is drawn
            options["disposal"] = 2
    if not (info.loop is None and info.format in ("gif", "apng")):  # a GIF storing no loop count plays once
        options["loop"] = info.loop or 0
    images[0].save(output, format=fmt, save_all=True, append_images=images[1:], duration=durations, **options)


# The pixels a GIF's one palette is made from: up to 64 frames across the clip, every so many of their pixels
_PALETTE_FRAMES, _PALETTE_PIXELS = 64, 256_000


def _one_palette(images: list[Image.Image]) -> None:
    """A GIF's frames (RGB, or RGBA with the source's transparency) put in one palette, in place: median cut
    refined by two k-means passes over up to 64 frames across the clip (every so many of their pixels: 256,000 at
    most, a few seconds), each frame then mapped to it without dithering; with transparency, 255 colours and
    the last index transparent wherever alpha is under half. Each frame's own palette (Pillow's way) moved
    colours from frame to frame, flicker the temporal steps had taken out (docs/BENCHMARKS.md, "GIF palettes")."""
    transparent = images[0].mode == "RGBA"
    picked = images[::max(1, len(images) // _PALETTE_FRAMES)]
    width, height = picked[0].size
    montage = Image.new("RGB", (width, height * len(picked)))
    for k, image in enumerate(picked):
        montage.paste(image.convert("RGB"), (0, height * k))
    scale = min(1.0, (_PALETTE_PIXELS / (montage.width * montage.height)) ** 0.5)
    if scale < 1:  # nearest: the frames' own colours, not blends of them
        montage = montage.resize((max(1, round(montage.width * scale)), max(1, round(montage.height * scale))),
                                 Image.Resampling.NEAREST)
    palette = montage.quantize(255 if transparent else 256, method=Image.Quantize.MEDIANCUT, kmeans=2)
    for k, image in enumerate(images):
        mapped = image.convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE)
        images[k] = _clear_where_transparent(mapped, image) if transparent else mapped


def _clear_where_transparent(mapped: Image.Image, image: Image.Image) -> Image.Image:
    """``mapped`` (a frame in 255 colours) with index 255 wherever ``image``'s alpha is under half, that index
    the frame's transparent colour."""
    index = np.asarray(mapped).copy()
    index[np.asarray(image.getchannel("A")) < 128] = 255
    cleared = Image.fromarray(index, "P")
    colours = mapped.getpalette()[:765]
    cleared.putpalette(colours + [0] * (768 - len(colours)))
    cleared.info["transparency"] = 255
    return cleared


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
