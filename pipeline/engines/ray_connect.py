"""Joining Ray for the Ray engine: which cluster (``--ray-address``, else ``$RAY_ADDRESS``, else a local
instance) and where Ray's own log lines go (a log file, or the terminal with ``--verbose``)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from pipeline.cache import log_dir
from pipeline.errors import JobError

log = logging.getLogger("pipeline")



def cluster_address(address: str | None) -> str | None:
    """``--ray-address`` when given, else ``$RAY_ADDRESS`` (what ``ray job submit`` sets for the job it runs),
    else None: start a local instance."""
    return address or os.environ.get("RAY_ADDRESS") or None


def init_ray(address: str | None, workers: int) -> None:
    """Join the cluster at ``address`` (``auto`` finds the one this machine joined; ``ray://`` is Ray Client)
    or start a local instance with ``workers`` CPUs; Ray's log lines go to a file unless -v (``keep_ray_logs``)."""
    import ray
    import ray.data  # configures Ray Data's loggers, which keep_ray_logs then redirects

    if ray.is_initialized():
        return
    verbose = log.isEnabledFor(logging.DEBUG)  # -v (pipeline/cli/display.py::setup_logging)
    if not verbose:
        keep_ray_logs(log_dir() / "ray.log")
    kwargs = {"include_dashboard": False, "log_to_driver": verbose, "configure_logging": verbose,
              "logging_level": logging.DEBUG if verbose else logging.INFO}
    address = cluster_address(address)
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=max(workers, 1), **kwargs)
    except (ConnectionError, RuntimeError, ray.exceptions.RayError) as exc:  # one line, not Ray's traceback
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise JobError(f"could not start or join {where}: {lines[-1][:300]}") from exc
    ray.data.DataContext.get_current().enable_progress_bars = False


def keep_ray_logs(path: Path) -> None:
    """Send Ray's log lines to ``path`` instead of the terminal: its Python loggers get a file handler, and
    file descriptor 2, where Ray's C++ core writes its own lines, is pointed at the file while ``sys.stderr``
    (stylize's lines, progress and errors) moves to a copy of the terminal's descriptor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s -- %(message)s"))
    # Ray Data's logger has a console handler and does not propagate: it gets the file instead. The core's
    # ("ray") does not propagate either, and ``ray.init`` empties it, so that its records would reach Python's
    # last-resort handler (the terminal): it propagates to the root logger, which writes the file (the root's
    # own level, CRITICAL without -v, still holds back other libraries).
    logging.getLogger("ray.data").handlers[:] = [handler]
    logging.getLogger("ray").handlers.clear()
    logging.getLogger("ray").propagate = True
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if getattr(h, "baseFilename", None) != handler.baseFilename]
    root.addHandler(handler)
    try:
        if sys.stderr.fileno() != 2:  # under a test runner's capture: leave the descriptors alone
            return
    except (AttributeError, OSError, ValueError):
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding=sys.stderr.encoding, errors=sys.stderr.errors)
