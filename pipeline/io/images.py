"""Reading and writing still images: every mode Pillow decodes becomes RGB float, writes are atomic."""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.errors import ImageReadError
from pipeline.io import hdr, heif, jpeg2000, libtiff
from pipeline.io.animated import first_played
from pipeline.io.claim import hold_file
from pipeline.io.reading import PILLOW_ERRORS, reading

# AVIF (what phones and the web now save) needs Pillow 11.3 or later, whose wheels read and write it.
_FORMAT_BY_EXT = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP",
                  ".tif": "TIFF", ".tiff": "TIFF", ".avif": "AVIF", ".mpo": "MPO", **jpeg2000.EXTENSIONS}
# Read, not written as stills: each one's output (a phone's HEIF photo as JPEG; a layered PSD, flattened, and a
# GIF, whose 256 colours a stylized picture does not fit in, as PNG; an APNG of one frame as PNG). Animations are
# written as animations (``jobs/folder_plan.py``).
_WRITTEN_AS = {**{suffix: ".jpg" for suffix in heif.EXTENSIONS}, ".psd": ".png", ".gif": ".png", ".apng": ".png"}
WRITTEN_EXTENSIONS = set(_FORMAT_BY_EXT)
IMAGE_EXTENSIONS = WRITTEN_EXTENSIONS | set(_WRITTEN_AS)
_ALPHA_FORMATS = {"PNG", "WEBP", "TIFF", "AVIF", "JPEG2000"}
ALPHA_SUFFIXES = {suffix for suffix, fmt in _FORMAT_BY_EXT.items() if fmt in _ALPHA_FORMATS}  # written with alpha
_QUALITY = {"JPEG": 95, "MPO": 95, "WEBP": 95, "AVIF": 90}  # near lossless: the painting's texture is the point
DEFAULT_UMASK = 0o022


@dataclass
class LoadedImage:
    rgb: np.ndarray  # (H, W, 3) float32 in [0, 1], EXIF orientation applied
    alpha: np.ndarray | None  # (H, W) float32 in [0, 1] when the source had transparency
    source_hw: tuple[int, int]  # the file's full size, upright (rgb may be smaller after a draft decode)
    metadata: dict = field(default_factory=dict)  # what an output keeps: ``icc_profile``, ``exif`` (upright)
    frames: int = 1  # an animation's frames or a document's pages, of which ``rgb`` is the first


def _to_float_rgb(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    alpha = None
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit (or 32-bit) greyscale
        grey = np.asarray(img, dtype=np.float32)
        key = img.info.get("transparency")  # a colour key (PNG's tRNS): that grey is transparent
        alpha = (grey != key).astype(np.float32) if isinstance(key, int) else None
        grey = grey / (65535.0 if grey.max() > 255 or img.mode.startswith("I;16") else 255.0)
        return np.repeat(grey.clip(0, 1)[..., None], 3, axis=2), alpha
    if img.mode == "F":
        grey = np.asarray(img, dtype=np.float32).clip(0, 1)
        return np.repeat(grey[..., None], 3, axis=2), None
    if img.mode in ("P", "L", "1", "RGB") and "transparency" in img.info:  # a palette's or a colour key's
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        img = rgba.convert("RGB")
    elif img.mode != "RGB":
        img = img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV
    return np.asarray(img, dtype=np.float32) / 255.0, alpha


def read_image(path: str | Path, min_side: int = 0, page: int = 0) -> LoadedImage:
    """Decode an image file (``page``: that page of a document, a multi-page TIFF), or raise ImageReadError
    with a one-line reason.

    ``min_side`` > 0 lets JPEG decoding downscale by a power of two in the DCT (Pillow's draft mode) as long
    as both sides stay at least that large: a 24-megapixel photo wanted at 512 px decodes several times
    faster. The result may then be smaller than the file's size; callers resize it anyway.
    """
    path = Path(path)
    with reading(path):
        return _read_image(path, min_side, page)


# Formats whose further frames are an animation (GIF, WebP, APNG, AVIF) or a document's pages (TIFF), not a stereo
# pair (MPO) or a layer (PSD).
_SEQUENCES = {"WEBP", "PNG", "AVIF", "TIFF", "GIF"}
# Formats whose signature a file can start with though Pillow opens none of it: checked in this order.
_SIGNED = ("JPEG", "PNG", "TIFF", "WEBP", "AVIF", "JPEG2000", "PSD", "BMP", "GIF")


def unidentified(path: Path) -> str:
    """Why Pillow opened ``path`` as no format: the format its first bytes say it is and that plugin's own
    reason (a variant Pillow does not read, a damaged header), which Pillow's ``UnidentifiedImageError`` drops;
    an iPhone's HEIC photo however it is named; else that it is no image format read here."""
    with path.open("rb") as fp:
        head = fp.read(16)
        if head[4:8] == b"ftyp" and head[8:12] in heif.BRANDS:
            return "a HEIF file that could not be read"
        for name in _SIGNED:
            factory, accept = Image.OPEN.get(name, (None, None))  # AVIF: only where Pillow was built with it
            if accept is not None and accept(head):
                fp.seek(0)
                try:
                    factory(fp, str(path)).close()
                except Exception as exc:  # noqa: BLE001 - the plugin's own words are the reason
                    return f"a {name} file Pillow cannot read ({exc or type(exc).__name__})"
    return "not a recognised image format"


def _read_image(path: Path, min_side: int, page: int) -> LoadedImage:
    try:
        if path.is_dir():
            raise ImageReadError("is a directory, not an image")
        if path.stat().st_size == 0:
            raise ImageReadError("empty file (0 bytes)")
        with Image.open(path) as img:
            frames = _frames_shown(img, page)
            full_w, full_h = img.size
            if min_side and img.format in ("JPEG", "MPO"):  # MPO: a JPEG with more pictures after it (3D, phones)
                img.draft("RGB", (min_side, min_side))
            head = jpeg2000.header(path) if img.format == "JPEG2000" else b""  # its profile, its halvings
            if min_side and head:
                jpeg2000.reduce_for(img, head, min_side)
            img = _sdr_avif(path, img) if img.format == "AVIF" else img
            if img.format == "TIFF":
                libtiff.quiet()  # libtiff prints its own errors about a damaged file; this line says them
            icc = jpeg2000.icc_profile(head) if head else img.info.get("icc_profile")
            img.load()
            drafted_w = img.size[0]
            img = ImageOps.exif_transpose(img)  # the orientation tag goes with the turn
            metadata = {key: value for key, value in (("icc_profile", icc), ("exif", img.info.get("exif"))) if value}
            rgb, alpha = _to_float_rgb(img)
            turned = img.size[0] != drafted_w  # EXIF rotated it by 90 degrees
            source_hw = (full_w, full_h) if turned else (full_h, full_w)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError("no such file") from None
    except UnidentifiedImageError:
        if heif.is_heif(path):
            return _read_heif(path)
        raise ImageReadError(unidentified(path)) from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"too large to decode safely ({exc})") from None
    except PILLOW_ERRORS as exc:
        raise ImageReadError(f"cannot decode: {exc}") from None
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageReadError("image has zero width or height")
    return LoadedImage(np.ascontiguousarray(rgb), alpha, source_hw, metadata, frames)


def _frames_shown(img: Image.Image, page: int = 0) -> int:
    """The frames of an animation or the pages of a document ``img`` holds (1 for other formats), with ``img``
    at ``page`` of those a viewer shows: past an APNG's default image, which its animation leaves out."""
    first = first_played(img)
    frames = getattr(img, "n_frames", 1) - first if img.format in _SEQUENCES else 1
    if not 0 <= page < frames:
        raise ImageReadError(f"has no page {page + 1} (it has {frames})")
    try:
        if first + page:
            img.seek(first + page)
    except PILLOW_ERRORS:
        if page:
            raise
        img.seek(0)  # an APNG whose animation is broken: its default image, as a viewer without APNG shows
        return 1
    return frames


def _read_heif(path: Path) -> LoadedImage:
    """A HEIF photo (``pipeline/io/heif.py``): upright, its profile and EXIF kept."""
    try:
        rgb, alpha, metadata = heif.read_heif(path, deep=True)
    except (OSError, ValueError, IndexError, struct.error) as exc:
        raise ImageReadError(f"cannot decode this HEIF file ({exc})") from None
    def unit(pixels: np.ndarray) -> np.ndarray:
        return pixels.astype(np.float32) / (65535.0 if pixels.dtype == np.uint16 else 255.0)

    return LoadedImage(unit(rgb), None if alpha is None else unit(alpha), rgb.shape[:2], metadata)


def writable(path: Path) -> bool:
    """Whether an image can be written under ``path``'s suffix (HEIF and PSD are read only)."""
    return path.suffix.lower() in WRITTEN_EXTENSIONS


def written_as(path: Path) -> Path:
    """``path`` under the suffix its image is written with: its own, or for a format read only, the one
    ``_WRITTEN_AS`` gives."""
    return path if writable(path) else path.with_suffix(_WRITTEN_AS.get(path.suffix.lower(), ".png"))


def avif_cicp(path: Path) -> tuple[int, int] | None:
    """(primaries, transfer) of an AVIF's first ``nclx`` colour box (ISO/IEC 23091-2's numbers, FFmpeg's too);
    None where it has none. The box sits in the file's ``meta``, before the coded pixels."""
    with open(path, "rb") as file:
        head = file.read(1 << 16)
    at = head.find(b"colrnclx")
    if at < 0 or at + 12 > len(head):
        return None
    primaries, transfer = struct.unpack(">HH", head[at + 8:at + 12])
    return primaries, transfer


def _sdr_avif(path: Path, img: Image.Image) -> Image.Image:
    """An HDR AVIF (PQ, HLG) as SDR light: Pillow reads no ``nclx`` box and hands the signal over as if it were
    sRGB, at 8 bits, so FFmpeg decodes it at 16 bits for ``pipeline/io/hdr.py`` (also where libavif cannot:
    a 10-bit BT.2020 constant-luminance Chimera frame); Pillow's EXIF (the orientation) and alpha stay. Where
    FFmpeg fails or its picture is not Pillow's (a grid of tiles), Pillow's 8 bits are converted. Others: ``img``."""
    cicp = avif_cicp(path)
    if cicp is None or cicp[1] not in hdr.TRANSFERS:
        return img
    from pipeline.io.color import source_colour, to_rgb  # PyAV: only for HDR stills
    import av

    rgb = None
    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0), None)
            colour = None if frame is None else source_colour(frame)
            if colour is not None and colour.hdr:
                rgb = to_rgb(frame, colour)
    except (av.error.FFmpegError, IndexError):  # IndexError: no video stream FFmpeg can see
        rgb = None
    if rgb is None or (rgb.shape[1], rgb.shape[0]) != img.size:
        img.load()
        rgb = hdr.to_sdr(np.asarray(img.convert("RGB"), dtype=np.uint16) * 257, cicp[1], cicp[0])
    sdr = Image.fromarray(rgb)
    sdr.info = dict(img.info)
    if "A" in img.getbands():
        sdr.putalpha(img.getchannel("A"))
    return sdr


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) float array to a (3, H, W) tensor."""
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous()


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float tensor in [0, 1] to an (H, W, 3) uint8 array."""
    return (image.detach().float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def current_umask() -> int:
    """The process's umask, read without changing it (``os.umask`` can only swap it, which races with other
    threads creating files); Linux states it in /proc, elsewhere the common 022 is assumed."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return DEFAULT_UMASK


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place. The temporary
    file is locked while it is written (``io.claim.hold_file``), so a run that clears a killed run's leftovers
    leaves it alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".part", dir=path.parent)
    try:
        hold_file(fd)
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes it private; give it the permissions open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def write_image(path: str | Path, rgb: np.ndarray, alpha: np.ndarray | None = None,
                metadata: dict | None = None, more_pages: Sequence[tuple[np.ndarray, np.ndarray | None]] = ()) -> None:
    """Save an (H, W, 3) uint8 array atomically; the format follows the extension. ``more_pages`` ((rgb,
    alpha) each) follow it in one document (a multi-page TIFF).

    Transparency (floats in [0, 1], or uint8) is re-attached for formats that store it (PNG, WebP, TIFF, AVIF)
    and dropped otherwise.
    ``metadata`` (``LoadedImage.metadata``): the source's ICC profile and EXIF, kept where the format stores
    them (Pillow's JPEG, PNG, WebP, TIFF and AVIF writers do), so a wide-gamut photo keeps meaning its colours.
    """
    path = Path(path)
    fmt = _FORMAT_BY_EXT.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unsupported output extension {path.suffix!r}")
    img, *more = [_with_alpha(page, fmt) for page in ((rgb, alpha), *more_pages)]
    if fmt == "JPEG2000":  # Pillow writes no profile there: sRGB pixels instead
        icc = (metadata or {}).get("icc_profile")
        atomic_write(path, lambda tmp: jpeg2000.save(img, tmp, path.suffix.lower(), icc))
        return
    options = {"quality": _QUALITY[fmt]} if fmt in _QUALITY else {}
    if fmt != "BMP":
        options.update(metadata or {})
    if more:
        options.update(save_all=True, append_images=more)
    atomic_write(path, lambda tmp: img.save(tmp, format=fmt, **options))


def _with_alpha(page: tuple[np.ndarray, np.ndarray | None], fmt: str) -> Image.Image:
    """One page as Pillow writes it: its transparency (floats in [0, 1], or uint8 as it was read) re-attached
    where ``fmt`` stores it."""
    rgb, alpha = page
    img = Image.fromarray(rgb)
    if alpha is not None and fmt in _ALPHA_FORMATS:
        img.putalpha(Image.fromarray(alpha if alpha.dtype == np.uint8 else (alpha * 255.0 + 0.5).astype(np.uint8)))
    return img
