"""Shapes of real sources that broke the video path (tried on the sample media of Debian packages: DVD menus from
devede, DV from dvbackup, (S)VCD from k3b, 3GP, WMV and AVI from mimetype's and kphotoalbum's test data).
Anamorphic video (DVD, DV, VCD, 3GP: pixels shown wider or narrower than tall) came back squeezed to square
pixels: a 16:9 DVD played at 3:2, an SVCD at 5:6. Audio the encoder cannot take as it is ended the video at the
join: WMV's and AVI's "2 channels" (a layout of unspecified order, which FFmpeg's AAC encoder refuses), an old
AVI's 11024 Hz, AC-3's "5.1(side)" into WebM's Opus. The clips here are made to the same shapes; the stylizer
hands frames back, so pixels and times are the path's."""

from __future__ import annotations

import logging
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.io.aspect import display_size
from pipeline.io.decode import probe
from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from pipeline.report import PROCESSED
from pipeline.jobs.video import Media
from tests.helpers import Identity, Recorder, run
from tests.media import mux_moving_frames
from tests.videos import moving_frames
from tests.test_stream_gaps import RATE as RATE_TS, audio_times, ts_with_audio_from

W, H, RATE, FRAMES = 64, 48, 8, 8
OPTS = VideoOptions(size=0, batch_size=4, parallel=1, segment_seconds=0.5, encode=EncodeOptions(preset="ultrafast"),
                    temporal=TemporalOptions(TemporalMode.OFF))


def clip(path: Path, codec: str = "libx264", fmt: str | None = None, sar: Fraction | None = None,
         audio: tuple[str, str, int] | None = None, pix_fmt: str = "yuv420p") -> Path:
    """``FRAMES`` moving frames (an 8x8 square, coded) stored with pixels ``sar`` wide, and a tone as long in
    ``audio`` (codec, layout, sample rate)."""
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream(codec, rate=RATE)
        video.width, video.height, video.pix_fmt = W, H, pix_fmt
        if sar is not None:
            video.codec_context.sample_aspect_ratio = sar
        tone = out.add_stream(audio[0], rate=audio[2]) if audio else None
        if tone is not None:
            tone.layout = audio[1]
        mux_moving_frames(out, video, FRAMES)
        if tone is not None:
            _write_tone(out, tone, audio[1], audio[2])
    return path


def _write_tone(out: av.container.OutputContainer, stream, layout: str, rate: int) -> None:
    samples = FRAMES * rate // RATE
    wave = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / rate)).astype(np.float32)
    frame = av.AudioFrame.from_ndarray(np.repeat(wave[None], av.AudioLayout(layout).nb_channels, 0), format="fltp",
                                       layout=layout)
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
    resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout, rate=rate)
    for chunk in resampler.resample(frame) + resampler.resample(None):
        out.mux(stream.encode(chunk))
    out.mux(stream.encode(None))


def shown_aspect(path: Path) -> float:
    """Width over height as a player shows the file: its size times its pixels' shape."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio or 1
        return float(stream.width * Fraction(sar) / stream.height)


def frames_and_times(path: Path) -> tuple[list[np.ndarray], list[float]]:
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
        return [f.to_ndarray(format="rgb24") for f in frames], [float(f.time) for f in frames]


def square_box(image: np.ndarray) -> tuple[int, int]:
    """(width, height) in pixels of the bright square ``moving_frames`` draws."""
    ys, xs = np.nonzero(image.min(axis=2) > 200)
    return int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


@pytest.mark.parametrize("name, codec, fmt, sar", [
    ("wide.mp4", "libx264", None, Fraction(2)),  # an MP4 whose pixels are twice as wide as tall
    ("dvd.vob", "mpeg2video", "dvd", Fraction(4, 3)),  # a DVD's MPEG-2 in a program stream, flagged 16:9
    ("dv.mov", "libx264", None, Fraction(8, 9)),  # NTSC DV's 4:3 shape: pixels narrower than tall
])
def test_anamorphic_video_comes_back_at_the_shape_a_player_shows(tmp_path, name, codec, fmt, sar):
    """Before: the output kept the coded 64x48 with square pixels (4:3 whatever the source's shape)."""
    src = clip(tmp_path / name, codec, fmt, sar)
    info = probe(src)
    assert info.pixel_aspect != 1, "the shape that broke: pixels that are not square"
    dst = tmp_path / "out.mp4"
    summary = run(Identity(), [(src, dst)], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    assert abs(shown_aspect(dst) / shown_aspect(src) - 1) < 0.02
    frames, times = frames_and_times(dst)
    assert (frames[0].shape[1], frames[0].shape[0]) == display_size(W, H, info.pixel_aspect)
    assert frames[0].shape[1] >= W and frames[0].shape[0] >= H, "stretched, never squeezed"
    assert np.allclose(times, frames_and_times(src)[1], atol=1e-3) and len(times) == FRAMES
    width, height = square_box(frames[2])
    assert abs(width / height - float(info.pixel_aspect)) < 0.2, (width, height)  # the square as it is shown


def test_a_source_s_square_pixels_and_sizes_are_untouched(tmp_path):
    src = clip(tmp_path / "square.mp4")
    assert probe(src).pixel_aspect == 1
    dst = tmp_path / "out.mp4"
    run(Identity(), [(src, dst)], OPTS)
    frames, _ = frames_and_times(dst)
    assert frames[0].shape[:2] == (H, W) and square_box(frames[2]) == (8, 8)


@pytest.mark.parametrize("name, audio, out_name, expect", [
    # an old AVI's unsigned 8-bit PCM, stereo read back as "2 channels" (no order), at 11024 Hz: AAC at 11025
    ("old.avi", ("pcm_u8", "stereo", 11024), "old.mp4", ("aac", "stereo", 11025)),
    ("old.avi", ("pcm_u8", "stereo", 11024), "old.webm", ("opus", "stereo", 48000)),
    # AC-3 5.1 in Matroska: its "5.1(side)" is no layout Opus takes; WebM gets Opus 5.1
    ("film.mkv", ("ac3", "5.1(side)", 48000), "film.webm", ("opus", "5.1", 48000)),
])
def test_audio_the_encoder_cannot_take_as_it_is_is_transcoded_whole(tmp_path, name, audio, out_name, expect):
    """Before: 'joining the segments failed (Invalid argument)', no output."""
    src = clip(tmp_path / name, "mjpeg" if name.endswith(".avi") else "libx264", audio=audio,
               pix_fmt="yuvj420p" if name.endswith(".avi") else "yuv420p")
    dst = tmp_path / out_name
    summary = run(Identity(), [(src, dst)], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    with av.open(str(src)) as source, av.open(str(dst)) as written:
        assert source.streams.audio[0].codec_context.layout.name != expect[1]  # the shape that failed
        stream = written.streams.audio[0]
        ctx = stream.codec_context
        assert (ctx.name, ctx.layout.name, ctx.sample_rate) == expect
        heard = sum(frame.samples for frame in written.decode(stream)) / ctx.sample_rate
        had = sum(frame.samples for frame in source.decode(audio=0)) / source.streams.audio[0].codec_context.sample_rate
    assert abs(heard - had) < 0.05 and had > 0.9, (heard, had)


def test_parts_joined_end_to_end_play_one_after_the_other_in_sync(tmp_path):
    """``cat a.ts b.ts``, as HLS segments saved one after another are: the clock starts again at the seam.
    Before: the audio's going back ended the video at the join (mimetype's test MKV, cut the same way, too),
    and the second part's pictures up to where the first ended were squeezed into a millisecond each."""
    part = ts_with_audio_from(tmp_path / "part.ts", 3.0, 0.0)
    src = tmp_path / "joined.ts"
    src.write_bytes(part.read_bytes() * 2)
    one, _ = frames_and_times(part)
    audio_one = audio_times(part)
    for name, parallel in (("joined.mp4", 1), ("joined.webm", 1), ("lanes.mp4", 2)):
        dst = tmp_path / name
        opts = replace(OPTS, parallel=parallel)
        summary = run(Identity(), [(src, dst)], opts)
        assert [r.status for r in summary.results] == [PROCESSED], summary.results
        frames, times = frames_and_times(dst)
        assert len(frames) == 2 * len(one) and np.allclose(np.diff(times), 1 / RATE_TS, atol=1e-3), times
        shift = times[len(one)] - times[0]  # the second part's first frame follows the first part's last
        heard = audio_times(dst)
        assert len(heard) >= 1.9 * len(audio_one), (name, len(heard), len(audio_one))
        # the second part's audio moved as its pictures were, so it ends where it does in the part itself
        # (placed straight after the first part's audio instead, it ends 0.04 s late here)
        assert abs(heard[-1] - (audio_one[-1] + shift)) < 0.03, (name, heard[-1], audio_one[-1] + shift)


class _ProgramChange:
    """A container as PyAV gives mux.js's HLS segments joined end to end (their second program lists other
    stream ids): ``demux`` yields the packets of the streams it knows, then raises IndexError at its flush
    for the stream that started part way, which it never listed. That ended the batch in a traceback."""

    name = "joined.ts"

    def demux(self, *streams):
        yield from (av.Packet(b"first"), av.Packet(b"second"))
        raise IndexError("list index out of range")


def test_a_stream_starting_part_way_ends_the_packets_cleanly_and_is_said_once(caplog):
    from pipeline.io.demux import packets

    with caplog.at_level(logging.WARNING, logger="pipeline"):
        assert [bytes(p) for p in packets(_ProgramChange(), None)] == [b"first", b"second"]
        assert [bytes(p) for p in packets(_ProgramChange(), None)] == [b"first", b"second"]
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith("joined.ts: a stream starts part way"), said


def interlaced_clip(path: Path, frames: int = 16) -> Path:
    """Interlaced H.264 (keyframes every 4 frames) whose top field shows a bright block where the bottom field,
    half a frame later, shows it 3 px further on: combs at its edges, as a camera's 480i gives moving things."""
    yy, xx = np.mgrid[0:H, 0:W]
    base = np.stack([xx * 200 // W, yy * 200 // H, np.full_like(xx, 90)], 2).astype(np.uint8)
    options = {"x264-params": "interlaced=1:tff=1:keyint=4:min-keyint=4:scenecut=0"}
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=RATE, options=options)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        for i in range(frames):
            top, bottom = base.copy(), base.copy()
            top[16:32, 2 + 2 * i:14 + 2 * i] = 250
            bottom[16:32, 5 + 2 * i:17 + 2 * i] = 250
            top[1::2] = bottom[1::2]
            frame = av.VideoFrame.from_ndarray(top, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def combs(frames: list[np.ndarray]) -> float:
    """How far each row stands from the mean of its neighbours, over the rows the block crosses: high where two
    fields of a moving thing are woven."""
    grey = [f[12:36].astype(float).mean(axis=2) for f in frames]
    return float(np.mean([np.abs(g[1:-1] - (g[:-2] + g[2:]) / 2).mean() for g in grey]))


def test_interlaced_frames_are_deinterlaced_each_at_its_time(tmp_path):
    """Before: the woven fields went to the networks as they were, and the style painted both blocks and the
    combs between them (the interlaced MPEG-2 test patterns of bbgdzxng1/interlace-detection-test-patterns
    showed two digits in one)."""
    src = interlaced_clip(tmp_path / "480i.mkv")
    with av.open(str(src)) as container:
        assert all(f.interlaced_frame for f in container.decode(video=0)), "the shape: frames flagged interlaced"
    source, source_times = frames_and_times(src)
    results = {}
    for deinterlace in (True, False):
        dst = tmp_path / f"out_{deinterlace}.mp4"
        summary = run(Identity(), [(src, dst)], replace(OPTS, deinterlace=deinterlace))
        assert [r.status for r in summary.results] == [PROCESSED], summary.results
        frames, times = frames_and_times(dst)
        assert len(frames) == len(source) and np.allclose(times, source_times, atol=1e-3)
        results[deinterlace] = combs(frames)
    assert results[True] < 0.4 * combs(source), (results, combs(source))
    assert results[False] > 0.8 * combs(source), "--no-deinterlace keeps the fields woven"


def test_frames_flagged_interlaced_after_progressive_ones_are_deinterlaced_too(tmp_path):
    """A broadcast recording that opens on a progressive advert, then the interlaced programme: the first frame
    decided it before, and the programme's combs went to the networks. Now each flagged frame is deinterlaced
    wherever it comes, the progressive ones pass as they are, and lanes give what one run does."""
    from tests import media

    advert = media.raw_stream(tmp_path / "advert.h264", frames=8, size=(W, H), rate=RATE)
    programme = interlaced_clip(tmp_path / "programme.h264", frames=16)
    src = tmp_path / "recording.h264"
    src.write_bytes(advert.read_bytes() + programme.read_bytes())
    with av.open(str(src)) as container:  # the shape: the first 8 frames progressive, the rest interlaced
        decoded = list(container.decode(video=0))
        assert [f.interlaced_frame for f in decoded] == [False] * 8 + [True] * 16
        source = [f.to_ndarray(format="rgb24") for f in decoded]
    runs = {}
    kinds = (("one", OPTS), ("lanes", replace(OPTS, parallel=3)), ("woven", replace(OPTS, deinterlace=False)))
    for name, opts in kinds:
        summary = run(Identity(), [(src, tmp_path / f"{name}.mp4")], opts)
        assert [r.status for r in summary.results] == [PROCESSED], summary.results
        runs[name], _ = frames_and_times(tmp_path / f"{name}.mp4")
        assert len(runs[name]) == 24
    assert combs(runs["one"][8:]) < 0.4 * combs(source[8:]) and combs(runs["woven"][8:]) > 0.8 * combs(source[8:])
    assert all(np.array_equal(a, b) for a, b in zip(runs["one"][:8], runs["woven"][:8]))  # passed as they are
    assert all(np.array_equal(a, b) for a, b in zip(runs["one"], runs["lanes"]))
    # a raw interlaced stream alone: its frames have no times, and yadif's arithmetic on them was a traceback
    summary = run(Identity(), [(programme, tmp_path / "programme.mp4")], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results


def test_lanes_deinterlace_each_frame_as_one_run_does(tmp_path):
    """A lane starting at a keyframe decodes the frame before it too: the deinterlacer weighs each frame with
    its neighbours, so a lane's first frame is the same as in one run."""
    src = interlaced_clip(tmp_path / "480i.mkv")
    one, two = Recorder(), Recorder()
    run(Identity(), [(src, tmp_path / "one.mp4")], OPTS, Media(sink=one))
    run(Identity(), [(src, tmp_path / "two.mp4")], replace(OPTS, parallel=2), Media(sink=two))
    assert len(two.sinks) == 2 and sorted(one.frames) == sorted(two.frames) == list(range(16))
    assert all(np.array_equal(one.frames[k], two.frames[k]) for k in range(16))


def test_an_empty_packet_inside_the_file_is_the_frame_before_held_not_the_end(tmp_path):
    """Ogg Theora marks a frame that repeats the one before with an empty packet (GNOME's help videos, as
    lightsoff.ogv, hold some); handed to the decoder, an empty packet means "no more", and the next one failed:
    "decoding failed after 1 frames (Invalid argument)". NUT keeps an empty packet as it is, so it makes one."""
    src = tmp_path / "held.nut"
    with av.open(str(src), "w", format="nut") as out:
        video = out.add_stream("mjpeg", rate=RATE)
        video.width, video.height, video.pix_fmt = W, H, "yuvj420p"
        for i, image in enumerate(moving_frames(FRAMES, W, H)):
            if i == 3:  # the frame before, again
                packet = av.Packet(b"")
                packet.pts = packet.dts = 3
                packet.time_base, packet.stream = Fraction(1, RATE), video
                out.mux(packet)
                continue
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    dst = tmp_path / "out.mp4"
    summary = run(Identity(), [(src, dst)], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    _, times = frames_and_times(dst)
    assert np.allclose(times, [k / RATE for k in (0, 1, 2, 4, 5, 6, 7)], atol=1e-3), times


def test_a_folder_of_older_videos_is_walked_whole(tmp_path):
    """WMV, 3GP, FLV, Ogg, MXF and DV files decode (each read by hand from Debian's sample media), but the walk of
    ``stylize video FOLDER`` took none of them: a folder of them was "no videos"."""
    from pipeline.jobs.video_paths import plan_videos
    from tests import media

    src = tmp_path / "in"
    (src / "old").mkdir(parents=True)
    kinds = {"a.wmv": ("wmv2", "asf"), "old/b.3gp": ("mpeg4", "3gp"), "c.flv": ("flv", "flv"), "d.ogv": ("libvpx", "ogg")}
    made = [media.encode(src / name, codec, fmt, frames=8) for name, (codec, fmt) in kinds.items()]
    (src / "notes.txt").write_text("not a video")
    pairs = plan_videos(src, tmp_path / "out")
    assert sorted(p for p, _ in pairs) == sorted(made)
    assert all(dst.suffix == ".mp4" and dst.parent.name in ("out", "old") for _, dst in pairs)
    summary = run(Identity(), pairs, OPTS)
    assert [r.status for r in summary.results] == [PROCESSED] * 4 and summary.units_done == 32


def test_videos_whose_outputs_would_share_a_name_are_each_written(tmp_path, caplog):
    """``b.mp4``, ``b.h264`` and ``b.ts`` in one folder: the raw stream and the transport stream are written as MP4,
    and before all three went to ``out/b.mp4``, each overwriting the one before (a camera's card copied beside
    its exports)."""
    from pipeline.jobs.video_paths import plan_videos
    from tests import media

    src = tmp_path / "in"
    src.mkdir()
    frames = {"b.mp4": 8, "b.h264": 10, "b.ts": 12}
    for name, count in frames.items():
        fmt = {"b.mp4": None, "b.h264": "h264", "b.ts": "mpegts"}[name]
        media.encode(src / name, "libx264", fmt, frames=count)
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        pairs = plan_videos(src, tmp_path / "out")
    written = {s.name: d.name for s, d in pairs}
    assert written == {"b.mp4": "b.mp4", "b.h264": "b.h264.mp4", "b.ts": "b.ts.mp4"}
    assert sum("written to b.h264.mp4" in r.getMessage() or "written to b.ts.mp4" in r.getMessage()
               for r in caplog.records) == 2
    summary = run(Identity(), pairs, OPTS)
    assert [r.status for r in summary.results] == [PROCESSED] * 3
    for name, out in written.items():
        with av.open(str(tmp_path / "out" / out)) as container:
            assert sum(1 for _ in container.decode(video=0)) == frames[name], name


@pytest.mark.parametrize("second, bars", [((32, 24), False), ((48, 48), True)], ids=["same-shape", "square"])
def test_a_picture_size_that_changes_part_way_is_fitted_into_the_first(tmp_path, caplog, second, bars):
    """Two H.264 parts of other sizes in one stream, as an adaptive stream saved across a switch of quality
    gives (web-platform-tests keeps such a file for browsers: 400x300 to 200x150). Before, `stylize video
    --batch-size 5` on it ended in a traceback ('all input arrays must have the same shape'), and where it got
    through, a change of shape was stretched, with nothing said."""
    from tests import media

    first = media.raw_stream(tmp_path / "a.h264", frames=12, size=(64, 48))
    later = media.raw_stream(tmp_path / "b.h264", frames=12, size=second)
    src = tmp_path / "switch.h264"
    src.write_bytes(first.read_bytes() + later.read_bytes())
    opts = replace(OPTS, batch_size=5)  # a batch holding frames of both sizes
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        summary = run(Identity(), [(src, tmp_path / "out.mp4")], opts)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    frames, _ = frames_and_times(tmp_path / "out.mp4")
    assert len(frames) == 24 and {f.shape for f in frames} == {(48, 64, 3)}
    edges = frames[20][:, :6].astype(float).mean()  # left of a square picture fitted into 4:3: a black bar
    assert (edges < 20) == bars and frames[20][:, 8:56].mean() > 40, edges
    said = [r.getMessage() for r in caplog.records if "picture size changes" in r.getMessage()]
    assert len(said) == 1 and f"(64x48 to {second[0]}x{second[1]} near 0.500 s)" in said[0], said  # frame 12 at 24 fps


def test_one_video_into_a_folder_is_written_in_a_container_the_output_can_be(tmp_path):
    """``stylize video Speedway.mj2 out/`` (the Open Preservation Foundation's Motion JPEG 2000 sample): the
    output took the source's name whole, and .mj2 is no output container, so the one video was refused."""
    from pipeline.jobs.video_paths import plan_videos
    from tests import media

    (tmp_path / "out").mkdir()
    for name, fmt, expected in [("Speedway.mj2", "mov", "Speedway.mp4"), ("clip.h264", "h264", "clip.mp4"),
                                ("clip.mkv", "matroska", "clip.mkv")]:
        src = media.encode(tmp_path / name, "libx264", fmt, frames=4)
        assert plan_videos(src, tmp_path / "out") == [(src, tmp_path / "out" / expected)]
