"""A full-integer conversion that failed still leaves a file to look at.

When an op cannot be integer (ELU has no int8 kernel: the converter leaves it in float
between a DEQUANTIZE and a QUANTIZE; ``Erf`` has no TFLite kernel at all), the file is
written anyway as ``<name>.rejected.tflite``, so ``edgeloop inspect`` and ``edgeloop check``
show where the graph is cut, and the error says which op, from which Keras layer, and the
ways out. A file that exists is never replaced without ``--force``.
"""

from __future__ import annotations

from pathlib import Path

from edgeloop import _io
from edgeloop.converters.inspect import ModelInfo, OpInfo
from edgeloop.converters.verify import Check
from edgeloop.errors import EdgeloopError, VerificationError

SUFFIX = ".rejected.tflite"
# Ops that only move between float and integer; the op between them is the one that is float.
_BOUNDARY = ("QUANTIZE", "DEQUANTIZE")
_FLOAT = ("float32", "float16")


class ConversionError(EdgeloopError):
    """The converter refused the model.

    Attributes:
        rejected: the model converted to float32 with TensorFlow (Flex) ops allowed,
            where that works, to show where the refused op sits; ``None`` otherwise.
    """

    def __init__(self, message: str, rejected: bytes | None = None) -> None:
        super().__init__(message)
        self.rejected = rejected


def rejected_path(output: str | Path) -> Path:
    """``out/model.tflite`` -> ``out/model.rejected.tflite``."""
    output = Path(output)
    return output.with_name(output.stem + SUFFIX)


def float_ops(info: ModelInfo) -> list[OpInfo]:
    """The ops that compute in float (QUANTIZE / DEQUANTIZE around them left out)."""
    found = []
    for op in info.ops:
        if op.name in _BOUNDARY:
            continue
        if any(i >= 0 and info.tensors[i].dtype in _FLOAT for i in (*op.inputs, *op.outputs)):
            found.append(op)
    return found


def describe_op(op: OpInfo) -> str:
    """``ELU (op 2, Keras layer elu)``."""
    return f"{op.name} (op {op.index}{f', Keras layer {op.layer}' if op.layer else ''})"


def ways_out(mode: str) -> str:
    """What the user can do about an op that stays float, for the error line."""
    other = "int16x8 (--int16x8, recipe mode: int16x8)" if mode == "int8" else "int8 (--int8, recipe mode: int8)"
    return (f"ways out: keep that layer in float (recipe convert keep_float: N, with float I/O), convert to {other}, "
            "or replace the layer with one TFLite runs in integer (ELU, GELU, Erf … -> ReLU / ReLU6 / HardSwish)")


def keep(data: bytes, path: Path, force: bool = False) -> str:
    """Write the rejected file unless one exists (and ``force`` is off); say which happened."""
    if path.exists() and not force:
        return f"{path} exists and was left as it is (--force replaces it)"
    _io.write_bytes(path, data)
    return f"the file is kept as {path} for `edgeloop inspect` / `edgeloop check`"


def rejection(info: ModelInfo, checks: list[Check], mode: str, kept: str) -> VerificationError:
    """The one-line error for a converted file that failed verification."""
    ops = float_ops(info)
    failed = [c for c in checks if not c.passed]
    if ops:
        shown = "; ".join(describe_op(op) for op in ops[:3]) + (f" and {len(ops) - 3} more" if len(ops) > 3 else "")
        what = f"{mode} conversion left {len(ops)} op(s) in float: {shown}"
    else:
        what = "verification failed: " + " | ".join(f"{c.name}: {c.detail}" for c in failed)
    return VerificationError(f"{what}; {kept}; {ways_out(mode)}")


def refused(error: ConversionError, mode: str, kept: str | None) -> EdgeloopError:
    """The one-line error for a model the converter refused, naming the op from the rejected
    file when one was made (an op TFLite lacks is a TensorFlow op there: ``FlexErf``)."""
    if kept is None or error.rejected is None:
        return EdgeloopError(str(error))
    from edgeloop.converters.inspect import read_model

    lacking = [op for op in read_model(error.rejected).ops if op.name.startswith("Flex")]
    if not lacking:
        return EdgeloopError(f"{error}; {kept} (float32); {ways_out(mode)}")
    shown = "; ".join(f"{op.name[len('Flex'):]}{describe_op(op)[len(op.name):]}" for op in lacking[:3])
    more = f" and {len(lacking) - 3} more" if len(lacking) > 3 else ""
    return EdgeloopError(f"conversion to {mode} failed: TFLite has no op for {shown}{more}; {kept} (float32, "
                         "with it as a TensorFlow op); ways out: replace the layer with one built from ops TFLite "
                         "has, or run that part outside the model")


def check_or_reject(data: bytes, info: ModelInfo, checks: list[Check], mode: str, path: Path,
                    force: bool = False) -> str | None:
    """Raise the rejection (writing ``data`` to ``path``) when a full-integer file failed a check.

    Returns:
        ``None`` when every check passed (nothing written).
    """
    if all(c.passed for c in checks):
        return None
    raise rejection(info, checks, mode, keep(data, path, force))
