"""The contact sheet of a finished job (``--contact-sheet``): which items it shows, read back from disk.

Made after the job from its summary, so it works the same whichever engine ran the job (Ray too), and an
item that failed, or whose files cannot be read back, is left out and counted in the title: the sheet never
fails because of one item. A sheet that cannot be made or written is one failed item of the job.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from pipeline.errors import ImageReadError, VideoError
from pipeline.io.contact_sheet import (MAX_ITEMS, TILE, Pair, Section, draw_sheet, even_sample, from_array,
                                       save_sheet, thumbnail)
from pipeline.io.decode import decode_frames, frame_timestamps, probe
from pipeline.io.images import read_image
from pipeline.report import FAILED, ItemResult, Summary

log = logging.getLogger(__name__)
VIDEO_FRAMES = 6  # frames sampled from each video
MAX_VIDEOS = 8  # videos shown from a folder of them (an even sample past that)


def _styles(paths: Sequence[Path]) -> list[tuple[str, Image.Image]]:
    out = []
    for path in paths:
        try:
            out.append((Path(path).name, from_array(read_image(path, min_side=TILE).rgb)))
        except ImageReadError:
            continue
    return out


def _shown(summary: Summary) -> list[ItemResult]:
    """The items with an output on disk (processed now, or skipped as already there), by source path."""
    done = [r for r in summary.results if r.status != FAILED and r.output and Path(r.output).is_file()]
    return sorted(done, key=lambda r: r.path)


def _title(kind: str, shown: int, summary: Summary) -> str:
    failed = summary.count(FAILED)
    note = f" ({failed} failed, left out)" if failed else ""
    return f"stylize {kind}: {shown} of {len(summary.results)} {'videos' if kind == 'video' else 'images'} shown{note}"


def _image_pair(result: ItemResult, input_dir: Path) -> Pair | None:
    src = Path(result.path)
    try:
        source = thumbnail(from_array(read_image(src, min_side=TILE).rgb), TILE)
        output = thumbnail(from_array(read_image(result.output, min_side=TILE).rgb), TILE)
    except ImageReadError as exc:
        log.warning("contact sheet: %s is left out (%s)", src, exc)
        return None
    label = str(src.relative_to(input_dir)) if src.is_relative_to(input_dir) else src.name
    return Pair(label, source, output)


def write_folder_sheet(path: Path, input_dir: Path, summary: Summary, styles: Sequence[Path]) -> None:
    """The sheet of a folder job: an even sample of at most ``MAX_ITEMS`` of its images."""
    done = _shown(summary)
    picked = [done[i] for i in even_sample(len(done), MAX_ITEMS)]
    pairs = [p for p in (_image_pair(r, input_dir) for r in picked) if p is not None]
    title = _title("folder", len(pairs), summary)
    _save(path, draw_sheet(title, _styles(styles), [Section(None, pairs)]), summary)


def _first_frame(info, from_s: float):
    """The first frame of the probed video ``info`` at or after ``from_s`` seconds from its first frame
    (VideoError when none)."""
    frames = decode_frames(info, max(0.0, from_s))
    try:
        frame = next(frames, None)
    finally:
        frames.close()
    if frame is None:
        raise VideoError(f"{info.path}: no frame at {from_s:.3f} s")
    return frame


def _tile_at(info, time_s: float) -> Image.Image:
    """The frame shown at ``time_s`` on the stream's clock (the first from half a frame before it on), as a
    tile."""
    from_s = time_s - info.origin_s - 0.5 / float(info.rate)  # from the first frame, as _first_frame counts
    return thumbnail(from_array(_first_frame(info, from_s).image), TILE)


def video_section(src: Path, dst: Path, start_s: float = 0.0, fps: float | None = None,
                  count: int = VIDEO_FRAMES) -> Section:
    """``count`` frames sampled evenly over the result ``dst``, each beside the source frame at the same time
    from the first frame the job read (at ``start_s``); VideoError when a file cannot be read."""
    info, src_info = probe(dst), probe(src, fps)
    stamps = frame_timestamps(info)
    if not stamps:
        raise VideoError(f"{dst}: no frames")
    out_zero = float(stamps[0] * info.time_base)
    src_zero = float(_first_frame(src_info, start_s).pts * src_info.time_base)
    times = [float((stamps[i] - stamps[0]) * info.time_base) for i in even_sample(len(stamps), count)]
    pairs = [Pair(f"t = {t:.2f} s", _tile_at(src_info, src_zero + t), _tile_at(info, out_zero + t)) for t in times]
    return Section(f"{src.name} -> {dst.name}: {len(pairs)} of {len(stamps)} frames", pairs)


def write_video_sheet(path: Path, summary: Summary, styles: Sequence[Path], start_s: float = 0.0,
                      fps: float | None = None) -> None:
    """The sheet of a video job: for each video (an even sample of at most ``MAX_VIDEOS``), its frames."""
    done = _shown(summary)
    sections = []
    for result in (done[i] for i in even_sample(len(done), MAX_VIDEOS)):
        try:
            sections.append(video_section(Path(result.path), Path(result.output), start_s, fps))
        except VideoError as exc:
            log.warning("contact sheet: %s is left out (%s)", result.path, exc)
    title = _title("video", len(sections), summary)
    _save(path, draw_sheet(title, _styles(styles), sections), summary)


def _save(path: Path, sheet: Image.Image, summary: Summary) -> None:
    try:
        save_sheet(sheet, path)
    except (OSError, ValueError) as exc:
        summary.add(ItemResult(str(path), FAILED, f"cannot write the contact sheet: {exc}"))
        return
    log.info("contact sheet written to %s", path)
