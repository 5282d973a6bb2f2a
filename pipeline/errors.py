"""The errors a user sees: each carries one line that names what is wrong; the class says what happens next.

A ``UsageError`` stops the whole command before any work starts (exit code 2). The others fail one item
(an image, a video) and the rest of the batch goes on. No job imports another job for these: they live here.
"""

from __future__ import annotations


class StylizeError(Exception):
    """Base of every error this package raises for a user; ``str()`` is the one line to print."""


class UsageError(StylizeError, ValueError):
    """The command as given cannot run (an option, a path, a weight file); exit code 2, nothing written."""


class OptionError(UsageError):
    """An option value out of range or inconsistent with another; found once, when options are built."""


class JobError(UsageError):
    """The job as a whole cannot start (missing input, output inside input, ...)."""


class StyleError(UsageError):
    """A style image or style option that cannot be used."""


class WeightsError(UsageError):
    """A weight file (``--decoder``, ``--vgg``, a checkpoint) that cannot be loaded."""


class ImageReadError(StylizeError):
    """An input that is not a decodable image; that file fails, the others go on."""


class VideoError(StylizeError):
    """A video that cannot be processed; that video fails, the others go on."""


class DecodingStopped(VideoError):
    """A video that stopped decoding part way (cut short, or damaged from some point on) after ``at_s``
    seconds of frames: those frames are kept and it is a warning, or with ``--strict`` the video fails."""

    def __init__(self, message: str, at_s: float) -> None:
        super().__init__(message)
        self.at_s = at_s

    def __reduce__(self):
        return type(self), (str(self), self.at_s)


class SegmentsMissing(VideoError):
    """A video whose finished segments do not cover it yet; its work folder stays for --resume."""


class FrameSizeError(VideoError):
    """The encoder cannot take this video's frame size (it refuses, hangs or crashes on it): that video fails,
    the others, of other sizes, go on."""


class EncodeFailed(VideoError):
    """The encoder or the muxer refused a segment's frames: that video fails, its finished segments stay for
    --resume (the segment being written is deleted)."""


class JoinFailed(VideoError):
    """FFmpeg refused to join a video's finished segments (with its audio) into the output; nothing is written
    at OUTPUT and the work folder stays for --resume."""


class EngineError(StylizeError):
    """The engine failed as a whole (a Ray cluster lost its workers): the run stops with exit code 1; what was
    finished is kept."""


class Cancelled(StylizeError):
    """Work stopped because another lane failed or the run was interrupted."""


def reason(exc: Exception) -> str:
    """The one line an error gives: an FFmpeg error's own words (its ``strerror``, without PyAV's call and file
    name around them), else ``str(exc)``."""
    return getattr(exc, "strerror", None) or str(exc)


class Terminated(BaseException):
    """SIGTERM arrived: raised in the main thread like ``KeyboardInterrupt`` for Ctrl-C, so the same cleanup
    runs (``finally`` blocks, lanes cancelled, finished work kept). A ``BaseException``, so that no
    ``except Exception`` on the way swallows it; the CLI exits with 143 for it (``process.py`` raises it)."""
