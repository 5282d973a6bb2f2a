"""The work folder of a video job: its finished segments, and the key that says which job they belong to.

``OUTPUT`` gets a hidden sibling folder ``.OUTPUT.parts/``. A segment is written as
``segment_NNNNNN.part.mp4`` and renamed to ``segment_NNNNNN.mp4`` when complete, so a crash or a worker
still writing never passes for a finished segment.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

_FINISHED = re.compile(r"segment_(\d{6})\.mp4")


def job_key(src: Path, settings: dict) -> str:
    """Identifies the source file (path, size, modification time) and every setting the output depends on."""
    stat = src.stat()
    fields = {"src": str(src.resolve()), "size": stat.st_size, "mtime": stat.st_mtime_ns, "settings": settings}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def prepare_workdir(dst: Path, key: str, resume: bool) -> Path:
    """The folder of finished segments; kept only by --resume for the very same job, emptied otherwise."""
    workdir = dst.parent / f".{dst.name}.parts"
    manifest = workdir / "job.json"
    if workdir.exists():
        same = manifest.is_file() and json.loads(manifest.read_text()).get("key") == key
        if not (resume and same):
            shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"key": key}))
    for stale in workdir.glob("*.part*"):
        stale.unlink()
    return workdir


def segment_part_path(workdir: Path, index: int) -> Path:
    return workdir / f"segment_{index:06d}.part.mp4"


def segment_path(workdir: Path, index: int) -> Path:
    return workdir / f"segment_{index:06d}.mp4"


def finished_segments(workdir: Path) -> dict[int, Path]:
    """Completed segments by index, ignoring the ``.part`` files other workers may be writing."""
    found = {}
    for path in workdir.iterdir():
        match = _FINISHED.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path
    return found
