"""Device strings: ``local``, ``http://HOST:PORT`` (an agent), ``adb:SERIAL`` (a phone).

:func:`open_device` turns one into an object with ``.name``, ``.info()`` (a fingerprint
with an ``id``), ``.benchmark(model, options)`` (a :class:`BenchmarkResult`) and
``.compare(old, new, options)`` (interleaved timings for the regression gate). The CLI's
``--device``, the ``benchmark`` recipe step and the hardware-aware search all use it.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Iterator, Protocol

from edgeloop.device.benchmark import BenchmarkResult
from edgeloop.device.child import GRACE_S
from edgeloop.device.options import BenchmarkOptions
from edgeloop.errors import EdgeloopError


class Device(Protocol):
    """What every way of reaching a device offers."""

    name: str
    kind: str  # "local", "agent" or "adb": how it is measured, part of the store's key

    def info(self) -> dict:
        """The device's fingerprint, with a stable ``id``."""

    def benchmark(self, model: bytes | str | Path, options: BenchmarkOptions) -> BenchmarkResult:
        """Measure ``model`` on the device."""

    def compare(self, old: bytes | str | Path, new: bytes | str | Path, options: BenchmarkOptions) -> dict:
        """Time ``old`` and ``new`` interleaved: ``{"old": {"times_ms": …}, "new": {…}, …}``."""


class LocalDevice:
    """This machine, measured in a child process (:mod:`edgeloop.device.child`), like the
    agent measures its own: a model whose inference never returns is killed at the time
    limit (plus ``grace_s``), and one that crashes the interpreter ends in an error, not in
    the death of the calling process.

    Args:
        grace_s: seconds the child gets beyond the benchmark's time limit (start-up, reply).
    """

    name = "local"
    kind = "local"

    def __init__(self, grace_s: float = GRACE_S) -> None:
        self.grace_s = grace_s

    def info(self) -> dict:
        """This machine's fingerprint."""
        from edgeloop.device.fingerprint import collect

        return collect()

    def benchmark(self, model: bytes | str | Path, options: BenchmarkOptions, progress=None) -> BenchmarkResult:
        """Run the benchmark here, in a child process; ``progress(done, total)`` as runs finish."""
        with _model_files([model]) as (path,):
            result = self._run("benchmark", [path], options, progress)
        out = BenchmarkResult.from_dict(result)
        out.model = f"<{len(model)} bytes>" if isinstance(model, bytes) else str(model)
        return out

    def compare(self, old: bytes | str | Path, new: bytes | str | Path, options: BenchmarkOptions) -> dict:
        """Interleaved timings of both models here, in a child process."""
        with _model_files([old, new]) as paths:
            return self._run("compare", list(paths), options)

    def _run(self, task: str, paths: list[str], options: BenchmarkOptions, progress=None) -> dict:
        from edgeloop.device.child import run_in_child

        request = {"task": task, "models": paths, "options": options.to_dict(), "memory_limit_mb": None}
        return run_in_child(request, options.time_limit_s + self.grace_s, on_progress=progress)


@contextlib.contextmanager
def _model_files(models: list[bytes | str | Path]) -> Iterator[tuple[str, ...]]:
    """Paths the child can read: files as they are, bytes written to a temporary folder."""
    from edgeloop.device.benchmark import model_bytes

    with tempfile.TemporaryDirectory(prefix="edgeloop-bench-") as folder:
        paths = []
        for i, model in enumerate(models):
            if isinstance(model, bytes):
                paths.append(str(Path(folder) / f"model{i}.tflite"))
                Path(paths[-1]).write_bytes(model)
            else:
                model_bytes(model)  # a missing or unreadable file: one clear error, here
                paths.append(str(Path(model).resolve()))
        yield tuple(paths)


def open_device(spec: str, token: str | None = None, benchmark_model: str | Path | None = None,
                adb: str = "adb") -> Device:
    """The device a device string names.

    Args:
        spec: ``local``, ``http://HOST:PORT`` or ``adb:SERIAL``.
        token: the agent's token (``http://`` devices).
        benchmark_model: local path of the phone's ``benchmark_model`` binary (``adb:`` devices).
        adb: the ``adb`` executable (``adb:`` devices).

    Raises:
        EdgeloopError: a string that names no kind of device.
    """
    if spec == "local":
        return LocalDevice()
    if spec.startswith(("http://", "https://")):
        from edgeloop.host.client import AgentClient

        return AgentClient(spec, token=token)
    if spec.startswith("adb:") and len(spec) > 4:
        from edgeloop.host.android import AdbDevice

        return AdbDevice(spec[4:], benchmark_model, adb=adb)
    raise EdgeloopError(f"unknown device {spec!r}: use local, http://HOST:PORT (an edgeloop agent) or adb:SERIAL")
