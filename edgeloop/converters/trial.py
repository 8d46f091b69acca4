"""A quick trial conversion: does a model convert in a mode, and which layer stops it?

Used by the pre-flight before any training (a few samples calibrate; seconds). What would
crash the converter itself is refused before converting (:mod:`edgeloop.converters.crashes`).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeloop.converters.inspect import ModelInfo
from edgeloop.converters.rejected import describe_op, float_ops, ways_out
from edgeloop.errors import EdgeloopError


@dataclass(frozen=True)
class Trial:
    """What a trial conversion found.

    Attributes:
        blob: the converted file (``None`` when conversion failed).
        info: the parsed file.
        problem: one line: why the model does not convert to verified ``mode`` (empty if it does).
        layer: the Keras layer at fault, when known.
    """

    blob: bytes | None
    info: ModelInfo | None
    problem: str = ""
    layer: str | None = None


def trial_convert(model, mode: str, samples, io_type: str | None = None) -> Trial:
    """Convert ``model`` in ``mode`` (calibrated on ``samples``) and verify it.

    Returns:
        The trial's result; a refused model, a converter error or a failed check is a
        ``problem``, never an exception.
    """
    from edgeloop.converters import read_model, verify
    from edgeloop.converters.modes import FULL_INTEGER, io_types_for
    from edgeloop.converters.tflite import convert

    io_type = io_type or io_types_for(mode)[0]
    try:
        blob = convert(model, mode=mode, representative=samples if mode in FULL_INTEGER else None, io_type=io_type)
    except EdgeloopError as exc:
        text = str(exc)
        layer = text.split(" ")[1] if text.startswith("layer ") else None
        return Trial(None, None, text, layer)
    info = read_model(blob)
    floats = float_ops(info) if mode in FULL_INTEGER else []
    if floats:
        op = floats[0]
        return Trial(blob, info, f"{describe_op(op)} stays float in the {mode} file (no integer kernel for it); "
                     f"{ways_out(mode)}", op.layer)
    failed = [c for c in verify(info, mode=mode, io_type=io_type) if not c.passed]
    if failed:
        return Trial(blob, info, f"the converted file fails {failed[0].name}: {failed[0].detail}")
    return Trial(blob, info)
