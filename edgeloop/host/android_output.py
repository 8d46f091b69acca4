"""Read what TFLite's ``benchmark_model`` prints (the "parser" half of the Android backend).

Handles the tool's formats across versions, as printed on a shell or through logcat:

* ``Inference timings in us: Init: …, First inference: …, Warmup (avg): …, Inference (avg): …``
  (older: ``Average inference timings in us: Warmup: …, Init: …, Inference: …``);
* the ``count=… first=… curr=… min=… max=… avg=… std=…`` line of the warm-up and of the
  timed runs (newer versions add ``p5=… median=… p95=…``);
* ``Memory footprint delta from the start of the tool (MB): init=… overall=…`` and the
  peak from periodic monitoring;
* ``Replacing N out of M node(s) with delegate (NAME) node, yielding P partitions``, and
  the "completely / partially / will not be executed by the delegate" lines;
* the ``Run Order`` table of ``--enable_op_profiling`` (with or without the ``[start]``
  column, names with or without the ``:node`` suffix).

Lines may carry a level prefix (``INFO: ``) or a logcat prefix
(``05-30 15:16:44.857  3380  3380 I tflite  : ``); both are stripped first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from edgeloop.errors import EdgeloopError

_LOGCAT = re.compile(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+[VDIWEF]\s+[\w.]+\s*:\s?")
_LEVEL = re.compile(r"^(INFO|VERBOSE|WARNING|WARN|ERROR|DEBUG): ")
_NUMBER = r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
_STAT = re.compile(r"(\w+)=" + _NUMBER)
_TIMINGS = re.compile(r"Inference timings in us: Init: " + _NUMBER + r", First inference: " + _NUMBER
                      + r", Warmup \(avg\): " + _NUMBER + r", Inference \(avg\): " + _NUMBER)
_OLD_TIMINGS = re.compile(r"Average inference timings in us: Warmup: " + _NUMBER + r", Init: " + _NUMBER
                          + r", (?:Inference|no stats): " + _NUMBER)
_MEMORY = re.compile(r"Memory footprint delta from the start of the tool \(MB\): init=" + _NUMBER + r" overall=" + _NUMBER)
_PEAK = re.compile(r"Overall peak memory footprint \(MB\) via periodic monitoring: " + _NUMBER)
_REPLACING = re.compile(r"Replacing (\d+)(?: out of (\d+))? node\(s\) with delegate \((\w+)\) node")
_COMPLETE = re.compile(r"Explicitly applied (\w+) delegate, and the model graph will be completely executed")
_PARTIAL = re.compile(r"Explicitly applied (\w+) delegate, and the model graph will be partially executed by the "
                      r"delegate w/ (\d+) delegate kernels")
_NOT_EXECUTED = re.compile(r"Though (\w+) delegate is explicitly applied, the model graph will not be executed")
_ROW = re.compile(r"^\s*(\S+)\s+((?:[-\d.]+%?\s+)+)\[(.*)\](?::(\d+))?\s*$")
# Delegate kernel names as benchmark_model prints them -> the labels reports use.
LABELS = {"TfLiteXNNPackDelegate": "XNNPACK", "TfLiteGpuDelegateV2": "GPU", "TfLiteGpuDelegate": "GPU",
          "TfLiteNnapiDelegate": "NNAPI", "TfLiteHexagonDelegate": "HEXAGON"}


@dataclass
class BenchmarkModelRun:
    """What one ``benchmark_model`` run printed (times in microseconds, memory in MB)."""

    init_us: float | None = None
    first_us: float | None = None
    warmup_avg_us: float | None = None
    inference_avg_us: float | None = None
    runs: list[dict] = field(default_factory=list)  # the count= lines: warm-up, then timed
    memory_init_mb: float | None = None
    memory_overall_mb: float | None = None
    peak_memory_mb: float | None = None
    delegated: dict[str, int] = field(default_factory=dict)  # label -> nodes taken
    total_nodes: int | None = None
    complete: list[str] = field(default_factory=list)
    partial: dict[str, int] = field(default_factory=dict)  # delegate -> delegate kernels
    not_executed: list[str] = field(default_factory=list)
    op_rows: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def timed(self) -> dict | None:
        """The timed runs' ``count=`` statistics (the last such line)."""
        return self.runs[-1] if self.runs else None


def clean_lines(text: str) -> list[str]:
    """The output's lines without logcat or level prefixes."""
    out = []
    for line in text.splitlines():
        line = _LOGCAT.sub("", line.rstrip("\r"))
        out.append(_LEVEL.sub("", line.lstrip()) if _LEVEL.match(line.lstrip()) else line)
    return out


def parse(text: str) -> BenchmarkModelRun:
    """Parse ``benchmark_model`` output.

    Raises:
        EdgeloopError: the output has no inference timings (the run failed or was cut
            short); the message quotes the tool's first error line when there is one.
    """
    run = BenchmarkModelRun()
    lines = clean_lines(text)
    for line in lines:
        body = line.strip()
        if match := _TIMINGS.search(body):
            run.init_us, run.first_us, run.warmup_avg_us, run.inference_avg_us = map(float, match.groups())
        elif match := _OLD_TIMINGS.search(body):
            run.warmup_avg_us, run.init_us, run.inference_avg_us = map(float, match.groups())
        elif body.startswith("count=") or body.startswith("Timings (microseconds): count="):
            stats = {key: float(value) for key, value in _STAT.findall(body)}
            run.runs.append({**stats, "source": "profiler" if body.startswith("Timings") else "runs"})
        elif match := _MEMORY.search(body):
            run.memory_init_mb, run.memory_overall_mb = float(match.group(1)), float(match.group(2))
        elif match := _PEAK.search(body):
            run.peak_memory_mb = float(match.group(1))
        elif match := _REPLACING.search(body):
            label = LABELS.get(match.group(3), match.group(3))
            run.delegated[label] = run.delegated.get(label, 0) + int(match.group(1))
            run.total_nodes = int(match.group(2)) if match.group(2) else run.total_nodes
        elif match := _PARTIAL.search(body):
            run.partial[match.group(1)] = int(match.group(2))
        elif match := _COMPLETE.search(body):
            run.complete.append(match.group(1))
        elif match := _NOT_EXECUTED.search(body):
            run.not_executed.append(match.group(1))
        elif body.startswith(("ERROR", "Failed", "error:")):
            run.errors.append(body)
    # A profiler summary is a fallback only: plain count= lines time the runs without profiling.
    plain = [r for r in run.runs if r["source"] == "runs"]
    run.runs = plain or run.runs
    run.op_rows = op_table(lines)
    if run.inference_avg_us is None:
        why = f": {run.errors[0]}" if run.errors else ""
        raise EdgeloopError(f"benchmark_model printed no inference timings (the run failed or was cut short){why}")
    return run


def op_table(lines: list[str]) -> list[dict]:
    """Rows of the regular runs' ``Run Order`` table: index, op type, name, first / avg ms, share."""
    start = _table_start(lines)
    if start is None:
        return []
    columns = re.findall(r"\[([^\]]+)\]", lines[start])
    rows = []
    for line in lines[start + 1:]:
        match = _ROW.match(line)
        if not match:
            if rows or line.strip().startswith("="):
                break
            continue
        values = dict(zip(columns[1:-1], match.group(2).split()))
        index = int(match.group(4)) if match.group(4) is not None else len(rows)
        rows.append({
            "index": index, "op": match.group(1), "output": match.group(3),
            "first_ms": _float(values.get("first")), "mean_ms": _float(values.get("avg ms")), "median_ms": None,
            "percent": _float(values.get("%", "").rstrip("%")),
            "times_called": _float(values.get("times called")),
        })
    return rows


def _table_start(lines: list[str]) -> int | None:
    """Header line of the regular runs' Run Order table (skipping the initialization profile)."""
    regular = next((i for i, line in enumerate(lines) if "Operator-wise Profiling Info for Regular Benchmark Runs" in line), None)
    if regular is None and any("Profiling Info for Benchmark Initialization" in line for line in lines):
        return None  # only the initialization profile: no table of the runs
    for i in range(regular or 0, len(lines) - 1):
        if "Run Order" in lines[i] and "[node type]" in lines[i + 1]:
            return i + 1
    return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None
