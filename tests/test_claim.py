"""Two runs into one output (pipeline/io/claim.py): the second leaves it to the first instead of emptying its
work folder and mixing its own segments in; processes sharing a folder of videos make each video once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pipeline.jobs.video import Media
from pipeline.options import VideoOptions
from tests.helpers import ROOT, STYLE_PATH, Recorder, make_stylizer, pausing_sink, run
from tests.videos import make_video, read_video

OPTS = VideoOptions(size=64, batch_size=2, segment_seconds=0.25, parallel=1)
VIDEOS = Path("../shared/data/video")
REAL = [VIDEOS / "carphone_qcif.mp4", VIDEOS / "cutBunny.mp4", VIDEOS / "slow_traffic_5s.mp4"]


def test_a_second_run_into_an_output_being_written_leaves_it_to_the_first(tmp_path, random_decoder_file):
    """While one run is at frame 10 of 24, another with another style starts on the same output: it renders
    nothing and counts the video skipped, naming the first run's process; the first finishes its own video.
    Before, the second emptied the first's work folder and wrote its own segments beside the first's."""
    src = make_video(tmp_path / "in.mp4", frames=24, rate=24, audio=None)
    dst = tmp_path / "out.mp4"
    reached, go = threading.Event(), threading.Event()
    first: dict = {}

    def pause():
        reached.set()
        assert go.wait(120)

    def first_run():
        stylizer = make_stylizer(random_decoder_file, calibration_size=OPTS.size)
        first["summary"] = run(stylizer, [(src, dst)], OPTS, Media(sink=pausing_sink(10, pause)))

    thread = threading.Thread(target=first_run)
    thread.start()
    try:
        assert reached.wait(300)
        other = make_stylizer(random_decoder_file, alpha=0.5, calibration_size=OPTS.size)
        second = Recorder()
        summary = run(other, [(src, dst)], OPTS, Media(sink=second), key="alpha 0.5")
    finally:
        go.set()
        thread.join()
    result = summary.results[0]
    assert result.status == "skipped" and f"(pid {os.getpid()} on " in result.reason and not second.frames
    assert first["summary"].results[0].status == "processed" and read_video(dst)["frames"] == 24
    assert not (tmp_path / ".out.mp4.parts").exists()


@pytest.mark.skipif(not all(p.exists() for p in REAL), reason="needs ../shared/data/video")
def test_two_processes_over_one_folder_of_videos_make_each_video_once(tmp_path, random_decoder_file):
    """Two `stylize video --skip-existing` processes started together over three real clips (as one per GPU
    would be): every video is made by exactly one of them and skipped by the other, both exit 0, and every
    output holds its 24 frames (audio kept where the clip has it)."""
    clips = tmp_path / "clips"
    clips.mkdir()
    for src in REAL:
        shutil.copy(src, clips / src.name)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "pipeline", "video", clips, out, "--style", STYLE_PATH, "--decoder",
            random_decoder_file, "--size", "64", "--max-frames", "24", "--segment-seconds", "0.25",
            "--skip-existing", "--json", "-q"]
    procs = [subprocess.Popen([str(a) for a in args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    reports = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0 and "Traceback" not in stderr, stderr
        reports.append(json.loads(stdout))
    made = sorted(item["path"] for report in reports for item in report["items"] if item["status"] == "processed")
    left = sorted(item["path"] for report in reports for item in report["items"] if item["status"] == "skipped")
    assert made == left == sorted(str(clips / src.name) for src in REAL), reports
    for src in REAL:
        info = read_video(out / src.name)
        assert info["frames"] == 24 and (info["audio"] is not None) == (src.name != "carphone_qcif.mp4")
    assert sorted(p.name for p in out.iterdir()) == sorted(src.name for src in REAL)  # no work folder left



def test_a_filesystem_without_locks_runs_unheld_and_says_so(tmp_path, random_decoder_file, monkeypatch, caplog):
    """Some network and FUSE mounts refuse flock (ENOLCK): the video is still made, with one warning that two
    runs there are not kept apart; before the fallback it would have failed "writing failed"."""
    import errno
    import fcntl
    import logging

    import pipeline.io.claim as claim_module

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(claim_module.fcntl, "flock", no_locks)
    assert claim_module.fcntl is fcntl
    src = make_video(tmp_path / "in.mp4", frames=12, rate=24, audio=None)
    stylizer = make_stylizer(random_decoder_file, calibration_size=OPTS.size)
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        summary = run(stylizer, [(src, tmp_path / "out" / "a.mp4"), (src, tmp_path / "out" / "b.mp4")], OPTS)
    assert [r.status for r in summary.results] == ["processed", "processed"]
    said = [r.getMessage() for r in caplog.records if "takes no locks" in r.getMessage()]
    assert len(said) == 1 and "No locks available" in said[0]
    assert read_video(tmp_path / "out" / "b.mp4")["frames"] == 12
