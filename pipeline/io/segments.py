"""The work folder of a video job and the sink that fills it with finished segments.

``OUTPUT`` gets a hidden sibling folder ``.OUTPUT.parts/``. A segment is written as
``segment_NNNNNN.part.mp4`` and renamed to ``segment_NNNNNN.mp4`` when complete, so a crash or a worker
still writing never passes for a finished segment, and ``--resume`` trusts every finished one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.errors import JobError, VideoError
from pipeline.io.claim import owner_fields
from pipeline.io.color import Colour
from pipeline.io.decode import count_packets
from pipeline.io.images import atomic_write
from pipeline.io.tracks import open_input
from pipeline.io.video import SegmentWriter
from pipeline.options import EncodeOptions

_FINISHED = re.compile(r"segment_(\d{6})\.mp4")


def job_key(src: Path, settings: dict) -> str:
    """Identifies the source file (path, size, modification time; an image sequence's pattern by its
    folder's) and every setting the output depends on."""
    stat = src.stat() if src.exists() else src.parent.stat()
    fields = {"src": str(src.resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns, "settings": settings}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def workdir_for(dst: Path) -> Path:
    return dst.parent / f".{dst.name}.parts"


def joined_for(dst: Path) -> Path:
    """The temporary name the finish writes ``dst`` under before renaming it into place."""
    return dst.with_name(f".{dst.stem}.tmp{dst.suffix}")


def prepare_workdir(dst: Path, key: str, resume: bool) -> Path:
    """The folder of finished segments, made and held by this run (``io.claim``); what an earlier run left
    in it is kept only by --resume for the very same job, emptied otherwise (the folder itself stays: it is
    what the hold locks). With --resume, job state that cannot be read raises JobError (that video fails,
    its segments stay)."""
    workdir = workdir_for(dst)
    workdir.mkdir(parents=True, exist_ok=True)  # here already where it was claimed
    if not (resume and _job_key(workdir) == key):
        for left in workdir.iterdir():
            if left.is_dir() and not left.is_symlink():
                shutil.rmtree(left)
            else:
                left.unlink()
    state = json.dumps({"key": key, **owner_fields()})
    atomic_write(workdir / "job.json", functools.partial(_write_synced, text=state))
    for stale in workdir.glob("*.part*"):
        stale.unlink()
    return workdir


def _job_key(workdir: Path) -> str | None:
    """The key a work folder was made for (None when it has no job.json)."""
    manifest = workdir / "job.json"
    if not manifest.is_file():
        return None
    try:
        return json.loads(manifest.read_text())["key"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise JobError(f"{manifest} cannot be read (a run stopped while writing it?); run without --resume "
                       "to start this video over") from None


def _write_synced(path: Path, text: str) -> None:
    """``text`` into ``path``, on the disk before it returns: renamed into place after this (``atomic_write``),
    a crash leaves the old job state or the new one, never an empty file."""
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def segment_part_path(workdir: Path, index: int) -> Path:
    return workdir / f"segment_{index:06d}.part.mp4"


def segment_path(workdir: Path, index: int) -> Path:
    return workdir / f"segment_{index:06d}.mp4"


def finished_segments(workdir: Path) -> dict[int, Path]:
    """Completed segments by index, ignoring the ``.part`` files other workers may be writing."""
    if not workdir.is_dir():
        return {}
    found = {}
    for path in workdir.iterdir():
        match = _FINISHED.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path
    return found


def drop_damaged_segments(workdir: Path, seg_len: int) -> list[int]:
    """Delete the finished segments that do not hold what a finished segment holds (a file that cannot be
    read, or fewer than ``seg_len`` frames before the last one), so --resume makes them again instead of
    joining a hole into the output; returns their indices. Renames happen only after a segment is closed,
    so this takes a disk that lost data, or a hand that cut a file."""
    found = finished_segments(workdir)
    last = max(found, default=-1)
    damaged = [k for k, path in sorted(found.items()) if _frames_in(path) < (1 if k == last else seg_len)]
    for k in damaged:
        found[k].unlink(missing_ok=True)
    return damaged


def _frames_in(path: Path) -> int:
    """Video packets (frames) a segment holds; 0 when it cannot be read."""
    try:
        with open_input(path) as container:
            return count_packets(container, container.streams.video[0]).count
    except (VideoError, av.error.FFmpegError, IndexError, OSError, ValueError):
        return 0


@dataclass
class Tally:
    """What a sink saw: frames of its run (written or already finished), the finished ones among them, the
    first and last presentation timestamps (source time base) and the seconds spent encoding."""

    frames: int = 0
    reused: int = 0
    first_pts: int | None = None
    last_pts: int | None = None
    encode_s: float = 0.0


@dataclass(frozen=True)
class SegmentFormat:
    """How segments are written: frames per segment, frame size, rate, time base, encoder settings and the
    colour they are encoded and tagged with."""

    seg_len: int
    size: tuple[int, int]
    rate: Fraction
    time_base: Fraction
    encode: EncodeOptions
    colour: Colour | None = None


class SegmentSink:
    """Takes a run's frames in order and writes them into segment files: it opens a segment at its first
    frame, renames it finished at the next segment's first frame (or ``close``), shifts timestamps so the
    first frame is at 0 when ``zero_start``, and skips frames of segments already finished (``image`` None).
    ``discard`` deletes the segment being written, so a failed or interrupted run leaves no ``.part``."""

    writer_class = SegmentWriter  # what encodes one segment file

    def __init__(self, workdir: Path, fmt: SegmentFormat, zero_start: bool = False) -> None:
        self.workdir, self.fmt, self.zero_start = workdir, fmt, zero_start
        self.tally = Tally()
        self._writer: SegmentWriter | None = None
        self._segment = -1
        self._offset = 0

    def write(self, index: int, pts: int, image: np.ndarray | None) -> None:
        """One frame: ``image`` as ``SegmentWriter.write`` takes it, or None for a frame of a finished segment."""
        t0 = time.perf_counter()
        tally = self.tally
        if tally.first_pts is None:
            tally.first_pts = pts
            self._offset = pts if self.zero_start else 0
        tally.last_pts = pts
        tally.frames += 1
        segment = index // self.fmt.seg_len
        if image is None:
            tally.reused += 1
        else:
            if segment != self._segment:
                self._finish_segment()
                self._open(segment)
            self._writer.write(image, pts - self._offset)
        tally.encode_s += time.perf_counter() - t0

    def _open(self, segment: int) -> None:
        fmt = self.fmt
        self._writer = self.writer_class(segment_part_path(self.workdir, segment), fmt.size, fmt.rate, fmt.time_base,
                                         fmt.encode, fmt.colour)
        self._segment = segment

    def _finish_segment(self) -> None:
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        try:
            writer.close()
        except BaseException:
            writer.discard()
            raise
        writer.path.replace(segment_path(self.workdir, self._segment))

    def close(self) -> Tally:
        """Finish the segment being written; returns the tally."""
        t0 = time.perf_counter()
        self._finish_segment()
        self.tally.encode_s += time.perf_counter() - t0
        return self.tally

    def discard(self) -> None:
        """Give up on the segment being written (its ``.part`` file is deleted); finished ones stay."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.discard()
