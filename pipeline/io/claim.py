"""One run at a time per output: a run holds the output's work folder (``.OUTPUT.parts/``) locked from the
moment it prepares it until the output is joined or the video has failed; a temporary file is locked while
it is written, so a run clearing a killed run's leftovers tells them from a running run's.

Two runs into one output (a command started twice, or one process per GPU over the same folder of videos)
would empty each other's work folder and could join one style's segments with another's. The lock is the
kernel's (``flock`` on the folder itself), so a run killed with -9 holds nothing; the second run leaves that
video to the first (counted skipped, said in one line) and goes on with the others.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path

from pipeline.errors import JobError

log = logging.getLogger(__name__)


class Busy(JobError):
    """Another run holds this output's work folder: the video is left to it."""


class Claim:
    """This process's hold on one work folder; ``release()`` (or leaving the ``with`` block) lets it go."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def claim(workdir: Path, output: Path) -> Claim:
    """Make ``workdir`` where it is missing and lock it for this run; Busy when another run holds it. Once
    locked, the folder is checked to be the one still at that path: a run that finished (and removed it)
    between our open and our lock leaves a folder no one uses, and we take the one made again."""
    for _ in range(8):
        workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Busy(f"another stylize run{_owner(workdir)} is writing {output}; left to it") from None
        except OSError as exc:  # a filesystem without locks (some network and FUSE mounts): run, unheld, said
            _say_unlocked(workdir, exc)
            return Claim(fd)
        try:
            still_there = os.path.samestat(os.fstat(fd), os.stat(workdir))
        except FileNotFoundError:
            still_there = False
        if still_there:
            return Claim(fd)
        os.close(fd)
    raise JobError(f"the work folder {workdir} keeps being removed by another run")


_UNLOCKED: set[Path] = set()  # filesystems said to take no locks, by the folder that showed it


def _say_unlocked(workdir: Path, exc: OSError) -> None:
    """One warning per output folder: two runs into its outputs are not kept apart there."""
    if workdir.parent not in _UNLOCKED:
        _UNLOCKED.add(workdir.parent)
        log.warning("%s: this filesystem takes no locks (%s): two runs into the same output there are not kept "
                    "apart", workdir.parent, exc.strerror or exc)


def hold_file(fd: int) -> None:
    """Lock the open file ``fd`` for as long as it stays open: a temporary file while it is written (where
    the filesystem takes no locks, it is written unheld)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        pass


def held(path: Path) -> bool:
    """Whether a running process holds ``path`` locked (a temporary file being written, a work folder)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def owner_fields() -> dict:
    """Who holds a work folder, written into its job state so a run that finds it busy can say so."""
    return {"pid": os.getpid(), "host": os.uname().nodename}


def _owner(workdir: Path) -> str:
    """`` (pid 123 on host)`` from the holder's job state, or nothing where it cannot be read yet."""
    try:
        state = json.loads((workdir / "job.json").read_text())
        return f" (pid {int(state['pid'])} on {state['host']})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""
