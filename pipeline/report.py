"""Per-item results, the end-of-run summary (table and JSON) and the progress bar every job shares."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

PROCESSED, SKIPPED, FAILED = "processed", "skipped", "failed"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOTHING = 0, 1, 2, 3


@dataclass
class ItemResult:
    path: str
    status: str
    reason: str = ""
    output: str = ""
    stopped_at_s: float | None = None  # a video that stopped decoding part way: the output ends there


@dataclass
class Hooks:
    """How a job tells its caller what is happening; every hook may be left out. Warnings and notes go
    through ``logging`` (logger ``pipeline``) instead, so ``-q``/``-v`` govern them."""

    on_result: Callable[[ItemResult], None] | None = None  # one item finished: processed, skipped or failed
    on_units: Callable[[int], None] = lambda n: None  # n more images (or frames) done
    on_total: Callable[[int], None] = lambda n: None  # the number of units the job will do, once known
    on_adapt_step: Callable[[int], None] | None = None  # one step of fitting the decoder to the style


class Totals:
    """A job's progress total kept true as its items end. ``expected`` maps each item's path to the units it
    should take, which for a video is a hint (an AVI header can promise frames the file lacks, a fragmented
    MP4's duration counts from zero when its first fragment starts later); when an item ends the total
    becomes the units done plus those the items not yet ended expect. ``hooks`` are the ones to use."""

    def __init__(self, hooks: Hooks, expected: dict[str, int]) -> None:
        self._outer, self._pending, self._done = hooks, dict(expected), 0
        self._left = sum(expected.values())  # what the items not yet ended expect
        self.hooks = replace(hooks, on_units=self._on_units, on_result=self._on_result)
        hooks.on_total(self._left)

    def _on_units(self, n: int) -> None:
        self._done += n
        self._outer.on_units(n)

    def _on_result(self, result: ItemResult) -> None:
        expected = self._pending.pop(result.path, None)
        if expected is not None:
            self._left -= expected
            self._outer.on_total(self._done + self._left)
        if self._outer.on_result is not None:
            self._outer.on_result(result)


@dataclass
class Summary:
    command: str
    results: list[ItemResult] = field(default_factory=list)
    elapsed_s: float = 0.0
    units: str = "images"
    units_done: int = 0  # images, or frames for video
    extra: dict = field(default_factory=dict)
    on_result: Callable[[ItemResult], None] | None = field(default=None, repr=False)

    def add(self, result: ItemResult) -> None:
        self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def exit_code(self) -> int:
        if self.count(FAILED):
            return EXIT_FAILED
        return EXIT_OK if self.results else EXIT_NOTHING

    def to_dict(self) -> dict:
        rate = self.units_done / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return {
            "command": self.command,
            "processed": self.count(PROCESSED),
            "skipped": self.count(SKIPPED),
            "failed": self.count(FAILED),
            "elapsed_s": round(self.elapsed_s, 3),
            self.units: self.units_done,
            f"{self.units}_per_s": round(rate, 3),
            "exit_code": self.exit_code,
            **self.extra,
            "items": [asdict(r) for r in self.results],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def print_summary(console: Console, summary: Summary) -> None:
    """Counts, rate and one row per failed item with its reason."""
    data = summary.to_dict()
    table = Table(title=f"stylize {summary.command}", show_header=False)
    for key in ("processed", "skipped", "failed", summary.units, f"{summary.units}_per_s", "elapsed_s"):
        table.add_row(key.replace("_", " "), str(data[key]))
    console.print(table)
    failed = [r for r in summary.results if r.status == FAILED]
    if failed:
        errors = Table("failed file", "reason", title="failures")
        for r in failed:
            errors.add_row(Text(r.path), Text(r.reason))  # as written: a name may hold [..], not markup
        console.print(errors)


def make_progress(console: Console) -> Progress:
    """Bars with count, rate (the task's ``rate`` field, e.g. "3.2 images/s"), elapsed time and ETA."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TaskProgressColumn(), TextColumn("{task.fields[rate]}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console)
