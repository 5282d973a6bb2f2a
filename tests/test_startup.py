"""Start-up (issue 41): the run reports when its first frame was stylized, counted from the process's start;
the video command imports nothing it does not use; a calibration made once is read back, not made again."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers import ROOT, STYLE_PATH, make_stylizer

CLIP = ROOT / "samples" / "video" / "astronaut_pan.mp4"
DELAY_S = 0.5
# The process sleeps before the CLI starts: a figure counted from the process's start includes it, one
# counted from the CLI's import would not. At exit it says which of these it ever imported.
RUN = f"""
import runpy, sys, time
time.sleep({DELAY_S})
sys.argv = ["stylize", *sys.argv[1:]]
try:
    runpy.run_module("pipeline", run_name="__main__")
finally:
    print("imported:", [m for m in ("ray", "openvino", "fastapi", "uvicorn") if m in sys.modules], file=sys.stderr)
"""


def test_a_video_run_reports_its_first_frame_from_the_process_start_and_imports_only_what_it_uses(tmp_path):
    from pipeline.backends import OPENVINO, _write_cache, cache_key, for_precision
    from pipeline.options import calibration_size_for

    # The probe's figures for the run's size, in the session's cache folder that the run reads (stored even
    # where this probe was made on a busy machine, which would not keep them): the run takes what this process
    # found, without a probe of its own (which would import every candidate's runtime).
    size = calibration_size_for(64)
    found = for_precision("auto", size)
    if found.measured:
        _write_cache(cache_key(size), dict(found.measured))
    chosen = found.name
    start = time.perf_counter()
    args = ["video", CLIP, tmp_path / "out.mp4", "--style", STYLE_PATH, "--size", "64", "--max-frames", "2",
            "--no-calibrate", "--json", "-q"]
    done = subprocess.run([sys.executable, "-c", RUN, *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["frames"] == 2
    assert DELAY_S <= summary["first_frame_s"] < wall, (summary, wall)
    assert 0 < summary["first_frame_cpu_s"] <= summary["first_frame_s"] * os.cpu_count()  # CPU time of all threads
    imported = ast.literal_eval(done.stderr.strip().splitlines()[-1].removeprefix("imported:"))
    assert summary["backend"].split()[:2] == ["cpu", chosen]
    assert imported == (["openvino"] if chosen in OPENVINO else []), done.stderr


def test_a_calibration_is_made_once_and_read_back_the_same(monkeypatch, tmp_path_factory):
    import pipeline.build as build
    from pipeline.cache import cache_dir

    monkeypatch.setenv("STYLIZE_CACHE", str(tmp_path_factory.mktemp("own-cache")))  # not the session's folder
    first = make_stylizer(None, STYLE_PATH, size=64, calibrate=True, calibration_size=32)
    assert len(list((cache_dir() / "calibration").glob("*.safetensors"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("calibrated again")

    monkeypatch.setattr(build, "calibrate", fail)
    monkeypatch.setattr(build, "style_stats", fail)  # the cached statistics need no style encoding either
    again = make_stylizer(None, STYLE_PATH, size=64, calibrate=True, calibration_size=32)
    for name in ("mean", "std", "shift", "gain"):
        assert torch.equal(getattr(first.target, name), getattr(again.target, name)), name
    assert float(first.target.gain.std()) > 0  # a real correction, channel by channel
    frame = torch.rand(1, 3, 48, 64)
    assert torch.equal(first(frame), again(frame))


def test_the_probe_stops_after_two_rounds_only_when_one_backend_leads_steadily(monkeypatch):
    from types import SimpleNamespace

    from pipeline import backends

    def probe(costs: dict[str, list[float]]) -> tuple[dict[str, float], dict[str, int]]:
        """The probe's figures and calls per backend, each call taking the next of its ``costs`` (warm-up first)
        on a clock of the test's own."""
        clock, calls = [0.0], {name: 0 for name in costs}

        def runner(name, encoder):
            def run(batch):
                clock[0] += costs[name][calls[name]]
                calls[name] += 1
            return run

        monkeypatch.setattr(backends, "_runner", runner)
        monkeypatch.setattr(backends, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
        return backends._time_interleaved(list(costs), None, (8, 8)), calls

    figures, calls = probe({"bf16": [9, 1.0, 1.02, 1.0], "onednn": [9, 2.0, 2.0, 2.0]})
    assert figures == {"bf16": 1.0, "onednn": 2.0} and calls == {"bf16": 3, "onednn": 3}  # warm-up and two
    figures, calls = probe({"bf16": [9, 3.0, 1.0, 1.0], "onednn": [9, 2.0, 2.0, 2.0]})  # a burst: a third round
    assert figures == {"bf16": 1.0, "onednn": 2.0} and calls == {"bf16": 4, "onednn": 4}
    figures, calls = probe({"bf16": [9, 1.0, 1.0, 0.95], "onednn": [9, 1.1, 1.1, 1.1]})  # too close to stop
    assert figures == pytest.approx({"bf16": 0.95, "onednn": 1.1}) and calls == {"bf16": 4, "onednn": 4}
