"""HEIF stills (HEIC: iPhones' and many Android phones' photos; HIF: Canon's 10-bit ones), read with FFmpeg.

Pillow has no HEIF decoder, and FFmpeg decodes a HEIF file's HEVC pictures but leaves the picture to the caller
(ISO/IEC 23008-12): a phone's photo is a grid of tiles (an iPhone's 4032x3024, 48 of 512x512) each coded at
least as large as it shows (its ``ispe``), turned (``irot``) and mirrored (``imir``) as its properties say,
with its alpha, ICC profile and EXIF as items of their own. This module reads the file's ``meta`` box for
those and puts the picture together from the tiles FFmpeg decodes (its streams' ids are the items' ids).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from pipeline.errors import ImageReadError
from pipeline.io.boxes import boxes
from pipeline.io.color import source_colour, to_rgb

EXTENSIONS = {".heic", ".heif", ".hif"}
BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
_ALPHA = (b"urn:mpeg:hevc:2015:auxid:1", b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha")


@dataclass
class _Item:
    kind: bytes = b""
    props: list[tuple[bytes, bytes]] = field(default_factory=list)  # (type, payload) in association order
    refs: dict[bytes, list[int]] = field(default_factory=dict)  # reference type -> items it points to
    extents: list[tuple[int, int]] = field(default_factory=list)  # (offset, length); in idat for method 1
    in_idat: bool = False


def is_heif(path: Path) -> bool:
    with open(path, "rb") as file:
        head = file.read(12)
    return head[4:8] == b"ftyp" and head[8:12] in BRANDS


def _uint(data: bytes, at: int, size: int) -> int:
    return int.from_bytes(data[at:at + size], "big") if size else 0


def _iinf(data: bytes, body: int, stop: int, items: dict[int, _Item]) -> None:
    at = body + 4 + (2 if data[body] == 0 else 4)
    for kind, start, end in boxes(data, at, stop):
        if kind == b"infe" and data[start] >= 2:
            wide = 4 if data[start] == 3 else 2
            item = _uint(data, start + 4, wide)
            items.setdefault(item, _Item()).kind = data[start + 4 + wide + 2:start + 4 + wide + 6]


def _iloc(data: bytes, body: int, items: dict[int, _Item]) -> None:
    version = data[body]
    sizes = data[body + 4:body + 6]
    offset_size, length_size, base_size = sizes[0] >> 4, sizes[0] & 15, sizes[1] >> 4
    index_size = sizes[1] & 15 if version in (1, 2) else 0
    wide = 4 if version == 2 else 2
    count, at = _uint(data, body + 6, wide), body + 6 + wide
    for _ in range(count):
        item = items.setdefault(_uint(data, at, wide), _Item())
        at += wide
        if version in (1, 2):
            item.in_idat = data[at + 1] & 15 == 1
            at += 2
        base = _uint(data, at + 2, base_size)
        at += 2 + base_size
        extents, at = _uint(data, at, 2), at + 2
        for _ in range(extents):
            at += index_size
            offset, length = _uint(data, at, offset_size), _uint(data, at + offset_size, length_size)
            item.extents.append((base + offset, length))
            at += offset_size + length_size


def _iref(data: bytes, body: int, stop: int, items: dict[int, _Item]) -> None:
    wide = 2 if data[body] == 0 else 4
    for kind, start, end in boxes(data, body + 4, stop):
        source, count = _uint(data, start, wide), _uint(data, start + wide, 2)
        targets = [_uint(data, start + wide + 2 + k * wide, wide) for k in range(count)]
        items.setdefault(source, _Item()).refs.setdefault(kind, []).extend(targets)


def _iprp(data: bytes, body: int, stop: int, items: dict[int, _Item]) -> None:
    properties, associations = [], None
    for kind, start, end in boxes(data, body, stop):
        if kind == b"ipco":
            properties = [(sub, data[s:e]) for sub, s, e in boxes(data, start, end)]
        elif kind == b"ipma":
            associations = (start, end)
    if associations is None:
        return
    start, _ = associations
    version, flags = data[start], _uint(data, start + 1, 3)
    count, at = _uint(data, start + 4, 4), start + 8
    for _ in range(count):
        wide = 2 if version < 1 else 4
        item = items.setdefault(_uint(data, at, wide), _Item())
        n, at = data[at + wide], at + wide + 1
        for _ in range(n):
            index = (_uint(data, at, 2) & 0x7FFF) if flags & 1 else data[at] & 0x7F
            at += 2 if flags & 1 else 1
            if 0 < index <= len(properties):
                item.props.append(properties[index - 1])


def _meta(data: bytes) -> tuple[int, dict[int, _Item], bytes]:
    """The primary item, every item, and the ``idat`` box's bytes."""
    for kind, body, stop in boxes(data):
        if kind != b"meta":
            continue
        items: dict[int, _Item] = {}
        primary, idat = 0, b""
        for sub, start, end in boxes(data, body + 4, stop):
            if sub == b"pitm":
                primary = _uint(data, start + 4, 2 if data[start] == 0 else 4)
            elif sub == b"iinf":
                _iinf(data, start, end, items)
            elif sub == b"iloc":
                _iloc(data, start, items)
            elif sub == b"iref":
                _iref(data, start, end, items)
            elif sub == b"iprp":
                _iprp(data, start, end, items)
            elif sub == b"idat":
                idat = data[start:end]
        return primary, items, idat
    raise ImageReadError("a HEIF (HEIC) photo without its meta box: damaged or cut short")


def _payload(item: _Item, data: bytes, idat: bytes) -> bytes:
    source = idat if item.in_idat else data
    return b"".join(source[offset:offset + length] for offset, length in item.extents)


def _prop(item: _Item, kind: bytes) -> bytes | None:
    return next((payload for name, payload in item.props if name == kind), None)


class _Pictures:
    """The coded pictures ``needed`` (item ids, FFmpeg's stream ids), decoded in one pass over the file: not a
    photo's thumbnail, depth map or HDR gain map."""

    def __init__(self, container: av.container.InputContainer, deep: bool, needed: set[int]) -> None:
        self.frames: dict[int, av.VideoFrame] = {}
        self.deep = deep
        streams = [s for s in container.streams.video if s.id in needed]
        for packet in container.demux(*streams) if streams else ():
            for frame in packet.decode():
                self.frames.setdefault(packet.stream.id, frame)

    def picture(self, item_id: int, item: _Item) -> np.ndarray:
        frame = self.frames.get(item_id)
        if frame is None:
            raise ImageReadError(f"HEIF picture {item_id} is missing or does not decode")
        colour = source_colour(frame)
        rgb = to_rgb(frame, colour, self.deep) if colour.yuv else np.repeat(
            frame.to_ndarray(format="gray16le" if self.deep and colour.deep else "gray")[..., None], 3, axis=2)
        size = _prop(item, b"ispe")
        if size is not None:  # coded in whole blocks: what shows is the top left
            width, height = struct.unpack(">II", size[4:12])
            rgb = rgb[:height, :width]
        return rgb


def _image(pictures: _Pictures, items: dict[int, _Item], item_id: int, data: bytes, idat: bytes) -> np.ndarray:
    """Item ``item_id`` as shown: a coded picture or a grid of them, then turned and mirrored."""
    item = items.get(item_id)
    if item is None:
        raise ImageReadError(f"a HEIF file referring to an image it does not hold ({item_id})")
    if item.kind == b"grid":
        grid = _payload(item, data, idat)
        rows, cols, (width, height) = grid[2] + 1, grid[3] + 1, _canvas_size(grid, 4)
        refs = item.refs.get(b"dimg", [])
        if any(items.get(tile, _Item()).kind == b"grid" for tile in refs):
            raise ImageReadError("a HEIF grid whose tiles are grids")
        tiles = [_image(pictures, items, tile, data, idat) for tile in refs]
        if len(tiles) != rows * cols:
            raise ImageReadError(f"a HEIF grid of {rows}x{cols} with {len(tiles)} tiles")
        rgb = np.concatenate([np.concatenate(tiles[r * cols:(r + 1) * cols], axis=1) for r in range(rows)])
        rgb = rgb[:height, :width]
    elif item.kind == b"iovl":
        rgb = _overlay(pictures, items, item, data, idat)
    elif item.kind in (b"hvc1", b""):
        rgb = pictures.picture(item_id, item)
    else:
        raise ImageReadError(f"a HEIF {item.kind.decode(errors='replace')} image, which is not read here")
    for name, payload in item.props:  # transformations in the order the file associates them
        if name == b"clap":
            rgb = _clean_aperture(rgb, payload)
        elif name == b"irot":
            rgb = np.rot90(rgb, payload[0] & 3)  # anticlockwise quarter turns
        elif name == b"imir":
            rgb = rgb[:, ::-1] if payload[0] & 1 == 0 else rgb[::-1]  # 0: about a vertical axis
    return np.ascontiguousarray(rgb)


def _overlay(pictures: _Pictures, items: dict[int, _Item], item: _Item, data: bytes, idat: bytes) -> np.ndarray:
    """An overlay (``iovl``, as Nokia's cameras write): its canvas in its fill colour, each image it names (a
    coded picture or a grid) drawn over it at its offset, the later over the earlier, cut to the canvas."""
    payload = _payload(item, data, idat)
    wide = 4 if payload[1] & 1 else 2
    fill, (width, height) = struct.unpack(">4H", payload[2:10]), _canvas_size(payload, 10)
    refs = item.refs.get(b"dimg", [])
    if any(items.get(ref, _Item()).kind == b"iovl" for ref in refs):
        raise ImageReadError("a HEIF overlay of overlays")
    layers = [_image(pictures, items, ref, data, idat) for ref in refs]
    deep = any(layer.dtype == np.uint16 for layer in layers)
    canvas = np.empty((height, width, 3), np.uint16 if deep else np.uint8)
    canvas[:] = [value if deep else value >> 8 for value in fill[:3]]
    for k, layer in enumerate(layers):
        at = 10 + 2 * wide + 2 * wide * k
        x, y = struct.unpack(">ii" if wide == 4 else ">hh", payload[at:at + 2 * wide])
        layer = layer.astype(np.uint16) * 257 if deep and layer.dtype == np.uint8 else layer
        top, left, bottom, right = max(y, 0), max(x, 0), min(y + layer.shape[0], height), min(x + layer.shape[1], width)
        if bottom > top and right > left:
            canvas[top:bottom, left:right] = layer[top - y:bottom - y, left - x:right - x, :3]
    return canvas


# Where a derived image's output width and height start in its payload: a grid's after its version, flags and
# rows and columns; an overlay's after its version, flags and four 16-bit fill values
_CANVAS_AT = {b"grid": 4, b"iovl": 10}


def _canvas_size(payload: bytes, at: int) -> tuple[int, int]:
    """(width, height) of a grid or an overlay stated at ``at``: 32-bit fields where its flags say, else 16."""
    wide = 4 if payload[1] & 1 else 2
    return _uint(payload, at, wide), _uint(payload, at + wide, wide)


def _clean_aperture(rgb: np.ndarray, clap: bytes) -> np.ndarray:
    """The part a ``clap`` property shows: a width and height centred at an offset from the picture's centre."""
    wn, wd, hn, hd, xn, xd, yn, yd = struct.unpack(">IIIIiIiI", clap[:32])
    if not (wd and hd and xd and yd):
        return rgb
    width, height = round(Fraction(wn, wd)), round(Fraction(hn, hd))
    left = round(Fraction(xn, xd) + Fraction(rgb.shape[1] - 1, 2) - Fraction(width - 1, 2))
    top = round(Fraction(yn, yd) + Fraction(rgb.shape[0] - 1, 2) - Fraction(height - 1, 2))
    left, top = max(left, 0), max(top, 0)
    return rgb[top:top + height, left:left + width]


def _exif(primary: int, items: dict[int, _Item], data: bytes, idat: bytes) -> bytes | None:
    """The EXIF that describes the primary image, its orientation set upright (the pixels are turned already)."""
    for item in items.values():
        if item.kind == b"Exif" and primary in item.refs.get(b"cdsc", []):
            payload = _payload(item, data, idat)
            tiff = payload[4 + _uint(payload, 0, 4):]
            exif = Image.Exif()
            exif.load(b"Exif\x00\x00" + tiff)
            exif[0x0112] = 1
            return exif.tobytes()
    return None


def _alpha_item(primary: int, items: dict[int, _Item]) -> int | None:
    """The item that is the primary image's alpha plane, or None."""
    for item_id, item in items.items():
        kind = _prop(item, b"auxC")
        if primary in item.refs.get(b"auxl", []) and kind is not None and kind[4:].rstrip(b"\0") in _ALPHA:
            return item_id
    return None


def _coded(item_id: int, items: dict[int, _Item]) -> set[int]:
    """The coded pictures item ``item_id`` is made of: its grid's tiles, an overlay's images', or itself."""
    item = items.get(item_id, _Item())
    if item.kind == b"iovl":  # its images: coded pictures or grids (an overlay of overlays is refused)
        return set().union(*(_coded(ref, items) for ref in item.refs.get(b"dimg", [])
                             if items.get(ref, _Item()).kind != b"iovl"))
    return set(item.refs.get(b"dimg", [])) if item.kind == b"grid" else {item_id}


def size(path: Path) -> tuple[int, int]:
    """(width, height) of ``path``'s primary image as its boxes state it, before any picture is decoded (for a
    decompression-bomb check): its grid's or its own ``ispe``, a quarter turn swapping them."""
    data = path.read_bytes()
    primary, items, idat = _meta(data)
    return _stated_size(items.get(primary), data, idat)


def _stated_size(item: _Item | None, data: bytes, idat: bytes) -> tuple[int, int]:
    if item is None:
        raise ImageReadError("a HEIF file naming no primary image")
    if item.kind in _CANVAS_AT:
        width, height = _canvas_size(_payload(item, data, idat), _CANVAS_AT[item.kind])
    else:
        found = _prop(item, b"ispe")
        width, height = struct.unpack(">II", found[4:12]) if found else (0, 0)
    turned = (_prop(item, b"irot") or b"\0")[0] & 1
    return (height, width) if turned else (width, height)


def read_heif(path: Path, deep: bool = False) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(RGB uint8, or uint16 for a deeper file with ``deep``; alpha in the same type or None; metadata with its
    ``icc_profile`` and ``exif``) of ``path``'s primary image."""
    data = path.read_bytes()
    primary, items, idat = _meta(data)
    width, height = _stated_size(items.get(primary), data, idat)
    if width * height > 2 * (Image.MAX_IMAGE_PIXELS or width * height):  # Pillow's limit for the other formats
        raise ImageReadError(f"too large to decode safely ({width}x{height} pixels)")
    try:
        with av.open(str(path)) as container:
            alpha_id = _alpha_item(primary, items)
            needed = _coded(primary, items) | (_coded(alpha_id, items) if alpha_id is not None else set())
            pictures = _Pictures(container, deep, needed)
            rgb = _image(pictures, items, primary, data, idat)
            alpha = _image(pictures, items, alpha_id, data, idat)[..., 0] if alpha_id is not None else None
    except av.error.FFmpegError as exc:
        raise ImageReadError(f"cannot decode this HEIF file ({exc.strerror})") from None
    colour = _prop(items[primary], b"colr")
    metadata = {"icc_profile": colour[4:] if colour and colour[:4] in (b"prof", b"rICC") else None,
                "exif": _exif(primary, items, data, idat)}
    if alpha is not None and alpha.shape != rgb.shape[:2]:
        alpha = None
    return rgb, alpha, {key: value for key, value in metadata.items() if value}
