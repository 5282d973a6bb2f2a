"""The scheduling an encoder library changes behind our back, put back.

SVT-AV1 (``--codec libsvtav1``; PyAV's FFmpeg bundles it) run as root sets the thread that opens it, and the
threads it starts, to real-time ``SCHED_FIFO`` at priority 99. The opening thread keeps it after the encoder
is closed, and threads started from it later inherit it: the networks' and the encoders' busy threads then
starve everything else on the machine, a terminal's Ctrl-C included, and a browser started by a test after it
spun both cores of a CI machine where SIGKILL could not reach it. Docker runs as root.
"""

from __future__ import annotations

import os

_STARTED = os.sched_getscheduler(0)  # a run started real-time on purpose (``chrt``) is left as it is


def ordinary_threads() -> None:
    """Every thread of this process that runs real-time back to ``SCHED_OTHER`` (cheap: a syscall a thread),
    unless the process itself started real-time. Call once an encoder is open."""
    if _STARTED != os.SCHED_OTHER:
        return
    for name in os.listdir("/proc/self/task"):
        try:
            if os.sched_getscheduler(int(name)) != os.SCHED_OTHER:
                os.sched_setscheduler(int(name), os.SCHED_OTHER, os.sched_param(0))
        except OSError:  # the thread ended meanwhile
            continue
