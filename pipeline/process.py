"""Process-wide settings, made in one place by whoever owns the process: the CLI, a Ray worker, the Python API.

Building or running a stylizer never changes them, so a program that imports the package keeps its own
allocator, thread count and signal handling until it asks for these.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import torch

from pipeline.device import keep_freed_memory
from pipeline.errors import Terminated


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(f"terminated by signal {signum}")


def install_signal_handlers() -> bool:
    """Make SIGTERM raise ``Terminated`` in the main thread. A handler someone else installed (Ray's worker
    has one) is left alone, as is everything when called off the main thread, where Python cannot install
    handlers. Returns whether ours is in place."""
    if threading.current_thread() is not threading.main_thread():
        return False
    current = signal.getsignal(signal.SIGTERM)
    if current is _raise_terminated:
        return True
    if current not in (signal.SIG_DFL, None):
        return False
    signal.signal(signal.SIGTERM, _raise_terminated)
    return True


def seconds_since_start() -> float | None:
    """Seconds since this process started, as the OS counts it (Linux: the start time in ``/proc/self/stat``,
    in clock ticks since boot, against the boot-time clock), so interpreter start-up and imports count; None
    where the OS does not say. Why: a run's ``first_frame_s`` measures start-up as a user waits for it."""
    try:
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # the name, in brackets, may hold spaces
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, counted from 1 before the name
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def setup_process(device: torch.device, dtype: torch.dtype, threads: int | None = None) -> None:
    """The settings the stylizer's speed and exactness rely on, for work on ``device`` at ``dtype``; calling it
    again is harmless.

    On the CPU freed memory stays in the heap (``device.keep_freed_memory``: every frame allocates the same
    activations again). On CUDA cuDNN picks its fastest kernels, and fp32 asked for is fp32 computed
    (PyTorch would run fp32 convolutions in TF32). ``threads`` sets torch's intra-op threads (a Ray worker
    runs one per CPU it was given)."""
    device = torch.device(device)
    if device.type == "cpu":
        keep_freed_memory()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = dtype != torch.float32
    if threads:
        torch.set_num_threads(threads)
    install_signal_handlers()
