"""What the user sees while a job runs: progress bars on a terminal, a plain line every few seconds
elsewhere (a log file, CI), one line per failed item, and log records as ``warning: ...`` lines."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from pipeline.report import FAILED, Hooks, ItemResult, make_progress

PLAIN_EVERY_S = 5.0  # seconds between progress lines when stderr is not a terminal


class _Counter:
    """Units done against a total, with the rate since the first unit."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self.done, self.total = 0, None
        self.started = time.monotonic()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        total = f"/{self.total}" if self.total else ""
        share = f" ({100 * self.done / self.total:.0f} %)" if self.total else ""
        return f"{self.unit}: {self.done}{total}{share}, {self.done / elapsed:.2f} {self.unit}/s, {elapsed:.0f} s"


class Display:
    """A context for one job; ``hooks()`` gives the job its progress callbacks."""

    def __init__(self, console: Console, unit: str, quiet: bool = False) -> None:
        self.console, self.unit, self.quiet = console, unit, quiet
        self.rich = console.is_terminal and not quiet
        self.progress: Progress | None = make_progress(console) if self.rich else None
        self.counter = _Counter(unit)
        self._bar = None
        self._last_line = 0.0

    def __enter__(self) -> Display:
        if self.progress is not None:
            self.progress.__enter__()
            self._bar = self.progress.add_task(self.unit, total=None, rate="-")
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)
        elif not self.quiet and self.counter.done:
            self.console.print(self.counter.line(), highlight=False)

    def hooks(self, on_adapt_step: Callable[[int], None] | None = None) -> Hooks:
        return Hooks(on_result=self._on_result, on_units=self._on_units, on_total=self._on_total,
                     on_adapt_step=on_adapt_step)

    def _on_total(self, total: int) -> None:
        self.counter.total = total or None
        if self.progress is not None:
            self.progress.update(self._bar, total=total or None)

    def _on_units(self, n: int) -> None:
        self.counter.done += n
        if self.progress is not None:
            rate = self.counter.done / max(time.monotonic() - self.counter.started, 1e-9)
            self.progress.update(self._bar, advance=n, rate=f"{rate:.2f} {self.unit}/s")
        elif not self.quiet and time.monotonic() - self._last_line >= PLAIN_EVERY_S:
            self._last_line = time.monotonic()
            self.console.print(self.counter.line(), highlight=False)

    def _on_result(self, result: ItemResult) -> None:
        if result.status == FAILED:
            self.console.print(f"[red]error:[/] {escape(f'{result.path}: {result.reason}')}", highlight=False)


def adapt_bar(console: Console, steps: int) -> Callable[[int], None]:
    """A callback for decoder adaptation steps that shows a bar from the first step on (a style found in
    the cache never calls it, so it shows nothing)."""
    state: dict = {}

    def on_step(_step: int) -> None:
        if "progress" not in state and console.is_terminal:
            state["progress"] = make_progress(console)
            state["progress"].start()
            state["bar"] = state["progress"].add_task("adapting the decoder to the style", total=steps, rate="")
        if "progress" in state:
            state["progress"].advance(state["bar"])
            if state["progress"].finished:
                state["progress"].stop()

    return on_step


class _LineHandler(logging.Handler):
    """Log records as one line each on the console: ``warning: ...``, ``note: ...``."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        label = {logging.INFO: "note", logging.DEBUG: "debug"}.get(record.levelno, record.levelname.lower())
        colour = "red" if record.levelno >= logging.ERROR else "yellow"
        # escaped: a path or a hint ("stylize-pipeline[openvino]") may hold what rich would read as markup
        self.console.print(f"[{colour}]{label}:[/] {escape(self.format(record))}", highlight=False)


def setup_logging(console: Console, quiet: bool, verbose: bool) -> None:
    """``pipeline`` logs to the console (errors only with -q; debug with -v); other libraries' logs
    (Ray's) only with -v; Python warnings (Pillow's on a damaged file) as ``pipeline`` warnings."""
    logger = logging.getLogger("pipeline")
    logger.handlers[:] = [_LineHandler(console)]
    logger.propagate = False
    logger.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO)
    logging.getLogger().setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    warnings.showwarning = _library_warning
    warnings.filterwarnings("always", module="PIL")  # Pillow's warnings are about one file: each file's, once


_SAID: set = set()  # the files (or, for no file, the words) a library warning was printed for


def _library_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A library's warning as one ``warning:`` line (not two naming the library's source line), naming the
    file the warning thread was reading (``pipeline/io/reading.py``): the first for each file (a fuzzed TIFF
    gives twenty), the others with -v; quiet with -q like the others."""
    from pipeline.io.reading import now

    path = now()
    key = path if path is not None else str(message)
    log = logging.getLogger("pipeline")
    (log.debug if key in _SAID else log.warning)("%s%s", f"{path}: " if path is not None else "", message)
    _SAID.add(key)
