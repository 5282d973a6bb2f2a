"""Colour as the source says (pipeline/io/color.py): YUV -> RGB with the stream's own matrix and range,
10-bit sources without banding, outputs encoded and tagged with the matrix they were converted with. The
video runs use a stylizer that hands frames back unchanged, so what comes out measures the colour path alone."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from pipeline.io.color import BT601, BT709, Colour, from_rgb
from pipeline.io.decode import decode_frames, probe
from pipeline.ops.colorspace import rgb_to_yuv420p
from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from tests.helpers import Identity, run

# Saturated patches, where BT.601 and BT.709 disagree by up to 20 levels.
PATCHES = [(200, 40, 40), (40, 180, 60), (50, 60, 210), (220, 200, 60)]
# AVColorSpace / primaries / transfer numbers: 1 BT.709, 6 SMPTE 170M (BT.601), None: untagged.
SWS = {1: 1, 6: 5, None: 5}


def patches(width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint16 RGB: four vertical bands of ``PATCHES``."""
    image = np.zeros((height, width, 3), np.uint16)
    for k, colour in enumerate(PATCHES):
        image[:, k * width // 4:(k + 1) * width // 4] = np.array(colour) * 257
    return image


def write_clip(path: Path, image: np.ndarray, codec: str, pix_fmt: str, matrix: int | None, frames: int = 4,
               options: dict | None = None, full: bool = False) -> Path:
    """``frames`` copies of ``image`` converted with ``matrix`` (untagged and converted as BT.601 for None)
    in limited range (``full``: full range), the stream tagged with both."""
    colour_range = 2 if full else 1
    height, width = image.shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = options or {"crf": "8"}
        if matrix is not None:
            ctx = stream.codec_context
            ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range = matrix, matrix, matrix, colour_range
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb48le")
            frame = frame.reformat(format=pix_fmt, dst_colorspace=SWS[matrix], dst_color_range=colour_range)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def band_means(image: np.ndarray) -> np.ndarray:
    """Mean RGB (0..255) of the middle of each band, away from the chroma-subsampled edges."""
    height, width = image.shape[:2]
    scale = 257.0 if image.dtype == np.uint16 else 1.0
    quarter = width // 4
    return np.array([image[2:height - 2, k * quarter + quarter // 4: (k + 1) * quarter - quarter // 4]
                     .reshape(-1, 3).mean(0) / scale for k in range(4)])


def test_a_10bit_hevc_clip_tagged_bt709_decodes_with_its_matrix_and_without_banding(tmp_path):
    ramp = (np.arange(64 * 48 * 3).reshape(48, 64, 3) * 7 % 1024).astype(np.uint16) * 64  # 10-bit levels, 16-bit
    src = write_clip(tmp_path / "ramp.mkv", ramp, "libx265", "yuv444p10le", 1,
                     options={"x265-params": "lossless=1:log-level=error"})
    info = probe(src)
    assert info.colour == Colour(BT709, 1, BT709, BT709, 10)
    deep = next(decode_frames(info, deep=True)).image
    assert deep.dtype == np.uint16 and len(np.unique(deep[..., 1])) > 600  # 8 bits would give 256 at most
    assert np.abs(deep.astype(float) - ramp).mean() < 0.6 * 257  # the right matrix: within a level of the source
    shallow = next(decode_frames(info)).image
    assert shallow.dtype == np.uint8 and np.abs(shallow * 257.0 - ramp).mean() < 0.8 * 257


@pytest.mark.parametrize("case", ["hevc10-bt709", "sd-bt601", "sd-bt601-full-range", "hd-untagged", "to-10bit"])
def test_a_run_keeps_the_colour_and_tags_the_output_with_its_matrix(tmp_path, case):
    codec, pix_fmt, matrix, size = {
        "hevc10-bt709": ("libx265", "yuv420p10le", 1, (64, 48)),
        "sd-bt601": ("libx264", "yuv420p", 6, (64, 48)),
        "sd-bt601-full-range": ("libx264", "yuv420p", 6, (64, 48)),  # read as limited, it would be off by 10+
        "hd-untagged": ("libx264", "yuv420p", None, (1280, 720)),  # untagged HD: players assume BT.709
        "to-10bit": ("libx264", "yuv420p", 1, (64, 48)),
    }[case]
    image = patches(*size)
    options = {"crf": "8", "x265-params": "log-level=error"} if codec == "libx265" else None
    if matrix is None:  # written the way an untagged HD camera file is: BT.709 numbers, no tags
        src = write_clip(tmp_path / "in.mp4", image, codec, pix_fmt, 1, options=options)
        with av.open(str(src)) as inp, av.open(str(tmp_path / "untagged.mp4"), "w") as out:
            template = inp.streams.video[0]
            stream = out.add_stream_from_template(template)
            stream.codec_context.colorspace = stream.codec_context.color_primaries = 2
            stream.codec_context.color_trc = 2
            for packet in inp.demux(template):
                if packet.size:
                    packet.stream = stream
                    out.mux(packet)
        src = tmp_path / "untagged.mp4"
        src_info = probe(src)
    else:
        src = write_clip(tmp_path / "in.mkv", image, codec, pix_fmt, matrix, options=options, full="full" in case)
        src_info = probe(src)
        assert src_info.colour.range == (2 if "full" in case else 1)
    out_fmt = "yuv420p10le" if case == "to-10bit" else "yuv420p"
    opts = VideoOptions(size=64, batch_size=2, parallel=1,
                        encode=EncodeOptions(crf=4, pix_fmt=out_fmt, preset="ultrafast"),
                        temporal=TemporalOptions(TemporalMode.OFF))
    summary = run(Identity(), [(src, tmp_path / "out.mp4")], opts)
    assert summary.count("processed") == 1, summary.results
    expected_matrix = matrix or BT709
    with av.open(str(tmp_path / "out.mp4")) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range) == (expected_matrix,) * 3 + (1,)
        assert ctx.pix_fmt == out_fmt
        frames = list(container.decode(video=0))
    assert len(frames) == 4 and src_info.colour.matrix == expected_matrix
    # PyAV converts with the frame's own tags (swscale's 8-bit YUV to 48-bit RGB is off by 1%: 24-bit there)
    got = frames[-1].to_ndarray(format="rgb48le" if out_fmt.endswith("10le") else "rgb24")
    assert np.abs(band_means(got) - np.array(PATCHES)).max() < 4  # BT.601 for BT.709 is off by up to 20
    other = {BT709: 5, BT601: 1}[expected_matrix]
    wrong = frames[-1].to_ndarray(format="rgb24", src_colorspace=other)
    assert np.abs(band_means(wrong) - np.array(PATCHES)).max() > 8  # the check sees a matrix mix-up


def test_the_device_conversion_uses_the_matrix_swscale_does(tmp_path):
    """``rgb_to_yuv420p`` (the CUDA path's conversion) gives what libswscale gives for the same matrix."""
    image = patches(64, 48)
    batch = torch.from_numpy((image // 257).astype(np.float32)).permute(2, 0, 1)[None] / 255.0
    for matrix, kr_kb in ((BT709, (0.2126, 0.0722)), (BT601, (0.299, 0.114))):
        colour = Colour(matrix, 1, matrix, matrix)
        assert colour.kr_kb == kr_kb
        ours = rgb_to_yuv420p(batch, colour.kr_kb)[0].numpy().astype(int)
        frame = from_rgb((image // 257).astype(np.uint8), "yuv420p", colour)
        theirs = frame.to_ndarray().astype(int)  # the same packed I420 layout
        assert np.abs(ours[:48] - theirs[:48]).max() <= 1  # luma
        assert np.abs(ours[48:] - theirs[48:]).max() <= 2  # chroma (box vs swscale's filter at band edges)
        assert np.median(np.abs(ours[48:] - theirs[48:])) == 0
