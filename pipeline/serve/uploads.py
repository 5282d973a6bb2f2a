"""What a request brings: the server's own temporary folder, the body size limit, and the checks that an
upload is an image (or a clip) the pipeline can take, each failing with one line naming the upload.

No request ever names a file on disk: uploads are stored under names the server draws (``secrets``), and
the gallery is looked up by name in a table (``gallery.py``), never joined to a path.
"""

from __future__ import annotations

import json
import secrets
import shutil
import struct
import tempfile
import time
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from pipeline.errors import ImageReadError
from pipeline.io import heif
from pipeline.serve.errors import ApiError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".avif"} | heif.EXTENSIONS
CHUNK = 1 << 20


class Workspace:
    """The server's temporary folder: ``uploads/`` (photos, styles, clips) and ``jobs/ID/`` (video results).
    Everything a request writes goes here, and ``close`` removes it all."""

    def __init__(self, parent: Path | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="stylize-serve-", dir=parent))
        self.uploads = self.root / "uploads"
        self.jobs = self.root / "jobs"
        self.uploads.mkdir()
        self.jobs.mkdir()

    def new_upload(self, suffix: str) -> Path:
        return self.uploads / f"{secrets.token_hex(8)}{suffix}"

    def upload(self, token: str) -> Path | None:
        """The stored upload called ``token`` (as handed out by ``new_upload``), or None."""
        if not token.isalnum():
            return None
        found = [p for p in self.uploads.glob(f"{token}.*") if p.stem == token]
        return found[0] if found else None

    def sweep(self, keep_s: float, busy: set[Path]) -> int:
        """Remove uploads older than ``keep_s`` seconds, except ``busy`` ones; returns how many went."""
        limit, removed = time.time() - keep_s, 0
        for path in self.uploads.iterdir():
            try:
                if path not in busy and path.stat().st_mtime < limit:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass  # a request's own photo, removed by that request meanwhile
        return removed

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def save_upload(upload, dest: Path, what: str) -> Path:
    """Copy an uploaded file (a Starlette ``UploadFile``) to ``dest``; an empty one is refused."""
    with dest.open("wb") as out:
        shutil.copyfileobj(upload.file, out, CHUNK)
    if dest.stat().st_size == 0:
        dest.unlink()
        raise ApiError(422, f"{what}: empty file (0 bytes)")
    return dest


def label(field: str, upload) -> str:
    """How an error names an upload: its form field and the file name the browser sent (printable, short)."""
    name = "".join(c for c in (upload.filename or "") if c.isprintable())[:80]
    return f"{field} {name!r}" if name else field


def image_suffix(upload) -> str:
    suffix = Path(upload.filename or "").suffix.lower()
    return suffix if suffix in IMAGE_SUFFIXES else ".img"


def check_image(path: Path, what: str) -> tuple[int, int]:
    """(width, height) of an image Pillow can open, or ApiError: 413 past Pillow's decompression-bomb limit
    (``Image.MAX_IMAGE_PIXELS``, checked from the header, before any pixel is decoded), 422 for anything
    that is not an image."""
    try:
        with Image.open(path) as img:
            width, height = img.size
    except Image.DecompressionBombError:
        raise ApiError(413, f"{what}: too many pixels to decode safely (over {2 * Image.MAX_IMAGE_PIXELS:,}, "
                            "a decompression bomb?)") from None
    except UnidentifiedImageError:
        if not heif.is_heif(path):
            raise ApiError(422, f"{what}: not an image (expected JPEG, PNG, WebP, BMP, TIFF or HEIC)") from None
        try:
            width, height = heif.size(path)  # a phone's photo, which Pillow does not open
        except (ImageReadError, IndexError, struct.error) as exc:
            raise ApiError(422, f"{what}: cannot be read as an image ({exc})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ApiError(422, f"{what}: cannot be read as an image ({exc})") from None
    if width * height > (Image.MAX_IMAGE_PIXELS or float("inf")):
        raise ApiError(413, f"{what}: {width}x{height} is over the limit of {Image.MAX_IMAGE_PIXELS:,} pixels "
                            "(decompression-bomb check)")
    return width, height


def check_clip(path: Path, what: str):
    """The clip's ``VideoInfo`` (probed as ``stylize video`` probes it), or ApiError 422 naming the problem."""
    from pipeline.errors import StylizeError
    from pipeline.io.video import probe

    try:
        info = probe(path)
    except StylizeError as exc:
        raise ApiError(422, f"{what}: {exc}") from None
    if info.width < 1 or info.height < 1:
        raise ApiError(422, f"{what}: no picture in this video")
    return info


class BodyLimit:
    """ASGI wrapper refusing request bodies over ``limit_mb`` MiB with 413 and a JSON error: at once when
    Content-Length says so, else as soon as the streamed body passes the limit (the app's own reply is then
    replaced, and the rest of the body is never read)."""

    def __init__(self, app, limit_mb: float) -> None:
        self.app, self.limit_mb, self.limit = app, limit_mb, int(limit_mb * (1 << 20))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            return await self._refuse(send)
        seen, over = 0, False

        async def counted():
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                over = True
                raise ApiError(413, "too large")
            return message

        async def guarded(message):
            if not over:
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except ApiError:
            if not over:
                raise
        if over:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        message = f"request body over the upload limit of {self.limit_mb:g} MB (--max-upload-mb)"
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
