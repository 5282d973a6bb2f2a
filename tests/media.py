"""Real media for the decoding tests, made with PyAV: every container and codec family the project reads, the
files that broke it (H.264 in AVI, packed MPEG-4 B-frames, raw elementary streams), and damaged copies of
real encoded files (cut short, bytes flipped, an AVI header promising more frames than the file holds)."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.videos import moving_frames

_VOP = b"\x00\x00\x01\xb6"  # MPEG-4 Part 2 picture (VOP) start code


def encode(path: Path, codec: str = "libx264", fmt: str | None = None, frames: int = 24, rate: int | Fraction = 24,
           size: tuple[int, int] = (64, 48), b_frames: int | None = None, pix_fmt: str | None = None,
           options: dict | None = None, audio: bool = False) -> Path:
    """Frames of ``tests.videos.moving_frames`` encoded as PyAV writes them (``pts`` 0, 1, ... in 1/rate),
    with an AAC tone as long as the video when ``audio``. libx264 and libx265 use B-frames by default."""
    width, height = size
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = pix_fmt or ("yuv444p" if width % 2 or height % 2 else "yuv420p")
        if b_frames is not None:
            stream.codec_context.max_b_frames = b_frames
        stream.options = options or ({"x265-params": "log-level=error"} if codec == "libx265" else {})
        tone = _add_tone(out) if audio else None
        mux_moving_frames(out, stream, frames)
        if tone is not None:
            write_tone(out, tone, frames / rate)
    return path


def mux_moving_frames(out: av.container.OutputContainer, stream, count: int) -> None:
    """``count`` frames of ``tests.videos.moving_frames`` at the stream's size, pts 0, 1, ..., encoded and
    the encoder drained."""
    for i, image in enumerate(moving_frames(count, stream.width, stream.height)):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = i
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def _add_tone(out: av.container.OutputContainer):
    stream = out.add_stream("aac", rate=44100)
    stream.layout = "mono"
    return stream


def write_tone(out: av.container.OutputContainer, stream, seconds: float, rate: int = 44100,
               chunk: int = 1024) -> None:
    """A mono 440 Hz tone of ``seconds`` into ``stream``, in frames of ``chunk`` samples (Opus wants 960 at 48 kHz)."""
    total = int(seconds * rate)
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(total) / rate)).astype(np.float32)
    for start in range(0, total, chunk):
        frame = av.AudioFrame.from_ndarray(tone[None, start:start + chunk], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def _vop_type(data: bytes) -> int:
    """0 I, 1 P, 2 B, 3 S of the first VOP in ``data``."""
    at = data.find(_VOP)
    return data[at + 4] >> 6


def _n_vop(rate: int, tick: int) -> bytes:
    """A not-coded VOP: the placeholder a packed stream puts in the slot of the B-frame it moved."""
    bits = "01" + "0" + "1" + format(tick % rate, f"0{max(1, (rate - 1).bit_length())}b") + "1" + "0"
    bits += "0" + "1" * (-(len(bits) + 1) % 8)  # stuffing: a zero, then ones to the byte boundary
    return _VOP + bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def packed_mpeg4_avi(path: Path, frames: int = 24, rate: int = 24, size: tuple[int, int] = (64, 48)) -> Path:
    """MPEG-4 Part 2 in AVI with packed B-frames, as DivX 5 and Xvid write it: each P-frame's chunk also carries
    the B-frame decoded after it, the next chunk is a not-coded placeholder, and the stream says so in its
    user data (``DivX503b1393p``). The decoder hands the frames back in display order with stamps permuted."""
    ctx = av.CodecContext.create("mpeg4", "w")
    ctx.width, ctx.height, ctx.pix_fmt = size[0], size[1], "yuv420p"
    ctx.time_base, ctx.framerate, ctx.max_b_frames, ctx.gop_size = Fraction(1, rate), rate, 1, 12
    packets = []
    for i, image in enumerate(moving_frames(frames, *size)):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = i
        packets += [bytes(p) for p in ctx.encode(frame)]
    packets += [bytes(p) for p in ctx.encode(None)]
    chunks: list[bytes] = []
    while packets:
        data = packets.pop(0)
        at = data.find(_VOP)
        if at > 0:  # after the headers a keyframe carries
            data = data[:at] + b"\x00\x00\x01\xb2DivX503b1393p" + data[at:]
        moved = packets.pop(0) if packets and _vop_type(packets[0]) == 2 else b""
        chunks += [data + moved] + ([_n_vop(rate, len(chunks) + 1)] if moved else [])
    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for tick, data in enumerate(chunks):
            packet = av.Packet(data)
            packet.pts = packet.dts = tick
            packet.time_base, packet.stream = Fraction(1, rate), stream
            packet.is_keyframe = _vop_type(data) == 0
            out.mux(packet)
    return path


def x264_avi(path: Path, **kwargs) -> Path:
    """H.264 with B-frames in AVI: what ``av.open("x.avi", "w")`` with libx264 writes."""
    return encode(path, "libx264", "avi", **kwargs)


def raw_stream(path: Path, codec: str = "libx264", **kwargs) -> Path:
    """A raw elementary stream (``.h264`` or ``.hevc``): no container, no timestamps."""
    return encode(path, codec, "h264" if codec == "libx264" else "hevc", **kwargs)


# MPEG-2 start codes: sequence header, extension (its first 4 bits say which)
_SEQUENCE, _EXTENSION = b"\x00\x00\x01\xb3", b"\x00\x00\x01\xb5"


def soft_telecined_m2v(path: Path, frames: int = 24) -> Path:
    """Film frames (24000/1001) in a raw MPEG-2 stream flagged for 3:2 pulldown as a DVD holds them, the way
    DGPulldown flags one: the header states 30000/1001 and an interlaced sequence, and each frame's
    picture coding extension says which field comes first and whether it is shown again (fields 3, 2, 3, 2)."""
    encode(path, "mpeg2video", "mpeg2video", frames=frames, rate=Fraction(24000, 1001), b_frames=0)
    data = bytearray(path.read_bytes())
    for at in _starts(data, _SEQUENCE):  # each GOP repeats it
        data[at + 7] = (data[at + 7] & 0xF0) | 4  # frame_rate_code 4: 30000/1001
    picture = 0
    for at in _starts(data, _EXTENSION):
        kind = data[at + 4] >> 4
        if kind == 1:  # sequence extension: progressive_sequence off
            data[at + 5] &= ~0x08
        elif kind == 8:  # picture coding extension: top_field_first, repeat_first_field
            tff, rff = [(1, 1), (0, 0), (0, 1), (1, 0)][picture % 4]
            data[at + 7] = (data[at + 7] & ~0x82) | (0x80 * tff) | (0x02 * rff)
            picture += 1
    path.write_bytes(bytes(data))
    return path


def _starts(data: bytes, code: bytes) -> list[int]:
    found, at = [], data.find(code)
    while at >= 0:
        found.append(at)
        at = data.find(code, at + 4)
    return found


def gif(path: Path, **kwargs) -> Path:
    return encode(path, "gif", "gif", pix_fmt="rgb8", **kwargs)


def cut(src: Path, dst: Path, fraction: float) -> Path:
    """The first ``fraction`` of ``src``'s bytes: a copy or download that stopped."""
    data = src.read_bytes()
    dst.write_bytes(data[:int(len(data) * fraction)])
    return dst


def flip(src: Path, dst: Path, at: int, count: int = 8) -> Path:
    """``src`` with ``count`` bytes inverted from byte ``at`` on."""
    data = bytearray(src.read_bytes())
    for i in range(at, min(at + count, len(data))):
        data[i] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


def packet_positions(path: Path) -> list[int]:
    """Byte offset in the file of each video packet's data, in file order."""
    with av.open(str(path)) as container:
        return [p.pos for p in container.demux(container.streams.video[0]) if p.size and p.pos is not None]


def promise_more_frames(src: Path, dst: Path, extra: int) -> Path:
    """An AVI whose headers (``avih`` dwTotalFrames, the video ``strh`` dwLength, OpenDML ``dmlh``) promise
    ``extra`` more frames than its index and data hold."""
    data = bytearray(src.read_bytes())
    for tag, offset in ((b"avih", 16), (b"dmlh", 0)):
        at = data.find(tag)
        if at >= 0:
            _add_u32(data, at + 8 + offset, extra)
    at = data.find(b"strh")
    while at >= 0 and data[at + 8:at + 12] != b"vids":
        at = data.find(b"strh", at + 4)
    if at < 0:
        raise ValueError(f"{src}: no video stream header")
    _add_u32(data, at + 8 + 32, extra)
    dst.write_bytes(bytes(data))
    return dst


def fit_riff_size(src: Path, dst: Path) -> Path:
    """An AVI cut short with its RIFF size made to fit what is left, as AVI repair tools rewrite it."""
    data = bytearray(src.read_bytes())
    struct.pack_into("<I", data, 4, len(data) - 8)
    dst.write_bytes(bytes(data))
    return dst


def _add_u32(data: bytearray, at: int, extra: int) -> None:
    (value,) = struct.unpack_from("<I", data, at)
    struct.pack_into("<I", data, at, value + extra)


def damage_metadata(src: Path, dst: Path) -> Path:
    """``src`` (an MP4 PyAV wrote) with its encoder tag no longer UTF-8, as old cameras write Latin-1."""
    data = src.read_bytes()
    at = data.find(b"Lavf")
    if at < 0:
        raise ValueError(f"{src}: no encoder tag")
    dst.write_bytes(data[:at] + b"\xa9" + data[at + 1:])
    return dst


# sRGB's primaries as ICC profiles store them (XYZ, adapted to D50)
_SRGB_D50 = {"r": (0.4360747, 0.2225045, 0.0139322), "g": (0.3850649, 0.7168786, 0.0971045),
             "b": (0.1430804, 0.0606169, 0.7141733)}


def swapped_profile() -> bytes:
    """An ICC v2 display profile whose red is sRGB's green and whose green is sRGB's red (linear curves): a
    colour space no file means by accident, where a pure red pixel is green once converted."""
    def xyz(values) -> bytes:
        return b"XYZ " + bytes(4) + b"".join(struct.pack(">i", round(v * 65536)) for v in values)

    text = b"swapped primaries\0"
    tags = {b"desc": b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67),
            b"wtpt": xyz((0.9642, 1.0, 0.8249)), b"rXYZ": xyz(_SRGB_D50["g"]), b"gXYZ": xyz(_SRGB_D50["r"]),
            b"bXYZ": xyz(_SRGB_D50["b"]), b"rTRC": b"curv" + bytes(8), b"gTRC": b"curv" + bytes(8),
            b"bTRC": b"curv" + bytes(8), b"cprt": b"text" + bytes(4) + b"none\0"}
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for signature, data in tags.items():
        data += bytes(-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I4sI4s4s4s", size, b"lcms", 0x02100000, b"mntr", b"RGB ", b"XYZ ") + bytes(12) + b"acsp"
              + bytes(28) + b"".join(struct.pack(">i", round(v * 65536)) for v in (0.9642, 1.0, 0.8249)))
    return header + bytes(128 - len(header)) + struct.pack(">I", len(tags)) + table + body


def with_icc_box(jp2: bytes, icc: bytes) -> bytes:
    """A JP2 file (as Pillow writes it, its colour box naming sRGB) with an ICC profile as its colour box, as
    Kakadu and Photoshop write one: method 2, then the profile."""
    from pipeline.io.boxes import boxes

    out = b""
    for kind, body, stop in boxes(jp2):
        if kind != b"jp2h":
            out += jp2[body - 8:stop]
            continue
        inner = b"".join(jp2[start - 8:end] if sub != b"colr" else
                         struct.pack(">I4s", 8 + 3 + len(icc), b"colr") + bytes([2, 0, 0]) + icc
                         for sub, start, end in boxes(jp2, body, stop))
        out += struct.pack(">I4s", 8 + len(inner), b"jp2h") + inner
    return out


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full(kind: bytes, version: int, payload: bytes, flags: int = 0) -> bytes:
    return _box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def _hevc_picture(image: np.ndarray) -> tuple[bytes, bytes]:
    """(``hvcC`` box, coded picture as MP4 and HEIF store it: NAL units, each sized) of one RGB or grey picture,
    encoded by x265. Written through Matroska, whose codec private data is the ``hvcC`` record (MP4, with one
    picture, failed here with "patches welcome" once the test process had loaded OpenCV and torch)."""
    import io

    data = io.BytesIO()
    grey = image.ndim == 2
    with av.open(data, "w", format="matroska") as out:
        stream = out.add_stream("libx265", rate=1)
        stream.height, stream.width = image.shape[:2]
        stream.pix_fmt = "gray" if grey else "yuv420p"
        stream.options = {"crf": "4", "x265-params": "log-level=error:pools=none:frame-threads=1"}
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="gray" if grey else "rgb24")
        frame.pts = 0
        packets = [*stream.encode(frame), *stream.encode(None)]
        for packet in packets:  # x265 states no real decode time for an encode of one frame (pipeline/io/
            packet.pts = packet.dts = 0  # encode.py): once that memory was not zero, Matroska refused it
        out.mux(packets)
    with av.open(io.BytesIO(data.getvalue())) as written:
        record = bytes(written.streams.video[0].codec_context.extradata)
        picture = b"".join(bytes(p) for p in written.demux(video=0) if p.size)
    return _box(b"hvcC", record), picture


def heif(path: Path, image: np.ndarray, tile: int = 64, rotate: int = 0, mirror: int | None = None,
         icc: bytes | None = None, exif: bytes | None = None, alpha: np.ndarray | None = None,
         clap: tuple[int, int] | None = None, overlay: tuple[int, int, int, int, tuple] | None = None) -> Path:
    """A HEIF photo as phones write one (ISO/IEC 23008-12): ``image`` (RGB) cut into a grid of ``tile``-sided HEVC
    tiles, the grid cropped to the image's size, turned ``rotate`` quarter turns anticlockwise and mirrored
    (``mirror``: 0 about a vertical axis), its ICC profile, EXIF and alpha as phones store them; ``clap``: a
    centred clean aperture (width, height); ``overlay`` (canvas width, height, the grid's x and y offsets, a
    16-bit RGBA fill), the primary image an overlay of the grid, as Nokia's cameras write. FFmpeg writes no
    HEIF: the boxes are written here."""
    height, width = image.shape[:2]
    rows, cols = -(-height // tile), -(-width // tile)
    padded = np.pad(image, ((0, rows * tile - height), (0, cols * tile - width), (0, 0)), mode="edge")
    tiles = [_hevc_picture(padded[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile])
             for r in range(rows) for c in range(cols)]
    grid, ids = 100, list(range(1, len(tiles) + 1))
    coded = dict(zip(ids, (picture for _, picture in tiles)))
    props = [hvcc for hvcc, _ in tiles] + [_full(b"ispe", 0, struct.pack(">II", tile, tile)),
                                          _full(b"ispe", 0, struct.pack(">II", width, height))]
    tile_ispe, grid_ispe = len(tiles) + 1, len(tiles) + 2
    grid_props = [grid_ispe]
    if clap is not None:
        props.append(_box(b"clap", struct.pack(">IIIIiIiI", clap[0], 1, clap[1], 1, 0, 1, 0, 1)))
        grid_props.append(len(props))
    if rotate:
        props.append(_box(b"irot", bytes([rotate])))
        grid_props.append(len(props))
    if mirror is not None:
        props.append(_box(b"imir", bytes([mirror])))
        grid_props.append(len(props))
    if icc is not None:
        props.append(_box(b"colr", b"prof" + icc))
        grid_props.append(len(props))
    items = [(i, b"hvc1") for i in ids] + [(grid, b"grid")]
    associations = {i: [i, tile_ispe] for i in ids}
    associations[grid] = grid_props
    refs = [_box(b"dimg", struct.pack(">HH", grid, len(ids)) + b"".join(struct.pack(">H", i) for i in ids))]
    if alpha is not None:
        hvcc, picture = _hevc_picture(np.pad(alpha, ((0, alpha.shape[0] % 2), (0, alpha.shape[1] % 2)), mode="edge"))
        props += [hvcc, _full(b"ispe", 0, struct.pack(">II", width, height)),
                  _full(b"auxC", 0, b"urn:mpeg:hevc:2015:auxid:1\0")]
        items.append((200, b"hvc1"))
        associations[200] = [len(props) - 2, len(props) - 1, len(props)] + grid_props[1:]
        coded[200] = picture
        refs.append(_box(b"auxl", struct.pack(">HHH", 200, 1, grid)))
    if exif is not None:
        items.append((300, b"Exif"))
        coded[300] = struct.pack(">I", 0) + exif
        refs.append(_box(b"cdsc", struct.pack(">HHH", 300, 1, grid)))
    grid_data = struct.pack(">BBBBHH", 0, 0, rows - 1, cols - 1, width, height)
    primary, overlay_data = grid, b""
    if overlay is not None:
        canvas_w, canvas_h, x, y, fill = overlay
        overlay_data = struct.pack(">BB4HHHhh", 0, 0, *fill, canvas_w, canvas_h, x, y)
        primary = 400
        items.append((primary, b"iovl"))
        refs.append(_box(b"dimg", struct.pack(">HHH", primary, 1, grid)))

    def meta(at: int) -> bytes:
        infe = b"".join(_full(b"infe", 2, struct.pack(">HH4s", i, 0, kind) + b"\0") for i, kind in items)
        locations, offset = [], at
        for i, kind in items:
            if kind == b"grid":
                locations.append(struct.pack(">HHHHII", i, 1, 0, 1, 0, len(grid_data)))
            elif kind == b"iovl":
                locations.append(struct.pack(">HHHHII", i, 1, 0, 1, len(grid_data), len(overlay_data)))
            else:
                locations.append(struct.pack(">HHHHII", i, 0, 0, 1, offset, len(coded[i])))
                offset += len(coded[i])
        ipma = b"".join(struct.pack(">HB", i, len(a)) + bytes(a) for i, a in associations.items())
        return _full(b"meta", 0, _full(b"hdlr", 0, bytes(4) + b"pict" + bytes(12) + b"\0")
                     + _full(b"pitm", 0, struct.pack(">H", primary))
                     + _full(b"iinf", 0, struct.pack(">H", len(items)) + infe)
                     + _full(b"iloc", 1, bytes([0x44, 0x00]) + struct.pack(">H", len(items)) + b"".join(locations))
                     + _full(b"iref", 0, b"".join(refs))
                     + _box(b"iprp", _box(b"ipco", b"".join(props))
                            + _full(b"ipma", 0, struct.pack(">I", len(associations)) + ipma))
                     + _box(b"idat", grid_data + overlay_data))

    path.parent.mkdir(parents=True, exist_ok=True)
    ftyp = _box(b"ftyp", b"heic" + bytes(4) + b"mif1heic")
    head = len(ftyp) + len(meta(0)) + 8
    payload = b"".join(coded[i] for i, kind in items if kind not in (b"grid", b"iovl"))
    path.write_bytes(ftyp + meta(head) + _box(b"mdat", payload))
    return path


def psd(path: Path, image: np.ndarray) -> Path:
    """A flat Photoshop document (RGB or RGBA, 8 bits, raw): its merged image, which is what Pillow reads."""
    height, width, channels = image.shape
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, channels, height, width, 8, 3)  # version 1, RGB mode
    planes = b"".join(image[..., c].tobytes() for c in range(channels))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0) + planes)
    return path


def animation(path: Path, durations: list[int], size: tuple[int, int], loop: int, **options) -> Path:
    """An animation of ``moving_frames`` written by Pillow in ``path``'s format, each frame shown its own
    ``durations`` (ms), looping ``loop`` times (0: forever)."""
    from PIL import Image

    frames = [Image.fromarray(f) for f in moving_frames(len(durations), *size)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=loop, **options)
    return path


def played(path: Path) -> tuple[list[int], int | None, list[np.ndarray]]:
    """What a viewer shows of an animated image: each frame's duration (ms), the loop count, the frames (RGB)."""
    from PIL import Image

    durations, images = [], []
    with Image.open(path) as image:
        for k in range(getattr(image, "n_frames", 1)):  # a JPEG has one, and no n_frames
            image.seek(k)
            image.load()
            durations.append(round(image.info.get("duration") or 0))
            images.append(np.asarray(image.convert("RGB")))
        return durations, image.info.get("loop"), images


def _gif_picture(image: np.ndarray) -> tuple[bytes, bytes, bytes]:
    """(colour table, image descriptor, LZW data with its sub-blocks) of ``image`` as Pillow writes it alone."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).convert("P", palette=Image.Palette.ADAPTIVE).save(buffer, "GIF", interlace=False)
    data = buffer.getvalue()
    table = 3 << ((data[10] & 7) + 1)
    at = 13 + table
    while data[at] == 0x21:  # extensions before the picture: label, then sub-blocks to a zero
        at += 2
        while data[at]:
            at += data[at] + 1
        at += 1
    end = at + 11
    while data[end]:
        end += data[end] + 1
    return data[13:13 + table], data[at:at + 10], data[at + 10:end + 1]


def gif_without_palettes(path: Path, frames: list[np.ndarray], delay_cs: int) -> Path:
    """A GIF whose first frame has its own colour table and whose later frames have none, and no global one
    either (Pillow's ``no_palette_after_rgb.gif``): FFmpeg decodes the first frame alone, each later one fails."""
    height, width = frames[0].shape[:2]
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0))
    for k, frame in enumerate(frames):
        table, descriptor, pixels = _gif_picture(frame)
        out += b"\x21\xf9\x04\x00" + struct.pack("<H", delay_cs) + b"\x00\x00"
        local = 0x80 | ((len(table) // 3).bit_length() - 2)  # a local colour table of Pillow's global one's size
        out += descriptor[:9] + (bytes([local]) + table if k == 0 else b"\x00") + pixels
    path.write_bytes(bytes(out + b"\x3b"))
    return path


def tiff_without_a_size(path: Path, pages: list[np.ndarray], page: int) -> Path:
    """A multi-page TIFF whose ``page``-th IFD lost its ImageWidth tag (as fuzzers' files do): Pillow raises
    ``TypeError("Missing dimensions")`` for it, counting the pages too."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    images = [Image.fromarray(p) for p in pages]
    images[0].save(buffer, "TIFF", save_all=True, append_images=images[1:])
    data = bytearray(buffer.getvalue())
    at = struct.unpack("<I", data[4:8])[0]  # little-endian, as Pillow writes: the first IFD
    for _ in range(page):
        count = struct.unpack("<H", data[at:at + 2])[0]
        at = struct.unpack("<I", data[at + 2 + 12 * count:at + 6 + 12 * count])[0]  # the next IFD
    for entry in range(struct.unpack("<H", data[at:at + 2])[0]):
        tag = at + 2 + 12 * entry
        if struct.unpack("<H", data[tag:tag + 2])[0] == 256:  # ImageWidth
            data[tag:tag + 2] = struct.pack("<H", 65000)  # a private tag number: no width any more
    path.write_bytes(bytes(data))
    return path


def apng_without_frame_data(path: Path, frames: list[np.ndarray]) -> Path:
    """An APNG whose frames after the first lost their data (``fdAT`` chunks), as Pillow's ``chunk_no_fdat.png``:
    its animation is broken, its first frame (the PNG's own picture) whole."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    images = [Image.fromarray(f) for f in frames]
    images[0].save(buffer, "PNG", save_all=True, append_images=images[1:], duration=100)
    data, kept, at = buffer.getvalue(), [], 8
    while at < len(data):
        length = struct.unpack(">I", data[at:at + 4])[0]
        if data[at + 4:at + 8] != b"fdAT":
            kept.append(data[at:at + 12 + length])
        at += 12 + length
    path.write_bytes(data[:8] + b"".join(kept))
    return path
