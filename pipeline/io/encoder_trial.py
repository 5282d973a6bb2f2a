"""A trial encode of a few frames in a child process, for frames under 64 pixels on a side, where encoders
break in ways no error code reports: SVT-AV1 4.1 waits for ever for its last packet on frames 24 pixels or
less on one side and over 64 on the other, and x265's CU-tree wrote past its buffers (the process aborted).
A child that hangs can be killed and one that crashes takes nothing with it; the run then refuses the video in
one line before any work. The child imports PyAV and NumPy only (0.2 s), and its verdict is kept per settings.

Run as ``python -m pipeline.io.encoder_trial SETTINGS_JSON`` (what ``trial_problem`` does).
"""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import sys

TRIAL_FRAMES = 8  # past x265's B-frame delay and SVT-AV1's first mini-GOP flush
TRIAL_TIMEOUT_S = 15.0  # a whole trial of 7680x32 frames in x265, child's start included: 0.4 s; SVT-AV1: for ever
SMALL_SIDE = 64  # frames with a side under this are tried first (each defect the sweeps found was there)


def needs_trial(size: tuple[int, int]) -> bool:
    return min(size) < SMALL_SIDE


@functools.lru_cache(maxsize=64)
def trial_problem(codec: str, pix_fmt: str, options: tuple[tuple[str, str], ...], size: tuple[int, int],
                  rate: tuple[int, int], max_b_frames: int | None) -> str | None:
    """What went wrong when a child encoded ``TRIAL_FRAMES`` frames of ``size`` (height, width) with these
    settings, in words for the error line; None where it finished."""
    settings = {"codec": codec, "pix_fmt": pix_fmt, "options": dict(options), "size": size, "rate": rate,
                "max_b_frames": max_b_frames}
    try:
        done = subprocess.run([sys.executable, "-m", __name__, json.dumps(settings)], capture_output=True,
                              timeout=TRIAL_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"a trial of {TRIAL_FRAMES} frames did not finish in {TRIAL_TIMEOUT_S:.0f} s"
    if done.returncode < 0:
        return f"a trial of {TRIAL_FRAMES} frames crashed ({signal.Signals(-done.returncode).name})"
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return f"a trial of {TRIAL_FRAMES} frames failed ({said[-1] if said else f'exit {done.returncode}'})"
    return None


def _encode(settings: dict) -> None:
    """Encode the trial frames (a moving ramp) and flush, dropping the packets: the encoder alone is tried."""
    from fractions import Fraction

    import av
    import numpy as np

    height, width = settings["size"]
    ctx = av.CodecContext.create(settings["codec"], "w")
    ctx.height, ctx.width, ctx.pix_fmt = height, width, settings["pix_fmt"]
    ctx.time_base = 1 / Fraction(*settings["rate"])
    ctx.options = settings["options"]
    if settings["max_b_frames"] is not None:
        ctx.max_b_frames = settings["max_b_frames"]
    ramp = np.add.outer(np.arange(height), np.arange(width)).astype(np.uint8)
    for k in range(TRIAL_FRAMES):
        frame = av.VideoFrame.from_ndarray(np.dstack([ramp + 9 * k] * 3), format="rgb24").reformat(
            format=settings["pix_fmt"])
        frame.pts = k
        ctx.encode(frame)
    ctx.encode(None)


if __name__ == "__main__":
    _encode(json.loads(sys.argv[1]))
