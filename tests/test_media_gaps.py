"""The last media gaps: alpha kept in WebM (VP9 with alpha) and MOV (ProRes 4444) outputs; AVI, faststart MP4
and MPEG program streams cut short keep what decodes (through Ray: tests/test_distributed.py); 16-bit PNG
sequences read at 16 bits; --start and --duration with an animated output. The stylizer hands frames back, so
pixels measure the path alone."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from pipeline.errors import VideoError
from pipeline.io.decode import decode_frames, frame_timestamps, probe
from pipeline.jobs.video import Media
from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from tests import media
from tests.helpers import Identity, failing_sink, run
from tests.videos import moving_frames

W, H, FRAMES, RATE = 48, 32, 8, 8  # noisy() clips hold 2 * FRAMES
OPTS = VideoOptions(size=0, batch_size=4, parallel=1, segment_seconds=0.5, encode=EncodeOptions(preset="ultrafast"),
                    temporal=TemporalOptions(TemporalMode.OFF))


# Alpha into video containers

def rgba_frames() -> list[np.ndarray]:
    """Moving frames whose alpha ramps from 0 (left) to 255 (right), shifted a column a frame."""
    ramp = np.linspace(0, 255, W)[None, :].repeat(H, 0)
    return [np.dstack([image, np.roll(ramp, 3 * k, axis=1).astype(np.uint8)]) for k, image in
            enumerate(moving_frames(FRAMES, W, H))]


def alpha_video(path: Path, codec: str, pix_fmt: str, options: dict, rotation: int = 0) -> Path:
    """``rgba_frames`` with an AAC tone (Opus in WebM) as long as the video (shown turned by ``rotation``)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=RATE)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        stream.options = options
        if rotation:
            stream.set_display_rotation(rotation)
        tone = out.add_stream("libopus" if path.suffix == ".webm" else "aac", rate=48000)
        tone.layout = "mono"
        for i, rgba in enumerate(rgba_frames()):
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format=pix_fmt)
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        media.write_tone(out, tone, FRAMES / RATE, rate=48000, chunk=960)
    return path


def read_rgba(path: Path) -> tuple[list[float], list[np.ndarray]]:
    """Frame times (seconds) and RGBA frames; VP8/VP9 in WebM through libvpx, which reads the alpha."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.metadata.get("alpha_mode") == "1":
            decoder = av.CodecContext.create("libvpx-vp9", "r")
            frames = [f for p in container.demux(stream) for f in decoder.decode(p)]
        else:
            frames = list(container.decode(stream))
        return [float(f.pts * stream.time_base) for f in frames], [f.to_ndarray(format="rgba") for f in frames]


def audio_packets(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [(p.pts, bytes(p)) for p in container.demux(stream) if p.size]


@pytest.fixture(scope="module")
def alpha_sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("alpha")
    return {"webm": alpha_video(root / "in.webm", "libvpx-vp9", "yuva420p", {"crf": "10", "b": "0"}),
            "mov": alpha_video(root / "in.mov", "prores_ks", "yuva444p10le", {"profile": "4444"})}


@pytest.mark.parametrize("kind, codec, pix_fmt", [("webm", "vp9", "yuva420p"), ("mov", "prores", "yuva444p12le")])
def test_alpha_comes_back_in_webm_and_mov_with_the_times_and_audio_of_the_plain_path(alpha_sources, tmp_path,
                                                                                      kind, codec, pix_fmt):
    src = alpha_sources[kind]
    assert probe(src).alpha
    out, plain = tmp_path / f"out.{kind}", tmp_path / f"plain.{kind}"
    assert run(Identity(), [(src, out)], OPTS).count("processed") == 1
    # the same job without alpha: the source's frames without their alpha
    opaque = alpha_video(tmp_path / f"opaque.{kind}", "libx264" if kind == "mov" else "libvpx-vp9", "yuv420p",
                         {"crf": "10", "b": "0"} if kind == "webm" else {})
    assert not probe(opaque).alpha
    assert run(Identity(), [(opaque, plain)], OPTS).count("processed") == 1
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == codec
        assert stream.codec_context.pix_fmt == pix_fmt if kind == "mov" else stream.metadata["alpha_mode"] == "1"
    times, frames = read_rgba(out)
    plain_times, _ = read_rgba(plain)
    assert times == plain_times and len(frames) == FRAMES
    assert audio_packets(out) == audio_packets(plain)
    for got, want in zip(frames, rgba_frames()):
        assert np.abs(got[..., 3].astype(int) - want[..., 3]).mean() < 3  # the source's alpha, not opaque
        opaque_px = want[..., 3] > 128  # colour under transparency is free to differ
        assert np.abs(got[..., :3].astype(int) - want[..., :3])[opaque_px].mean() < 8
    assert not list(tmp_path.glob(".out*"))  # no work folder or temporary file left


def test_a_rotated_source_s_alpha_turns_with_its_picture(tmp_path):
    """A phone clip shown turned: the alpha plane is turned as the picture is, so each pixel keeps its own."""
    src = alpha_video(tmp_path / "turned.mov", "prores_ks", "yuva444p10le", {"profile": "4444"}, rotation=90)
    out = tmp_path / "out.webm"
    assert run(Identity(), [(src, out)], OPTS).count("processed") == 1
    _, frames = read_rgba(out)
    assert len(frames) == FRAMES and frames[0].shape[:2] == (W, H)
    for got, want in zip(frames, rgba_frames()):
        k = min((1, 3), key=lambda k: np.abs(got[..., :3].astype(int) - np.rot90(want[..., :3], k)).mean())
        assert np.abs(got[..., 3].astype(int) - np.rot90(want[..., 3], k)).mean() < 3
        assert np.abs(got[..., 3].astype(int) - np.rot90(want[..., 3], 4 - k)).mean() > 30  # not turned the other way


def test_an_alpha_output_is_written_whole_or_not_at_all_and_resumes(alpha_sources, tmp_path):
    src, dst = alpha_sources["webm"], tmp_path / "out.webm"
    with pytest.raises(KeyboardInterrupt):  # while the second segment is written
        run(Identity(), [(src, dst)], OPTS, Media(sink=failing_sink(6, KeyboardInterrupt())))
    assert not dst.exists() and len(list((tmp_path / ".out.webm.parts").glob("segment_??????.mp4"))) == 1
    assert run(Identity(), [(src, dst)], replace(OPTS, resume=True)).count("processed") == 1
    times, frames = read_rgba(dst)
    assert times == [k / RATE for k in range(FRAMES)]
    assert max(np.abs(got[..., 3].astype(int) - want[..., 3]).mean() for got, want in zip(frames, rgba_frames())) < 3
    assert [p.name for p in tmp_path.iterdir()] == ["out.webm"]


def test_explicit_options_win_over_alpha_with_one_line(alpha_sources, tmp_path, caplog):
    opts = replace(OPTS, encode=EncodeOptions(preset="ultrafast", pix_fmt="yuv444p"))
    with caplog.at_level(logging.INFO, logger="pipeline"):
        assert run(Identity(), [(alpha_sources["mov"], tmp_path / "out.mov")], opts).count("processed") == 1
    lines = [r.getMessage() for r in caplog.records if "transparency" in r.getMessage()]
    assert len(lines) == 1 and "--pix-fmt yuv444p" in lines[0]
    with av.open(str(tmp_path / "out.mov")) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def animation_mov(path: Path, alphas: list[np.ndarray]) -> Path:
    """A QuickTime Animation (qtrle) MOV in ARGB, as motion graphics tools export "with alpha", each frame's alpha
    ``alphas``."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("qtrle", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = W, H, "argb"
        for i, (image, alpha) in enumerate(zip(moving_frames(FRAMES, W, H), alphas)):
            frame = av.VideoFrame.from_ndarray(np.dstack([image, alpha]), format="rgba").reformat(format="argb")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_an_alpha_channel_opaque_in_every_frame_is_not_kept(tmp_path, caplog):
    """An Animation MOV whose alpha is 255 throughout came back as ProRes 4444 with alpha in a .mov (and VP9 with
    alpha in a .webm): a file many times the size, for transparency it never had. Now the output's own codec,
    said in one line; one transparent pixel in the last frame keeps the alpha."""
    solid = [np.full((H, W), 255, np.uint8) for _ in range(FRAMES)]
    src = animation_mov(tmp_path / "solid.mov", solid)
    assert probe(src).alpha
    with caplog.at_level(logging.INFO, logger="pipeline"):
        for name in ("out.mov", "out.webm"):
            assert run(Identity(), [(src, tmp_path / name)], OPTS).count("processed") == 1
    said = [r.getMessage() for r in caplog.records if "opaque" in r.getMessage()]
    assert said == [f"{src}: its alpha channel is opaque in every frame: {name} is written without one"
                    for name in ("out.mov", "out.webm")]
    with av.open(str(tmp_path / "out.mov")) as mov, av.open(str(tmp_path / "out.webm")) as webm:
        assert (mov.streams.video[0].codec_context.name, mov.streams.video[0].codec_context.pix_fmt) == \
            ("h264", "yuv420p")
        assert webm.streams.video[0].metadata.get("alpha_mode") != "1" and mov.streams.video[0].frames == FRAMES
    solid[-1] = solid[-1].copy()
    solid[-1][0, 0] = 0
    src = animation_mov(tmp_path / "hole.mov", solid)
    assert run(Identity(), [(src, tmp_path / "hole_out.mov")], OPTS).count("processed") == 1
    with av.open(str(tmp_path / "hole_out.mov")) as mov:
        assert mov.streams.video[0].codec_context.name == "prores"


# Files cut short that players play up to the cut

def noisy(path: Path, codec: str = "libx264", fmt: str | None = None, frames: int = 2 * FRAMES, audio: bool = False,
          options: dict | None = None) -> Path:
    """Noise frames (they do not compress, so the frames fill the file and a cut lands among them)."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        stream = out.add_stream(codec, rate=RATE)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        if codec != "libx264":
            stream.bit_rate = 4_000_000  # near the same bytes a frame
        tone = media._add_tone(out) if audio else None
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if tone is not None:
            media.write_tone(out, tone, frames / RATE)
    return path


CUTS = {"avi": lambda d: noisy(d / "in.avi", fmt="avi"),
        "avi-mpeg4": lambda d: noisy(d / "in4.avi", "mpeg4", "avi"),
        "mp4-faststart": lambda d: noisy(d / "in.mp4", audio=True, options={"movflags": "faststart"}),
        "mpg": lambda d: noisy(d / "in.mpg", "mpeg2video", "mpeg")}
REASONS = {"avi": "before its AVI chunks do", "avi-mpeg4": "before its AVI chunks do",
           "mp4-faststart": "its index lists lie past the end of the file",
           "mpg": "before its last program stream packet does"}


@pytest.fixture(scope="module")
def cut_clips(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("cuts")
    return {name: (whole := make(root), media.cut(whole, root / f"cut_{whole.name}", 0.45))
            for name, make in CUTS.items()}


@pytest.mark.parametrize("name", list(CUTS))
def test_a_cut_avi_mp4_or_mpg_decodes_up_to_the_cut_and_says_so(cut_clips, name):
    whole, cut = cut_clips[name]
    stops = []
    assert len(list(decode_frames(probe(whole), stops=stops))) == FRAMES * 2 and not stops
    info = probe(cut)
    frames = list(decode_frames(info, stops=stops))
    assert 3 <= len(frames) < FRAMES * 2
    assert len(stops) == 1 and REASONS[name] in str(stops[0])
    assert stops[0].at_s == pytest.approx(float(frames[-1].pts * info.time_base) + 1 / RATE)


@pytest.mark.parametrize("name, parallel", [("avi", 1), ("mp4-faststart", 2)])
def test_a_run_on_a_cut_file_keeps_what_decoded_and_strict_fails(cut_clips, tmp_path, caplog, name, parallel):
    _, cut = cut_clips[name]
    stops = []
    count = len(list(decode_frames(probe(cut), stops=stops)))
    opts = replace(OPTS, parallel=parallel, segment_seconds=0.25)
    out = tmp_path / "out.mkv"
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        summary = run(Identity(), [(cut, out)], opts)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(cut) in warnings[0] and REASONS[name] in warnings[0]
    assert summary.to_dict()["items"][0]["stopped_at_s"] == pytest.approx(stops[0].at_s, abs=1e-3)
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == count
    summary = run(Identity(), [(cut, tmp_path / "strict.mkv")], replace(opts, strict=True))
    assert summary.to_dict()["items"][0]["status"] == "failed" and not (tmp_path / "strict.mkv").exists()


def test_an_mp4_cut_before_its_index_is_one_clear_line(tmp_path):
    cut = media.cut(noisy(tmp_path / "in.mp4"), tmp_path / "cut.mp4", 0.45)  # the index is at the end
    with pytest.raises(VideoError, match="^truncated: the file stops before the end of its index") as caught:
        probe(cut)
    assert "\n" not in str(caught.value)


# 16-bit PNG sequences

def test_a_16_bit_png_sequence_reaches_a_10_bit_output_without_banding(tmp_path):
    import cv2

    folder = tmp_path / "frames"
    folder.mkdir()
    ramp = np.linspace(20000, 22000, 64)  # 2000 steps of 65535: 8 levels at 8 bits, 31 at 10 bits
    for k in range(4):
        grey = np.repeat(ramp[None, :], 16, axis=0).astype(np.uint16)
        cv2.imwrite(str(folder / f"f{k:03d}.png"), np.dstack([grey, grey, grey]))
    info = probe(folder / "f%03d.png")
    assert info.colour.deep and next(iter(decode_frames(info, deep=True))).image.dtype == np.uint16
    opts = replace(OPTS, encode=EncodeOptions(preset="ultrafast", crf=0, pix_fmt="yuv420p10le"))
    assert run(Identity(), [(folder / "f%03d.png", tmp_path / "out.mkv")], opts).count("processed") == 1
    with av.open(str(tmp_path / "out.mkv")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 4 and frames[0].format.name == "yuv420p10le"
    luma = np.frombuffer(frames[0].planes[0], np.uint16).reshape(16, -1)[8, :64]
    assert len(np.unique(luma)) >= 20  # 8-bit frames would give 8 or 9 levels
    assert np.all(np.diff(luma.astype(int)) >= 0)  # a ramp, still


def test_a_lane_that_starts_past_the_cut_ends_there(cut_clips, tmp_path):
    """The cut goes through frame 8, which the index still lists: three lanes of one 4-frame segment each, the
    third starting at that frame. The frames before it make the output, and the stop is where they end."""
    whole, _ = cut_clips["avi"]
    cut = media.cut(whole, tmp_path / "cut.avi", (media.packet_positions(whole)[FRAMES] + 3) / whole.stat().st_size)
    opts = replace(OPTS, parallel=3, segment_seconds=0.5)
    summary = run(Identity(), [(cut, tmp_path / "out.mp4")], opts)
    item = summary.to_dict()["items"][0]
    assert item["status"] == "processed" and item["stopped_at_s"] == pytest.approx(FRAMES / RATE)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == FRAMES


def test_start_puts_the_alpha_of_the_frames_it_keeps_back(alpha_sources, tmp_path):
    opts = replace(OPTS, start=0.3)  # between frames 2 and 3
    assert run(Identity(), [(alpha_sources["mov"], tmp_path / "out.mov")], opts).count("processed") == 1
    times, frames = read_rgba(tmp_path / "out.mov")
    assert times == [k / RATE for k in range(FRAMES - 3)]
    for got, want in zip(frames, rgba_frames()[3:]):
        assert np.abs(got[..., 3].astype(int) - want[..., 3]).mean() < 3


# --start with an animated output

DURATIONS = [100, 200, 50, 300, 100, 70]  # ms: starts at 0, 100, 300, 350, 650, 750; ends at 820


@pytest.mark.parametrize("start, duration, shown", [(0.2, None, [50, 300, 100, 70]),  # from inside frame 1
                                                    (0.2, 0.5, [50, 300, 50]),  # to inside frame 4
                                                    (0.0, 0.4, [100, 200, 50, 50])])  # to inside frame 3
def test_start_and_duration_with_an_animated_output_keep_each_frame_s_duration(tmp_path, start, duration, shown):
    images = [Image.fromarray(f) for f in moving_frames(len(DURATIONS), 32, 24)]
    src = tmp_path / "in.gif"
    images[0].save(src, save_all=True, append_images=images[1:], duration=DURATIONS, loop=0)
    opts = replace(OPTS, start=start, duration=duration)
    assert run(Identity(), [(src, tmp_path / "out.gif")], opts).count("processed") == 1
    with Image.open(tmp_path / "out.gif") as out:
        durations = []
        for k in range(out.n_frames):
            out.seek(k)
            durations.append(out.info["duration"])
    assert durations == shown


def png_sequence(folder: Path) -> Path:
    folder.mkdir()
    for i, rgba in enumerate(rgba_frames()):
        Image.fromarray(rgba).save(folder / f"f{i:03d}.png")
    return folder / "f%03d.png"


def transparent_gif(path: Path) -> Path:
    """``rgba_frames`` with the alpha made binary, as GIF holds it."""
    frames = [Image.fromarray(np.dstack([f[..., :3], np.where(f[..., 3] > 127, 255, 0).astype(np.uint8)]))
              for f in rgba_frames()]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=1000 // RATE, loop=0, disposal=2)
    return path


@pytest.mark.parametrize("source, out_name", [("png", "out.webm"), ("gif", "out.mov")])
def test_png_sequences_and_transparent_gifs_keep_their_alpha_in_video(tmp_path, source, out_name):
    src = png_sequence(tmp_path / "frames") if source == "png" else transparent_gif(tmp_path / "in.gif")
    opts = replace(OPTS, fps=RATE)
    info = probe(src, RATE)
    assert info.alpha
    assert run(Identity(), [(src, tmp_path / out_name)], opts).count("processed") == 1
    times, frames = read_rgba(tmp_path / out_name)
    assert times == pytest.approx([float(t * info.time_base) for t in frame_timestamps(info)], abs=1e-3)
    for got, want in zip(frames, rgba_frames()):
        want_alpha = want[..., 3] if source == "png" else np.where(want[..., 3] > 127, 255, 0)
        assert np.abs(got[..., 3].astype(int) - want_alpha).mean() < 4
