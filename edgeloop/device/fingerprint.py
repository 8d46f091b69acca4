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
# cpu_detail because a virtual machine names every x86 CPU "Intel(R) Xeon(R) Processor" and cloud
# VMs share hostnames such as "vm": two such CPUs, one with VNNI and one without, differed in whether
# int8 beat float. (Ids taken before it was added differ from today's: such a device is measured
# afresh, never mixed with another.)
STABLE_KEYS = ("cpu_model", "cpu_detail", "cores", "memory_mb", "os", "machine", "interpreter", "hostname")


def collect() -> dict:
    """The fingerprint of this machine, with its ``id``."""
    info = {
        "cpu_model": cpu_model(),
        "cpu_detail": cpu_detail(),
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


def cpu_model() -> str:
    """The CPU's name as the OS gives it."""
    text = _read(Path("/proc/cpuinfo")) or ""
    # x86 says "model name"; ARM boards say "Model" (Pi), "Hardware" or only the core type.
    for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or platform.machine()


def cpu_detail() -> str:
    """What tells two CPUs of one name apart (a virtual machine names every x86 one "Intel(R)
    Xeon(R) Processor"): x86 family, model and stepping, or ARM implementer, part and revision;
    the last cache's size; the int8 dot-product instructions XNNPACK's int8 kernels use (two
    x86 CPUs of one name, one with VNNI, saw int8 faster and slower than float)."""
    fields: dict[str, str] = {}
    for line in (_read(Path("/proc/cpuinfo")) or "").splitlines():
        if not line.strip():
            break  # the first CPU's block
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    if not fields:
        return "unknown"
    if "CPU part" in fields:
        core = (f"implementer {fields.get('CPU implementer', '?')} part {fields['CPU part']} "
                f"variant {fields.get('CPU variant', '?')} revision {fields.get('CPU revision', '?')}")
    else:
        core = (f"{fields.get('vendor_id', '?')} family {fields.get('cpu family', '?')} model {fields.get('model', '?')} "
                f"stepping {fields.get('stepping', '?')}")
    parts = [core]
    caches = sorted((_CPU / "cpu0" / "cache").glob("index*/size"))
    if caches:
        parts.append(f"last cache {_read(caches[-1])}")
    flags = set((fields.get("flags") or fields.get("Features", "")).split())
    dot = [f for f in ("avx512_vnni", "avx_vnni", "asimddp", "i8mm") if f in flags]
    parts.append("int8 dot product: " + (" and ".join(dot) if dot else "none"))
    return ", ".join(parts)


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
