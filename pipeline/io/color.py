"""Colour as the source says: a frame's YUV -> RGB with the stream's own matrix and range, and RGB -> YUV for
the encoder with the matrix the output is tagged with, so colours do not shift between the two.

An untagged stream gets what players assume for it: BT.709 for HD (720 lines or 1280 columns and up), BT.601
for SD. Sources deeper than 8 bits decode to 16-bit RGB, so a 10-bit gradient does not band on its way in.
HDR sources (PQ, HLG) come out as SDR BT.709 light (``pipeline/io/hdr.py``) and their output is tagged so.
Numbers are FFmpeg's own (``AVColorSpace``, ``AVColorPrimaries``, ``AVColorTransferCharacteristic``,
``AVColorRange``), as PyAV's codec contexts and frames take them.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from pipeline.io import hdr

# AVColorSpace values -> the matrix libswscale converts with (its SWS_CS_* numbers, as PyAV's ``Colorspace``):
# BT.470BG (5) and SMPTE 170M (6) are both BT.601; BT.2020 constant luminance (10) has no swscale matrix of
# its own, and its non-constant one is the closest.
_SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
BT709, UNSPECIFIED, BT601 = 1, 2, 6  # AVCOL_SPC_* (and the same numbers as primaries and transfer, SMPTE 170M)
LIMITED, FULL = 1, 2  # AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG
# Kr and Kb of each matrix (ITU-R BT.601, BT.709, BT.2020, SMPTE 240M, FCC), for the device-side conversion.
_KR_KB = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 7: (0.212, 0.087), 9: (0.2627, 0.0593)}


@dataclass(frozen=True)
class Colour:
    """What a stream's YUV means: matrix (``AVColorSpace``), range, primaries and transfer; ``bits`` per
    component of the decoded pixel format (more than 8: decoded to 16-bit RGB)."""

    matrix: int = BT601
    range: int = LIMITED
    primaries: int = BT601
    transfer: int = BT601
    bits: int = 8
    yuv: bool = True  # False: the source is RGB or palette (no matrix)

    @property
    def sws_matrix(self) -> int:
        return _SWS_MATRIX.get(self.matrix, 5)

    @property
    def deep(self) -> bool:
        return self.bits > 8

    @property
    def hdr(self) -> bool:
        """PQ or HLG: decoded as SDR light (``pipeline/io/hdr.py``)."""
        return self.yuv and self.transfer in hdr.TRANSFERS

    @property
    def kr_kb(self) -> tuple[float, float]:
        return _KR_KB[self.sws_matrix]


def _hd(width: int, height: int) -> bool:
    return height >= 720 or width >= 1280


def source_colour(frame: av.VideoFrame) -> Colour:
    """The colour of a decoded frame's stream: its tags, or the HD/SD defaults where it has none."""
    fmt = frame.format
    bits = max(c.bits for c in fmt.components)
    default = BT709 if _hd(frame.width, frame.height) else BT601
    matrix = frame.colorspace if frame.colorspace in _SWS_MATRIX else default
    full = frame.color_range == FULL or fmt.name.startswith("yuvj")
    primaries = frame.color_primaries if frame.color_primaries not in (0, UNSPECIFIED) else (
        BT709 if matrix == BT709 else BT601)
    transfer = frame.color_trc if frame.color_trc not in (0, UNSPECIFIED) else (BT709 if matrix == BT709 else BT601)
    yuv = not (fmt.is_rgb or fmt.name in ("pal8", "gray", "gray10le", "gray12le", "gray16le", "ya8", "ya16le"))
    return Colour(matrix, FULL if full else LIMITED, primaries, transfer, bits, yuv)


def to_rgb(frame: av.VideoFrame, colour: Colour | None, deep: bool = False,
           size: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W, 3) RGB of ``frame``: uint8, or with ``deep`` and a source deeper than 8 bits uint16 (0..65535);
    scaled to ``size`` (width, height) in the same pass (bicubic, FFmpeg's default) where one is given. An HDR
    source's signal is read at 16 bits and turned into SDR light."""
    wide = deep and colour is not None and colour.deep
    scale = {} if size is None else {"width": size[0], "height": size[1], "interpolation": "BICUBIC"}
    fmt = "rgb48le" if wide or (colour is not None and colour.hdr) else "rgb24"
    if colour is None or not colour.yuv:
        return frame.to_ndarray(format=fmt, **scale)
    rgb = frame.to_ndarray(format=fmt, src_colorspace=colour.sws_matrix, src_color_range=colour.range,
                           dst_color_range=FULL, **scale)
    return hdr.to_sdr(rgb, colour.transfer, colour.primaries, wide) if colour.hdr else rgb


def output_colour(source: Colour | None, pix_fmt: str, out_hw: tuple[int, int]) -> Colour | None:
    """How the output's YUV is encoded and tagged: the source's matrix, primaries and transfer (RGB sources:
    the HD/SD default of the output size; HDR sources: BT.709, as their frames were made SDR), limited range;
    None for an RGB or palette ``pix_fmt``."""
    fmt = av.VideoFormat(pix_fmt)
    if fmt.is_rgb or pix_fmt in ("pal8", "rgb8", "bgr8", "gray"):
        return None
    bits = max(c.bits for c in fmt.components)
    if source is None or not source.yuv or source.hdr:
        tag = BT709 if _hd(out_hw[1], out_hw[0]) or (source is not None and source.hdr) else BT601
        return Colour(tag, LIMITED, tag, tag, bits)
    return Colour(source.matrix, LIMITED, source.primaries, source.transfer, bits)


def tag_stream(ctx: av.codec.context.CodecContext, colour: Colour | None) -> None:
    """Write ``colour``'s tags into an encoder's context (MP4's ``colr`` box, the bitstream's VUI)."""
    if colour is not None:
        ctx.colorspace, ctx.color_range = colour.matrix, colour.range
        ctx.color_primaries, ctx.color_trc = colour.primaries, colour.transfer


def from_rgb(image: np.ndarray, pix_fmt: str, colour: Colour | None) -> av.VideoFrame:
    """An encoder's frame from (H, W, 3) RGB, uint8 or uint16, converted with ``colour``'s matrix and range."""
    frame = av.VideoFrame.from_ndarray(image, format="rgb48le" if image.dtype == np.uint16 else "rgb24")
    if colour is None:
        return frame.reformat(format=pix_fmt)
    out = frame.reformat(format=pix_fmt, dst_colorspace=colour.sws_matrix, dst_color_range=colour.range)
    out.colorspace, out.color_range = colour.matrix, colour.range
    return out
