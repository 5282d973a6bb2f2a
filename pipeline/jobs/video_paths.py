"""Where each video of a ``stylize video`` job goes, and whether it can be written there, decided before any
work: a file into a file or a folder, a folder of videos mirrored, an image sequence in or out."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pipeline.errors import JobError
from pipeline.io.animated import is_animated
from pipeline.io.images import IMAGE_EXTENSIONS
from pipeline.io.playlists import PLAYLISTS, parts_of
from pipeline.io.sequence import is_sequence
from pipeline.io.sequence_out import check_unused, is_sequence_output
from pipeline.io.video import VIDEO_EXTENSIONS, check_output, codec_for_container, output_suffix
from pipeline.io.walk import is_pattern, kept_apart, nearest_existing, walk_files
from pipeline.options import EncodeOptions

log = logging.getLogger(__name__)


def plan_videos(input_path: Path, output_path: Path) -> list[tuple[Path, Path]]:
    """(source, destination) pairs: one file, or every video under a folder mirrored into OUTPUT; an image
    sequence (a pattern like ``frames/%05d.png``, or a folder of numbered frames and no videos) is one video."""
    if is_pattern(input_path) or (input_path.is_dir() and output_path.suffix and is_sequence(input_path)):
        return [(input_path, output_path)]
    if not input_path.exists():
        raise JobError(f"input {input_path} does not exist")
    if input_path.is_dir() and is_pattern(output_path):
        raise JobError(f"input {input_path} is a folder of videos, so OUTPUT must be a folder, not a pattern")
    if input_path.is_file():
        if input_path.suffix.lower() in IMAGE_EXTENSIONS and not is_animated(input_path):
            raise JobError(f"input {input_path} is a still image: `stylize folder` stylizes images (a folder of "
                           "them), `stylize video` videos")
        # into a folder: its name, in a container the output can be (``clip.mj2``, ``clip.h264``: ``.mp4``)
        dst = (output_path / input_path.name).with_suffix(output_suffix(input_path)) if output_path.is_dir() \
            else output_path
        return [(input_path, dst)]
    if output_path.exists() and not output_path.is_dir():
        raise JobError(f"input {input_path} is a folder, so OUTPUT must be a folder")
    if output_path.resolve() == input_path.resolve():
        raise JobError("output folder is the input folder")
    excluded = output_path if output_path.resolve().is_relative_to(input_path.resolve()) else None
    sources = _without_playlist_parts(list(walk_files(input_path, VIDEO_EXTENSIONS, exclude=excluded)))
    return kept_apart([(src, (output_path / src.relative_to(input_path)).with_suffix(output_suffix(src)))
                       for src in sources])


def _without_playlist_parts(files: list[Path]) -> list[Path]:
    """``files`` less the segments and variant playlists an HLS playlist among them names (a player opens the
    playlist, which plays them in order): one line for each playlist that has some."""
    parts: set[Path] = set()
    walked = set(files)
    for playlist in files:
        if playlist.suffix.lower() not in PLAYLISTS or playlist in parts:  # a master's variant: read through it
            continue
        named = parts_of(playlist) & walked  # what lies elsewhere is not in the walk anyway
        parts |= named
        if named:
            log.info("%s: an HLS playlist: its %d files are read through it, as one video", playlist, len(named))
    return [path for path in files if path not in parts]


def check_destination(src: Path, dst: Path, encode: EncodeOptions) -> None:
    """Refuse an output that cannot be written, before anything is created (JobError)."""
    if dst.resolve() == src.resolve():
        raise JobError(f"output {dst} is the input file")
    check_output(dst, codec_for_container(encode, dst))  # suffix, container and codec
    if is_sequence_output(dst):
        check_unused(dst)
    folder = nearest_existing(dst.parent)
    if not folder.is_dir():
        raise JobError(f"cannot create the output folder {dst.parent}: {folder} is not a folder")
    if not os.access(folder, os.W_OK):
        raise JobError(f"output folder {folder} is not writable")
