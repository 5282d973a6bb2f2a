"""Where stylize keeps what it can rebuild: adapted decoders (``--adapt``) and Ray's log lines.

One folder, the platform's user cache folder (platformdirs), so that a packaged install writes where the
operating system expects caches and a user can move or clear it with one variable."""

from __future__ import annotations

import os
from pathlib import Path

ENV = "STYLIZE_CACHE"


def cache_dir() -> Path:
    """``$STYLIZE_CACHE`` when set, else ``platformdirs.user_cache_dir("stylize")``: ``~/.cache/stylize`` (or
    ``$XDG_CACHE_HOME/stylize``) on Linux, ``~/Library/Caches/stylize`` on macOS, ``%LOCALAPPDATA%\\stylize\\Cache``
    on Windows. Everything in it is safe to delete."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("stylize", appauthor=False))


def log_dir() -> Path:
    """Log files of libraries kept off the terminal (Ray's: ``ray.log``), in the cache folder."""
    return cache_dir() / "logs"
