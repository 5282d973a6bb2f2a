"""The cluster recipe: a Ray head node started as a user starts one, `stylize` joining it by address."""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import ROOT, STYLE_PATH as STYLE, psnr, run_cli, save_rgb
from tests.videos import make_video, read_video

pytest.importorskip("ray")
pytestmark = pytest.mark.slow

RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(extra: dict | None = None) -> dict:
    """This process's environment without what an earlier ``ray.init`` here left in it (``ray.init`` sets
    RAY_AUTH_MODE=token, which the head node below, started with auth disabled, refuses: its actors die), so
    the node and the runs agree whatever ran before."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_") and k != "PYTHONBREAKPOINT"}
    return {**env, "RAY_AUTH_MODE": "disabled", **(extra or {})}


@pytest.fixture(scope="module")
def head():
    """``ray start --head`` on a free port with its own temporary folder (short: Ray's socket paths have a
    length limit). It runs with ``--block`` in a session of its own and is stopped by its process id and
    group: ``ray stop`` would stop every Ray instance on the machine, other runs' too."""
    port, temp = _free_port(), tempfile.mkdtemp(prefix="stz", dir="/tmp")
    out = open(Path(temp) / "head.out", "w")
    proc = subprocess.Popen([str(RAY), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
                             f"--temp-dir={temp}", "--num-cpus=2", "--include-dashboard=false",
                             "--disable-usage-stats", "--block"], stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True, env=_environment())
    try:
        deadline = time.monotonic() + 40
        while "Ray runtime started" not in (Path(temp) / "head.out").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, (Path(temp) / "head.out").read_text()
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the node's processes: `ray start` would drain for 30 s
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(3)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        out.close()
        shutil.rmtree(temp, ignore_errors=True)


def _stylize(*args, env=None) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env=_environment(env))
    assert done.stdout.startswith("{"), done.stderr
    return done, json.loads(done.stdout)


def _no_ray_lines(stderr: str) -> None:
    """Only stylize's own lines: progress, the summary table, the time split."""
    assert not re.search(r"\b(INFO|WARNING|ERROR|Ray|ray\.\w+)\b|core_worker|\.cc:", stderr), stderr


def test_folder_and_video_jobs_on_a_started_head_node(tmp_path, random_decoder_file, head):
    src = tmp_path / "in"
    save_rgb(src / "a.png", 48, 40)
    save_rgb(src / "sub" / "b.jpg", 64, 40, seed=1)
    common = ["--style", STYLE, "--decoder", random_decoder_file, "--json", "--size", "64", "--device", "cpu"]
    local = run_cli("folder", src, tmp_path / "local", *common)
    done, summary = _stylize("folder", src, tmp_path / "ray", *common, "--engine", "ray", "--ray-address", head,
                             "--workers", "1")
    assert local.exit_code == done.returncode == 0 and summary["processed"] == 2
    for name in ("a.png", "sub/b.jpg"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    _no_ray_lines(done.stderr)
    assert "Started a local Ray instance" not in (Path(os.environ["STYLIZE_CACHE"]) / "logs" / "ray.log").read_text()

    video = make_video(tmp_path / "clip.mp4", frames=12, rate=24, rotation=90)
    common += ["--segment-seconds", "0.25", "--batch-size", "2"]
    local = run_cli("video", video, tmp_path / "local.mp4", *common)
    done, summary = _stylize("video", video, tmp_path / "ray.mp4", *common, "--engine", "ray", "--workers", "1",
                             env={"RAY_ADDRESS": head})  # what `ray job submit` sets for its entrypoint
    assert local.exit_code == done.returncode == 0 and summary["frames"] == 12
    assert all(summary[key] > 0 for key in ("decode_s", "compute_s", "encode_s")), summary  # the time split
    a, b, original = read_video(tmp_path / "local.mp4"), read_video(tmp_path / "ray.mp4"), read_video(video)
    assert b["frames"] == 12 and b["pts"] == original["pts"] and b["size"] == a["size"] == (48, 64)
    assert b["audio_s"] == pytest.approx(original["audio_s"], abs=0.03)
    # The frames match the local run's up to x264's run-to-run noise (tests/test_distributed.py).
    assert min(psnr(x, y) for x, y in zip(a["images"], b["images"])) > 30
    _no_ray_lines(done.stderr)
    assert "time split: decode" in done.stderr
