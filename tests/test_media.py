"""Decoding and encoding on real media of every family the project reads and writes (tests/media.py makes
them with PyAV): frame counts, presentation times and pixels against what PyAV itself reads from the file,
round trips through segments into every output suffix, and damaged files failing in one line."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.errors import JobError, VideoError
from pipeline.io.video import (OUTPUT_EXTENSIONS, VIDEO_EXTENSIONS, EncodeOptions, SegmentWriter, Timing,
                               check_output, codec_for_container, decode_frames, even_size, frame_timestamps,
                               join_segments, probe)
from pipeline.options import TemporalMode, TemporalOptions, VideoOptions
from tests import media
from tests.helpers import Identity, run, run_cli, save_rgb
from tests.videos import make_video

FRAMES = 24


@dataclass
class Reading:
    """What PyAV's own decode gives: frames in decoder order, their raw pts, and the times a player shows:
    the stamps sorted; in AVI, which stores none, the packets' slots (dts: FFmpeg's pts there assume a
    decoder delay of a frame); in a raw elementary stream, which stores none either (its stamps are the
    parser's guesses), frame k at k/rate, the rate its headers state (the demuxer's own is always 25)."""

    images: list[np.ndarray]
    raw_pts: list[int | None]
    times: list[Fraction]
    time_base: Fraction
    rate: Fraction


def read(path: Path) -> Reading:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        tb, rate = Fraction(stream.time_base), Fraction(stream.guessed_rate)
        avi = container.format.name == "avi"
        raw = bool(container.format.flags & av.format.Flags.no_timestamps.value)
    raw_pts = [f.pts for f in frames]
    if avi:
        with av.open(str(path)) as container:
            slots = [p.dts for p in container.demux(container.streams.video[0]) if p.size]
        times = sorted(Fraction(s) * tb for s in slots)[:len(frames)]
    elif raw or all(p is None for p in raw_pts):
        times = [Fraction(k) / rate for k in range(len(raw_pts))]
    else:
        times = sorted(Fraction(p) * tb for p in raw_pts)
    return Reading([f.to_ndarray(format="rgb24") for f in frames], raw_pts, times, tb, rate)


def in_order(pts: list[int | None]) -> bool:
    return all(a is not None and b is not None and a < b for a, b in zip(pts, pts[1:]))


# family: (file name, builder, timing, PyAV's own pts come out in order)
INPUTS = {
    "mp4-h264-bframes": ("in.mp4", lambda p: media.encode(p), Timing.STREAM, True),
    "mov-h264-bframes": ("in.mov", lambda p: media.encode(p), Timing.STREAM, True),
    "mkv-hevc-bframes": ("in.mkv", lambda p: media.encode(p, "libx265"), Timing.STREAM, True),
    "webm-vp9": ("in.webm", lambda p: media.encode(p, "libvpx-vp9"), Timing.STREAM, True),
    "ts-h264-bframes": ("in.ts", lambda p: media.encode(p, fmt="mpegts"), Timing.STREAM, True),
    "gif": ("in.gif", media.gif, Timing.STREAM, True),
    "mp4-1x1": ("in.mp4", lambda p: media.encode(p, size=(1, 1)), Timing.STREAM, True),
    "mp4-2x3": ("in.mp4", lambda p: media.encode(p, size=(2, 3)), Timing.STREAM, True),
    "avi-h264-bframes": ("in.avi", media.x264_avi, Timing.ORDER, False),
    "avi-mpeg4-packed-bframes": ("in.avi", media.packed_mpeg4_avi, Timing.ORDER, False),
    "avi-mpeg4-bframes": ("in.avi", lambda p: media.encode(p, "mpeg4", b_frames=2), Timing.ORDER, True),
    "raw-h264": ("in.h264", media.raw_stream, Timing.RATE, False),
    "raw-hevc": ("in.hevc", lambda p: media.raw_stream(p, "libx265"), Timing.RATE, False),
    # what a folder of older or other videos holds (the walk took none of these before)
    "3gp-mpeg4": ("in.3gp", lambda p: media.encode(p, "mpeg4", "3gp"), Timing.STREAM, True),
    "f4v-h264-bframes": ("in.f4v", lambda p: media.encode(p, fmt="f4v"), Timing.STREAM, True),
    "flv-sorenson": ("in.flv", lambda p: media.encode(p, "flv", "flv"), Timing.STREAM, True),
    "wmv-wmv2": ("in.wmv", lambda p: media.encode(p, "wmv2", "asf"), Timing.STREAM, True),
    "ogv-vp8": ("in.ogv", lambda p: media.encode(p, "libvpx", "ogg"), Timing.STREAM, True),
    "mxf-mpeg2": ("in.mxf", lambda p: media.encode(p, "mpeg2video", "mxf"), Timing.STREAM, True),
    "m2v-mpeg2-bframes": ("in.m2v", lambda p: media.encode(p, "mpeg2video", "mpeg2video", b_frames=2), Timing.RATE,
                          True),
    # a raw MPEG-1 stream (wxWidgets' splash sample): the parser's stamps come out of the decoder permuted
    "mpg-raw-mpeg1-bframes": ("in.mpg", lambda p: media.encode(p, "mpeg1video", "mpeg1video", b_frames=2),
                              Timing.RATE, False),
    "y4m-raw": ("in.y4m", lambda p: media.encode(p, "rawvideo", "yuv4mpegpipe"), Timing.STREAM, True),
    # suffixes the walk left out though FFmpeg reads them: RealMedia (old downloads), camcorders' MPEG-PS
    # (.mod, .tod) and HDV transport streams (.m2t), DVD-VR (.vro), Windows Media Center (.wtv), Flash (.swf),
    # NUT, IVF test streams, raw MPEG-1 (.m1v), QuickTime's old .qt, stereo Matroska (.mk3d), Motion JPEG 2000
    "rm-rv20": ("in.rm", lambda p: media.encode(p, "rv20", "rm"), Timing.STREAM, True),
    "rmvb-rv10": ("in.rmvb", lambda p: media.encode(p, "rv10", "rm"), Timing.STREAM, True),
    "mod-mpeg2-bframes": ("in.mod", lambda p: media.encode(p, "mpeg2video", "vob", b_frames=2), Timing.STREAM, True),
    "vro-mpeg2-bframes": ("in.vro", lambda p: media.encode(p, "mpeg2video", "dvd", b_frames=2), Timing.STREAM, True),
    "m2t-h264-bframes": ("in.m2t", lambda p: media.encode(p, fmt="mpegts"), Timing.STREAM, True),
    "wtv-mpeg2-bframes": ("in.wtv", lambda p: media.encode(p, "mpeg2video", "wtv", b_frames=2), Timing.STREAM,
                          True),
    "swf-sorenson": ("in.swf", lambda p: media.encode(p, "flv", "swf"), Timing.STREAM, True),
    "nut-mpeg4-bframes": ("in.nut", lambda p: media.encode(p, "mpeg4", "nut", b_frames=2), Timing.STREAM, True),
    "ivf-vp9": ("in.ivf", lambda p: media.encode(p, "libvpx-vp9", "ivf"), Timing.STREAM, True),
    "m1v-raw-mpeg1-bframes": ("in.m1v", lambda p: media.encode(p, "mpeg1video", "mpeg1video", b_frames=2),
                              Timing.RATE, False),
    "qt-h264-bframes": ("in.qt", lambda p: media.encode(p, fmt="mov"), Timing.STREAM, True),
    "mk3d-h264-bframes": ("in.mk3d", lambda p: media.encode(p, fmt="matroska"), Timing.STREAM, True),
    "mj2-jpeg2000": ("in.mj2", lambda p: media.encode(p, "jpeg2000", "mov"), Timing.STREAM, True),  # archives'
}


@pytest.fixture(scope="module", params=sorted(INPUTS))
def source(request, tmp_path_factory) -> tuple[str, Path]:
    name, build, _, _ = INPUTS[request.param]
    return request.param, build(tmp_path_factory.mktemp(request.param) / name)


# Suffixes the walk takes for a family's container under another name
SAME_AS = {".m4v": ".mp4", ".mpeg": ".mod", ".vob": ".mod", ".tod": ".mod", ".264": ".h264", ".h265": ".hevc",
           ".265": ".hevc", ".3g2": ".3gp", ".asf": ".wmv", ".divx": ".avi", ".m2ts": ".ts", ".mts": ".ts"}
# ... and those whose files are made and read in another test file
TESTED_ELSEWHERE = {".apng": "tests/test_animated.py", ".dv": "tests/test_timecode.py", ".m3u8": "tests/test_playlists.py"}


def test_the_walk_takes_each_family_and_each_suffix_it_takes_is_tested():
    """A folder of videos is walked for these suffixes: RealMedia, camcorders' .mod/.tod and .m2t, .wtv and
    the rest were left out without a word, though FFmpeg reads them."""
    families = {Path(name).suffix for name, *_ in INPUTS.values()}
    assert families <= VIDEO_EXTENSIONS
    assert {SAME_AS.get(suffix, suffix) for suffix in VIDEO_EXTENSIONS} - families == set(TESTED_ELSEWHERE)


def test_frames_come_in_display_order_with_the_times_a_player_shows(source):
    family, path = source
    _, _, timing, pyav_in_order = INPUTS[family]
    info, ref = probe(path), read(path)
    assert info.timing == timing
    assert info.rate == (25 if family == "gif" else 24)  # written at 24; a GIF's delays are in 1/100 s
    assert in_order(ref.raw_pts) == pyav_in_order  # the families that broke the pipeline really are broken
    frames = list(decode_frames(info))
    assert len(frames) == len(ref.images) == FRAMES
    assert [f.index for f in frames] == list(range(FRAMES))
    assert [f.pts * info.time_base for f in frames] == ref.times
    assert in_order([f.pts for f in frames])
    assert all(np.array_equal(f.image, image) for f, image in zip(frames, ref.images))
    assert frame_timestamps(info) == [f.pts for f in frames]
    assert info.frames in (0, FRAMES)


def test_a_lane_starting_at_frame_k_gets_the_frames_of_a_decode_from_the_start(source):
    _, path = source
    info = probe(path)
    timestamps = frame_timestamps(info)
    whole = list(decode_frames(info))
    for k in (1, 13):
        part = list(decode_frames(info, first_index=k, timestamps=timestamps))
        assert [(f.index, f.pts) for f in part] == [(f.index, f.pts) for f in whole[k:]]
        assert all(np.array_equal(a.image, b.image) for a, b in zip(part, whole[k:]))
    start = float(whole[10].pts * info.time_base) - info.origin_s  # --start counts from the first frame
    assert [f.pts for f in decode_frames(info, start_s=start, max_frames=5)] == [f.pts for f in whole[10:15]]


def render(src: Path, out: Path, opts: EncodeOptions = EncodeOptions(preset="ultrafast"), seg_len: int = 10) -> None:
    """What a job does with the frames, less the networks: segments of ``seg_len`` frames, then the join."""
    info = probe(src)
    opts = codec_for_container(opts, out)
    check_output(out, opts, info.audio_codec)
    height, width = even_size(info.height, info.width, opts.pix_fmt)
    segments, writer = [], None
    for frame in decode_frames(info):
        if frame.index % seg_len == 0:
            if writer is not None:
                writer.close()
            segments.append(out.parent / f"segment_{len(segments):06d}.mp4")
            writer = SegmentWriter(segments[-1], (height, width), info.rate, info.time_base, opts)
        image = np.pad(frame.image, ((0, height - info.height), (0, width - info.width), (0, 0)), mode="edge")
        writer.write(image, frame.pts)
    writer.close()
    join_segments(segments, info, out, opts)


def assert_same_times(out: Path, src_times: list[Fraction]) -> Reading:
    """``out`` has as many frames as the source, each within one tick of the output's time base."""
    got = read(out)
    assert len(got.times) == len(src_times)
    assert max(abs(a - b) for a, b in zip(got.times, src_times)) <= got.time_base
    return got


def test_a_round_trip_through_segments_keeps_count_and_times(source, tmp_path):
    _, path = source
    render(path, tmp_path / "out.mp4")
    assert_same_times(tmp_path / "out.mp4", read(path).times)


@pytest.mark.parametrize("suffix", sorted(OUTPUT_EXTENSIONS))
def test_every_output_suffix_keeps_count_times_and_audio(tmp_path, suffix):
    src = media.encode(tmp_path / "in.mp4", audio=True)  # H.264 with B-frames, AAC
    out = tmp_path / f"out{suffix}"
    render(src, out)
    got = assert_same_times(out, read(src).times)
    assert in_order(got.raw_pts)  # a reader with no repair sees the times too (AVI: no B-frames)
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == ("opus" if suffix == ".webm" else "aac")
        assert container.streams.video[0].codec_context.name == ("vp9" if suffix == ".webm" else "h264")


@pytest.mark.parametrize("suffix", sorted(OUTPUT_EXTENSIONS))  # AVI: on its grid of 1/rate, gaps kept
def test_variable_frame_timing_survives_every_output(tmp_path, suffix):
    stamps = [0, 1, 2, 5, 6, 9, 15, 16, 17, 30, 31, 32]
    src = make_video(tmp_path / "in.mp4", rate=24, audio=None, pts=stamps, time_base=Fraction(1, 48))
    render(src, tmp_path / f"out{suffix}", seg_len=5)
    assert_same_times(tmp_path / f"out{suffix}", [Fraction(s, 48) for s in stamps])


@pytest.mark.parametrize("name", ["out.flv", "out.h264", "out.ts", "out"])  # .gif: an animated image
def test_an_output_suffix_that_cannot_be_written_is_refused_in_one_line(name):
    with pytest.raises(JobError) as caught:
        check_output(Path(name), EncodeOptions())
    assert "\n" not in str(caught.value) and ".mp4" in str(caught.value)


def test_a_codec_the_container_cannot_hold_is_refused_before_any_work():
    with pytest.raises(JobError, match="libx265.*webm"):
        check_output(Path("out.webm"), EncodeOptions(codec="libx265"))
    with pytest.raises(VideoError, match="--audio copy: avi cannot hold aac"):
        check_output(Path("out.avi"), EncodeOptions(audio="copy"), "aac")
    for suffix in OUTPUT_EXTENSIONS:
        check_output(Path(f"out{suffix}"), codec_for_container(EncodeOptions(), Path(f"out{suffix}")))


def one_line_failure(path: Path) -> str:
    """The VideoError that probing or decoding ``path`` ends in (any other exception fails the test)."""
    with pytest.raises(VideoError) as caught:
        list(decode_frames(probe(path)))
    assert "\n" not in str(caught.value)
    return str(caught.value)


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.95])
@pytest.mark.parametrize("index_first", [False, True])
def test_an_mp4_cut_short_keeps_what_decodes_or_is_one_clear_error(tmp_path, fraction, index_first):
    """Cut after its whole index (faststart), the frames the file still holds decode, with a stop saying the
    index lists more; cut before the end of its index, nothing can be read: one line."""
    src = make_video(tmp_path / "in.mp4", frames=FRAMES, audio=None, faststart=index_first)
    cut = media.cut(src, tmp_path / "cut.mp4", fraction)
    if index_first and fraction > 0.5:  # the index is whole and lists frames the file no longer holds
        stops = []
        assert 0 < len(list(decode_frames(probe(cut), stops=stops))) < FRAMES
        assert len(stops) == 1 and "its index lists lie past the end of the file" in str(stops[0])
        return
    assert one_line_failure(cut).startswith("truncated: ")


@pytest.mark.parametrize("family", ["mp4-h264-bframes", "avi-h264-bframes"])
def test_bytes_flipped_inside_a_frame_leave_it_out_or_fail_in_one_line_when_strict(tmp_path, family):
    """Decoding goes on past the damaged frame (tests/test_cut_short.py); --strict stops there in one line."""
    name, build, _, _ = INPUTS[family]
    src = build(tmp_path / name)
    flipped = media.flip(src, tmp_path / f"flipped{src.suffix}", media.packet_positions(src)[8])
    assert FRAMES - 3 <= len(list(decode_frames(probe(flipped)))) < FRAMES
    with pytest.raises(VideoError) as caught:
        list(decode_frames(probe(flipped), skip_damaged=False))
    assert str(caught.value).startswith("truncated or corrupt: decoding failed after") and "\n" not in str(caught.value)


@pytest.mark.parametrize("family", ["avi-h264-bframes", "avi-mpeg4-packed-bframes"])
def test_an_avi_header_promising_more_frames_than_it_holds(tmp_path, family):
    name, build, _, _ = INPUTS[family]
    src = media.promise_more_frames(build(tmp_path / name), tmp_path / "more.avi", 10)
    info = probe(src)
    assert info.frames == FRAMES + 10
    assert len(list(decode_frames(info))) == FRAMES  # the count is a hint: the frames there are, no error


def cut_inside(src: Path, dst: Path, k: int) -> Path:
    """``src`` cut a few bytes into frame ``k``'s data."""
    return media.cut(src, dst, (media.packet_positions(src)[k] + 3) / src.stat().st_size)


@pytest.mark.parametrize("frames", [FRAMES, 240])  # 240: longer than probing reads
def test_an_avi_cut_short_keeps_the_whole_frames_before_the_cut(tmp_path, frames):
    src = media.x264_avi(tmp_path / "in.avi", frames=frames, size=(32, 24))
    for k in (2, frames - 2):
        stops = []
        assert len(list(decode_frames(probe(cut_inside(src, tmp_path / "cut.avi", k)), stops=stops))) == k
        assert len(stops) == 1
        assert re.fullmatch("the file ends [0-9]+ bytes before its AVI chunks do", str(stops[0]))
    fitted = media.fit_riff_size(cut_inside(src, tmp_path / "cut.avi", frames - 2), tmp_path / "fitted.avi")
    assert 0 < len(list(decode_frames(probe(fitted)))) < frames  # the chunks fit: the frames there are



def test_files_cut_short_without_a_frame_count_decode_what_they_hold(tmp_path):
    for src in (media.encode(tmp_path / "in.mkv"), media.encode(tmp_path / "in.ts", fmt="mpegts")):
        info = probe(cut_inside(src, tmp_path / f"cut{src.suffix}", FRAMES - 2))
        frames = list(decode_frames(info))
        assert 0 < len(frames) < FRAMES and in_order([f.pts for f in frames])
        assert {f.pts * info.time_base for f in frames} <= set(read(src).times)  # less a B-frame cut off
    raw = media.cut(media.raw_stream(tmp_path / "in.h264"), tmp_path / "cut.h264", 0.9)
    info = probe(raw)  # a raw stream lists nothing: its packets are counted
    assert 0 < len(list(decode_frames(info))) <= info.frames < FRAMES
    assert "truncated or corrupt" in one_line_failure(media.cut(raw, tmp_path / "short.h264", 0.5))
    assert "truncated or corrupt" in one_line_failure(media.cut(raw, tmp_path / "short.h264", 0.5))


def test_metadata_that_is_not_utf8_does_not_make_a_file_unreadable(tmp_path):
    src = media.damage_metadata(media.encode(tmp_path / "in.mp4"), tmp_path / "latin1.mp4")
    with pytest.raises(UnicodeDecodeError):
        av.open(str(src))  # PyAV's default
    assert len(list(decode_frames(probe(src)))) == FRAMES


@pytest.fixture
def style(tmp_path) -> Path:
    return save_rgb(tmp_path / "style.png", 64, 64)


def test_cli_h264_in_avi_to_mp4(tmp_path, random_decoder_file, style):
    src = media.x264_avi(tmp_path / "in.avi")
    result = run_cli("video", src, tmp_path / "out.mp4", "--style", style, "--decoder", random_decoder_file,
                     "--size", "64")
    assert result.exit_code == 0, result.output
    assert read(tmp_path / "out.mp4").times == read(src).times
    assert not list(tmp_path.glob(".out.mp4*"))  # no work folder left


@pytest.mark.parametrize("out_name", ["out.mp4", "out.mov", "out.mkv", "out.webm", "out.avi"])
def test_each_container_states_the_source_rate_and_lasts_as_long_as_its_frames(tmp_path, out_name):
    """What players and editors read before a frame: the rate (Matroska's default frame duration was a tick
    of the segments' time base, 1/12288 s, read as 12288 frames/s) and the length (AVI's, 21 s for 1 s)."""
    src = media.encode(tmp_path / "in.mp4", frames=30, rate=Fraction(30000, 1001), audio=True)
    opts = VideoOptions(size=0, batch_size=4, parallel=1, segment_seconds=0.5,
                        temporal=TemporalOptions(TemporalMode.OFF), encode=EncodeOptions(preset="ultrafast"))
    assert run(Identity(), [(src, tmp_path / out_name)], opts).results[0].status == "processed"
    with av.open(str(tmp_path / out_name)) as out:
        video = out.streams.video[0]
        assert video.average_rate == Fraction(30000, 1001) and video.frames in (0, 30)
        assert abs(out.duration / av.time_base - 30 / (30000 / 1001)) < 0.05


def test_cli_mp4_to_avi(tmp_path, random_decoder_file, style):
    src = media.encode(tmp_path / "in.mp4", audio=True)
    result = run_cli("video", src, tmp_path / "out.avi", "--style", style, "--decoder", random_decoder_file,
                     "--size", "64")
    assert result.exit_code == 0, result.output
    got = assert_same_times(tmp_path / "out.avi", read(src).times)
    assert in_order(got.raw_pts)
    with av.open(str(tmp_path / "out.avi")) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        # as long as its 24 frames at 24 a second: a frame's duration once counted slots of the segment's
        # time base, and the muxer filled them with empty frames (21 s for a 1 s clip)
        assert container.streams.video[0].frames == 24 and abs(container.duration / av.time_base - 1.0) < 0.05


def test_cli_damaged_avi_is_one_line(tmp_path, random_decoder_file, style):
    """With --strict; without, the damaged frame is left out with a warning and the rest kept
    (tests/test_cut_short.py)."""
    src = media.x264_avi(tmp_path / "in.avi")
    src = media.flip(src, tmp_path / "flipped.avi", media.packet_positions(src)[8])
    result = run_cli("video", src, tmp_path / "out.mp4", "--style", style, "--decoder", random_decoder_file,
                     "--size", "64", "--strict")
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "truncated or corrupt: decoding failed after" in result.output
    assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.glob(".out.mp4*"))


def test_cli_refuses_an_output_suffix_it_cannot_write(tmp_path, random_decoder_file, style):
    src = media.encode(tmp_path / "in.mp4")
    result = run_cli("video", src, tmp_path / "out.flv", "--style", style, "--decoder", random_decoder_file)
    assert result.exit_code == 2
    assert "out.flv" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out.flv").exists()


def test_avi_output_segments_have_no_b_frames():
    opts = codec_for_container(EncodeOptions(), Path("x.avi"))
    assert opts.b_frames is False and replace(opts, b_frames=True) == EncodeOptions()
