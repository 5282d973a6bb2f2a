"""A batch of videos stopped part way and run again: ``--skip-existing`` leaves each finished output as it is,
``--resume`` takes the interrupted video's finished segments, and the rest are made; an output that is in the
way but does not decode is made again (pipeline/io/finished.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import pytest

from pipeline.io.finished import finished_video
from pipeline.jobs.render import segment_sink
from pipeline.jobs.video import Media
from pipeline.options import TemporalMode, TemporalOptions, VideoOptions
from tests.helpers import STYLE_PATH, Identity, Recorder, failing_sink, make_stylizer, one_error_line, run, run_cli
from tests.media import cut
from tests.videos import make_video, read_video

VIDEOS = Path("../shared/data/video")
REAL = [VIDEOS / "carphone_qcif.mp4", VIDEOS / "cutBunny.mp4", VIDEOS / "slow_traffic_5s.mp4"]
# 24 frames of each, in quarter-second segments (29.97, 24 with AAC, 29.97 with AAC frames/s)
OPTS = VideoOptions(size=64, batch_size=2, segment_seconds=0.25, parallel=1, max_frames=24)


@pytest.fixture(scope="module")
def stylizer(random_decoder_file):
    return make_stylizer(random_decoder_file, calibration_size=OPTS.size)


def _batch(tmp_path: Path) -> list[tuple[Path, Path]]:
    """Three real clips, each into its own output."""
    folder = tmp_path / "clips"
    folder.mkdir()
    return [(Path(shutil.copy(src, folder / f"{name}.mp4")), tmp_path / "out" / f"{name}.mp4")
            for name, src in zip("abc", REAL)]


def _noting(seen: list[tuple[str, int]]):
    """Real segment sinks that note (video name, frame index) of each frame rendered."""

    def make(plan, lane=None):
        sink = segment_sink(plan, lane)
        write = sink.write

        def noted(index, pts, image):
            if image is not None:
                seen.append((plan.src.name, index))
            write(index, pts, image)

        sink.write = noted
        return sink

    return make


@pytest.mark.skipif(not all(p.exists() for p in REAL), reason="needs ../shared/data/video")
def test_a_batch_stopped_in_its_second_video_goes_on_from_there(tmp_path, stylizer):
    """Ctrl-C at frame 16 of the second of three real clips: run again with --resume --skip-existing, the
    first is left as it was (not one byte or time changed), the second renders only what follows its last
    finished segment, the third whole; every output holds 24 frames at its clip's times, audio kept."""
    pairs = _batch(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run(stylizer, pairs, OPTS, Media(sink=failing_sink(16, KeyboardInterrupt(), name="b.mp4")))
    first = pairs[0][1]
    assert read_video(first)["frames"] == 24 and not pairs[1][1].exists() and not pairs[2][1].exists()
    before = (first.read_bytes(), first.stat().st_mtime_ns)
    seen: list[tuple[str, int]] = []
    opts = VideoOptions(**{**vars(OPTS), "resume": True, "skip_existing": True})
    summary = run(stylizer, pairs, opts, Media(sink=_noting(seen)))
    assert [(r.status, r.reason) for r in summary.results] == [("skipped", "output exists"), ("processed", ""),
                                                               ("processed", "")]
    assert (first.read_bytes(), first.stat().st_mtime_ns) == before
    rendered = {name: sorted(k for n, k in seen if n == name) for name in ("a.mp4", "b.mp4", "c.mp4")}
    assert rendered == {"a.mp4": [], "b.mp4": list(range(12, 24)), "c.mp4": list(range(24))}  # b: 6-frame segments
    for (src, dst), audio in zip(pairs, (None, "aac", "aac")):
        made = read_video(dst)
        with av.open(str(src)) as source:
            rate = source.streams.video[0].average_rate
        assert made["frames"] == 24 and float(made["pts"][23]) == pytest.approx(23 / rate, abs=2e-3)
        assert made["audio"] == audio


def test_only_outputs_that_decode_are_skipped(tmp_path, random_decoder_file):
    """One output finished, one cut to half its bytes (a copy that stopped), one missing: the CLI skips the
    first and makes the other two, exit 0; run once more, all three are skipped and no networks are built."""
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in "abc":
        make_video(clips / f"{name}.mp4", frames=6, rate=24, audio=None)
    out = tmp_path / "out"
    args = ["--style", STYLE_PATH, "--decoder", random_decoder_file, "--size", "32", "--temporal", "off", "--json"]
    assert run_cli("video", clips, out, *args).exit_code == 0
    cut(out / "b.mp4", tmp_path / "half.mp4", 0.5).replace(out / "b.mp4")
    (out / "c.mp4").unlink()
    kept = (out / "a.mp4").stat().st_mtime_ns
    result = run_cli("video", clips, out, *args, "--skip-existing")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and (report["skipped"], report["processed"]) == (1, 2), report
    assert (out / "a.mp4").stat().st_mtime_ns == kept
    assert all(read_video(out / f"{name}.mp4")["frames"] == 6 for name in "abc")
    report = json.loads(run_cli("video", clips, out, *args, "--skip-existing").stdout)
    assert (report["skipped"], report["processed"], report["frames"]) == (3, 0, 0) and "backend" not in report


def test_a_finished_image_sequence_is_skipped_not_refused(tmp_path, random_decoder_file):
    """A pattern that already matches frames: refused (exit 2) without --skip-existing, which names the way
    out; skipped with it, its frames untouched."""
    src = make_video(tmp_path / "in.mp4", frames=5, rate=24, audio=None)
    pattern = tmp_path / "frames" / "%03d.png"
    args = ["--style", STYLE_PATH, "--decoder", random_decoder_file, "--size", "32", "--temporal", "off"]
    assert run_cli("video", src, pattern, *args).exit_code == 0
    times = sorted(p.stat().st_mtime_ns for p in pattern.parent.iterdir())
    refused = run_cli("video", src, pattern, *args)
    assert refused.exit_code == 2 and "--skip-existing" in one_error_line(refused.stderr)
    result = run_cli("video", src, pattern, *args, "--skip-existing", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["skipped"] == 1
    assert sorted(p.stat().st_mtime_ns for p in pattern.parent.iterdir()) == times and len(times) == 5


def test_skip_existing_is_not_among_the_settings_a_resume_checks(tmp_path, stylizer):
    """Segments of a run without --skip-existing are taken by a resume with it (the flag decides which
    videos run, not how their frames look)."""
    src = make_video(tmp_path / "in.mp4", frames=24, rate=24, audio=None)
    dst = tmp_path / "out.mp4"
    opts = VideoOptions(size=64, batch_size=2, segment_seconds=0.25, parallel=1,
                        temporal=TemporalOptions(TemporalMode.OFF))
    with pytest.raises(KeyboardInterrupt):
        run(stylizer, [(src, dst)], opts, Media(sink=failing_sink(16, KeyboardInterrupt())))
    again = Recorder()
    run(stylizer, [(src, dst)], VideoOptions(**{**vars(opts), "resume": True, "skip_existing": True}),
        Media(sink=again))
    assert sorted(again.frames) == list(range(12, 24)) and read_video(dst)["frames"] == 24


@pytest.mark.skipif(not REAL[2].exists(), reason="needs ../shared/data/video")
def test_an_output_cut_short_is_not_taken_for_a_finished_one(tmp_path):
    """Two seconds of a real clip with its audio, written into each container and animated format, whole and
    with its last tenth or half of bytes gone (a copy that stopped): only the whole ones count as finished.
    FFmpeg reads a cut MP4 or MOV by its index and rebuilds a cut AVI's, so each reads as a shorter whole
    unless the packets are held to the ends the file states."""
    opts = VideoOptions(size=64, batch_size=4, parallel=1, max_frames=60, temporal=TemporalOptions(TemporalMode.OFF))
    outputs = [tmp_path / f"whole.{ext}" for ext in ("mp4", "mov", "mkv", "webm", "avi", "gif", "webp", "apng")]
    summary = run(Identity(), [(REAL[2], dst) for dst in outputs], opts)
    assert summary.count("processed") == len(outputs), summary.results
    for whole in outputs:
        assert finished_video(whole), whole.name
        for fraction in (0.5, 0.9):
            assert not finished_video(cut(whole, tmp_path / f"cut{fraction}{whole.suffix}", fraction)), \
                (whole.name, fraction)
    assert not finished_video(tmp_path / "none.mp4")
    # FFmpeg's AAC in Matroska: the stated end takes in the encoder's priming, 19 ms past the last packet's end
    assert finished_video(make_video(tmp_path / "primed.mkv", frames=30, rate=24, audio="aac"))
