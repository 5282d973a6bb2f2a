"""Warnings about a file said once in a process: lanes, warm-ups and retries decode the same file's frames
again, and each would say the same thing."""

from __future__ import annotations

import logging

_SAID: set = set()  # (what, file, ...) said already


def once(log: logging.Logger, key: tuple, message: str, *args) -> None:
    """``log.warning(message, *args)`` the first time ``key`` (what is said, of which file) comes."""
    if key not in _SAID:
        _SAID.add(key)
        log.warning(message, *args)
