"""Checks every converted model passes before it is called done.

- ``static_shapes``: no ``-1`` in any tensor's shape signature (batch fixed to 1).
- ``io_types``: inputs and outputs are of the type asked (int8 / uint8 / float32).
- ``int8_compute`` / ``int16x8_compute`` (calibrated integer modes): no float tensor
  flows between ops; biases and shape operands may be int32 / int64. A float tensor left there means an op runs in float (on the
  Edge TPU: falls back to the CPU and splits the graph).
- ``op_list``: informational, the ops the file holds.

Works on :class:`~edgeloop.converters.inspect.ModelInfo`, without TensorFlow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from edgeloop.converters.inspect import ModelInfo, op_counts, read_model
from edgeloop.errors import VerificationError

_INTEGER = ("int8", "uint8", "int16", "int32", "int64", "bool")
# Ops that exist to move between float and integer at the graph's edges.
_BOUNDARY_OPS = ("QUANTIZE", "DEQUANTIZE")


@dataclass(frozen=True)
class Check:
    """One verification result; ``detail`` names the tensor or op when it failed."""

    name: str
    passed: bool
    detail: str


def verify(model: ModelInfo | bytes | str | Path, mode: str = "int8", io_type: str = "int8") -> list[Check]:
    """Run every check that applies to ``mode``.

    Args:
        model: the parsed model, its bytes or its path.
        mode: the conversion mode asked for (``int8`` and ``int16x8`` add the
            ``<mode>_compute`` check).
        io_type: the I/O type asked for (``float32`` for every mode but int8).
    """
    info = model if isinstance(model, ModelInfo) else read_model(model)
    checks = [_static_shapes(info), _io_types(info, io_type)]
    if mode in ("int8", "int16x8"):
        checks.append(_integer_compute(info, f"{mode}_compute"))
    counts = op_counts(info)
    checks.append(Check("op_list", True, ", ".join(f"{k} x{v}" for k, v in counts.items()) or "no ops"))
    return checks


def _static_shapes(info: ModelInfo) -> Check:
    dynamic = [t for t in info.tensors if t.is_dynamic]
    if dynamic:
        names = "; ".join(f"{t.name} {list(t.shape_signature)}" for t in dynamic[:3])
        more = f" and {len(dynamic) - 3} more" if len(dynamic) > 3 else ""
        return Check("static_shapes", False, f"dynamic dimension (-1) in {names}{more}")
    return Check("static_shapes", True, f"all {len(info.tensors)} tensors have static shapes")


def _io_types(info: ModelInfo, io_type: str) -> Check:
    wrong = [
        f"{kind} {info.tensors[i].name} is {info.tensors[i].dtype}"
        for kind, indices in (("input", info.inputs), ("output", info.outputs))
        for i in indices
        if info.tensors[i].dtype != io_type
    ]
    if wrong:
        return Check("io_types", False, f"expected {io_type} I/O: " + "; ".join(wrong))
    return Check("io_types", True, f"{len(info.inputs)} input(s) and {len(info.outputs)} output(s) are {io_type}")


def _integer_compute(info: ModelInfo, name: str) -> Check:
    # Float I/O is the io_types check's business: QUANTIZE / DEQUANTIZE touching the
    # graph's own inputs and outputs convert at the edges and compute nothing.
    edges = set(info.inputs) | set(info.outputs)
    offenders = []
    for op in info.ops:
        for index in (*op.inputs, *op.outputs):
            if index < 0:
                continue  # optional operand left out
            t = info.tensors[index]
            if t.dtype in _INTEGER:
                continue
            if op.name in _BOUNDARY_OPS and index in edges:
                continue
            offenders.append(f"{op.name} (op {op.index}) uses {t.dtype} tensor {t.name}")
    if offenders:
        more = f" and {len(offenders) - 3} more" if len(offenders) > 3 else ""
        return Check(name, False, "float compute left: " + "; ".join(offenders[:3]) + more)
    return Check(name, True, f"all {len(info.ops)} ops compute in integer")


def enforce(checks: list[Check]) -> None:
    """Raise :class:`VerificationError` naming every failed check and what it found."""
    failed = [c for c in checks if not c.passed]
    if failed:
        raise VerificationError("verification failed: " + " | ".join(f"{c.name}: {c.detail}" for c in failed))


def checks_to_dict(checks: list[Check]) -> list[dict]:
    """Checks as plain data for reports."""
    return [asdict(c) for c in checks]
