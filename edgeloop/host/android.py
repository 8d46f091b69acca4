"""An Android phone as a device: Debian's ``adb`` and TFLite's ``benchmark_model`` (the "profiler").

The user gives the path of a ``benchmark_model`` binary built for the phone. edgeloop
pushes it and the model to ``/data/local/tmp/edgeloop``, reads each CPU's highest
frequency to find the big cores, runs the tool pinned to them with ``taskset`` (the tool's
README recommends this to cut run-to-run variance on big.LITTLE phones) and parses what it
prints (:mod:`edgeloop.host.android_output`) into the same report as every other device.

Every ``adb`` call is an argument list with a timeout; the one command line that runs on
the phone is built from quoted arguments (``adb shell`` hands its arguments to the
phone's shell).
"""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from edgeloop.host.android_output import BenchmarkModelRun, parse
from edgeloop.device.benchmark import BenchmarkResult, model_bytes
from edgeloop.device.fingerprint import fingerprint_id
from edgeloop.device.options import BenchmarkOptions
from edgeloop.device.stats import LatencyStats
from edgeloop.errors import EdgeloopError

REMOTE_DIR = "/data/local/tmp/edgeloop"
_PROPS = {"model": "ro.product.model", "manufacturer": "ro.product.manufacturer", "android": "ro.build.version.release",
          "build": "ro.build.fingerprint", "soc": "ro.board.platform", "abi": "ro.product.cpu.abi"}
_FLAGS = {"xnnpack": ["--use_xnnpack=true"], "none": ["--use_xnnpack=false"], "gpu": ["--use_gpu=true"],
          "nnapi": ["--use_nnapi=true"], "hexagon": ["--use_hexagon=true"]}
_FREQ = re.compile(r"/cpu(\d+)/cpufreq/cpuinfo_max_freq:(\d+)")


class AdbDevice:
    """The phone with serial ``serial``, measured with the ``benchmark_model`` binary at ``tool``.

    Args:
        serial: the phone's serial (``adb devices`` lists them).
        tool: local path of ``benchmark_model`` built for the phone's ABI.
        adb: the ``adb`` executable.
        timeout_s: limit of each ``adb`` call other than the benchmark itself.
    """

    def __init__(self, serial: str, tool: str | Path | None, adb: str = "adb", timeout_s: float = 60.0) -> None:
        self.serial = serial
        self.tool = Path(tool) if tool else None
        self.adb = adb
        self.timeout_s = timeout_s
        self.name = f"adb:{serial}"
        self.kind = "adb"
        self._pushed_tool = False

    def info(self) -> dict:
        """The phone's fingerprint: model, Android build, SoC, CPU frequencies, the tool's hash."""
        self._check_ready()
        props = self._props()
        freqs = self.max_freqs()
        info = {**props, "serial": self.serial, "cores": len(freqs), "cpu_max_mhz": {f"cpu{c}": f / 1000 for c, f in freqs.items()},
                "big_cores": big_core_mask(freqs), "interpreter": f"benchmark_model {self._tool_sha()[:12]}"}
        info.update(cpu_model=props.get("soc"), os=f"Android {props.get('android')}", machine=props.get("abi"),
                    memory_mb=None, hostname=self.serial)
        info["id"] = fingerprint_id(info)
        return info

    def benchmark(self, model: bytes | str | Path, options: BenchmarkOptions) -> BenchmarkResult:
        """Run ``benchmark_model`` on the phone and report like the local benchmark."""
        raw = model_bytes(model)
        remote = self._prepare(raw)
        started = time.time()
        text = self._run_tool(remote, options)
        result = to_result(parse(text), options, str(model) if not isinstance(model, bytes) else f"<{len(raw)} bytes>")
        result.model_sha256 = hashlib.sha256(raw).hexdigest()
        result.device, result.started_at, result.finished_at = self.name, started, time.time()
        result.versions = {"runtime": f"benchmark_model {self._tool_sha()[:12]}", **self._props(("android", "build"))}
        return result

    def compare(self, old: bytes | str | Path, new: bytes | str | Path, options: BenchmarkOptions, rounds: int = 5) -> dict:
        """Old and new in turn, ``rounds`` runs of the tool each: per-round mean latencies in ms."""
        remotes = [self._prepare(model_bytes(m)) for m in (old, new)]
        means: list[list[float]] = [[], []]
        for _ in range(rounds):
            for remote, sample in zip(remotes, means):
                sample.append(parse(self._run_tool(remote, options)).inference_avg_us / 1000)
        return {"old": {"times_ms": means[0]}, "new": {"times_ms": means[1]}, "rounds": rounds, "stop_reason": "rounds",
                "unit": "mean latency of one benchmark_model run per round"}

    def max_freqs(self) -> dict[int, int]:
        """Each CPU's highest frequency in kHz, read from the phone's sysfs."""
        out = self._adb("shell", "grep", "-H", ".", "/sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq", quote=False)
        return {int(c): int(f) for c, f in _FREQ.findall(out)}

    def _check_ready(self) -> None:
        if shutil.which(self.adb) is None:
            raise EdgeloopError(f"adb not found ({self.adb}): install it (apt-get install adb) or put it on PATH")
        proc = self._call("get-state")
        if proc.returncode != 0 or proc.stdout.strip() != "device":
            said = (proc.stderr.strip().splitlines() or [proc.stdout.strip() or "no answer"])[-1]
            raise EdgeloopError(f"no Android device {self.serial!r} attached ({said}); `adb devices` lists them")

    def _prepare(self, raw: bytes) -> str:
        self._check_ready()
        if self.tool is None or not self.tool.is_file():
            raise EdgeloopError(f"benchmark_model binary not found: {self.tool} (give --benchmark-model PATH)")
        if not self._pushed_tool:
            self._adb("shell", "mkdir", "-p", REMOTE_DIR)
            self._adb("push", str(self.tool), f"{REMOTE_DIR}/benchmark_model")
            self._adb("shell", "chmod", "755", f"{REMOTE_DIR}/benchmark_model")
            self._pushed_tool = True
        remote = f"{REMOTE_DIR}/{hashlib.sha256(raw).hexdigest()[:16]}.tflite"
        with tempfile.TemporaryDirectory(prefix="edgeloop-adb-") as folder:
            local = Path(folder) / "model.tflite"
            local.write_bytes(raw)
            self._adb("push", str(local), remote)
        return remote

    def _run_tool(self, remote: str, options: BenchmarkOptions) -> str:
        flags = [f"--graph={remote}", f"--num_threads={options.threads}", f"--warmup_runs={options.warmup}",
                 f"--num_runs={options.runs}", "--warmup_min_secs=0", "--min_secs=0",
                 f"--max_secs={options.time_limit_s:g}", *_FLAGS.get(options.delegate, [])]
        if options.delegate == "edgetpu":
            raise EdgeloopError("benchmark_model has no Edge TPU flag: measure a Coral through the agent")
        if options.op_profiling:
            flags.append("--enable_op_profiling=true")
        mask = big_core_mask(self.max_freqs())
        pin = ["taskset", mask] if mask else []
        return self._adb("shell", *pin, f"{REMOTE_DIR}/benchmark_model", *flags, timeout=options.time_limit_s + self.timeout_s)

    def _props(self, keys=tuple(_PROPS)) -> dict:
        return {key: self._adb("shell", "getprop", _PROPS[key]).strip() for key in keys}

    def _tool_sha(self) -> str:
        return hashlib.sha256(self.tool.read_bytes()).hexdigest() if self.tool and self.tool.is_file() else "unknown"

    def _adb(self, *args: str, quote: bool = True, timeout: float | None = None) -> str:
        if args and args[0] == "shell" and quote:
            args = ("shell", *(shlex.quote(a) for a in args[1:]))
        proc = self._call(*args, timeout=timeout)
        if proc.returncode != 0:
            said = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            raise EdgeloopError(f"adb {args[0]} failed on {self.serial}: {said[-1] if said else f'status {proc.returncode}'}")
        return proc.stdout

    def _call(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([self.adb, "-s", self.serial, *args], capture_output=True, text=True,
                                  timeout=timeout or self.timeout_s)
        except FileNotFoundError:
            raise EdgeloopError(f"adb not found ({self.adb}): install it (apt-get install adb) or put it on PATH") from None
        except subprocess.TimeoutExpired:
            raise EdgeloopError(f"adb {args[0]} on {self.serial} did not answer within {timeout or self.timeout_s:g} s") from None


def big_core_mask(freqs: dict[int, int]) -> str | None:
    """``taskset`` mask (hex) of the CPUs with the highest max frequency; ``None`` if unknown."""
    if not freqs:
        return None
    top = max(freqs.values())
    return format(sum(1 << cpu for cpu, f in freqs.items() if f == top), "x")


def to_result(run: BenchmarkModelRun, options: BenchmarkOptions, label: str) -> BenchmarkResult:
    """A :class:`BenchmarkResult` from what ``benchmark_model`` printed (figures it does not print stay ``None``)."""
    timed = run.timed or {}
    ms = {key: timed[key] / 1000 for key in ("min", "median", "avg", "std", "max") if key in timed}
    stats = LatencyStats(int(timed.get("count", 0)), ms.get("min"), ms.get("median"), None, None, ms.get("avg"),
                         ms.get("std"), ms.get("max"))
    delegates = dict(run.delegated)
    if run.total_nodes is not None:
        delegates["cpu"] = run.total_nodes - sum(run.delegated.values())
    warnings = [f"the {name} delegate was asked for but took no node: the model ran on the CPU (silent fallback)"
                for name in run.not_executed]
    warnings += [f"the {name} delegate runs part of the graph ({kernels} delegate kernels); the rest runs on the CPU"
                 for name, kernels in run.partial.items()]
    asked = {"xnnpack": "XNNPACK", "gpu": "GPU", "nnapi": "NNAPI", "hexagon": "HEXAGON"}.get(options.delegate or "")
    executed = {n.upper() for n in run.complete} | {n.upper() for n in run.partial} | set(delegates)
    if asked and asked not in executed and asked not in {n.upper() for n in run.not_executed}:
        warnings.append(f"the {options.delegate} delegate was asked for but the tool reports no node taken by it "
                        "(silent fallback to the CPU)")
    warnings += [f"benchmark_model: {line}" for line in run.errors]
    op_rows = [{**row, "error": None} for row in run.op_rows]
    return BenchmarkResult(
        label, "benchmark_model", options.threads, options.warmup, stats.count, (run.init_us or 0) / 1000,
        (run.first_us or 0) / 1000, [], stats, delegates, source="adb", delegate=options.delegate,
        peak_memory_mb=run.peak_memory_mb if run.peak_memory_mb is not None else run.memory_overall_mb,
        op_profile=op_rows, op_profile_method="benchmark_model --enable_op_profiling (Run Order table)" if op_rows else None,
        warnings=warnings, options=options.to_dict(), stop_reason="runs")
