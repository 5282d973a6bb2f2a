"""Snapshots of a Gatys optimisation (``--save-every N --snapshot-dir DIR``): the image every N iterations as
``NAME_iter0050.png``, and beside them ``NAME_snapshots.json`` with each snapshot's losses, both written
atomically, so a user can watch a long optimisation and pick a stage.

NAME comes from whoever runs the optimisation (the folder job: the output's relative path; the video job: the
output's stem and the frame index) through ``snapshot_names``, a context variable, so the stylizers between
them need not know about it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path

import numpy as np

from pipeline.io.images import atomic_write, write_image

_NAMES: ContextVar[tuple[str, ...] | None] = ContextVar("snapshot_names", default=None)


@contextlib.contextmanager
def snapshot_names(names: Sequence[str] | None) -> Iterator[None]:
    """Within this block (in this thread), the images optimised are named ``names`` (one per image of the
    batch, in order); outside any such block, or with None, no snapshot is written."""
    token = _NAMES.set(None if names is None else tuple(names))
    try:
        yield
    finally:
        _NAMES.reset(token)


def current_names() -> tuple[str, ...] | None:
    return _NAMES.get()


def video_name(stem: str, index: int) -> str:
    """The snapshot NAME of frame ``index`` of the video written to ``stem``."""
    return f"{stem}_f{index:06d}"


class SnapshotWriter:
    """Writes one optimisation's snapshots into ``folder`` (``name`` may hold subfolders) and keeps the
    sidecar JSON with every snapshot so far."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder, self.name = Path(folder), name
        self.records: list[dict] = []

    @property
    def sidecar(self) -> Path:
        return self.folder / f"{self.name}_snapshots.json"

    def write(self, iteration: int, rgb: np.ndarray, losses: dict[str, float], work_hw: tuple[int, int]) -> Path:
        """Save ``rgb`` (H, W, 3) uint8 as the snapshot after ``iteration`` iterations, with its losses and the
        size it was optimised at (smaller than the image at the coarse levels of ``--scales``)."""
        path = self.folder / f"{self.name}_iter{iteration:04d}.png"
        write_image(path, rgb)
        self.records.append({"iteration": iteration, "file": path.name, "work_size": list(work_hw),
                             **{k: round(float(v), 6) for k, v in losses.items()}})
        text = json.dumps({"name": Path(self.name).name, "snapshots": self.records}, indent=1)
        atomic_write(self.sidecar, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))
        return path
