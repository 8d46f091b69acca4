"""A device's fingerprint (``edgeloop.device.fingerprint``): what tells two CPUs of one name
apart, and which parts key the latency store."""

from __future__ import annotations

from pathlib import Path

from edgeloop.device import fingerprint

# The first CPU block of /proc/cpuinfo on two real machines (trimmed): an x86 VM, which names every
# CPU alike, and a Raspberry Pi 5 (Cortex-A76).
X86 = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 207
model name\t: Intel(R) Xeon(R) Processor
stepping\t: 2
flags\t\t: fpu vme sse sse2 avx avx2 avx512f avx512_vnni

processor\t: 1
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 85
"""
ARM = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b
CPU revision\t: 1

Model\t\t: Raspberry Pi 5 Model B Rev 1.0
"""


def _cpuinfo(monkeypatch, text: str) -> None:
    real = fingerprint._read
    monkeypatch.setattr(fingerprint, "_read", lambda path: text if path == Path("/proc/cpuinfo") else real(path))


def test_an_x86_cpu_is_told_apart_by_family_model_stepping_and_vnni(monkeypatch):
    _cpuinfo(monkeypatch, X86)
    detail = fingerprint.cpu_detail()
    assert detail.startswith("GenuineIntel family 6 model 207 stepping 2")  # the first CPU's block only
    assert detail.endswith("int8 dot product: avx512_vnni")
    assert fingerprint.cpu_model() == "Intel(R) Xeon(R) Processor"


def test_an_arm_cpu_is_told_apart_by_part_and_dot_product(monkeypatch):
    _cpuinfo(monkeypatch, ARM)
    detail = fingerprint.cpu_detail()
    assert detail.startswith("implementer 0x41 part 0xd0b variant 0x4 revision 1")
    assert detail.endswith("int8 dot product: asimddp")
    assert fingerprint.cpu_model() == "Raspberry Pi 5 Model B Rev 1.0"


def test_two_cpus_of_one_name_on_one_hostname_are_two_devices_and_a_temperature_is_not():
    here = fingerprint.collect()
    other = {**here, "cpu_detail": here["cpu_detail"] + " (another host)"}
    warmer = {**here, "temperature_c": {"cpu": 80.0}, "governor": "powersave"}
    assert fingerprint.fingerprint_id(other) != here["id"]
    assert fingerprint.fingerprint_id(warmer) == here["id"]
