"""Read what ``edgetpu_compiler`` prints (and the ``*_edgetpu.log`` it writes) into data.

The compiler's output is documented at https://coral.ai/docs/edgetpu/compiler/ and quoted
in many google-coral/edgetpu issue threads (the fixtures under
``tests/fixtures/edgetpu/`` are taken from them). Its parts, all optional::

    Edge TPU Compiler version 16.0.384591198
    Model compiled successfully in 542 ms.
    Input model: m.tflite / Input size: 4.04MiB / Output model: … / Output size: …
    On-chip memory used for caching model parameters: 604.50KiB
    On-chip memory remaining for caching model parameters: 511.50KiB
    Off-chip memory used for streaming uncached model parameters: 3.45MiB
    Number of Edge TPU subgraphs: 1
    Total number of operations: 50
    Number of operations that will run on Edge TPU: 49 / … on CPU: 1
    Operator                       Count      Status
    CONV_2D                        32         Mapped to Edge TPU
    …
    Invalid model: m.tflite / Model not quantized            (refused)
    Compilation failed: …  /  Internal compiler error. Aborting!   (failed)
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

MAPPED = "Mapped to Edge TPU"
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
_SIZE = r"([\d.]+)\s*(B|KiB|MiB|GiB)"
_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\S.*?)\s*$")
_FIELDS = {
    "compiler_version": (r"Edge TPU Compiler version (\S+)", str),
    "compile_ms": (r"Model compiled successfully in (\d+) ms", int),
    "input_model": (r"^Input(?: model)?: (.+)$", str),
    "output_model": (r"^Output(?: model)?: (.+)$", str),
    "input_bytes": (rf"Input size: {_SIZE}", "size"),
    "output_bytes": (rf"Output size: {_SIZE}", "size"),
    "on_chip_bytes": (rf"On-chip memory used for caching model parameters: {_SIZE}", "size"),
    "on_chip_remaining_bytes": (rf"On-chip memory remaining for caching model parameters: {_SIZE}", "size"),
    "off_chip_bytes": (rf"Off-chip memory used for streaming uncached model parameters: {_SIZE}", "size"),
    "edgetpu_subgraphs": (r"Number of Edge TPU subgraphs: (\d+)", int),
    "total_ops": (r"Total number of operations: (\d+)", int),
    "ops_on_edgetpu": (r"Number of operations that will run on Edge TPU: (\d+)", int),
    "ops_on_cpu": (r"Number of operations that will run on CPU: (\d+)", int),
    "operation_log": (r"Operation log: (.+)$", str),
}
_ERRORS = (
    re.compile(r"^Invalid model: .*$"),
    re.compile(r"^Compilation failed: (.+)$"),
    re.compile(r"^(Internal compiler error\. Aborting!)"),
)


@dataclass(frozen=True)
class OperatorRow:
    """One row of the compiler's "Operator / Count / Status" table."""

    op: str
    count: int
    status: str

    @property
    def mapped(self) -> bool:
        """These ops run on the Edge TPU."""
        return self.status == MAPPED


@dataclass(frozen=True)
class CompilerReport:
    """What one run of ``edgetpu_compiler`` said. Fields it did not print are ``None``.

    Sizes are in bytes (the compiler prints them rounded to two decimals of KiB / MiB).
    ``error`` is the reason the compiler gave when it refused or failed ("Model not
    quantized", "Compilation failed due to large activation tensors in model." …).
    """

    compiler_version: str | None = None
    success: bool = False
    error: str | None = None
    compile_ms: int | None = None
    input_model: str | None = None
    output_model: str | None = None
    input_bytes: int | None = None
    output_bytes: int | None = None
    on_chip_bytes: int | None = None
    on_chip_remaining_bytes: int | None = None
    off_chip_bytes: int | None = None
    edgetpu_subgraphs: int | None = None
    total_ops: int | None = None
    ops_on_edgetpu: int | None = None
    ops_on_cpu: int | None = None
    operation_log: str | None = None
    operators: tuple[OperatorRow, ...] = ()
    messages: tuple[str, ...] = field(default_factory=tuple)

    @property
    def fully_mapped(self) -> bool:
        """Compiled, and nothing runs on the CPU (by the counts, else by the table)."""
        if not self.success:
            return False
        if self.ops_on_cpu is not None:
            return self.ops_on_cpu == 0
        return all(row.mapped for row in self.operators)

    def on_cpu(self) -> dict[str, int]:
        """Ops the compiler left on the CPU, by op type."""
        out: dict[str, int] = {}
        for row in self.operators:
            if not row.mapped:
                out[row.op] = out.get(row.op, 0) + row.count
        return out

    def to_dict(self) -> dict:
        """Plain data, with ``fully_mapped`` and the CPU ops by type."""
        d = asdict(self)
        d["operators"] = [{**asdict(r), "mapped": r.mapped} for r in self.operators]
        d["messages"] = list(self.messages)
        return {**d, "fully_mapped": self.fully_mapped, "on_cpu": self.on_cpu()}


def parse_compiler_output(text: str) -> CompilerReport:
    """Parse the compiler's standard output, or the operation log file it writes."""
    lines = [line.rstrip() for line in text.splitlines()]
    values: dict = {}
    for key, (pattern, kind) in _FIELDS.items():
        for line in lines:
            m = re.search(pattern, line.strip())
            if m:
                values[key] = _size(m.group(1), m.group(2)) if kind == "size" else kind(m.group(1).strip())
                break
    error = _error(lines)
    rows = tuple(_rows(lines))
    succeeded = any(line.startswith(("Model compiled successfully", "Compilation succeeded")) for line in lines)
    # An operation log (no summary lines) lists a model that compiled.
    succeeded = succeeded or (bool(rows) and "total_ops" not in values and error is None)
    messages = tuple(line.strip() for line in lines if line.startswith(("ERROR:", "WARNING:")))
    return CompilerReport(success=succeeded and error is None, error=error, operators=rows, messages=messages, **values)


def _size(number: str, unit: str) -> int:
    return int(round(float(number) * _UNITS[unit]))


def _error(lines: list[str]) -> str | None:
    for i, line in enumerate(lines):
        text = line.strip()
        if _ERRORS[0].match(text):  # the reason follows on the next line
            return lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].strip() else text
        for pattern in _ERRORS[1:]:
            m = pattern.match(text)
            if m:
                return m.group(1)
    if any(line.strip() == "Compilation failed!" for line in lines):
        return "Compilation failed!"
    return None


def _rows(lines: list[str]):
    in_table = False
    for line in lines:
        text = line.strip()
        if re.match(r"^Operator\s+Count\s+Status$", text):
            in_table = True
            continue
        if not in_table or not text:
            continue
        m = _ROW.match(text)
        if not m:
            in_table = False
            continue
        yield OperatorRow(m.group(1), int(m.group(2)), m.group(3))
