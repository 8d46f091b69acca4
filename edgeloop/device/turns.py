"""One benchmark at a time: requests take turns in arrival order, and a bounded number wait.

Two benchmarks running at once on one device disturb each other (shared cores, caches,
memory bandwidth, thermal budget), so the agent serializes them. Past ``max_waiting``
requests in line, a new one is refused at once with :class:`Busy` instead of piling up.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from edgeloop.errors import EdgeloopError


class Busy(EdgeloopError):
    """The queue is full: try again later."""


class Turns:
    """A FIFO ticket queue with one holder at a time.

    Args:
        max_waiting: requests that may wait while one runs.
    """

    def __init__(self, max_waiting: int) -> None:
        self.max_waiting = max_waiting
        self._cv = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    @property
    def waiting(self) -> int:
        """Requests in line behind the one running (0 when idle)."""
        with self._cv:
            return max(0, self._next_ticket - self._serving - 1)

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for this caller's turn and hold it for the block.

        Raises:
            Busy: ``max_waiting`` requests are already waiting.
        """
        with self._cv:
            ahead = self._next_ticket - self._serving
            if ahead > self.max_waiting:
                raise Busy(f"busy: a benchmark is running and {ahead - 1} more are waiting "
                           f"(at most {self.max_waiting} may wait); try again later")
            ticket = self._next_ticket
            self._next_ticket += 1
            while self._serving != ticket:
                self._cv.wait()
        try:
            yield
        finally:
            with self._cv:
                self._serving += 1
                self._cv.notify_all()
