"""A quick trial conversion: does a model convert in a mode, and which layer stops it?

Used by the pre-flight before any training (a few samples calibrate; seconds), and by
:func:`edgeloop.converters.tflite.convert` to refuse what would crash the converter
itself. What is refused without converting was measured with TensorFlow 2.21: int8
calibration of a ``GRU`` or ``SimpleRNN`` (a WHILE loop, unlike the LSTM's fused op)
ends the process with a segmentation fault, so no error could be caught.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeloop.converters.inspect import ModelInfo
from edgeloop.converters.rejected import describe_op, float_ops, ways_out
from edgeloop.errors import EdgeloopError

# Layer class -> modes whose conversion crashes the converter (segmentation fault).
CRASHES = {"GRU": ("int8", "int16x8"), "SimpleRNN": ("int8", "int16x8")}


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


def _inner_kinds(layer):
    """The layer's class and, for wrappers such as Bidirectional or TimeDistributed, the wrapped ones'."""
    yield layer
    for attr in ("layer", "forward_layer", "backward_layer"):
        inner = getattr(layer, attr, None)
        if inner is not None and inner is not layer:
            yield from _inner_kinds(inner)


def crash_check(model, mode: str) -> None:
    """Refuse, in one line, a model whose conversion in ``mode`` would crash the converter.

    Raises:
        EdgeloopError: naming the layer and the ways out.
    """
    for layer in getattr(model, "layers", []):
        for inner in _inner_kinds(layer):
            kind = type(inner).__name__
            if mode in CRASHES.get(kind, ()):
                raise EdgeloopError(
                    f"layer {layer.name} ({kind}): {mode} conversion of a {kind} crashes TensorFlow's converter "
                    "(segmentation fault while calibrating its loop); ways out: convert with mode dynamic or float16 "
                    "(no calibration), or use an LSTM (one fused int8 op)")


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
