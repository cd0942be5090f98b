"""A rich progress bar per run, or nothing when output is not a terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["RunProgress"]

Update = Callable[[str, int, int], None]


class RunProgress:
    """Shows connecting, then delivering, for the run in flight."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
            disable=not enabled,
        )

    def __enter__(self) -> RunProgress:
        self._bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.stop()

    @contextlib.contextmanager
    def task(self, description: str) -> Iterator[Update]:
        """A bar for one run; the callback takes ``(phase, done, total)``."""
        task = self._bar.add_task(description, total=None)

        def update(phase: str, done: int, total: int) -> None:
            self._bar.update(
                task,
                description=f"{description} [{phase}]",
                completed=done,
                total=max(total, done, 1),
            )

        try:
            yield update
        finally:
            self._bar.remove_task(task)
