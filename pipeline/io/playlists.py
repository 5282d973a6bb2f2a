"""HLS playlists saved beside their media (``.m3u8`` with its ``.ts`` or fMP4 segments): one video, as a player
opens it, not a video per segment.

A playlist names its segments one URI a line (lines starting with ``#`` are tags); a master playlist names
its variants' playlists the same way, and its alternate renditions and a segment's init section in a tag's
``URI="..."`` attribute. The files so named that lie beside it are its parts: a folder walk leaves them to
the playlist. URIs with a scheme (``https://``) name nothing local and are left to FFmpeg, as a player would.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

PLAYLISTS = {".m3u8"}
_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')
_MAX_BYTES = 16 << 20  # a VOD playlist of a day of 2 s segments is about 4 MB; more is not a playlist


def parts_of(playlist: Path) -> set[Path]:
    """The local files ``playlist`` names, through its variant playlists too."""
    return _named(playlist, set())


def _named(playlist: Path, seen: set[Path]) -> set[Path]:
    """The local files ``playlist`` names, and those its playlists name; ``seen`` stops a loop of them."""
    seen.add(playlist.resolve())
    found: set[Path] = set()
    for uri in _uris(playlist):
        part = _local(playlist, uri)
        if part is None or not part.is_file() or part.resolve() in seen:
            continue
        found.add(part)
        if part.suffix.lower() in PLAYLISTS:
            found |= _named(part, seen)
    return found


def _uris(playlist: Path) -> list[str]:
    """The URIs a playlist names: its lines that are not tags, and its tags' ``URI`` attributes."""
    try:
        if playlist.stat().st_size > _MAX_BYTES:
            return []
        text = playlist.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    if not text.lstrip("\ufeff").startswith("#EXTM3U"):
        return []
    uris = []
    for line in map(str.strip, text.splitlines()):
        if line.startswith("#"):
            uris += _URI_ATTRIBUTE.findall(line)
        elif line:
            uris.append(line)
    return uris


def _local(playlist: Path, uri: str) -> Path | None:
    """The file ``uri`` names relative to ``playlist``'s folder, or None for a URL with a scheme."""
    parts = urlsplit(uri)
    if parts.scheme and parts.scheme != "file" or parts.netloc:
        return None
    path = Path(unquote(parts.path))
    return path if path.is_absolute() else playlist.parent / path
