"""`stylize video`: frame counts, exact rates and timestamps, audio, rotation, odd and tiny sizes, lanes,
resume, interruption, failures produced by a real source or sink, bad input."""

import errno
import json
import os
import signal
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.io.video import SegmentWriter, probe
from pipeline.jobs.render import decode_source, render_run, segment_sink
from pipeline.jobs.video import Media, VideoJob
from pipeline.jobs.video_paths import plan_videos
from pipeline.jobs.video_frames import FrameStage, nets_for_video
from pipeline.options import EncodeOptions, TemporalMode, TemporalOptions, VideoOptions
from pipeline.report import FAILED, PROCESSED
from tests.conftest import DATA, ROOT
from tests.helpers import (STYLE_PATH as STYLE, Recorder, failing_sink, make_stylizer, one_error_line, pausing_sink, run,
                           run_cli)
from tests.videos import make_video, read_video

SHORT_WARMUP = TemporalOptions(still_strength=0.4)  # renewal every 5 frames where still: a 10-frame warm-up

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def stylizer(random_decoder_file):
    """fp32's kernels probed at the tests' work size (``VideoOptions(size=64)``), as ``--size 64`` would (at the
    default 512 NNPACK, 4-9x oneDNN's time on a 64 px frame on an AVX2 chip)."""
    return make_stylizer(random_decoder_file, calibration_size=64)


def _cli(src, dst, decoder, *extra):
    result = run_cli("video", src, dst, "--style", STYLE, "--decoder", decoder, "--json", "--size", "64", *extra)
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


def _parts(dst):
    return sorted(int(p.stem.split("_")[1]) for p in (dst.parent / f".{dst.name}.parts").glob("segment_*.mp4"))


def _no_part_files(root):
    return not [p for p in root.rglob("*") if ".part." in p.name]


def _psnr_min(a, b):
    """The worst frame's PSNR (dB) between two decoded videos: x264 is not bit-repeatable between runs here,
    so two encodes of the same frames agree to encoder noise."""
    mse = [np.mean((x.astype(float) - y) ** 2) for x, y in zip(a["images"], b["images"])]
    return min(10 * np.log10(255**2 / max(m, 1e-9)) for m in mse)


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


@pytest.mark.parametrize("size,out_size", [((1, 1), (2, 2)), ((2, 3), (2, 4))])
def test_tiny_frames_work_and_come_back_at_their_size(tmp_path, stylizer, size, out_size):
    """Frames below the networks' and the flow's minimum are enlarged for them and scaled back."""
    src = make_video(tmp_path / "in.mp4", frames=6, size=size)
    summary = run(stylizer, [(src, tmp_path / "out.mp4")], VideoOptions(size=64, parallel=1))
    assert summary.results[0].status == PROCESSED, summary.results[0].reason
    out = read_video(tmp_path / "out.mp4")
    assert out["frames"] == 6 and out["size"] == out_size and out["pts"] == read_video(src)["pts"]


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


def test_resume_gives_the_same_result(tmp_path, stylizer):
    """A run interrupted while segment 2 is written keeps segments 0 and 1 and no OUTPUT; --resume stylizes
    only the rest, exactly as the uninterrupted run did."""
    src = make_video(tmp_path / "in.mp4", frames=30, rate=24)
    # 6-frame segments; renewal periods of 6 and 5 frames: a 10-frame warm-up before each segment instead of the
    # default's 20 (the same machinery; the default's lanes: test_parallel_lanes_give_the_frames_of_one_lane)
    opts = VideoOptions(size=64, batch_size=4, segment_seconds=0.25, parallel=1, temporal=SHORT_WARMUP)
    full = Recorder()
    run(stylizer, [(src, tmp_path / "full.mp4")], opts, Media(sink=full))
    dst = tmp_path / "resumed.mp4"
    before = threading.active_count()
    with pytest.raises(KeyboardInterrupt):
        run(stylizer, [(src, dst)], opts, Media(sink=failing_sink(16, KeyboardInterrupt())))
    assert threading.active_count() == before  # every stage thread was joined
    assert not dst.exists() and _parts(dst) == [0, 1] and _no_part_files(tmp_path)

    resumed = Recorder()
    summary = run(stylizer, [(src, dst)], VideoOptions(**{**vars(opts), "resume": True}), Media(sink=resumed))
    assert summary.units_done == 30 and sorted(resumed.frames) == list(range(12, 30))
    assert all(np.array_equal(resumed.frames[k], full.frames[k]) for k in resumed.frames)
    a, b = read_video(tmp_path / "full.mp4"), read_video(dst)
    assert a["pts"] == b["pts"] and b["frames"] == 30 and _psnr_min(a, b) > 30
    assert not (tmp_path / ".resumed.mp4.parts").exists()


def test_a_real_sigint_stops_every_stage(tmp_path, stylizer):
    """SIGINT sent to this process by the source at frame 14: KeyboardInterrupt reaches the caller once every
    thread has stopped, no .part file is left, and --resume completes with the uninterrupted frames."""
    src = make_video(tmp_path / "in.mp4", frames=24, rate=24, audio=None)
    opts = VideoOptions(size=64, batch_size=2, segment_seconds=0.25, parallel=1)
    full = Recorder()
    run(stylizer, [(src, tmp_path / "full.mp4")], opts, Media(sink=full))

    def signalling(plan, run_):
        for frame in decode_source(plan, run_):
            if frame.index == 14:
                os.kill(os.getpid(), signal.SIGINT)
            yield frame

    before = threading.active_count()
    dst = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        run(stylizer, [(src, dst)], opts, Media(source=signalling))
        threading.Event().wait()  # the signal is on its way: it ends this wait if the run ended first
    assert threading.active_count() == before and not dst.exists() and _no_part_files(tmp_path)
    resumed = Recorder()
    summary = run(stylizer, [(src, dst)], VideoOptions(**{**vars(opts), "resume": True}), Media(sink=resumed))
    assert summary.results[0].status == PROCESSED and read_video(dst)["frames"] == 24
    assert all(np.array_equal(resumed.frames[k], full.frames[k]) for k in resumed.frames)


def test_parallel_lanes_give_the_frames_of_one_lane(tmp_path, stylizer):
    """Three lanes, each seeking to its run of segments and rebuilding the temporal state there (default
    --temporal full), stylize exactly the frames one lane does; the joined video keeps every timestamp and
    the audio."""
    src = make_video(tmp_path / "in.mp4", frames=40, rate=24)
    opts = VideoOptions(size=64, batch_size=4, segment_seconds=0.25, parallel=1)  # 6-frame segments: 7 of them
    one, three = Recorder(), Recorder()
    run(stylizer, [(src, tmp_path / "one.mp4")], opts, Media(sink=one))
    summary = run(stylizer, [(src, tmp_path / "three.mp4")], VideoOptions(**{**vars(opts), "parallel": 3}),
                  Media(sink=three))
    assert summary.units_done == 40
    assert sorted(len(s.indices) for s in three.sinks) == [12, 12, 16]  # segments 0-1, 2-3, 4-6
    assert sorted(one.frames) == sorted(three.frames) == list(range(40))
    assert all(np.array_equal(one.frames[k], three.frames[k]) for k in range(40))
    a, b = read_video(tmp_path / "one.mp4"), read_video(tmp_path / "three.mp4")
    assert b["frames"] == 40 and b["pts"] == a["pts"] == read_video(src)["pts"]
    assert b["audio"] == "aac" and b["audio_s"] == pytest.approx(a["audio_s"], abs=0.03)
    assert _psnr_min(a, b) > 30


def test_interrupted_lanes_resume_with_another_parallel(tmp_path, stylizer):
    """An interruption in one lane stops the other at its next batch, with nothing written to OUTPUT; --resume
    with a different --parallel keeps the finished segments and gives the uninterrupted run's frames."""
    src = make_video(tmp_path / "in.mp4", frames=36, rate=24)
    opts = VideoOptions(size=64, batch_size=3, segment_seconds=0.25, parallel=1,  # lanes: segments 0-2, 3-5
                        temporal=SHORT_WARMUP)  # a 10-frame warm-up, as in test_resume_gives_the_same_result
    full = Recorder()
    run(stylizer, [(src, tmp_path / "full.mp4")], opts, Media(sink=full))
    failed = threading.Event()

    def first_lane_ended():
        failed.wait()
        next(t for t in threading.enumerate() if t.name == "lane range(0, 3)").join()

    def sink(plan, lane):  # the first lane fails at frame 15; the second waits at frame 20 until it has ended
        if lane.start == 0:
            return failing_sink(15, KeyboardInterrupt(), before=failed.set)(plan, lane)
        return pausing_sink(20, first_lane_ended)(plan, lane)

    dst = tmp_path / "out.mp4"
    before = threading.active_count()
    with pytest.raises(KeyboardInterrupt):
        run(stylizer, [(src, dst)], VideoOptions(**{**vars(opts), "parallel": 2}), Media(sink=sink))
    assert threading.active_count() == before and not dst.exists() and _no_part_files(tmp_path)
    parts = _parts(dst)  # the second lane stops at its next batch: segment 3 at most, never 4 or 5
    assert parts in ([0, 1], [0, 1, 3])

    resumed = Recorder()
    summary = run(stylizer, [(src, dst)], VideoOptions(**{**vars(opts), "resume": True, "parallel": 3}),
                  Media(sink=resumed))
    assert summary.units_done == 36
    assert sorted(resumed.frames) == [k for k in range(36) if k // 6 not in parts]
    assert all(np.array_equal(resumed.frames[k], full.frames[k]) for k in resumed.frames)
    a, b = read_video(tmp_path / "full.mp4"), read_video(dst)
    assert b["frames"] == 36 and a["pts"] == b["pts"] and _psnr_min(a, b) > 30


def _two_videos(tmp_path):
    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "a.mp4", frames=12)
    make_video(tmp_path / "in" / "b.mp4", frames=24)
    return plan_videos(tmp_path / "in", tmp_path / "out")


@pytest.mark.parametrize("parallel", [1, 2])
def test_decoding_failing_half_way_fails_that_video_only(tmp_path, stylizer, parallel):
    """A source that stops decoding part way, while the stylizer waits for its next frame, is one failed item
    that leaves no work folder, and the next video still runs."""
    from pipeline.errors import VideoError

    twelve_written = threading.Event()
    reason = "truncated or corrupt: decoding failed after 15 frames (test)"

    def failing(plan, lane):
        for frame in decode_source(plan, lane):
            if plan.src.name == "b.mp4" and frame.index == 15:
                twelve_written.wait()  # the stylizer has caught up and waits on an empty channel
                raise VideoError(reason)
            yield frame

    opts = VideoOptions(size=64, batch_size=2, segment_seconds=0.25, parallel=parallel)
    media = Media(source=failing, sink=pausing_sink(13, twelve_written.set))
    summary = run(stylizer, _two_videos(tmp_path), opts, media)
    status = {Path(r.path).name: (r.status, r.reason) for r in summary.results}
    assert status["a.mp4"][0] == PROCESSED and status["b.mp4"] == (FAILED, reason)
    assert read_video(tmp_path / "out" / "a.mp4")["frames"] == 12
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.mp4"]  # no b.mp4, no work folder


@pytest.mark.parametrize("method,segment", [("write", 2), ("close", 2)])
def test_failed_write_keeps_finished_segments_for_resume(tmp_path, stylizer, method, segment):
    """The disk filling up while segment 2 of b.mp4 is written (its 3rd frame) or closed: one failed item
    naming the error, the next video still runs, segments 0 and 1 stay and no half-written file does, and
    --resume finishes with the same frames."""
    class FullDisk(SegmentWriter):
        frames = 0

        def write(self, image, pts):
            super().write(image, pts)
            self.frames += 1
            if method == "write" and self.frames == 3:
                raise OSError(errno.ENOSPC, "No space left on device", str(self.path))

        def close(self):
            super().close()  # then fail: a closed segment is on disk, and must not stay as a .part file
            if method == "close":
                raise OSError(errno.ENOSPC, "No space left on device", str(self.path))

    def sink(plan, lane=None):
        out = segment_sink(plan, lane)
        if plan.src.name == "b.mp4":
            out.writer_class = lambda path, *a: (FullDisk if f"{segment:06d}" in path.name else SegmentWriter)(path, *a)
        return out

    # 6-frame segments; without the temporal state, which test_resume_gives_the_same_result covers (each
    # segment's warm-up would triple the frames stylized here)
    opts = VideoOptions(size=64, batch_size=2, segment_seconds=0.25, parallel=1,
                        temporal=TemporalOptions(TemporalMode.OFF))
    pairs = _two_videos(tmp_path)
    summary = run(stylizer, pairs, opts, Media(sink=sink))
    status = {Path(r.path).name: (r.status, r.reason) for r in summary.results}
    assert status["a.mp4"][0] == PROCESSED and status["b.mp4"][0] == FAILED
    assert "No space left on device" in status["b.mp4"][1] and "--resume" in status["b.mp4"][1]
    assert not (tmp_path / "out" / "b.mp4").exists() and _parts(tmp_path / "out" / "b.mp4") == [0, 1]
    assert _no_part_files(tmp_path)

    whole, resumed = Recorder(), Recorder()
    run(stylizer, [(pairs[1][0], tmp_path / "whole.mp4")], opts, Media(sink=whole))
    summary = run(stylizer, pairs[1:], VideoOptions(**{**vars(opts), "resume": True}), Media(sink=resumed))
    assert summary.results[0].status == PROCESSED and summary.units_done == 24
    assert sorted(resumed.frames) == list(range(12, 24))
    assert all(np.array_equal(resumed.frames[k], whole.frames[k]) for k in resumed.frames)
    a, b = read_video(tmp_path / "whole.mp4"), read_video(tmp_path / "out" / "b.mp4")
    assert b["frames"] == 24 and b["pts"] == a["pts"] and _psnr_min(a, b) > 30
    assert not (tmp_path / "out" / ".b.mp4.parts").exists()


class CountingStylizer:
    """The stylizer, counting the frames of each batch it encodes."""

    def __init__(self, inner):
        self.inner, self.sizes = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_batch(self, batch):
        self.sizes.append(len(batch))
        return self.inner.encode_batch(batch)


def test_segment_warm_up_goes_in_the_runs_batches(tmp_path, stylizer):
    """Each segment re-runs the frames before it (20 at the default strengths: two still renewal periods of the
    warp blend) to rebuild the temporal state, in the run's batch size: all at once they would hold that many
    frames' activations together."""
    counting = CountingStylizer(stylizer)
    src = make_video(tmp_path / "in.mp4", frames=30, rate=24, audio=None)
    opts = VideoOptions(size=64, batch_size=3, segment_seconds=0.5, parallel=1)  # 12-frame segments, two warm-ups
    run(counting, [(src, tmp_path / "out.mp4")], opts)
    assert opts.temporal.warmup_frames == 20
    assert sum(counting.sizes) == 30 + 12 + 20 and max(counting.sizes) == 3  # segment 1 has only 12 frames before it


def test_the_plan_decides_lanes_once_from_the_real_sizes(tmp_path):
    from pipeline.jobs.video_plan import make_plan

    src = make_video(tmp_path / "in.mp4", frames=40, rate=24, audio=None)
    info = probe(src)
    plan = lambda **kw: make_plan(src, tmp_path / "o.mp4", info, VideoOptions(segment_seconds=0.25, **kw), CPU)  # noqa: E731
    four = plan(parallel=4)
    assert four.runs == (range(0, 1), range(1, 3), range(3, 5), range(5, 7)) and len(four.timestamps) == 40
    assert plan(parallel=4, max_frames=13).runs == (range(0, 1), range(1, 2), range(2, 3))  # three segments
    assert plan(parallel=4, start=0.5).runs is None and plan(parallel=4, duration=1.0).runs is None
    assert make_plan(src, tmp_path / "o.mp4", info, VideoOptions(parallel=4), CPU).runs is None  # one segment
    assert (four.work_hw, four.out_hw, four.seg_len, four.warmup) == ((48, 64), (48, 64), 6, 20)  # 2 still periods
    assert plan(parallel=1, temporal=replace_strength(0.8)).warmup == 25  # longer memory, longer warm-up


def replace_strength(strength):
    from pipeline.options import TemporalOptions

    return TemporalOptions(strength=strength)


def test_auto_parallel_sizes_lanes_to_the_frames():
    from pipeline.jobs.video_plan import auto_parallel

    cuda = torch.device("cuda")  # a device object needs no GPU
    two = 2 if (os.cpu_count() or 1) >= 2 else 1
    assert auto_parallel(CPU, (288, 512), (288, 512)) == two
    assert auto_parallel(CPU, (288, 512), (720, 1280)) == two  # --keep-size on 720p
    assert auto_parallel(CPU, (288, 512), (1080, 1920)) == 1  # 1080p written: one lane keeps it under 2 GB
    assert auto_parallel(CPU, (720, 1280), (720, 1280)) == 1
    assert auto_parallel(cuda, (1080, 1920), (1080, 1920)) == max(1, min(4, (os.cpu_count() or 1) // 4))


def test_cpu_runs_past_720p_get_a_lean_encoder(tmp_path):
    """One x264 thread looking 10 frames ahead where the CPU writes frames past 720p; elsewhere, or when
    threads are asked for, the options stay as given; the stream says what x264 used."""
    from pipeline.jobs.video_plan import lean_encoder
    from tests.helpers import gradient_image

    cuda, full_hd = torch.device("cuda"), (1080, 1920)
    lean = lean_encoder(EncodeOptions(), CPU, full_hd)
    assert (lean.threads, lean.lookahead) == (1, 10)
    for opts, device, hw in [(EncodeOptions(), CPU, (720, 1280)), (EncodeOptions(), cuda, full_hd),
                             (EncodeOptions(threads=4), CPU, full_hd), (EncodeOptions(codec="libx265"), CPU, full_hd)]:
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


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_ends_cleanly_and_resume_finishes(tmp_path, random_decoder_file, signum, code):
    """SIGINT (or SIGTERM) to a running `stylize video` once its first segment is finished: exit 130 (143) with
    one line and no C++ abort ("terminate called ..."), finished segments kept, no .part; --resume finishes."""
    src = make_video(tmp_path / "in.mp4", frames=48, rate=24)
    dst = tmp_path / "out.mp4"
    args = [sys.executable, "-m", "pipeline", "video", str(src), str(dst), "--style", str(STYLE), "--decoder",
            str(random_decoder_file), "--size", "64", "--segment-seconds", "0.25", "--parallel", "2"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = tmp_path / ".out.mp4.parts" / "segment_000000.mp4"
    _wait_for(first, proc)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "terminate called" not in stderr and "Traceback" not in stderr
    assert not dst.exists() and _parts(dst) and _no_part_files(tmp_path)
    result, summary = _cli(src, dst, random_decoder_file, "--segment-seconds", "0.25", "--resume")
    assert result.exit_code == 0 and summary["frames"] == 48 and read_video(dst)["frames"] == 48


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    """Until ``path`` exists (inotify would do; the file appears by a rename, which polling sees as well)."""
    import time

    deadline = time.monotonic() + 300
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before its first segment"
        time.sleep(0.01)


def test_a_header_frame_count_is_a_hint(tmp_path, stylizer):
    """A source that ends cleanly before the container's frame count (an AVI header promising 444 frames
    around 68) gives a whole video of the frames there are; only a decode error is truncation."""
    import itertools

    src = make_video(tmp_path / "in.mp4", frames=12, audio=None)
    assert probe(src).frames == 12
    media = Media(source=lambda plan, lane: itertools.islice(decode_source(plan, lane), 8))
    summary = run(stylizer, [(src, tmp_path / "out.mp4")], VideoOptions(size=64, parallel=1), media)
    assert summary.results[0].status == PROCESSED and summary.units_done == 8
    assert read_video(tmp_path / "out.mp4")["pts"] == read_video(src)["pts"][:8]


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


@pytest.mark.parametrize("case", ["not_video", "truncated", "audio_only", "empty", "zero_frames", "unknown_codec"])
def test_bad_input_one_line_nonzero_exit(tmp_path, random_decoder_file, case):
    src = tmp_path / "in.mp4"
    if case == "not_video":
        src.write_text("hello")
    elif case == "truncated":  # cut before its index, at the end: nothing can be read (tests/test_media_gaps.py)
        make_video(tmp_path / "full.mp4", frames=48)
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
    dst = tmp_path / "out.mp4"
    before = src.read_bytes()
    result, summary = _cli(src, dst, random_decoder_file)
    assert result.exit_code == 1
    assert str(src) in one_error_line(result.stderr)
    assert summary["failed"] == 1
    assert src.read_bytes() == before and not dst.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files or work folders left


@pytest.mark.parametrize("case", ["same_path", "unwritable", "suffix", "encoder", "missing"])
def test_a_job_that_cannot_start_is_a_usage_error(tmp_path, random_decoder_file, case):
    """Exit 2 with one line, before anything is created on disk."""
    src = make_video(tmp_path / "in.mp4", frames=4)
    (tmp_path / "file").write_text("x")
    dst, extra = {"same_path": (src, []), "unwritable": (tmp_path / "file" / "sub" / "out.mp4", []),
                  "suffix": (tmp_path / "out.txt", []), "encoder": (tmp_path / "out.mp4", ["--codec", "nonexistent"]),
                  "missing": (tmp_path / "out.mp4", [])}[case]
    if case == "missing":
        src = tmp_path / "nothing.mp4"
    before = sorted(tmp_path.rglob("*"))
    result, _ = _cli(src, dst, random_decoder_file, *extra)
    assert result.exit_code == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert sorted(tmp_path.rglob("*")) == before


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


def test_keyframe_refinement_and_temporal_modes(tmp_path, random_decoder_file):
    src = make_video(tmp_path / "in.mp4", frames=6)
    for extra in (["--temporal", "off"], ["--temporal", "stats"], ["--refine-every", "3", "--iterations", "2"]):
        result, summary = _cli(src, tmp_path / "out.mp4", random_decoder_file, *extra)
        assert result.exit_code == 0, result.stderr
        assert read_video(tmp_path / "out.mp4")["frames"] == 6


def test_coral_recolours_once_from_the_first_frame(tmp_path, random_decoder_file):
    """--preserve-color coral fixes the style's colours from the video's first frame: a run from frame 0 and
    lanes starting mid-file give the same frames."""
    coral = make_stylizer(random_decoder_file, preserve_color="coral", calibration_size=64)  # the work size
    src = make_video(tmp_path / "in.mp4", frames=24, rate=24, audio=None)
    opts = VideoOptions(size=64, batch_size=2, segment_seconds=0.25, parallel=1)
    one, two = Recorder(), Recorder()
    run(coral, [(src, tmp_path / "one.mp4")], opts, Media(sink=one))
    run(coral, [(src, tmp_path / "two.mp4")], VideoOptions(**{**vars(opts), "parallel": 2}), Media(sink=two))
    assert len(two.sinks) == 2 and sorted(two.frames) == list(range(24))
    assert all(np.array_equal(one.frames[k], two.frames[k]) for k in range(24))


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


def test_device_side_yuv420p_path_matches_rgb_path(tmp_path, stylizer):
    """The CUDA path hands the encoder yuv420p converted by torch; it must give the same video."""
    src = make_video(tmp_path / "in.mp4", frames=6, size=(64, 48))
    job = VideoJob(VideoOptions(size=64, batch_size=3, parallel=1), "", CPU)
    for name, yuv in (("rgb.mp4", False), ("yuv.mp4", True)):
        plan = job.plan(src, tmp_path / name)
        job.prepare(plan)
        stage = FrameStage(nets_for_video(stylizer, None, plan), plan)
        stage.yuv = yuv
        job.finish(plan, [render_run(plan, None, stage)])
    a, b = read_video(tmp_path / "rgb.mp4"), read_video(tmp_path / "yuv.mp4")
    assert a["frames"] == b["frames"] == 6 and a["pts"] == b["pts"]
    assert _psnr_min(a, b) > 30  # chroma siting and x264 noise only


def test_rgb_to_yuv420p_matches_swscale():
    import av

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
    would hold 40 frames ahead; x264 records the settings it used in the stream, so read them back."""
    from tests.helpers import gradient_image

    writer = SegmentWriter(tmp_path / "s.mp4", (48, 64), Fraction(24), Fraction(1, 24), EncodeOptions(threads=2))
    for i in range(4):
        writer.write(gradient_image(64, 48, seed=i), i)
    writer.close()
    settings = (tmp_path / "s.mp4").read_bytes().split(b"options: ", 1)[1][:2000]
    assert b" threads=2 " in settings and b" sliced_threads=0 " in settings
    assert b" rc_lookahead=20 " in settings
