"""Running one job from the command line: the display, process setup, the summary and the exit code.

Exit codes: 0 all done, 1 some items failed, 2 usage (nothing was started), 3 nothing to do,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

import typer
from rich.console import Console

from pipeline.cli.display import Display, adapt_bar, setup_logging
from pipeline.errors import EngineError, UsageError
from pipeline.options import StyleOptions
from pipeline.report import EXIT_USAGE, Hooks, Summary, print_summary

EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
err = Console(stderr=True, soft_wrap=True)  # an error line stays one line, however long


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def prepare(style: StyleOptions | None, quiet: bool, verbose: bool) -> int:
    """Logging, then the process-wide settings for the device the job will use (once per process); returns
    the decoder adaptation steps the job will take (--adapt, or the device's default), for its bar."""
    setup_logging(err, quiet, verbose)
    if style is None:
        return 0
    from pipeline.adaptation import default_steps
    from pipeline.device import pick_device, pick_dtype
    from pipeline.process import setup_process

    device = pick_device(style.device)
    setup_process(device, pick_dtype(style.precision, device))
    return default_steps(device) if style.adapt is None else style.adapt


def run_job(job: Callable[[StyleOptions, Hooks], Summary], style: Callable[[], StyleOptions], unit: str,
            json_out: bool = False, quiet: bool = False, verbose: bool = False, debug: bool = False) -> NoReturn:
    """Build the style options (``style()``, where a bad value is a usage error), run ``job`` with them under a
    display, print the summary, exit with its code."""
    from pipeline.process import Terminated

    try:
        options = style()
        steps = prepare(options, quiet, verbose)
        with Display(err, unit, quiet) as display:
            summary = job(options, display.hooks(adapt_bar(err, steps)))
    except UsageError as exc:
        if debug:
            raise
        fail(str(exc))
    except EngineError as exc:
        if debug:
            raise
        fail(str(exc), 1)
    except KeyboardInterrupt:
        fail("interrupted; what was finished is kept (videos: run again with --resume)", EXIT_INTERRUPTED)
    except Terminated:
        fail("terminated; what was finished is kept (videos: run again with --resume)", EXIT_TERMINATED)
    finish(summary, json_out)


def finish(summary: Summary, json_out: bool) -> NoReturn:
    print_summary(err, summary)
    if "backend" in summary.extra:
        err.print(f"networks: {summary.extra['backend']}", highlight=False)
    split = [f"{k.removesuffix('_s')} {v:.1f}s" for k, v in summary.extra.items() if k.endswith("_s")]
    if split:
        err.print("time split: " + ", ".join(split), highlight=False)
    if json_out:
        print(summary.to_json())
    raise typer.Exit(summary.exit_code)
