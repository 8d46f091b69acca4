"""Progress bars and messages on stderr; results and ``--json`` on stdout.

Every command's ``--json`` goes through :func:`emit_json`. rich is imported when a
:class:`Ui` is made, so a command module that imports this one stays cheap to register.
"""

from __future__ import annotations

import contextlib
import json
from typing import Callable, Iterator

import click


def emit_json(obj) -> None:
    """Print ``obj`` on stdout as indented JSON (numpy values as lists, anything else as text)."""
    click.echo(json.dumps(obj, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


class Ui:
    """Where a run's progress and warnings go.

    Args:
        quiet: no progress bars and no chatter (warnings are still collected).
    """

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.console = Console(stderr=True)
        self.warnings: list[str] = []

    @contextlib.contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress bar for ``total`` units of work; yields ``advance(n)``."""
        if self.quiet or not self.console.is_terminal:
            yield lambda n=1: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
