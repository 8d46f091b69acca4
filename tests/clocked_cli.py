"""``python tests/clocked_cli.py ARGS…``: the real ``edgeloop`` command with this machine's timer
replaced by the deterministic clock of ``tests/clock.py`` (a test double for the device's
timer): the ``local`` device and the search's meter answer with latencies computed from the
file, so a command run in a subprocess decides the same whatever the machine's load."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clock  # noqa: E402

clock.install()

if __name__ == "__main__":
    from edgeloop.cli import main

    main()
