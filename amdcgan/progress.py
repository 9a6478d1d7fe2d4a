"""Progress that works everywhere: rich bars on a terminal; elsewhere (a log file, a pipe, CI) one plain line per
stage and per epoch, each with the elapsed time and an estimate of the time left, flushed at once.

`ProgressLog` is what commands hold; `training_events` turns a training run's events (start, step, epoch) into its
calls, so `train`, `sweep` and `reproduce` show training the same way.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Task:
    """One bar: `advance` moves it (a line in plain mode only when `announce`); `note` is a line in both modes."""

    def __init__(self, log: "ProgressLog", label: str, total: float | None, completed: float):
        self.log, self.label, self.total = log, label, total
        self.completed = self.first = completed
        self.started = time.monotonic()
        self.rich_id = log.rich.add_task(label, total=total, completed=completed, status="") if log.rich else None

    def timing(self) -> str:
        """Elapsed time and, with a total and some progress made, the time left at the rate so far."""
        elapsed = time.monotonic() - self.started
        text = f"{duration(elapsed)} elapsed"
        done = self.completed - self.first
        if self.total and done > 0:
            text = (f"{self.completed / self.total:.0%}, {text}, about "
                    f"{duration(elapsed / done * (self.total - self.completed))} left")
        return text

    def advance(self, steps: float = 1, status: str = "", announce: bool = False) -> None:
        self.completed += steps
        if self.log.rich:
            self.log.rich.update(self.rich_id, advance=steps, status=status)
        elif announce:
            self.log.write(f"{self.label}: {status} ({self.timing()})")

    def note(self, text: str) -> None:
        self.log.write(f"{self.label}: {text}" + ("" if self.log.rich else f" ({self.timing()})"))

    def close(self) -> None:
        if self.log.rich:
            self.log.rich.remove_task(self.rich_id)


class ProgressLog:
    """Use as a context manager. `plain` defaults to "the stream is not a terminal"."""

    def __init__(self, stream: TextIO | None = None, plain: bool | None = None):
        self.stream = stream or sys.stdout
        self.plain = not _is_terminal(self.stream) if plain is None else plain
        self.rich = None

    def __enter__(self) -> "ProgressLog":
        if not self.plain:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
                TimeRemainingColumn

            self.rich = Progress(TextColumn("[bold blue]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
                                 console=Console(file=self.stream))
            self.rich.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.rich:
            self.rich.stop()
            self.rich = None

    def task(self, label: str, total: float | None = None, completed: float = 0) -> Task:
        return Task(self, label, total, completed)

    def write(self, text: str) -> None:
        """A line above the bars on a terminal, a plain line elsewhere."""
        if self.rich:
            self.rich.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def training_events(log: ProgressLog, label: str) -> Callable[[dict], None]:
    """A training run's progress callback: a bar over its steps, and a line per epoch with its quality."""
    state: dict = {}

    def on_event(event: dict) -> None:
        if event["event"] == "start":
            state["epochs"], state["steps"] = event["epochs"], event["steps_per_epoch"]
            state["task"] = log.task(label, event["epochs"] * event["steps_per_epoch"],
                                     event["epoch"] * event["steps_per_epoch"])
            state["task"].note(f"starting at epoch {event['epoch']} of {event['epochs']}")
        elif event["event"] == "step":
            state["task"].advance(status=f"epoch {event['epoch']} D {event['loss_d']:.3f} G {event['loss_g']:.3f}")
        elif event["event"] == "epoch":
            metrics = event["metrics"]
            quality = (f": FID {metrics['fid']:.1f}, {metrics['classes']} classes, confidence "
                       f"{metrics['confidence']:.2f}" if "fid" in metrics else "")
            state["task"].note(f"epoch {event['epoch']}/{state['epochs']}{quality}")
            if event["epoch"] == state["epochs"]:
                state["task"].close()

    return on_event
