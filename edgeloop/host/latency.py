"""``edgeloop bench`` as a library: measure on devices through the store, and the regression gate.

A measurement of the same model (SHA-256), on the same device (fingerprint id, which
includes the runtime, and the way it is reached: in-process, agent or adb) with the same
options is answered from the latency store unless ``fresh`` is asked; every new
measurement is kept there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from edgeloop.device.benchmark import BenchmarkResult, model_bytes
from edgeloop.host.devices import Device
from edgeloop.device.gate import GateResult, decide
from edgeloop.device.options import BenchmarkOptions
from edgeloop.host.store import LatencyStore


@dataclass
class Measurement:
    """One model on one device: the report, the device's fingerprint, and where it came from."""

    device: str
    fingerprint: dict
    result: BenchmarkResult
    cached: bool
    stored_id: int | None = None

    def to_dict(self) -> dict:
        """The report with the device's fingerprint and whether the store answered."""
        return {**self.result.to_dict(), "device": self.device, "cached": self.cached, "stored_id": self.stored_id,
                "fingerprint": self.fingerprint}


def device_key(device: Device, fingerprint: dict) -> str:
    """How the store names a device: its fingerprint and how it is reached (the same machine
    measured in-process and through its agent are kept apart)."""
    return f"{fingerprint['id']}:{device.kind}"


def measure(model: str | Path, devices: list[Device], options: BenchmarkOptions, store: LatencyStore | None = None,
            fresh: bool = False, progress=None) -> list[Measurement]:
    """Benchmark ``model`` on each device in turn (answered from ``store`` when it can be).

    Args:
        model: the ``.tflite`` file.
        devices: from :func:`edgeloop.host.devices.open_device`.
        options: the benchmark's options (part of the store's key).
        store: where measurements are looked up and kept (``None``: neither).
        fresh: measure even when the store has an answer.
        progress: ``progress(done, total)`` for the local device's runs.
    """
    raw = checked_model(model)
    digest = hashlib.sha256(raw).hexdigest()
    out = []
    for device in devices:
        fingerprint = device.info()
        device_id = device_key(device, fingerprint)
        cached = None if (fresh or store is None) else store.lookup(digest, device_id, options.key())
        if cached is not None:
            out.append(Measurement(device.name, fingerprint, cached, cached=True))
            continue
        kwargs = {"progress": progress} if device.name == "local" and progress else {}
        result = device.benchmark(raw, options, **kwargs)
        label = f"<{len(raw)} bytes>" if isinstance(model, bytes) else str(model)
        result.model, result.model_sha256, result.device = label, digest, device.name
        stored = store.add(result, fingerprint, options.key(), device_id) if store is not None else None
        out.append(Measurement(device.name, fingerprint, result, cached=False, stored_id=stored))
    return out


def checked_model(model: str | Path | bytes) -> bytes:
    """The model's bytes, once its flatbuffer has passed the reader's checks (every index and
    buffer length against the schema): a crafted file is refused here, before any interpreter
    or device sees it.

    Raises:
        EdgeloopError: unreadable, not a TFLite model, or corrupt (one line naming the file).
    """
    from edgeloop.converters.inspect import read_model

    raw = model_bytes(model)
    read_model(raw, name=None if isinstance(model, bytes) else str(model))
    return raw


def regression_gate(old: str | Path, new: str | Path, device: Device, options: BenchmarkOptions,
                    margin: float | None = None) -> tuple[GateResult, dict]:
    """Measure ``old`` and ``new`` interleaved on ``device`` and apply the gate's rule.

    Returns:
        ``(verdict, measurement)``; the measurement holds both samples' timings.
    """
    measured = device.compare(checked_model(old), checked_model(new), options)
    verdict = decide(measured["old"]["times_ms"], measured["new"]["times_ms"], margin=margin, seed=options.seed)
    return verdict, measured


def history(store: LatencyStore, model: str | None = None) -> list[dict]:
    """Stored measurements, newest first; of one model when ``model`` (a file or a SHA-256) is given."""
    digest = None
    if model:
        path = Path(model)
        digest = hashlib.sha256(model_bytes(path)).hexdigest() if path.exists() or len(model) != 64 else model
    return store.history(digest)
