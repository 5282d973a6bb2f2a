"""Pixel-identical outputs across restructurings: a fixed set of jobs hashed against recorded digests.

The jobs (a folder with a bad file, a video with audio, the same with ``--temporal off``, a video killed with
SIGKILL and resumed) run at fp32 on the CPU's NNPACK kernels with the shipped
decoder; videos (the inputs too) are encoded losslessly, since x264 with frame threads is not bit-repeatable
from run to run. Floating-point results depend on the processor's kernels and the torch version, so digests
are recorded per machine signature in ``tests/golden.json`` (``python -m tests.test_golden --record`` writes
this machine's); on a machine with no recorded digests the comparison skips with that reason, while the resume
check still compares against this run's own uninterrupted output (on a machine with digests, the resumed run is
held to the recorded uninterrupted one, and the long clip is not run whole again). Ray writing the pixels the
local engine writes is tests/test_distributed.py's (in this process's Ray, not one started for a single folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import ROOT
from tests.helpers import STYLE_PATH as STYLE, gradient_image, run_stylize
from tests.videos import make_video, read_video

GOLDEN = Path(__file__).with_name("golden.json")
# NNPACK named outright: fp32 alone takes whichever fp32 kernels the probe finds faster, which may differ by machine.
COMMON = ["--style", str(STYLE), "--device", "cpu", "--precision", "fp32", "--cpu-backend", "nnpack", "--size", "64",
          "--json"]
VIDEO = ["--crf", "0"]  # lossless x264: decoded frames are the stylized frames, whatever x264's threads decide
# 5 segments of 24 frames: each segment re-runs the temporal warm-up (20 frames by default) before it, so
# 0.25 s segments would stylize the long clip almost four times over.
LONG_SEGMENTS = ["--segment-seconds", "1"]


def machine_signature() -> str:
    """What the digests depend on: torch's version and the CPU kernels it dispatches to."""
    cpu = "unknown"
    if Path("/proc/cpuinfo").is_file():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"torch {torch.__version__} | {torch.backends.cpu.get_cpu_capability()} | {cpu} | {platform.machine()}"


def digest_images(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(np.asarray(Image.open(p).convert("RGB")).tobytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def digest_video(path: Path) -> str:
    info = read_video(path)
    h = hashlib.sha256(repr((info["frames"], info["pts"], info["audio"])).encode())
    for image in info["images"]:
        h.update(image.tobytes())
    return h.hexdigest()


def build_inputs(root: Path) -> tuple[Path, Path, Path]:
    folder = root / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(gradient_image(80, 60, seed=1)).save(folder / "a.jpg", quality=95)
    Image.fromarray(gradient_image(50, 70, seed=2)).save(folder / "sub" / "b.png")
    (folder / "broken.jpg").write_text("not an image")
    short = make_video(root / "short.mp4", frames=20, size=(72, 48), lossless=True)
    long = make_video(root / "long.mp4", frames=120, size=(96, 64), lossless=True)
    return folder, short, long


def kill_after_first_segment(src: Path, dst: Path) -> None:
    """Start a run and SIGKILL it once its first segment is finished (nothing gets to clean up)."""
    workdir = dst.parent / f".{dst.name}.parts"
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "video", str(src), str(dst), *COMMON, *VIDEO,
                             *LONG_SEGMENTS, "--parallel", "1"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (workdir / "segment_000001.mp4").exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no finished segment after 300 s"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not dst.exists()


def run_jobs(root: Path, whole: bool = True) -> dict:
    """The jobs' digests; ``whole``: the long clip uninterrupted too (a machine with recorded digests has that
    run's already, which the resumed one must equal: the long run is the suite's longest, 25 s)."""
    folder, short, long = build_inputs(root)
    out = root / "out"
    digests = {}
    folder_run = run_stylize("folder", str(folder), str(out / "photos"), *COMMON)
    assert folder_run.returncode == 1, folder_run.stderr  # the broken file fails, the others are written
    assert "broken.jpg" in folder_run.stderr
    digests["folder"] = digest_images(out / "photos")
    video_run = run_stylize("video", str(short), str(out / "short.mp4"), *COMMON, *VIDEO, "--segment-seconds", "0.25")
    assert video_run.returncode == 0, video_run.stderr
    digests["video"] = digest_video(out / "short.mp4")
    off = run_stylize("video", str(short), str(out / "off.mp4"), *COMMON, *VIDEO, "--segment-seconds", "0.25",
                      "--temporal", "off")
    assert off.returncode == 0, off.stderr
    digests["off"] = digest_video(out / "off.mp4")
    if whole:
        uninterrupted = run_stylize("video", str(long), str(out / "long.mp4"), *COMMON, *VIDEO, *LONG_SEGMENTS)
        assert uninterrupted.returncode == 0, uninterrupted.stderr
        digests["long"] = digest_video(out / "long.mp4")
    kill_after_first_segment(long, out / "resumed.mp4")
    resumed = run_stylize("video", str(long), str(out / "resumed.mp4"), *COMMON, *VIDEO, *LONG_SEGMENTS, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    digests["resumed"] = digest_video(out / "resumed.mp4")
    return digests


@pytest.mark.slow
def test_fixed_jobs_give_the_recorded_pixels(tmp_path):
    recorded = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    signature = machine_signature()
    expected = recorded.get(signature)
    digests = run_jobs(tmp_path, whole=expected is None)
    uninterrupted = digests["long"] if expected is None else expected["long"]
    assert digests["resumed"] == uninterrupted, "a resumed run must equal the uninterrupted one"
    if expected is None:
        pytest.skip(f"no golden digests recorded for this machine ({signature}); "
                    "record them on the pre-change code with `python -m tests.test_golden --record`")
    assert digests == {key: expected[key] for key in digests} and set(expected) - set(digests) == {"long"}


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python -m tests.test_golden --record")
    with tempfile.TemporaryDirectory() as tmp:
        found = run_jobs(Path(tmp))
    table = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    table[machine_signature()] = found
    GOLDEN.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(found)} digests for {machine_signature()}")
