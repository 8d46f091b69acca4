"""Progress bars and messages on stderr (stdout is kept for results and ``--json``)."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Ui:
    """Where a run's progress and warnings go.

    Args:
        quiet: no progress bars and no chatter (warnings are still collected).
    """

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.console = Console(stderr=True)
        self.warnings: list[str] = []

    @contextlib.contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress bar for ``total`` units of work; yields ``advance(n)``."""
        if self.quiet or not self.console.is_terminal:
            yield lambda n=1: None
            return
        columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n=1: bar.advance(task, n)

    def info(self, message: str) -> None:
        """A line of chatter (suppressed by ``quiet``)."""
        if not self.quiet:
            self.console.print(message, highlight=False)

    def warn(self, message: str) -> None:
        """A warning: kept for the report and shown unless ``quiet``."""
        self.warnings.append(message)
        if not self.quiet:
            self.console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)
