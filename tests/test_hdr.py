"""HDR video (PQ/HDR10 and HLG, BT.2020) decoded as SDR BT.709 light (pipeline/io/hdr.py). Before, its signal was
read as if it were SDR: Netflix's HDR test frames (AOMediaCodec/av1-avif) came out grey and washed out, with
half the saturation of their SDR grade, and the output was tagged PQ again. The clips here are made the way an
HDR10 master is (light in nits, BT.2020 primaries, the PQ or HLG signal at 10 bits); a stylizer that hands
frames back makes what comes out the colour path's alone."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pipeline.io import hdr
from pipeline.io.decode import decode_frames, probe
from pipeline.io.images import avif_cicp, read_image
from pipeline.io.scheduling import ordinary_threads
from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from tests.helpers import STYLE_PATH, Identity, run, run_cli
from tests.test_colour import PATCHES, band_means, patches

# Linear BT.709 RGB -> linear BT.2020 RGB (BT.2087): how a master holds SDR colours.
# The patches dimmed to stay under the roll-off's knee, where the SDR rendering is the light itself.
DIM = 0.8
EXPECTED = np.array(PATCHES) * DIM
BT709_TO_2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])


def pq_signal(nits: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084's inverse EOTF: nits -> PQ signal in [0, 1]."""
    m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 4096 * 128, 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    y = np.power(np.clip(nits / 10000.0, 0, 1), m1)
    return np.power((c1 + c2 * y) / (1 + c3 * y), m2)


def hlg_signal(nits: np.ndarray) -> np.ndarray:
    """BT.2100's inverse HLG OOTF (1000-nit display) and OETF: display RGB in nits (..., 3) -> HLG signal."""
    display_luma = np.maximum(nits @ np.array([0.2627, 0.6780, 0.0593]), 1e-9)[..., None] / 1000.0
    scene = nits / 1000.0 / np.power(np.power(display_luma, 1 / 1.2), 0.2)
    a = 0.17883277
    b, c = 1 - 4 * a, 0.5 - a * np.log(4 * a)
    log_part = a * np.log(np.maximum(12 * scene - b, 1e-9)) + c
    return np.where(scene <= 1 / 12, np.sqrt(3 * np.maximum(scene, 0)), log_part)


def hdr_master(sdr: np.ndarray, transfer: int) -> np.ndarray:
    """(H, W, 3) uint16 HDR signal whose SDR rendering is ``sdr`` (uint16 0..65535, below the roll-off's knee):
    BT.1886 light, SDR white at 203 nits, BT.2020 primaries."""
    light = np.power(sdr / 65535.0, 2.4) @ BT709_TO_2020.T * hdr.REFERENCE_WHITE
    signal = pq_signal(light) if transfer == hdr.PQ else hlg_signal(light)
    return np.round(signal * 65535).astype(np.uint16)


def write_hdr_clip(path: Path, image: np.ndarray, transfer: int, frames: int = 3) -> Path:
    """Lossless 10-bit HEVC of ``image`` (16-bit RGB signal), BT.2020 matrix, tagged BT.2020 and ``transfer``."""
    height, width = image.shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx265", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p10le"
        stream.options = {"x265-params": "lossless=1:log-level=error"}
        ctx = stream.codec_context
        ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range = 9, 9, transfer, 1
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb48le")
            frame = frame.reformat(format="yuv444p10le", dst_colorspace=9, dst_color_range=1)
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_the_transfer_functions_give_bt2100_s_numbers():
    nits = hdr.pq_nits(np.array([0.0, 0.5081, 0.5806, 0.7518, 1.0]))
    assert np.allclose(nits, [0, 100, 203, 1000, 10000], rtol=2e-3)  # SMPTE ST 2084's table
    grey = np.full((1, 1, 3), 0.75, np.float32)  # HLG's reference white: 75% signal, 203 nits at 1000 (BT.2408)
    assert abs(float(hdr.hlg_nits(hdr.hlg_scene(grey))[0, 0, 0]) - 203) < 2
    assert np.allclose(hdr.pq_nits(pq_signal(np.array([5.0, 203, 4000]))), [5, 203, 4000], rtol=1e-4)


def test_greys_stay_grey_and_brighter_light_never_comes_out_darker():
    ramp = np.linspace(0, 1, 4097)
    image = np.round(np.repeat(ramp[None, :, None], 3, axis=2) * 65535).astype(np.uint16)
    for transfer in (hdr.PQ, hdr.HLG):
        sdr = hdr.to_sdr(image, transfer, hdr.BT2020)[0].astype(int)
        assert (sdr[:, 0] == sdr[:, 1]).all() and (sdr[:, 1] == sdr[:, 2]).all()
        assert (np.diff(sdr[:, 1]) >= 0).all() and sdr[0, 1] == 0 and sdr[-1, 1] >= 250
    nits = np.array([[[203.0] * 3, [100.0] * 3, [400.0] * 3, [1000.0] * 3, [4000.0] * 3]])
    codes = hdr.to_sdr(np.round(pq_signal(nits) * 65535).astype(np.uint16), hdr.PQ, hdr.BT2020)[0, :, 0].tolist()
    # 100 nits below the knee, at BT.1886's signal for 100 / 203; reference white high, with steps left above it
    # for the highlights up to the 1000-nit peak, where 100% is reached
    assert abs(codes[1] - 190) <= 1 and 215 <= codes[0] < codes[2] - 8 < codes[3] - 8 and codes[3:] == [255, 255], codes
    hlg_white = hdr.to_sdr(np.full((1, 1, 3), round(0.75 * 65535), np.uint16), hdr.HLG, hdr.BT2020)
    assert abs(int(hlg_white[0, 0, 0]) - int(codes[0])) <= 1  # the two formats' reference white agree


@pytest.mark.parametrize("transfer", [hdr.PQ, hdr.HLG], ids=["pq", "hlg"])
def test_an_hdr_clip_decodes_to_its_sdr_colours(tmp_path, transfer):
    sdr = (patches(64, 48) * DIM).astype(np.uint16)
    src = write_hdr_clip(tmp_path / "hdr.mkv", hdr_master(sdr, transfer), transfer)
    info = probe(src)
    assert (info.colour.transfer, info.colour.primaries, info.colour.hdr) == (transfer, 9, True)
    # within 5 levels: a saturated patch's weakest channel is the small difference of two large BT.2020 ones,
    # each to within a 10-bit step of the signal
    image = next(decode_frames(info)).image
    assert np.abs(band_means(image) - EXPECTED).max() < 5
    deep = next(decode_frames(info, deep=True)).image
    assert deep.dtype == np.uint16 and np.abs(band_means(deep) - EXPECTED).max() < 5
    with av.open(str(src)) as container:  # the signal read as SDR (what the path did): far off, and greyer
        naive = next(container.decode(video=0)).to_ndarray(format="rgb24", src_colorspace=9)
    assert np.abs(band_means(naive) - EXPECTED).max() > 30


def test_a_run_on_hdr_writes_sdr_tagged_bt709(tmp_path):
    sdr = (patches(64, 48) * DIM).astype(np.uint16)
    src = write_hdr_clip(tmp_path / "hdr.mp4", hdr_master(sdr, hdr.PQ), hdr.PQ, frames=4)
    opts = VideoOptions(size=64, batch_size=2, parallel=1, encode=EncodeOptions(crf=4, preset="ultrafast"),
                        temporal=TemporalOptions(TemporalMode.OFF))
    summary = run(Identity(), [(src, tmp_path / "out.mp4")], opts)
    assert summary.count("processed") == 1, summary.results
    with av.open(str(tmp_path / "out.mp4")) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range) == (1, 1, 1, 1)
        frames = list(container.decode(video=0))
    assert len(frames) == 4
    assert np.abs(band_means(frames[-1].to_ndarray(format="rgb24")) - EXPECTED).max() < 7  # and 4:2:0


def write_hdr_avif(path: Path, image: np.ndarray, transfer: int, matrix: int = 9) -> Path:
    """A 10-bit AVIF still of ``image`` (16-bit RGB signal) tagged BT.2020 and ``transfer`` in its nclx box, as
    HDR AVIF exporters write it (Pillow's writer states sRGB only); ``matrix`` 10 tags BT.2020's constant-
    luminance matrix (its numbers stay the non-constant one's, the closest FFmpeg has)."""
    height, width = image.shape[:2]
    with av.open(str(path), "w", format="avif") as out:
        stream = out.add_stream("libsvtav1", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p10le"
        stream.options = {"crf": "1", "svtav1-params": "log-level=0"}
        ctx = stream.codec_context
        ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range = matrix, 9, transfer, 1
        frame = av.VideoFrame.from_ndarray(image, format="rgb48le").reformat(
            format="yuv420p10le", dst_colorspace=9, dst_color_range=1)
        frame.pts = 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    ordinary_threads()  # SVT-AV1 as root leaves this thread SCHED_FIFO 99 (pipeline/io/scheduling.py)
    return path


@pytest.mark.parametrize("transfer", [hdr.PQ, hdr.HLG], ids=["pq", "hlg"])
def test_an_hdr_avif_photo_reads_as_its_sdr_colours(tmp_path, transfer):
    """Before: Pillow's 8-bit signal read as sRGB (it reads no nclx box), grey and off by 30 levels and more."""
    sdr = (patches(64, 48) * DIM).astype(np.uint16)
    src = write_hdr_avif(tmp_path / "hdr.avif", hdr_master(sdr, transfer), transfer)
    assert avif_cicp(src) == (9, transfer)
    loaded = read_image(src)
    assert np.abs(band_means(loaded.rgb * 255) - EXPECTED).max() < 6
    signal = np.asarray(Image.open(src).convert("RGB"), dtype=np.float64)  # what Pillow alone gives
    assert np.abs(band_means(signal) - EXPECTED).max() > 30


def test_avifs_libavif_cannot_convert_are_read_by_ffmpeg_or_named_in_one_line(tmp_path, random_decoder_file):
    """Microsoft's 10-bit HDR Chimera frame (AOMediaCodec/av1-avif) is tagged BT.2020 constant luminance, a matrix
    libavif does not convert: Pillow raised RuntimeError ('Conversion from YUV failed'), a traceback that
    ended the folder run. HDR, FFmpeg reads it; an SDR one fails alone, in one line, and the rest are written."""
    src = tmp_path / "in"
    src.mkdir()
    sdr = (patches(64, 48) * DIM).astype(np.uint16)
    write_hdr_avif(src / "hdr_cl.avif", hdr_master(sdr, hdr.PQ), hdr.PQ, matrix=10)
    write_hdr_avif(src / "sdr_cl.avif", sdr, 1, matrix=10)  # BT.709 transfer: Pillow's to read, and it cannot
    Image.fromarray(np.full((32, 48, 3), 90, np.uint8)).save(src / "photo.jpg")
    result = run_cli("folder", src, tmp_path / "out", "--style", STYLE_PATH, "--decoder", random_decoder_file,
                     "--json", "--size", "64")
    assert result.exit_code == 1 and "Traceback" not in result.stderr, result.stderr  # some failed, the rest written
    summary = json.loads(result.stdout)
    failed = [item for item in summary["items"] if item["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["path"].endswith("sdr_cl.avif") and "cannot decode" in failed[0]["reason"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["hdr_cl.avif", "photo.jpg"]
    assert np.abs(band_means(read_image(src / "hdr_cl.avif").rgb * 255) - EXPECTED).max() < 6
