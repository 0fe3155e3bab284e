"""Progress display for long work, on stderr so that stdout keeps only results.

On a terminal it is a rich progress bar per build phase. Anywhere else (a pipe, a log file, ``ray job
logs``) a bar would only show once it reached 100%, so it is plain lines instead: one when a phase starts,
one at most every ``interval`` seconds while it runs, and one when it ends.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import Any, TextIO

DEFAULT_INTERVAL = 10.0  # seconds between plain progress lines; CURATE_PROGRESS_INTERVAL overrides


class PlainProgress:
    """Progress as plain lines with the elapsed time, for streams that are not terminals."""

    def __init__(self, stream: TextIO, interval: float) -> None:
        self.stream, self.interval = stream, interval
        self.description, self.total, self.done = "", 0, 0
        self.started = self.last = time.monotonic()

    def _line(self, label: str) -> None:
        elapsed = time.monotonic() - self.started
        percent = f" ({100 * self.done // self.total}%)" if self.total else ""
        print(f"[curate {elapsed:6.1f}s] {self.description}: {self.done}/{self.total}{percent}"
              f"{' ' + label if label else ''}", file=self.stream, flush=True)
        self.last = time.monotonic()

    def phase(self, description: str, total: int) -> None:
        self.description, self.total, self.done = description, total, 0
        self._line("started")

    def advance(self, label: str = "") -> None:
        self.done += 1
        if self.done >= self.total or time.monotonic() - self.last >= self.interval:
            self._line(label)


class BuildProgress:
    """A build's progress: a rich bar on a terminal, plain periodic lines elsewhere, nothing when disabled."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None, interval: float | None = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.interval = interval if interval is not None else float(
            os.environ.get("CURATE_PROGRESS_INTERVAL", DEFAULT_INTERVAL))
        self._progress: Any = None
        self._plain: PlainProgress | None = None
        self._task: Any = None

    def __enter__(self) -> BuildProgress:
        if not self.enabled:
            return self
        if self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[last]}"), TimeElapsedColumn(), transient=False,
                                      console=Console(file=self.stream))
            self._progress.__enter__()
        else:
            self._plain = PlainProgress(self.stream, self.interval)
        return self

    def phase(self, description: str, total: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(description, total=total, last="")
        elif self._plain is not None:
            self._plain.phase(description, total)

    def advance(self, label: str = "") -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, last=label)
        elif self._plain is not None:
            self._plain.advance(label)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)
