"""Device strings: ``local``, ``http://HOST:PORT`` (an agent), ``adb:SERIAL`` (a phone).

:func:`open_device` turns one into an object with ``.name``, ``.info()`` (a fingerprint
with an ``id``), ``.benchmark(model, options)`` (a :class:`BenchmarkResult`) and
``.compare(old, new, options)`` (interleaved timings for the regression gate). The CLI's
``--device``, the ``benchmark`` recipe step and the hardware-aware search all use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from edgeloop.device.benchmark import BenchmarkResult
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
    """This machine, measured in this process."""

    name = "local"
    kind = "local"

    def info(self) -> dict:
        """This machine's fingerprint."""
        from edgeloop.device.fingerprint import collect

        return collect()

    def benchmark(self, model: bytes | str | Path, options: BenchmarkOptions, progress=None) -> BenchmarkResult:
        """Run the benchmark here."""
        from edgeloop.device.benchmark import run_benchmark

        return run_benchmark(model, options, progress=progress)

    def compare(self, old: bytes | str | Path, new: bytes | str | Path, options: BenchmarkOptions) -> dict:
        """Interleaved timings of both models here."""
        from edgeloop.device.gate import run_interleaved

        return run_interleaved(old, new, options)


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
        from edgeloop.device.client import AgentClient

        return AgentClient(spec, token=token)
    if spec.startswith("adb:") and len(spec) > 4:
        from edgeloop.device.android import AdbDevice

        return AdbDevice(spec[4:], benchmark_model, adb=adb)
    raise EdgeloopError(f"unknown device {spec!r}: use local, http://HOST:PORT (an edgeloop agent) or adb:SERIAL")
