"""Crash points: named moments at which a test may kill the process, to prove that a run
resumes from a kill at any of them.

``EDGELOOP_CRASH_LOG=<file>`` appends the name of every point reached to ``<file>`` (one
a line); ``EDGELOOP_CRASH_AT=<name>`` kills the process with ``SIGKILL`` when it reaches
the point so named: nothing is flushed, closed or cleaned up, as with a power cut or the
OOM killer. With neither variable set a point costs two dictionary lookups.

A name is ``<phase>/<moment>``: the runner names its phases (``start``, ``step2``,
``step2:baseline``, ``finish``) so that a point has the same name in a fresh run and in a
resumed one; a moment reached again within one phase is suffixed ``#2``, ``#3`` ….
"""

from __future__ import annotations

import os
import signal

LOG_VARIABLE = "EDGELOOP_CRASH_LOG"
AT_VARIABLE = "EDGELOOP_CRASH_AT"
_phase = {"name": "", "seen": {}}


def phase(name: str) -> None:
    """Start the phase ``name``: the points after it are named ``<name>/…``."""
    _phase["name"], _phase["seen"] = name, {}


def crash_point(moment: str) -> None:
    """Mark ``moment`` of the current phase: log it, or die here, as the environment asks."""
    log, at = os.environ.get(LOG_VARIABLE), os.environ.get(AT_VARIABLE)
    if not log and not at:
        return
    seen = _phase["seen"]
    count = seen[moment] = seen.get(moment, 0) + 1
    name = f"{_phase['name']}/{moment}" + (f"#{count}" if count > 1 else "")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(name + "\n")
    if at == name:
        os.kill(os.getpid(), signal.SIGKILL)
