"""Progress display for long work: a rich progress bar per build phase, silent when disabled."""

from __future__ import annotations

from types import TracebackType
from typing import Any


class BuildProgress:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> BuildProgress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[last]}"), TimeElapsedColumn(), transient=False)
            self._progress.__enter__()
        return self

    def phase(self, description: str, total: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(description, total=total, last="")

    def advance(self, label: str = "") -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, last=label)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)
