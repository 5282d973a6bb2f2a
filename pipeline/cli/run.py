"""Running one job from the command line: the display, process setup, the summary and the exit code.

Exit codes: 0 all done, 1 some items failed, 2 usage (nothing was started), 3 nothing to do,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from pipeline.cli.display import Display, adapt_bar, setup_logging
from pipeline.errors import EngineError, Terminated, UsageError
from pipeline.options import StyleOptions
from pipeline.report import EXIT_USAGE, Hooks, Summary, print_summary

EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
# The hooks of a job the Python API runs through a command (``pipeline/api_jobs.py``); None from the command line
LIBRARY: ContextVar[Hooks | None] = ContextVar("LIBRARY", default=None)
# what to run next after Ctrl-C or SIGTERM: finished outputs are in place, a video's finished segments in its work folder
KEPT = "what was finished is kept (run again with --skip-existing, and for videos --resume)"
IMPORTED = time.time()  # where the OS does not say when the process started (first_frame_s)
err = Console(stderr=True, soft_wrap=True)  # an error line stays one line, however long


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def prepare(style: StyleOptions | None, quiet: bool, verbose: bool) -> int:
    """Logging, then the process-wide settings for the device the job will use (once per process); returns
    the decoder adaptation steps the job will take (--adapt, or the device's default), for its bar."""
    setup_logging(err, quiet, verbose)
    return 0 if style is None else setup_for(style)


def setup_for(style: StyleOptions) -> int:
    """The process-wide settings for the device ``style`` runs on (once per process); the adaptation steps."""
    from pipeline.adaptation import default_steps
    from pipeline.device import pick_device, pick_dtype
    from pipeline.process import setup_process

    device = pick_device(style.device)
    setup_process(device, pick_dtype(style.precision, device))
    return default_steps(device) if style.adapt is None else style.adapt


def run_job(job: Callable[[StyleOptions, Hooks], Summary], style: Callable[[], StyleOptions], unit: str,
            json_out: bool = False, quiet: bool = False, verbose: bool = False, debug: bool = False,
            check: Callable[[], None] = lambda: None) -> Summary:
    """Build the style options (``style()``, where a bad value is a usage error), ``check`` what needs no torch
    (the input is there), run ``job`` with them under a display, print the summary, exit with its code. Called
    by the Python API (``LIBRARY`` set to its hooks): no display, logging or exit; errors raised, the summary
    returned."""
    library = LIBRARY.get()
    if library is not None:
        options = style()
        check()
        setup_for(options)
        return job(options, library)
    try:
        options = style()
        check()
        steps = prepare(options, quiet, verbose)
        with Display(err, unit, quiet) as display:
            first = FirstUnit(display.hooks(adapt_bar(err, steps)))
            summary = job(options, first.hooks)
        if first.seconds is not None:
            name = f"first_{unit.removesuffix('s')}"
            summary.extra.update({f"{name}_s": round(first.seconds, 3), f"{name}_cpu_s": round(first.cpu_s, 3)})
    except UsageError as exc:
        if debug:
            raise
        fail(str(exc))
    except EngineError as exc:
        if debug:
            raise
        fail(str(exc), 1)
    except KeyboardInterrupt:
        fail(f"interrupted; {KEPT}", EXIT_INTERRUPTED)
    except Terminated:
        fail(f"terminated; {KEPT}", EXIT_TERMINATED)
    finish(summary, json_out)


class FirstUnit:
    """``hooks`` that also note when the first unit (frame, image) was done, in seconds since the process
    started (``process.seconds_since_start``): the start-up a user waits through, imports included; and the
    CPU seconds the process had used by then (all threads), which a busy machine inflates less."""

    def __init__(self, hooks: Hooks) -> None:
        self.seconds: float | None = None
        self.cpu_s = 0.0
        self._on_units = hooks.on_units
        self.hooks = dataclasses.replace(hooks, on_units=self._first)

    def _first(self, n: int) -> None:
        if self.seconds is None and n > 0:
            from pipeline.process import seconds_since_start

            age = seconds_since_start()
            self.seconds = age if age is not None else time.time() - IMPORTED
            self.cpu_s = time.process_time()
        self._on_units(n)


def finish(summary: Summary, json_out: bool) -> NoReturn:
    print_summary(err, summary)
    if "backend" in summary.extra:
        err.print(f"networks: {summary.extra['backend']}", highlight=False)
    split = [f"{k.removesuffix('_s')} {v:.1f}s" for k, v in summary.extra.items()
             if k.endswith("_s") and not k.startswith("first_")]
    first = next((f"; first {k[6:-2]} after {v:.2f}s" for k, v in summary.extra.items() if k.startswith("first_")), "")
    if split:
        err.print("time split: " + ", ".join(split) + first, highlight=False)
    if json_out:
        print(summary.to_json())
    raise typer.Exit(summary.exit_code)
