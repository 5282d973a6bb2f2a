"""Transparency kept where the output can hold it (pipeline/io/alpha.py): the RGB is stylized, the source's
alpha put back; outputs that cannot hold it drop it with one line. The stylizer hands frames back."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pipeline.io.decode import probe
from pipeline.options import TemporalMode, TemporalOptions, VideoOptions
from tests.helpers import Identity, run
from tests.videos import moving_frames

W, H, FRAMES = 48, 32, 4
OPTS = VideoOptions(size=0, batch_size=2, parallel=1, temporal=TemporalOptions(TemporalMode.OFF))


def rgba_frames() -> list[np.ndarray]:
    """Moving frames whose alpha ramps from 0 (left) to 255 (right), shifted a column a frame."""
    ramp = np.linspace(0, 255, W)[None, :].repeat(H, 0)
    return [np.dstack([image, np.roll(ramp, k, axis=1).astype(np.uint8)]) for k, image in
            enumerate(moving_frames(FRAMES, W, H))]


def write_video(path: Path, codec: str, pix_fmt: str, options: dict | None = None) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        stream.options = options or {}
        for i, rgba in enumerate(rgba_frames()):
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format=pix_fmt)
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def png_sequence(folder: Path) -> Path:
    folder.mkdir()
    for i, rgba in enumerate(rgba_frames()):
        Image.fromarray(rgba).save(folder / f"f{i:03d}.png")
    return folder / "f%03d.png"


SOURCES = {
    "vp9-webm": lambda d: write_video(d / "in.webm", "libvpx-vp9", "yuva420p", {"crf": "10", "b": "0"}),
    "prores4444-mov": lambda d: write_video(d / "in.mov", "prores_ks", "yuva444p10le", {"profile": "4444"}),
    "png-sequence": lambda d: png_sequence(d / "frames"),
}


@pytest.mark.parametrize("source, out_name", [("vp9-webm", "out.webp"), ("prores4444-mov", "out.apng"),
                                              ("png-sequence", "out.apng")])
def test_alpha_comes_back_in_an_animated_output(tmp_path, source, out_name):
    src = SOURCES[source](tmp_path)
    assert probe(src).alpha
    summary = run(Identity(), [(src, tmp_path / out_name)], OPTS)
    assert summary.count("processed") == 1, summary.results
    with Image.open(tmp_path / out_name) as out:
        assert out.n_frames == FRAMES
        for k, want in enumerate(rgba_frames()):
            out.seek(k)
            got = np.asarray(out.convert("RGBA")).astype(int)
            assert np.abs(got[..., 3] - want[..., 3]).mean() < 3  # the source's alpha, not opaque
            opaque = want[..., 3] > 128  # colour under transparency is free to differ
            assert np.abs(got[..., :3] - want[..., :3])[opaque].mean() < 6


def test_an_output_without_alpha_drops_it_with_one_line(tmp_path, caplog):
    src = SOURCES["vp9-webm"](tmp_path)
    with caplog.at_level(logging.INFO, logger="pipeline"):
        summary = run(Identity(), [(src, tmp_path / "out.mp4")], OPTS)
    assert summary.count("processed") == 1
    lines = [r.getMessage() for r in caplog.records if "transparency" in r.getMessage()]
    assert len(lines) == 1 and str(src) in lines[0] and ".webp" in lines[0]
