"""What real stream segments broke (tried on mux.js's HLS and DASH test segments): an MPEG-TS program that lists
an AAC stream whose packets never come ended the whole batch in a traceback at the join, audio that starts past
FFmpeg's first 5 s did too, and a header's frame count left the progress bar short of 100 %. Streams whose clock
starts at 10 s (a TS) or 66 s (a DASH fragment) took --start and --duration as times on that clock (no frames:
"segments missing") and had transcoded audio (WebM's Opus) placed 10 s before the pictures. The clips here are
made to the same shape: a TS muxer writes the program table before any audio, so a stream without packets (or
with its first one late) is what FFmpeg then reads. The stylizer hands frames back, so pixels are the path's."""

from __future__ import annotations

import logging
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.io.decode import probe
from pipeline.io.tracks import open_input
from pipeline.jobs.video import VideoJob
from pipeline.engines.local import run_videos_local
from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from pipeline.report import FAILED, PROCESSED, Hooks, Summary, Totals
from tests import media
from tests.helpers import STYLE_PATH, Identity, run, run_stylize
from tests.videos import make_video, moving_frames

W, H, RATE = 64, 48, 8
OPTS = VideoOptions(size=0, batch_size=4, parallel=1, segment_seconds=1.0, encode=EncodeOptions(preset="ultrafast"),
                    temporal=TemporalOptions(TemporalMode.OFF))


def ts_with_audio_from(path: Path, seconds: float, audio_from_s: float | None, clock_s: float = 0.0) -> Path:
    """An MPEG-TS of ``seconds`` of moving frames whose program lists an AAC stream; its tone starts at
    ``audio_from_s`` and runs to the end (None: the stream never gets a packet). Times start at ``clock_s``, as
    a broadcast's or an HLS segment's do (wherever the clock stood)."""
    with av.open(str(path), "w", format="mpegts") as out:
        video = out.add_stream("libx264", rate=RATE)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        audio = out.add_stream("aac", rate=44100)
        audio.layout = "mono"
        sample = 0 if audio_from_s is None else int(audio_from_s * 44100)
        for i, image in enumerate(moving_frames(int(seconds * RATE), W, H)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i + round(clock_s * RATE)
            out.mux(video.encode(frame))
            while audio_from_s is not None and sample / 44100 < (i + 1) / RATE and i / RATE >= audio_from_s:
                tone = 0.2 * np.sin(2 * np.pi * 440 * np.arange(sample, sample + 1024) / 44100)
                chunk = av.AudioFrame.from_ndarray(tone.astype(np.float32)[None], format="fltp", layout="mono")
                chunk.sample_rate, chunk.time_base = 44100, Fraction(1, 44100)
                chunk.pts = sample + round(clock_s * 44100)
                out.mux(audio.encode(chunk))
                sample += 1024
        out.mux(video.encode(None))
        if audio_from_s is not None:
            out.mux(audio.encode(None))
    return path


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.time) for f in container.decode(video=0)]


def audio_times(path: Path) -> list[float]:
    with open_input(path, probe_all=True) as container:
        stream = container.streams.audio[0]
        return [float(p.pts * stream.time_base) for p in container.demux(stream) if p.size]


def test_a_ts_listing_audio_it_never_carries_comes_back_silent_and_the_batch_goes_on(tmp_path, caplog):
    """Before: ``av.error.ArgumentError: Invalid argument`` out of the join, the video after it never ran."""
    silent = ts_with_audio_from(tmp_path / "silent.ts", 2.0, None)
    other = make_video(tmp_path / "other.mp4", frames=10, rate=RATE)
    pairs = [(silent, tmp_path / "out" / "silent.mp4"), (other, tmp_path / "out" / "other.mp4")]
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        summary = run(Identity(), pairs, OPTS)
    assert [r.status for r in summary.results] == [PROCESSED, PROCESSED], summary.results
    out = tmp_path / "out" / "silent.mp4"
    with av.open(str(out)) as container:
        assert not container.streams.audio
    assert np.allclose(frame_times(out), frame_times(silent), atol=1e-3) and len(frame_times(out)) == 16
    said = [r.getMessage() for r in caplog.records if "holds no samples" in r.getMessage()]
    assert len(said) == 1 and str(silent) in said[0]


def test_audio_starting_past_ffmpeg_s_first_look_is_kept_at_its_times(tmp_path):
    """FFmpeg looks for an audio stream's sample rate in the first 5 s or so it reads; this one starts at 8 s."""
    late = ts_with_audio_from(tmp_path / "late.ts", 10.0, 8.0)
    with av.open(str(late)) as container:
        assert container.streams.audio[0].codec_context.sample_rate == 0  # the shape that failed
    assert probe(late).audio_codec == "aac"
    out = tmp_path / "late.mp4"
    summary = run(Identity(), [(late, out)], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    source, written = audio_times(late), audio_times(out)
    assert len(written) == len(source) > 60 and abs(written[0] - source[0]) < 1e-3 and source[0] > 7.9
    assert np.allclose(frame_times(out), frame_times(late), atol=1e-3)


def test_a_join_ffmpeg_refuses_fails_that_video_alone_and_keeps_its_segments(tmp_path):
    """A plan that copies audio FFmpeg has no parameters for (as the probe planned before it knew better):
    the muxer refuses the header. That video fails in one line, nothing is left at its output, its
    segments stay for --resume, and the next video is written."""
    silent = ts_with_audio_from(tmp_path / "silent.ts", 2.0, None)
    other = make_video(tmp_path / "other.mp4", frames=10, rate=RATE)
    dst = tmp_path / "out" / "silent.mp4"
    job = VideoJob(OPTS, "", Identity().device)
    summary = Summary("video", units="frames")
    plans = job.plan_all([(silent, dst), (other, tmp_path / "out" / "other.mp4")], summary)
    plans[0] = replace(plans[0], info=replace(plans[0].info, audio_codec="aac", empty_audio=False))
    run_videos_local(job, plans, Identity(), None, Hooks(), summary)
    first, second = summary.results
    assert first.status == FAILED and "joining the segments failed (Invalid argument)" in first.reason
    assert "\n" not in first.reason and second.status == PROCESSED
    assert sorted(p.name for p in dst.parent.iterdir()) == [".silent.mp4.parts", "other.mp4"]
    assert list(plans[0].workdir.glob("*.mp4")), "the finished segments are kept"


def test_the_progress_total_follows_each_video_as_it_ends(tmp_path):
    """An AVI whose header promises 10 frames it does not hold, then a plain clip: when the AVI ends, the total
    becomes its 12 frames done plus the clip's 10, and the last total is the frames done (100 %, not 22/32)."""
    promised = media.promise_more_frames(media.x264_avi(tmp_path / "in.avi", frames=12, rate=RATE),
                                         tmp_path / "more.avi", 10)
    clip = make_video(tmp_path / "clip.mp4", frames=10, rate=RATE)
    totals, done = [], []
    job = VideoJob(OPTS, "", Identity().device)
    summary = Summary("video", units="frames")
    plans = job.plan_all([(promised, tmp_path / "a.mp4"), (clip, tmp_path / "b.mp4")], summary)
    counted = Totals(Hooks(on_units=done.append, on_total=totals.append), {str(p.src): p.expected for p in plans})
    summary.on_result = counted.hooks.on_result
    run_videos_local(job, plans, Identity(), None, counted.hooks, summary)
    assert totals == [22 + 10, 12 + 10, 12 + 10] and sum(done) == 22


def test_the_bar_of_a_run_ends_at_100_percent(tmp_path, random_decoder_file):
    """The same AVI through the command line: its last plain progress line says 12/12, not 12/22."""
    promised = media.promise_more_frames(media.x264_avi(tmp_path / "in.avi", frames=12, rate=RATE),
                                         tmp_path / "more.avi", 10)
    result = run_stylize("video", promised, tmp_path / "out.mp4", "--style", STYLE_PATH, "--decoder",
                         random_decoder_file, "--size", "32", "--temporal", "off")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("frames:")]
    assert lines[-1].startswith("frames: 12/12 (100 %)"), lines


def test_start_and_duration_count_from_the_first_frame_as_a_player_does(tmp_path):
    """A TS whose clock starts at 10 s: --start 1 --duration 1 is its second second (8 frames from 11 s), and
    --duration alone its first. Before: "segments missing" (no frame between 1 and 2 s on its clock)."""
    src = ts_with_audio_from(tmp_path / "clock.ts", 3.0, 0.0, clock_s=10.0)
    times = frame_times(src)
    assert abs(times[0] - 10.0) < 0.2
    for start, dst in ((1.0, tmp_path / "second.mp4"), (0.0, tmp_path / "first.mp4")):
        summary = run(Identity(), [(src, dst)], replace(OPTS, start=start, duration=1.0))
        assert [r.status for r in summary.results] == [PROCESSED], summary.results
        kept = [t for t in times if times[0] + start - 1e-3 <= t < times[0] + start + 1.0 - 1e-3]
        written = frame_times(dst)
        assert len(written) == len(kept) == RATE
        assert np.allclose(np.array(written) - written[0], np.array(kept) - kept[0], atol=1e-3)
        assert abs(audio_times(dst)[0] - written[0]) < 0.05  # the audio from the same moment


def test_transcoded_audio_keeps_its_place_against_the_pictures(tmp_path):
    """AAC into WebM becomes Opus: its packets start where the source's audio does (10 s), not at zero."""
    src = ts_with_audio_from(tmp_path / "clock.ts", 2.0, 0.0, clock_s=10.0)
    dst = tmp_path / "out.webm"
    summary = run(Identity(), [(src, dst)], OPTS)
    assert [r.status for r in summary.results] == [PROCESSED], summary.results
    with av.open(str(dst)) as container:
        assert container.streams.audio[0].codec_context.name == "opus"
    source, written = audio_times(src), audio_times(dst)
    assert abs(frame_times(dst)[0] - frame_times(src)[0]) < 1e-3 and source[0] > 9.9
    assert abs(written[0] - source[0]) < 0.05 and abs(written[-1] - source[-1]) < 0.1
