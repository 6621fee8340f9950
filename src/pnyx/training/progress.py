"""What rank 0 shows while training: a Rich progress bar when a person watches (stdout is a TTY),
plain log lines otherwise (the job log)."""

from __future__ import annotations

import sys
from typing import Protocol

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pnyx.training.records import StepMetrics


class Display(Protocol):
    def note(self, text: str) -> None: ...
    def step(self, metrics: StepMetrics, steps: int) -> None: ...
    def close(self) -> None: ...


def step_line(metrics: StepMetrics, steps: int) -> str:
    return (
        f"step {metrics.step + 1}/{steps} loss {metrics.loss:.4f} tokens/s {metrics.tokens_per_s:,.0f} "
        f"mfu {metrics.mfu:.2%} ({metrics.seconds:.3f} s)"
    )


class LogLines:
    def note(self, text: str) -> None:
        print(text, flush=True)

    def step(self, metrics: StepMetrics, steps: int) -> None:
        print(step_line(metrics, steps), flush=True)

    def close(self) -> None:
        sys.stdout.flush()


class ProgressBar:
    def __init__(self, steps: int, done: int) -> None:
        self._progress = Progress(
            TextColumn("[bold]training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeRemainingColumn(),
        )
        self._task = self._progress.add_task("", total=steps, completed=done)
        self._progress.start()

    def note(self, text: str) -> None:
        self._progress.console.print(text, highlight=False)

    def step(self, metrics: StepMetrics, steps: int) -> None:
        description = f"loss {metrics.loss:.4f}  {metrics.tokens_per_s:,.0f} tokens/s  MFU {metrics.mfu:.2%}"
        self._progress.update(self._task, completed=metrics.step + 1, description=description)

    def close(self) -> None:
        self._progress.stop()


class Silent:
    """Ranks other than 0 show nothing."""

    def note(self, text: str) -> None:
        return None

    def step(self, metrics: StepMetrics, steps: int) -> None:
        return None

    def close(self) -> None:
        return None


def display_for(rank: int, steps: int, done: int) -> Display:
    if rank != 0:
        return Silent()
    return ProgressBar(steps, done) if sys.stdout.isatty() else LogLines()
