"""`stylize video`: frame counts, exact rates and timestamps, audio, rotation, odd sizes, resume, bad input."""

import errno
import json
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import pipeline.video
from pipeline.io.video import SegmentWriter, VideoError, probe
from pipeline.models.decoder import load_decoder
from pipeline.models.vgg import load_encoder
from pipeline.report import FAILED, PROCESSED
from pipeline.stylizer import Stylizer, load_style_images
from pipeline.video import (FrameStylizer, VideoOptions, frame_stylizer_for, plan_videos, probe_all, run_videos,
                            stylize_video)
from tests.conftest import DATA, SAMPLES
from tests.helpers import run_cli
from tests.videos import make_video, read_video

STYLE = SAMPLES / "style" / "stained_glass.png"


@pytest.fixture(scope="module")
def stylizer(random_decoder_file):
    return Stylizer(load_encoder(last_layer="relu4_1"), load_decoder(random_decoder_file),
                    load_style_images([STYLE], 256))


def _cli(src, dst, decoder, *extra):
    result = run_cli("video", src, dst, "--style", STYLE, "--decoder", decoder, "--json", "--size", "64", *extra)
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


def test_ntsc_rate_odd_size_and_audio(tmp_path, random_decoder_file):
    src = make_video(tmp_path / "in.mp4", frames=10, rate=Fraction(30000, 1001), size=(65, 47))
    result, summary = _cli(src, tmp_path / "out.mp4", random_decoder_file, "--keep-size")
    assert result.exit_code == 0, result.stderr
    assert summary["frames"] == 10
    a, b = read_video(src), read_video(tmp_path / "out.mp4")
    assert b["frames"] == a["frames"] == 10
    assert b["rate"] == Fraction(30000, 1001)
    assert b["pts"] == a["pts"]
    assert b["size"] == (66, 48)  # odd sides padded to even for yuv420p, nothing cropped
    assert b["audio"] == "aac" and b["audio_s"] == pytest.approx(a["audio_s"], abs=0.03)
    assert b["format"].startswith("mov,mp4")


def test_variable_frame_rate_timestamps_are_kept(tmp_path, random_decoder_file):
    src = make_video(tmp_path / "vfr.mp4", pts=[0, 1, 3, 4, 7, 8, 12], time_base=Fraction(1, 24), rate=24)
    result, _ = _cli(src, tmp_path / "out.mp4", random_decoder_file)
    assert result.exit_code == 0, result.stderr
    assert read_video(tmp_path / "out.mp4")["pts"] == read_video(src)["pts"]


def test_rotation_is_applied(tmp_path, random_decoder_file):
    src = make_video(tmp_path / "rot.mp4", size=(64, 32), rotation=90, audio=None, frames=4)
    assert probe(src).width == 32 and probe(src).height == 64
    result, _ = _cli(src, tmp_path / "out.mp4", random_decoder_file, "--keep-size")
    assert result.exit_code == 0, result.stderr
    out = read_video(tmp_path / "out.mp4")
    assert out["size"] == (32, 64) and out["rotation"] == 0 and out["audio"] is None


def test_segment_start_duration(tmp_path, random_decoder_file):
    src = make_video(tmp_path / "in.mp4", frames=48, rate=24)
    result, _ = _cli(src, tmp_path / "out.mp4", random_decoder_file, "--start", "0.5", "--duration", "1.0")
    assert result.exit_code == 0, result.stderr
    out = read_video(tmp_path / "out.mp4")
    assert out["frames"] == 24
    assert out["pts"][0] == 0 and out["pts"][-1] == Fraction(23, 24)
    assert out["audio_start_s"] == pytest.approx(0.0, abs=0.03)
    assert out["audio_end_s"] == pytest.approx(1.0, abs=0.05)


def test_max_frames(tmp_path, random_decoder_file):
    src = make_video(tmp_path / "in.mp4", frames=20)
    result, summary = _cli(src, tmp_path / "out.mp4", random_decoder_file, "--max-frames", "5")
    assert result.exit_code == 0 and summary["frames"] == 5
    assert read_video(tmp_path / "out.mp4")["frames"] == 5


class Recording(FrameStylizer):
    """A frame stylizer that keeps every frame it stylized; its forks (one per extra lane, in lane order)
    keep theirs, so ``all_frames`` is the video's frames in order."""

    def __init__(self, inner: FrameStylizer):
        super().__init__(inner.stylizer, inner.work_hw, inner.out_hw, inner.source_hw, inner.warmup)
        self.frames = []
        self.forks = []

    def __call__(self, images):
        out = super().__call__(images)
        self.frames += [o.copy() for o in out]
        return out

    def fork(self):
        twin = Recording(super().fork())
        self.forks.append(twin)
        return twin

    @property
    def all_frames(self):
        return self.frames + [f for twin in self.forks for f in twin.frames]


def test_resume_gives_the_same_result(tmp_path, stylizer):
    src = make_video(tmp_path / "in.mp4", frames=30, rate=24)
    info = probe(src)
    opts = VideoOptions(size=64, batch_size=4, segment_seconds=0.25)  # 6-frame segments
    full = Recording(frame_stylizer_for(stylizer, info, opts))
    stylize_video(full, info, tmp_path / "full.mp4", opts)

    seen = []

    def interrupt(n):
        seen.append(n)
        if sum(seen) >= 16:
            raise KeyboardInterrupt

    dst = tmp_path / "resumed.mp4"
    with pytest.raises(KeyboardInterrupt):
        stylize_video(frame_stylizer_for(stylizer, info, opts), info, dst, opts, on_frames=interrupt)
    assert not dst.exists()  # nothing half-written
    parts = sorted((tmp_path / ".resumed.mp4.parts").glob("segment_*.mp4"))
    assert len(parts) >= 2

    opts.resume = True
    resumed = Recording(frame_stylizer_for(stylizer, info, opts))
    figures = stylize_video(resumed, info, dst, opts)
    reused = 6 * len(parts)
    assert figures["reused_frames"] == reused and figures["frames"] == 30
    # Only the missing frames were stylized again, and exactly as the uninterrupted run stylized them.
    assert len(resumed.frames) == 30 - reused
    assert all(np.array_equal(a, b) for a, b in zip(resumed.frames, full.frames[reused:]))
    a, b = read_video(tmp_path / "full.mp4"), read_video(dst)
    assert a["pts"] == b["pts"] and b["frames"] == 30 and _psnr_min(a, b) > 30
    assert not (tmp_path / ".resumed.mp4.parts").exists()


def _psnr_min(a, b):
    """The worst frame's PSNR (dB) between two decoded videos: x264 is not bit-repeatable between runs here,
    so two encodes of the same frames agree to encoder noise."""
    mse = [np.mean((x.astype(float) - y) ** 2) for x, y in zip(a["images"], b["images"])]
    return min(10 * np.log10(255**2 / max(m, 1e-9)) for m in mse)


def test_parallel_lanes_give_the_frames_of_one_lane(tmp_path, stylizer):
    """Three lanes, each seeking to its run of segments and rebuilding the temporal state there (default
    --temporal full), stylize exactly the frames one lane does; the joined video keeps every timestamp and
    the audio."""
    src = make_video(tmp_path / "in.mp4", frames=40, rate=24)
    info = probe(src)
    opts = VideoOptions(size=64, batch_size=4, segment_seconds=0.25)  # 6-frame segments: 7 of them
    one = Recording(frame_stylizer_for(stylizer, info, opts))
    stylize_video(one, info, tmp_path / "one.mp4", opts)
    opts.parallel = 3
    three = Recording(frame_stylizer_for(stylizer, info, opts))
    figures = stylize_video(three, info, tmp_path / "three.mp4", opts)
    assert len(three.forks) == 2 and figures["frames"] == 40
    assert [len(r.frames) for r in (three, *three.forks)] == [12, 12, 16]  # segments 0-1, 2-3, 4-6
    assert len(one.frames) == 40 and all(np.array_equal(a, b) for a, b in zip(three.all_frames, one.frames))
    a, b = read_video(tmp_path / "one.mp4"), read_video(tmp_path / "three.mp4")
    assert b["frames"] == 40 and b["pts"] == a["pts"] == read_video(src)["pts"]
    assert b["audio"] == "aac" and b["audio_s"] == pytest.approx(a["audio_s"], abs=0.03)
    assert _psnr_min(a, b) > 30


def test_interrupted_lanes_resume_with_another_parallel(tmp_path, stylizer):
    """An interruption in one lane stops them all with nothing written to OUTPUT; --resume with a different
    --parallel keeps the finished segments and gives the uninterrupted run's frames."""
    src = make_video(tmp_path / "in.mp4", frames=36, rate=24)
    info = probe(src)
    opts = VideoOptions(size=64, batch_size=3, segment_seconds=0.25, parallel=1)
    full = Recording(frame_stylizer_for(stylizer, info, opts))
    stylize_video(full, info, tmp_path / "full.mp4", opts)

    seen = []

    def interrupt(n):  # once, in whichever lane gets there: the other one must be stopped by the first
        seen.append(n)
        if sum(seen) >= 15 and sum(seen) - n < 15:
            raise KeyboardInterrupt

    dst = tmp_path / "out.mp4"
    opts.parallel = 2
    with pytest.raises(KeyboardInterrupt):
        stylize_video(frame_stylizer_for(stylizer, info, opts), info, dst, opts, on_frames=interrupt)
    assert not dst.exists()
    parts = sorted(int(p.stem.split("_")[1]) for p in (tmp_path / ".out.mp4.parts").glob("segment_*.mp4"))
    assert parts and len(parts) < 6 and sum(seen) <= 15 + 2 * opts.batch_size  # the other lane stopped too

    opts.resume, opts.parallel = True, 3
    resumed = Recording(frame_stylizer_for(stylizer, info, opts))
    figures = stylize_video(resumed, info, dst, opts)
    assert figures["reused_frames"] == 6 * len(parts) and figures["frames"] == 36
    redone = [f for k in range(6) if k not in parts for f in full.frames[6 * k: 6 * k + 6]]
    assert len(resumed.all_frames) == len(redone)
    assert all(np.array_equal(a, b) for a, b in zip(resumed.all_frames, redone))
    a, b = read_video(tmp_path / "full.mp4"), read_video(dst)
    assert b["frames"] == 36 and a["pts"] == b["pts"] and _psnr_min(a, b) > 30


def _within(seconds, fn):
    """``fn()`` in a thread: a test of a run that used to wait for ever fails instead of hanging the suite."""
    out = []
    worker = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    return out[0]


def _two_videos(tmp_path):
    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "a.mp4", frames=12)
    make_video(tmp_path / "in" / "b.mp4", frames=24)
    return probe_all(plan_videos(tmp_path / "in", tmp_path / "out"))


@pytest.mark.parametrize("parallel", [1, 2])
def test_decoding_failing_half_way_fails_that_video_only(tmp_path, stylizer, monkeypatch, parallel):
    """A file that stops decoding part way (the decoder thread raising) is one failed item and leaves no
    work folder, and the next video still runs; the run used to wait for ever for the decoder's next frame."""
    decode = pipeline.video.decode_frames

    def failing(info, *args, **kwargs):
        for frame in decode(info, *args, **kwargs):
            if info.path.name == "b.mp4" and frame.index == 15:
                time.sleep(1)  # the stylizer waits on an empty queue, as when the GPU outpaces the decoder
                raise VideoError("truncated or corrupt: decoding failed after 15 frames (test)")
            yield frame

    monkeypatch.setattr(pipeline.video, "decode_frames", failing)
    opts = VideoOptions(size=64, batch_size=2, segment_seconds=0.25, parallel=parallel)
    probed = _two_videos(tmp_path)
    summary = _within(120, lambda: run_videos(lambda info, o: frame_stylizer_for(stylizer, info, o), probed, opts))
    status = {Path(r.path).name: (r.status, r.reason) for r in summary.results}
    assert status["a.mp4"][0] == PROCESSED and status["b.mp4"] == (FAILED, "truncated or corrupt: decoding "
                                                                           "failed after 15 frames (test)")
    assert read_video(tmp_path / "out" / "a.mp4")["frames"] == 12
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.mp4"]  # no b.mp4, no work folder


@pytest.mark.parametrize("method,call", [("write", 15), ("close", 3)])
def test_failed_write_keeps_finished_segments_for_resume(tmp_path, stylizer, monkeypatch, method, call):
    """The disk filling up while segment 2 is written (its 3rd frame) or closed: one failed item naming the
    error, the next video still runs, segments 0 and 1 stay and no half-written file does, and --resume
    finishes with the same frames."""
    original, count = getattr(SegmentWriter, method), {"n": 0}

    def failing(self, *args):
        original(self, *args)  # then fail: a closed segment is on disk, and must not stay as a .part file
        if "b.mp4" in str(self.path):
            count["n"] += 1
            if count["n"] == call:
                raise OSError(errno.ENOSPC, "No space left on device", str(self.path))

    monkeypatch.setattr(SegmentWriter, method, failing)
    opts = VideoOptions(size=64, batch_size=2, segment_seconds=0.25)  # 6-frame segments
    probed = _two_videos(tmp_path)
    make = lambda info, o: frame_stylizer_for(stylizer, info, o)
    summary = _within(120, lambda: run_videos(make, probed, opts))
    status = {Path(r.path).name: (r.status, r.reason) for r in summary.results}
    assert status["a.mp4"][0] == PROCESSED and status["b.mp4"][0] == FAILED
    assert "No space left on device" in status["b.mp4"][1] and "--resume" in status["b.mp4"][1]
    assert not (tmp_path / "out" / "b.mp4").exists()
    kept = sorted(p.name for p in (tmp_path / "out" / ".b.mp4.parts").glob("segment_*"))
    assert kept == ["segment_000000.mp4", "segment_000001.mp4"]

    monkeypatch.setattr(SegmentWriter, method, original)
    info = probed[1][2]
    whole = Recording(make(info, opts))
    stylize_video(whole, info, tmp_path / "whole.mp4", opts)
    opts.resume = True
    resumed = Recording(make(info, opts))
    summary = run_videos(lambda i, o: resumed, probed[1:], opts)
    assert summary.results[0].status == PROCESSED and summary.units_done == 24
    assert len(resumed.frames) == 12 and all(np.array_equal(a, b) for a, b in zip(resumed.frames, whole.frames[12:]))
    a, b = read_video(tmp_path / "whole.mp4"), read_video(tmp_path / "out" / "b.mp4")
    assert b["frames"] == 24 and b["pts"] == a["pts"] and _psnr_min(a, b) > 30
    assert not (tmp_path / "out" / ".b.mp4.parts").exists()


def test_segment_warm_up_goes_in_the_runs_batches(tmp_path, stylizer):
    """Each segment re-runs the 8 frames before it to rebuild the temporal state; in one batch of 8 those
    held 8 frames' activations at once (a 512x288 video with 1 s segments peaked at 2.4 GB, not 1.2)."""
    sizes = []

    class Counting(FrameStylizer):
        def to_batch(self, images):
            sizes.append(len(images))
            return super().to_batch(images)

    src = make_video(tmp_path / "in.mp4", frames=30, rate=24, audio=None)
    info = probe(src)
    opts = VideoOptions(size=64, batch_size=3, segment_seconds=0.5)  # 12-frame segments, two warm-ups
    inner = frame_stylizer_for(stylizer, info, opts)
    stylize_video(Counting(inner.stylizer, inner.work_hw, inner.out_hw, warmup=inner.warmup), info,
                  tmp_path / "out.mp4", opts)
    assert sum(sizes) == 30 + 2 * 8 and max(sizes) == 3


def test_lanes_follow_the_requested_range(tmp_path):
    from pipeline.video import lane_runs

    info = probe(make_video(tmp_path / "in.mp4", frames=40, rate=24, audio=None))
    opts = VideoOptions(segment_seconds=0.25, parallel=4)
    runs, timestamps = lane_runs(info, opts)
    assert runs == [range(0, 1), range(1, 3), range(3, 5), range(5, 7)] and len(timestamps) == 40
    assert lane_runs(info, VideoOptions(segment_seconds=0.25, parallel=4, max_frames=13))[0] == \
        [range(0, 1), range(1, 2), range(2, 3)]  # 13 frames: three segments, so three lanes
    assert lane_runs(info, VideoOptions(segment_seconds=0.25, parallel=4, start=0.5)) is None
    assert lane_runs(info, VideoOptions(segment_seconds=0.25, parallel=4, duration=1.0)) is None
    assert lane_runs(info, VideoOptions(segment_seconds=10, parallel=4)) is None  # a single segment


def test_auto_parallel_sizes_lanes_to_the_frames():
    import os

    import torch

    from pipeline.video import auto_parallel

    cpu, cuda = torch.device("cpu"), torch.device("cuda")  # a device object needs no GPU
    two = 2 if (os.cpu_count() or 1) >= 2 else 1
    assert auto_parallel(cpu, (288, 512), (288, 512)) == two
    assert auto_parallel(cpu, (288, 512), (720, 1280)) == two  # --keep-size on 720p
    assert auto_parallel(cpu, (288, 512), (1080, 1920)) == 1  # 1080p written: one lane keeps it under 2 GB
    assert auto_parallel(cpu, (720, 1280), (720, 1280)) == 1
    assert auto_parallel(cuda, (1080, 1920), (1080, 1920)) == max(1, min(4, (os.cpu_count() or 1) // 4))


def test_cpu_runs_past_720p_get_a_lean_encoder(tmp_path):
    """One x264 thread looking 10 frames ahead where the CPU writes frames past 720p (137 MiB less at 1080p);
    elsewhere, or when threads are asked for, the options stay as given; the stream says what x264 used."""
    import torch

    from pipeline.io.video import EncodeOptions, SegmentWriter
    from pipeline.video import lean_encoder
    from tests.helpers import gradient_image

    cpu, cuda, full_hd = torch.device("cpu"), torch.device("cuda"), (1080, 1920)
    lean = lean_encoder(EncodeOptions(), cpu, full_hd)
    assert (lean.threads, lean.lookahead) == (1, 10)
    for opts, device, hw in [(EncodeOptions(), cpu, (720, 1280)), (EncodeOptions(), cuda, full_hd),
                             (EncodeOptions(threads=4), cpu, full_hd), (EncodeOptions(codec="libx265"), cpu, full_hd)]:
        assert lean_encoder(opts, device, hw) == opts
    writer = SegmentWriter(tmp_path / "s.mp4", (48, 64), Fraction(24), Fraction(1, 24), lean)
    for i in range(4):
        writer.write(gradient_image(64, 48, seed=i), i)
    writer.close()
    settings = (tmp_path / "s.mp4").read_bytes().split(b"options: ", 1)[1][:2000]
    assert b" threads=1 " in settings and b" rc_lookahead=10 " in settings


def test_cli_parallel_with_max_frames(tmp_path, random_decoder_file):
    src = make_video(tmp_path / "in.mp4", frames=30, rate=24)
    result, summary = _cli(src, tmp_path / "out.mp4", random_decoder_file, "--parallel", "2",
                           "--segment-seconds", "0.25", "--max-frames", "20")
    assert result.exit_code == 0, result.stderr
    assert summary["frames"] == 20
    out = read_video(tmp_path / "out.mp4")
    assert out["frames"] == 20 and out["pts"] == read_video(src)["pts"][:20]
    assert out["audio_end_s"] == pytest.approx(20 / 24, abs=0.05)


def _unknown_codec_video(path):
    """A Matroska file whose video codec ID FFmpeg does not know (FFV1 renamed in place)."""
    import av

    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("ffv1", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    data = path.read_bytes()
    assert data.count(b"V_FFV1") == 1
    path.write_bytes(data.replace(b"V_FFV1", b"V_QQQ9"))


@pytest.mark.parametrize("case", ["not_video", "truncated", "audio_only", "empty", "zero_frames", "same_path",
                                  "unknown_codec"])
def test_bad_input_one_line_nonzero_exit(tmp_path, random_decoder_file, case):
    src = tmp_path / "in.mp4"
    if case == "not_video":
        src.write_text("hello")
    elif case == "truncated":
        make_video(tmp_path / "full.mp4", frames=48, faststart=True)
        data = (tmp_path / "full.mp4").read_bytes()
        src.write_bytes(data[: len(data) * 2 // 3])
    elif case == "audio_only":
        make_video(tmp_path / "a.mp4", frames=12)
        import av

        with av.open(str(tmp_path / "a.mp4")) as inp, av.open(str(src), "w") as out:
            a = out.add_stream_from_template(inp.streams.audio[0])
            for packet in inp.demux(inp.streams.audio[0]):
                if packet.size:
                    packet.stream = a
                    out.mux(packet)
    elif case == "empty":
        src.write_bytes(b"")
    elif case == "zero_frames":
        make_video(src, pts=[])  # a video stream without frames, beside an audio track
    elif case == "unknown_codec":
        src = tmp_path / "in.mkv"
        _unknown_codec_video(src)
    dst = src if case == "same_path" else tmp_path / "out.mp4"
    if case == "same_path":
        make_video(src, frames=4)
    before = src.read_bytes()
    result, summary = _cli(src, dst, random_decoder_file)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(src) in errors[0] and "Traceback" not in result.stderr
    assert summary["failed"] == 1
    assert src.read_bytes() == before
    if case != "same_path":
        assert not dst.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files or work folders left


def test_unwritable_output(tmp_path, random_decoder_file):
    src = make_video(tmp_path / "in.mp4", frames=4)
    (tmp_path / "file").write_text("x")
    result, summary = _cli(src, tmp_path / "file" / "out.mp4", random_decoder_file)
    assert result.exit_code == 1 and "cannot create the output folder" in result.stderr


def test_folder_of_videos_continues_past_bad_ones(tmp_path, random_decoder_file):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    make_video(src / "a.mp4", frames=6)
    make_video(src / "sub" / "b.mov", frames=5, audio=None)
    (src / "sub" / "broken.mkv").write_text("nope")
    result, summary = _cli(src, tmp_path / "out", random_decoder_file)
    assert result.exit_code == 1
    assert summary["processed"] == 2 and summary["failed"] == 1 and summary["frames"] == 11
    assert read_video(tmp_path / "out" / "a.mp4")["frames"] == 6
    assert read_video(tmp_path / "out" / "sub" / "b.mov")["frames"] == 5


@pytest.mark.data
@pytest.mark.parametrize("clip,rate,audio", [("slow_traffic_5s.mp4", Fraction(30000, 1001), "aac"),
                                             ("cockatoo.mp4", Fraction(20), "mp3")])
def test_real_clips(tmp_path, random_decoder_file, clip, rate, audio):
    src = DATA / "video" / clip
    result, summary = _cli(src, tmp_path / "out.mp4", random_decoder_file, "--max-frames", "8")
    assert result.exit_code == 0, result.stderr
    out = read_video(tmp_path / "out.mp4")
    assert out["frames"] == 8 and out["rate"] == rate and out["audio"].startswith(audio)  # mp3 decodes as mp3float
    assert out["pts"] == read_video_head(src, 8)
    # Audio kept up to the end of the last frame (packet granularity), priming samples included.
    assert out["audio_end_s"] == pytest.approx(8 / float(rate), abs=0.08) and out["audio_start_s"] <= 0


def read_video_head(path, n):
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts = []
        for f in c.decode(s):
            pts.append(Fraction(f.pts) * Fraction(s.time_base))
            if len(pts) == n:
                return pts
    return pts


def test_keyframe_refinement_and_temporal_modes(tmp_path, random_decoder_file):
    src = make_video(tmp_path / "in.mp4", frames=6)
    for extra in (["--temporal", "off"], ["--temporal", "stats"], ["--refine-every", "3", "--iterations", "2"]):
        result, summary = _cli(src, tmp_path / "out.mp4", random_decoder_file, *extra)
        assert result.exit_code == 0, result.stderr
        assert read_video(tmp_path / "out.mp4")["frames"] == 6


def test_pcm_audio_is_transcoded_and_webm_gets_vp9(tmp_path, random_decoder_file):
    src = make_video(tmp_path / "in.mov", frames=8, audio="pcm_s16le")
    result, _ = _cli(src, tmp_path / "out.mp4", random_decoder_file)
    assert result.exit_code == 0, result.stderr
    out = read_video(tmp_path / "out.mp4")
    assert out["audio"] == "aac" and out["audio_end_s"] == pytest.approx(8 / 24, abs=0.05)
    result, _ = _cli(src, tmp_path / "out.webm", random_decoder_file)
    assert result.exit_code == 0, result.stderr
    import av

    with av.open(str(tmp_path / "out.webm")) as c:
        assert c.streams.video[0].codec_context.name == "vp9" and c.streams.audio[0].codec_context.name == "opus"
        assert c.streams.video[0].frames in (0, 8) and len(list(c.decode(video=0))) == 8


def test_unusable_encoder_is_one_clear_error(tmp_path, random_decoder_file):
    src = make_video(tmp_path / "in.mp4", frames=4)
    result, summary = _cli(src, tmp_path / "out.mp4", random_decoder_file, "--codec", "nonexistent_codec")
    assert result.exit_code == 1 and "encoder 'nonexistent_codec' is not available" in result.stderr
    assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.glob(".*"))


def test_device_side_yuv420p_path_matches_rgb_path(tmp_path, stylizer):
    """The CUDA path hands the encoder yuv420p converted by torch; it must give the same video."""
    src = make_video(tmp_path / "in.mp4", frames=6, size=(64, 48))
    info = probe(src)
    opts = VideoOptions(size=64, batch_size=3)
    rgb = frame_stylizer_for(stylizer, info, opts)
    yuv = FrameStylizer(rgb.stylizer, rgb.work_hw, rgb.out_hw, rgb.source_hw, rgb.warmup, yuv=True)
    stylize_video(rgb, info, tmp_path / "rgb.mp4", opts)
    stylize_video(yuv, info, tmp_path / "yuv.mp4", opts)
    a, b = read_video(tmp_path / "rgb.mp4"), read_video(tmp_path / "yuv.mp4")
    assert a["frames"] == b["frames"] == 6 and a["pts"] == b["pts"]
    mse = [np.mean((x.astype(float) - y) ** 2) for x, y in zip(a["images"], b["images"])]
    assert min(10 * np.log10(255**2 / m) for m in mse) > 30  # PSNR in dB: chroma siting and x264 noise only


def test_rgb_to_yuv420p_matches_swscale():
    import av
    import torch

    from pipeline.ops.colorspace import rgb_to_yuv420p
    from tests.helpers import gradient_image

    image = gradient_image(64, 48)
    ours = rgb_to_yuv420p(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255)[0].numpy()
    ref = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p").to_ndarray()
    assert ours.shape == ref.shape == (72, 64)
    assert np.abs(ours[:48].astype(int) - ref[:48]).max() <= 1  # luma
    assert np.abs(ours[48:].astype(int) - ref[48:]).mean() < 2  # chroma (siting differs slightly)


def test_x264_runs_frame_threads_with_a_short_lookahead(tmp_path):
    """PyAV's default slice threading would switch x264 to its low-latency sliced threads, and ``medium``
    would hold 40 frames ahead (130 MB more at 1080p than 20); x264 records the settings it used in the stream, so read
    them back."""
    from pipeline.io.video import EncodeOptions, SegmentWriter
    from tests.helpers import gradient_image

    writer = SegmentWriter(tmp_path / "s.mp4", (48, 64), Fraction(24), Fraction(1, 24), EncodeOptions(threads=2))
    for i in range(4):
        writer.write(gradient_image(64, 48, seed=i), i)
    writer.close()
    settings = (tmp_path / "s.mp4").read_bytes().split(b"options: ", 1)[1][:2000]
    assert b" threads=2 " in settings and b" sliced_threads=0 " in settings
    assert b" rc_lookahead=20 " in settings
