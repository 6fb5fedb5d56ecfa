"""Progress of the long commands (``gmoda run``, ``ingest``, ``refresh``, ``simulate``).

On a terminal: a live bar (rich) with what is done of the total, the elapsed time and an estimate of what is left.
Anywhere else (CI, a log file, a pipe): one plain line per step, so a log shows how far a run got and when.

A step is named by what the platform calls it (a feed, an asset's step, a stage of the simulation), never by a
value from the data or a partner's file name: progress lines go to logs that people other than the platform team
read.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta
from typing import TextIO


class Progress:
    """Counts steps done of a total; says nothing (the base for the two that show it)."""

    def __init__(self, title: str, unit: str):
        self.title, self.unit = title, unit
        self.total, self.done = 0, 0
        self._started = time.monotonic()
        self._lock = threading.Lock()  # steps may be reported from a thread that follows a run

    def start(self, total: int) -> None:
        self.total, self.done = total, 0
        self._started = time.monotonic()

    def step(self, label: str, n: int = 1) -> None:
        with self._lock:
            self.done += n
            self._show(label)

    def close(self) -> None:
        pass

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def _show(self, label: str) -> None:
        pass

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


class Lines(Progress):
    """One line per step: ``ingest: 3/40 drops, elapsed 0:00:12, about 0:02:28 left: bolton eyfsp loaded``."""

    def __init__(self, title: str, unit: str, stream: TextIO):
        super().__init__(title, unit)
        self._stream = stream

    def start(self, total: int) -> None:
        super().start(total)
        print(f"{self.title}: {total} {self.unit} to do", file=self._stream, flush=True)

    def _show(self, label: str) -> None:
        elapsed = self.elapsed()
        left = elapsed / self.done * max(self.total - self.done, 0) if self.done else None
        estimate = f", about {_clock(left)} left" if left is not None else ""
        print(f"{self.title}: {self.done}/{self.total} {self.unit}, elapsed {_clock(elapsed)}{estimate}: {label}",
              file=self._stream, flush=True)


class Bar(Progress):
    """A live bar on a terminal; what the command prints meanwhile scrolls above it."""

    def __init__(self, title: str, unit: str, stream: TextIO):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        from rich.progress import Progress as RichProgress

        super().__init__(title, unit)
        self._bar = RichProgress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
            TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
            TextColumn("{task.fields[last]}"),
            console=Console(file=stream, force_terminal=True), redirect_stdout=stream is sys.stdout,
            redirect_stderr=False,
        )
        self._task = None

    def start(self, total: int) -> None:
        super().start(total)
        if self._task is None:
            self._bar.start()
            self._task = self._bar.add_task(self.title, total=total, last="")
        else:
            self._bar.reset(self._task, total=total, last="")

    def _show(self, label: str) -> None:
        self._bar.update(self._task, completed=self.done, last=label)

    def close(self) -> None:
        if self._task is not None:
            self._bar.stop()
            self._task = None


def progress(title: str, unit: str, stream: TextIO | None = None) -> Progress:
    """A bar when ``stream`` (default: standard output) is a terminal, plain lines otherwise."""
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return Bar(title, unit, stream) if isatty is not None and isatty() else Lines(title, unit, stream)
