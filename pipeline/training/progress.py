"""Rich progress display around the training loop (kept out of the loop itself)."""

from __future__ import annotations

import signal

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pipeline.training.loop import StepLosses, TrainConfig, train


def run_training(cfg: TrainConfig, console: Console) -> int:
    """Train with a progress bar showing it/s and the current losses; returns the exit code."""
    columns = [TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TextColumn("content {task.fields[content]} style {task.fields[style]}"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("train", total=cfg.iterations, rate="", content="-", style="-")

        def on_step(step: StepLosses) -> None:
            progress.update(task, completed=step.iteration, rate=f"{1.0 / max(step.seconds, 1e-9):.2f} it/s",
                            content=f"{step.content:.4g}", style=f"{step.style:.4g}")

        signal.signal(signal.SIGTERM, _interrupt)  # `kill` checkpoints like Ctrl-C does
        try:
            path = train(cfg, on_step=on_step, on_skip=lambda line: console.print(f"[yellow]skipped[/] {escape(line)}"))
        except (ValueError, FileNotFoundError) as exc:
            console.print(f"[red]error:[/] {escape(str(exc))}")
            return 2
        except KeyboardInterrupt:
            console.print(f"interrupted; checkpoint saved in {cfg.out}", markup=False)
            return 130
    console.print(f"checkpoint: {path}", markup=False)
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
