"""An encoder that makes this process real-time is put back (pipeline/io/scheduling.py): SVT-AV1 run as root
sets the thread that opens it, and its own threads, to SCHED_FIFO 99; left so, every thread started after it
(the networks', the next encoders', a browser a test starts) starves the machine."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import pytest

import pipeline
from pipeline.io.scheduling import ordinary_threads
from tests.helpers import STYLE_PATH
from tests.videos import make_video, read_video


def real_time_threads() -> list[int]:
    found = []
    for name in os.listdir("/proc/self/task"):
        try:
            if os.sched_getscheduler(int(name)) != os.SCHED_OTHER:
                found.append(int(name))
        except OSError:
            continue
    return found


def svt_makes_this_process_real_time() -> bool:
    """Whether opening SVT-AV1 here leaves the opening thread real-time (as root it does; put back after)."""
    ctx = av.CodecContext.create("libsvtav1", "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 64, 64, "yuv420p", Fraction(1, 24)
    ctx.options = {"svtav1-params": "log-level=0"}
    ctx.open()
    raised = os.sched_getscheduler(0) != os.SCHED_OTHER
    del ctx
    ordinary_threads()
    return raised


def test_an_av1_run_leaves_no_thread_real_time(tmp_path, random_decoder_file):
    """`--codec libsvtav1` through checking, planning and six segments of encoding: afterwards no thread of
    the process is real-time, and the output holds its frames."""
    if "libsvtav1" not in av.codecs_available:
        pytest.skip("this PyAV has no SVT-AV1")
    if not svt_makes_this_process_real_time():
        pytest.skip("SVT-AV1 does not raise this process's priority here (it does as root)")
    src = make_video(tmp_path / "in.mp4", frames=12, rate=24, audio=None)
    report = pipeline.stylize_video(src, tmp_path / "out.mkv", STYLE_PATH, decoder=random_decoder_file, size=64,
                                    codec="libsvtav1", segment_seconds=0.1, parallel=2, temporal="off")
    assert report["processed"] == 1 and real_time_threads() == []
    assert read_video(Path(tmp_path / "out.mkv"))["frames"] == 12
