"""What this device is: CPU, cores, governor, memory, OS, Python, interpreter, temperature.

Read from ``/proc`` and ``/sys`` (Linux: Coral Dev Board, Raspberry Pi, Jetson, a laptop)
with the standard library only. The stable parts hash to a short ``id`` that keys the
latency store; the volatile parts (governor, temperature) are recorded but not hashed.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path

from edgeloop.device.interpreter import runtime_name

_CPU = Path("/sys/devices/system/cpu")
# The parts of a fingerprint that make two devices interchangeable for a measurement.
STABLE_KEYS = ("cpu_model", "cores", "memory_mb", "os", "machine", "interpreter", "hostname")


def collect() -> dict:
    """The fingerprint of this machine, with its ``id``."""
    info = {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "cpu_max_mhz": _max_mhz(),
        "governor": _read(_CPU / "cpu0" / "cpufreq" / "scaling_governor"),
        "memory_mb": _mem_total_mb(),
        "os": _os_name(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "hostname": platform.node(),
        "python": platform.python_version(),
        "interpreter": runtime_name(),
        "temperature_c": temperatures(),
    }
    info["id"] = fingerprint_id(info)
    return info


def fingerprint_id(info: dict) -> str:
    """A short stable hash of the fingerprint's stable parts."""
    stable = {key: info.get(key) for key in STABLE_KEYS}
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:16]


def temperatures() -> dict[str, float]:
    """Thermal zone readings in degrees Celsius, by zone type (empty where none is readable)."""
    out = {}
    for zone in sorted(Path("/sys/class/thermal").glob("thermal_zone*")):
        raw, kind = _read(zone / "temp"), _read(zone / "type") or zone.name
        try:
            out[kind] = int(raw) / 1000
        except (TypeError, ValueError):
            continue
    return out


def _cpu_model() -> str:
    text = _read(Path("/proc/cpuinfo")) or ""
    # x86 says "model name"; ARM boards say "Model" (Pi), "Hardware" or only the core type.
    for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or platform.machine()


def _max_mhz() -> dict[str, float]:
    """Highest frequency of each CPU (big.LITTLE boards have several)."""
    out = {}
    for cpu in sorted(_CPU.glob("cpu[0-9]*"), key=lambda p: int(p.name[3:])):
        raw = _read(cpu / "cpufreq" / "cpuinfo_max_freq")
        if raw and raw.isdigit():
            out[cpu.name] = int(raw) / 1000
    return out


def _mem_total_mb() -> float | None:
    for line in (_read(Path("/proc/meminfo")) or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024
    return None


def _os_name() -> str:
    for line in (_read(Path("/etc/os-release")) or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return platform.platform()


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
